"""The learned passage scorer: its features, its weights file, and what turning it on changes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from qa import sentence_scoring
from qa.answering import AnswerSettings
from qa.sentence_scoring import FEATURES, SentenceScorer, feature_matrix, load, question_kind


def _candidate(text: str, hit_score: float, turn_position: int = 0, turn_words: int = 30):
    passage = SimpleNamespace(speaker="A", doc_id="d", start=0, turn=0)
    return SimpleNamespace(
        text=text,
        hit=SimpleNamespace(score=hit_score, passage=passage),
        words=len(text.split()),
        turn_position=turn_position,
        turn_asks=False,
        turn_words=turn_words,
    )


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When will the new depot open?", "when"),
        ("And how long did the strike last?", "when"),
        ("How much will Sunday opening cost?", "amount"),
        ("What percentage of trains run late?", "amount"),
        ("Who was the first customer?", "who"),
        ("Why did the bakery leave?", "why"),
        ("Will there be a hosepipe ban?", "yesno"),
    ],
)
def test_question_kinds(question: str, kind: str) -> None:
    found = question_kind(question)
    assert getattr(found, kind), question
    assert sum(map(bool, (found.when, found.amount, found.who, found.why, found.yesno))) == 1


def test_a_when_question_marks_the_sentence_with_a_date() -> None:
    found = [
        _candidate("The depot opens in March 2026.", 1.0),
        _candidate("We are very proud of the depot.", 1.0),
    ]
    x = feature_matrix("When will the depot open?", found, [0.5, 0.5])
    col = {name: i for i, name in enumerate(FEATURES)}
    assert x.shape == (2, len(FEATURES))
    assert x[0, col["when_date"]] == 1 and x[1, col["when_date"]] == 0
    assert x[1, col["when_no_date"]] == 1
    assert x[0, col["hand"]] == pytest.approx(0.5)


def test_the_bundled_weights_load_and_favour_what_they_were_trained_to() -> None:
    scorer = sentence_scoring.bundled()
    assert scorer is not None, "qa/models/sentence_scorer.json is missing or stale"
    assert scorer.features == FEATURES and scorer.weights.shape == (len(FEATURES),)
    # Equal hand-set scores: the passage retrieval ranked higher, and a sentence that
    # gives a number to a "how much" question, come first.
    near, far = _candidate("It costs a lot.", 1.0), _candidate("It costs a lot.", 0.5)
    s = scorer.scores("Is it worth it?", [near, far], [0.6, 0.6])
    assert s[0] > s[1]
    number, vague = _candidate("About 85,000 euros.", 1.0), _candidate("Quite a lot.", 1.0)
    s = scorer.scores("How much will it cost?", [number, vague], [0.6, 0.6])
    assert s[0] > s[1]
    provenance = json.loads(sentence_scoring.MODEL_PATH.read_text())["provenance"]
    assert provenance["script"] == "training/train_sentence_scorer.py"
    assert provenance["seed"] == 13


def test_a_weights_file_for_other_features_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "scorer.json"
    SentenceScorer(np.ones(3, dtype=np.float32), 0.0, ("a", "b", "c")).save(path, {})
    assert load(path) is None
    SentenceScorer(np.ones(len(FEATURES), dtype=np.float32), 0.5, FEATURES).save(path, {})
    loaded = load(path)
    assert loaded is not None and loaded.bias == pytest.approx(0.5)
    assert load(tmp_path / "missing.json") is None


def test_the_scorer_only_reorders_near_ties_and_keeps_quotes_verbatim(corpus_qa) -> None:
    from dataclasses import replace

    from qa.answering import answer

    on = AnswerSettings()
    assert on.learned is True and on.learned_margin > 0
    off = replace(on, learned=False)
    tied = replace(on, learned_margin=0.0)  # nothing is a near-tie: the hand-set order stays
    for question in (
        "What did Nadia Voss say about pay?",
        "When did the strike end?",
        "How much will the seawall cost?",
    ):
        got = answer(corpus_qa, question, settings=on)
        assert got.quotes, question
        for quote in got.quotes:
            text = corpus_qa.transcript(quote.doc_id).text
            assert text[quote.start : quote.end] == quote.text
        first = [(q.doc_id, q.start) for q in answer(corpus_qa, question, settings=off).quotes]
        same = [(q.doc_id, q.start) for q in answer(corpus_qa, question, settings=tied).quotes]
        assert first[:1] == same[:1], question
