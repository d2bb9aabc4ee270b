"""Turns → passages: never across a turn, sentence-aligned windows with overlap, true offsets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa import chunk, load_transcript
from qa.chunking import ChunkSettings, sentence_spans, word_count


def _sentence(i: int, words: int = 10) -> str:
    return f"Sentence {i} " + " ".join(f"w{i}x{k}" for k in range(words - 3)) + " ends."


@pytest.fixture()
def transcript(tmp_path: Path):
    long_turn = " ".join(_sentence(i) for i in range(30))  # 300 words, 30 sentences
    path = tmp_path / "meeting.txt"
    path.write_text(
        "Title: Chunking test\nDate: 2021-04-05\nPlace: Room 4\n\n"
        "Chair Ann Lee: Short opening remark.\n"
        f"Ben Cho: {long_turn}\n"
        "Second paragraph of Ben, which is short.\n"
        "Ann Lee: Thanks.\n"
    )
    return load_transcript(path)


def test_short_turns_stay_whole_with_metadata(transcript) -> None:
    passages = chunk(transcript)
    first = passages[0]
    assert first.text == "Short opening remark."
    assert (first.doc_id, first.turn, first.speaker, first.role) == (
        "meeting",
        0,
        "Ann Lee",
        "Chair",
    )
    assert (first.title, first.date, first.place) == (
        "Chunking test",
        dt.date(2021, 4, 5),
        "Room 4",
    )
    assert passages[-1].text == "Thanks." and passages[-1].turn == 2


def test_long_turn_windows(transcript) -> None:
    settings = ChunkSettings(max_words=50, overlap_sentences=1)
    passages = [p for p in chunk(transcript, settings) if p.turn == 1]
    assert len(passages) > 5
    for p in passages:
        assert word_count(p.text) <= 50
        assert transcript.text[p.start : p.end] == p.text
        assert p.speaker == "Ben Cho"
    # Consecutive windows share exactly one sentence, and together they cover the turn.
    for a, b in zip(passages, passages[1:], strict=False):
        assert a.start < b.start < a.end < b.end
        shared = transcript.text[b.start : a.end]
        assert len(sentence_spans(shared)) == 1
    turn = transcript.turns[1]
    assert passages[0].start == turn.start and passages[-1].end == turn.end


def test_no_overlap_and_bigger_windows(transcript) -> None:
    passages = [
        p
        for p in chunk(transcript, ChunkSettings(max_words=120, overlap_sentences=0))
        if p.turn == 1
    ]
    for a, b in zip(passages, passages[1:], strict=False):
        assert a.end < b.start
    assert all(60 <= word_count(p.text) <= 120 for p in passages[:-1])


def test_passages_never_cross_turns(transcript) -> None:
    for p in chunk(transcript, ChunkSettings(max_words=40)):
        turn = transcript.turns[p.turn]
        assert turn.start <= p.start and p.end <= turn.end


def test_overlong_sentence_stands_alone(tmp_path: Path) -> None:
    path = tmp_path / "monologue.txt"
    giant = "Then " + " ".join(f"word{k}" for k in range(80)) + "."
    path.write_text(f"Ann Lee: Hello there. {giant} Goodbye now.\n")
    t = load_transcript(path)
    texts = [p.text for p in chunk(t, ChunkSettings(max_words=20, overlap_sentences=0))]
    assert texts == ["Hello there.", giant, "Goodbye now."]


def test_sentence_spans_trimmed_and_line_bound() -> None:
    text = "  First one. Second one?\nThird on a new line  \n\n"
    spans = sentence_spans(text, offset=100)
    assert [text[s - 100 : e - 100] for s, e in spans] == [
        "First one.",
        "Second one?",
        "Third on a new line",
    ]


def test_min_words_drops_tiny_passages(transcript) -> None:
    texts = [p.text for p in chunk(transcript, ChunkSettings(min_words=2))]
    assert "Thanks." not in texts and "Short opening remark." in texts


def test_settings_are_a_manifest_dict() -> None:
    assert ChunkSettings().as_dict() == {"max_words": 120, "overlap_sentences": 1, "min_words": 1}
