"""A user's typo still finds its word in BM25; a real word the transcripts lack stays itself."""

from __future__ import annotations

import numpy as np

from qa.lexical import LexicalIndex, corrected_tokens, english_words

TEXTS = [
    "Halden will have 140 electric trucks by December.",
    "The Harrowmoor reservoir expansion will cost 186 million pounds.",
    "Drivers asked for an age limit on night shifts.",
    "About 300 people will work at the Port Annick factory.",
]


def _fix(index: LexicalIndex, query: str) -> list[str]:
    return corrected_tokens(query, index.tokenizer, index)


def test_a_typo_is_searched_as_the_known_word_one_edit_away() -> None:
    index = LexicalIndex.build(TEXTS)
    assert _fix(index, "how many electic trucks by decmber") == index.tokenizer(
        "how many electric trucks by december", query=True
    )
    assert "harrowmoor" in _fix(index, "harowmoor reservoir")
    # Without the fix the misspelt words score nothing; with it the right passage leads.
    scores = index.scores("electic decmber")
    assert int(np.argmax(scores)) == 0 and scores[0] > 0


def test_real_words_and_short_words_are_left_alone() -> None:
    index = LexicalIndex.build(TEXTS)
    assert "wages" in english_words()
    # "wages" is one edit from "ages" (stem "age", in the index), but it is a word.
    assert _fix(index, "night shift wages") == index.tokenizer("night shift wages", query=True)
    assert _fix(index, "peple") == index.tokenizer("people", query=True)  # five letters: fixed
    assert _fix(index, "shfit") == index.tokenizer("shift", query=True)  # a swap
    assert _fix(index, "qwzxv") == ["qwzxv"]  # nothing one edit away: left as typed


def test_frequencies_count_documents() -> None:
    index = LexicalIndex.build(TEXTS)
    assert index.present(index.tokenizer("electric nothingness trucks")) == {"electr", "truck"}
    tokens = index.tokenizer("will electric nothingness", query=False)
    assert index.frequencies(tokens) == {"electr": 1}
    assert index.frequencies(index.tokenizer("will work")) == {"work": 1}
