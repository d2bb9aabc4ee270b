"""The ask() dev set itself (tests/data/devset/ + devset_questions.jsonl) is consistent.

Parses the transcripts only (no index, no model), so it is fast: every file parses, every gold
document exists, every gold turn is a turn of it, and every gold ``evidence`` string is in the
text of a gold turn as the parser produces it (with the whitespace/case folding of
``contains_any``). Parser changes that shift turn numbers fail here, not as a silent drop in
the benchmark.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from qa import load_corpus, load_transcript
from qa.evaluation.questions import EvalQuestion, contains_any, load_questions

DATA = Path(__file__).resolve().parent / "data"
DEVSET = DATA / "devset"
QUESTIONS = DATA / "devset_questions.jsonl"
# Kinds the set is built from and the fewest questions each must have.
MIN_PER_KIND = {
    "echo": 5,
    "paraphrase": 5,
    "role": 5,
    "date": 5,
    "followup": 5,
    "switch": 2,
    "typo": 5,
    "offtopic": 5,
    "nearmiss": 6,
}


@pytest.fixture(scope="module")
def transcripts():
    corpus = load_corpus(DEVSET)
    assert corpus.skipped == [], corpus.skipped
    return {t.doc_id: t for t in corpus.transcripts}


@pytest.fixture(scope="module")
def questions() -> list[EvalQuestion]:
    return load_questions(QUESTIONS)


def test_every_file_parses_and_the_set_is_varied(transcripts):
    files = sorted(p for p in DEVSET.iterdir() if p.is_file())
    assert len(files) == len(transcripts) >= 4
    for path in files:
        t = load_transcript(path)
        assert t.doc_id in transcripts, path
        assert t.date is not None and t.title != t.doc_id, path  # dated and titled
        assert 25 <= len(t.turns) <= 60, (path, len(t.turns))
        assert len(t.speakers) >= 2, path
        for turn in t.turns:  # offsets are the truth
            assert t.text[turn.start : turn.end] == turn.text
    assert len({t.format for t in transcripts.values()}) >= 3
    assert len({p.suffix for p in files}) >= 4
    assert len({(t.date.year, t.date.month) for t in transcripts.values()}) == len(transcripts)


def test_gold_evidence_is_in_the_gold_turns(transcripts, questions):
    for q in questions:
        if not q.answerable:
            continue
        assert q.doc_id in transcripts, (q.id, q.doc_id)
        turns = transcripts[q.doc_id].turns
        assert q.turns and max(q.turns) < len(turns), (q.id, sorted(q.turns))
        gold = [turns[i] for i in sorted(q.turns)]
        assert q.evidence, q.id
        for evidence in q.evidence:
            assert any(contains_any(t.text, [evidence]) for t in gold), (q.id, evidence)
        for answer in q.answers:
            assert any(
                contains_any(t.text, [answer]) or contains_any(t.speaker or "", [answer])
                for t in gold
            ), (q.id, answer)


def test_questions_cover_every_kind_and_abstain_only_when_unanswerable(questions):
    assert len(questions) >= 40
    counts = Counter(q.kind for q in questions)
    for kind, least in MIN_PER_KIND.items():
        assert counts[kind] >= least, (kind, counts[kind])
    assert set(counts) == set(MIN_PER_KIND)
    for q in questions:
        unanswerable = q.kind in ("offtopic", "nearmiss")
        assert q.should_abstain == unanswerable == (not q.answerable), q.id
        assert q.abstain is (True if unanswerable else None), q.id  # stated where it matters
        assert bool(q.history) == (q.kind in ("followup", "switch")), q.id
    assert len({q.question.casefold() for q in questions}) == len(questions)


def test_follow_up_chains_start_from_questions_of_the_set(questions):
    """Every chat's first question is itself a question of the set (so its answer is measured
    too), and a follow-up's history is the chat that precedes it."""
    asked = {q.question for q in questions}
    for q in questions:
        if q.kind == "followup":
            assert q.history[0] in asked, q.id
            assert all(h.strip() for h in q.history)


CHECKSET = DATA / "checkset"
CHECK_QUESTIONS = DATA / "checkset_questions.jsonl"


def test_the_check_set_is_consistent_too():
    """The held-out check set (tests/data/checkset/, measured by benchmarks/bench_rerank.py
    --only checkset): every file parses, and every gold answer is in a gold turn as parsed."""
    corpus = load_corpus(CHECKSET)
    assert corpus.skipped == [], corpus.skipped
    transcripts = {t.doc_id: t for t in corpus.transcripts}
    assert len({t.format for t in transcripts.values()}) >= 3
    questions = load_questions(CHECK_QUESTIONS)
    assert len(questions) >= 40
    asked = {q.question for q in questions}
    for q in questions:
        if q.should_abstain:
            assert not q.answerable and q.kind in ("offtopic", "nearmiss"), q.id
            continue
        turns = transcripts[q.doc_id].turns
        gold = [turns[i] for i in sorted(q.turns)]
        assert gold and q.answers, q.id
        assert any(contains_any(t.text, list(q.answers)) for t in gold), q.id
        if q.kind == "followup":
            assert q.history and all(h.strip() for h in q.history), q.id
    assert len(asked) == len(questions)
