"""Metrics on hand-made rankings with values worked out by hand; the question format; judging."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest

from qa.evaluation import metrics as m
from qa.evaluation.compare import paired_bootstrap
from qa.evaluation.questions import (
    EvalQuestion,
    QuestionFileError,
    load_questions,
    question_to_record,
    turn_ranges,
    write_questions,
)
from qa.evaluation.runner import score_answer, score_ranking
from qa.results import Answer, Hit, Quote
from qa.transcript import Passage

LOG2_3 = math.log2(3)  # discount at rank 2
LOG2_5 = math.log2(5)  # discount at rank 4


# ---- pure metrics -------------------------------------------------------------------


def test_hit_mrr_recall_ndcg_on_a_hand_made_ranking():
    # Ranking x, b, y, c, z; gold turns {a, b, c}: relevant at ranks 2 and 4.
    units = ["x", "b", "y", "c", "z"]
    gold = {"a", "b", "c"}
    rel = m.dedupe(units, [u in gold for u in units])
    assert rel == [False, True, False, True, False]
    assert m.hit_at_k(rel, 1) == 0.0
    assert m.hit_at_k(rel, 2) == 1.0
    assert m.hit_at_k(rel, 5) == 1.0
    assert m.reciprocal_rank(rel, 10) == 0.5  # first relevant at rank 2
    assert m.reciprocal_rank(rel, 1) == 0.0  # ... which is outside a cut-off of 1
    assert m.recall_at_k(units, gold, 5) == pytest.approx(2 / 3)  # b and c of three
    assert m.recall_at_k(units, gold, 3) == pytest.approx(1 / 3)  # only b
    # DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161
    # IDCG (3 relevant) = 1 + 1/log2(3) + 1/log2(4) = 2.13093  -> nDCG = 0.49819
    assert m.ndcg_at_k(rel, 5, n_relevant=3) == pytest.approx(
        (1 / LOG2_3 + 1 / LOG2_5) / (1 + 1 / LOG2_3 + 0.5)
    )
    assert m.ndcg_at_k(rel, 5, n_relevant=3) == pytest.approx(0.49819, abs=1e-5)


def test_repeated_turn_counts_once_but_keeps_its_rank():
    # Turn a split into two passages, both retrieved: the second is a repeat.
    units = ["a", "a", "b", "a"]
    assert m.dedupe(units, [True, True, False, True]) == [True, False, False, False]
    # Gold {a, b}, ranking a, a, b: DCG = 1 + 0 + 1/log2(4) = 1.5,
    # IDCG = 1 + 1/log2(3) = 1.63093 -> 0.91972. Without dedupe it would exceed 1.
    rel = m.dedupe(["a", "a", "b"], [True, True, True])
    assert m.ndcg_at_k(rel, 10, n_relevant=2) == pytest.approx(1.5 / (1 + 1 / LOG2_3))
    assert m.ndcg_at_k(rel, 10, n_relevant=2) == pytest.approx(0.91972, abs=1e-5)
    assert m.recall_at_k(["a", "a", "b"], {"a", "b"}, 2) == 0.5


def test_ndcg_without_a_known_gold_set_assumes_the_retrieved_relevant_ones():
    # Evidence-judged question, relevant at rank 2 only: n_relevant = 1,
    # DCG = 1/log2(3) = 0.63093, IDCG = 1.
    assert m.ndcg_at_k([False, True], 10) == pytest.approx(1 / LOG2_3)
    # Two relevant at ranks 1 and 3 -> ideal has two at ranks 1, 2.
    assert m.ndcg_at_k([True, False, True], 10) == pytest.approx(1.5 / (1 + 1 / LOG2_3))
    assert m.ndcg_at_k([True, True], 10) == 1.0


def test_empty_and_all_miss_rankings_score_zero():
    assert m.hit_at_k([], 5) == 0.0
    assert m.reciprocal_rank([False] * 12, 10) == 0.0
    assert m.ndcg_at_k([], 10, n_relevant=4) == 0.0
    assert m.recall_at_k([], {"a"}, 10) == 0.0
    assert m.recall_at_k(["a"], set(), 10) is None  # no gold set: undefined, not zero


def test_hit_curve_and_bad_k():
    assert m.hit_curve([False, False, True], 5) == [0.0, 0.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="k must be at least 1"):
        m.hit_at_k([True], 0)
    with pytest.raises(ValueError):
        m.dedupe(["a"], [True, False])


def test_mean_skips_undefined_and_percentile_interpolates():
    assert m.mean([1.0, None, 0.0]) == 0.5
    assert m.mean([None]) is None
    # positions: p50 -> 1.5 -> 25; p95 -> 2.85 -> 30 + 0.85 * 10 = 38.5
    assert m.percentile([40, 10, 30, 20], 50) == 25
    assert m.percentile([40, 10, 30, 20], 95) == pytest.approx(38.5)
    assert m.percentile([], 50) is None


def test_paired_bootstrap_interval():
    rng = np.random.default_rng(1)
    a = rng.random(200)
    # Same shift for everyone: no spread, the interval is the point.
    assert paired_bootstrap(a, a + 1) == (pytest.approx(1), pytest.approx(1), pytest.approx(1))
    # A clear improvement of ~0.3 with noise: interval excludes 0 and contains the mean.
    diff, low, high = paired_bootstrap(a, a + 0.3 + rng.normal(0, 0.1, 200))
    assert 0 < low < diff < high
    assert diff == pytest.approx(0.3, abs=0.03)
    # Pure noise: the interval straddles 0.
    _, low, high = paired_bootstrap(a, a + rng.normal(0, 0.1, 200))
    assert low < 0 < high


# ---- the question format --------------------------------------------------------------


def _write(tmp_path, lines):
    path = tmp_path / "qs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_questions_all_fields_and_turn_ranges(tmp_path):
    path = _write(
        tmp_path,
        [
            "# a comment line",
            json.dumps(
                {
                    "question": "Who pays?",
                    "doc_id": "d1",
                    "turns": [2, [5, 7], "9"],
                    "speaker": "Ann",
                    "since": "2020-01-01",
                    "until": "2020-12-31",
                    "doc": "d1",
                    "kind": "who",
                    "id": "q1",
                }
            ),
            "",
            json.dumps({"question": "What is it?", "evidence": "the thing", "answer": ["x", "y"]}),
        ],
    )
    q1, q2 = load_questions(path)
    assert q1.id == "q1" and q1.turns == {2, 5, 6, 7, 9}
    assert q1.gold_units == {("d1", t) for t in (2, 5, 6, 7, 9)}
    assert q1.filters() == {
        "speaker": "Ann",
        "since": "2020-01-01",
        "until": "2020-12-31",
        "doc": "d1",
    }
    assert q2.id == "qs:4" and q2.kind == "all"  # id defaults to <stem>:<line>
    assert q2.evidence == ("the thing",) and q2.answers == ("x", "y")
    assert q2.filters() == {}
    # Round trip through the writer keeps everything, with turns compressed to ranges.
    assert question_to_record(q1)["turns"] == [2, [5, 7], 9]
    out = tmp_path / "again.jsonl"
    write_questions([q1, q2], out)
    assert load_questions(out) == [q1, q2]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "x"', "invalid JSON"),
        ('["question"]', "expected a JSON object"),
        ('{"question": "  ", "answer": "a"}', "missing or empty 'question'"),
        ('{"question": "q", "turns": [1]}', "need the 'doc_id'"),
        ('{"question": "q", "doc_id": "d", "turns": [[3, 1]]}', "ends before it starts"),
        ('{"question": "q", "doc_id": "d", "turns": [[1, 2, 3]]}', "must be \\[start, end\\]"),
        ('{"question": "q", "doc_id": "d", "turn": -1}', "not a non-negative integer"),
        ('{"question": "q", "doc_id": "d", "turn": 1, "turns": [1]}', "not both"),
        ('{"question": "q", "answer": "a", "since": "March 2017"}', "ISO date"),
        ('{"question": "q", "answer": "a", "speeker": "Ann"}', "unknown field\\(s\\) speeker"),
        ('{"question": "q", "answer": 3}', "'answer' must be"),
    ],
)
def test_bad_question_lines_name_file_and_line(tmp_path, line, message):
    path = _write(tmp_path, ['{"question": "fine", "answer": "a"}', line])
    with pytest.raises(QuestionFileError, match=message) as info:
        load_questions(path)
    assert str(info.value).startswith(f"{path}:2: ")
    assert info.value.line == 2


def test_a_question_without_gold_is_unanswerable(tmp_path):
    (q,) = load_questions(
        _write(tmp_path, ['{"question": "Who won the 1998 cup?", "kind": "off-topic"}'])
    )
    assert not q.answerable and q.kind == "off-topic"
    assert not q.is_relevant("d", 0, "Who won the 1998 cup?")
    declined = score_answer(q, Answer(q.question, [], abstained=True), 1.0)
    assert declined.abstained and not declined.answerable
    assert declined.first_quote_in_gold is None  # not counted as a miss or a hit


def test_duplicate_ids_empty_and_missing_files(tmp_path):
    path = _write(tmp_path, ['{"id": "a", "question": "q", "answer": "x"}'] * 2)
    with pytest.raises(QuestionFileError, match=r":2: duplicate question id 'a'"):
        load_questions(path)
    with pytest.raises(QuestionFileError, match="no questions found"):
        load_questions(_write(tmp_path, ["# only a comment"]))
    with pytest.raises(QuestionFileError, match="no such question file"):
        load_questions(tmp_path / "nope.jsonl")


def test_turn_ranges_compresses_runs():
    assert turn_ranges([1, 2, 3, 5, 7, 8]) == [[1, 3], 5, [7, 8]]
    assert turn_ranges([]) == []


# ---- judging passages and answers -------------------------------------------------------


def _hit(doc, turn, text, score=1.0):
    passage = Passage(doc, turn, "Ann", None, dt.date(2020, 1, 1), "T", None, text, 0, len(text))
    return Hit(passage, score)


def _quote(doc, turn, text, speaker="Ann"):
    return Quote(text, speaker, None, "T", None, None, doc, turn, 0, len(text), 1.0, (0, len(text)))


def test_score_ranking_at_turn_level():
    q = EvalQuestion("q", "q1", doc_id="d", turns=frozenset({3, 4}))
    hits = [
        _hit("d", 1, "a"),
        _hit("d", 3, "b"),
        _hit("d", 3, "c"),
        _hit("e", 4, "d"),
        _hit("d", 4, "e"),
    ]
    scores, curve, first = score_ranking(q, hits, k=5, depth=10)
    # relevant (deduped): F T F F T  -> the repeat of turn 3 and turn 4 of another doc don't count
    assert first == 2
    assert scores["hit@1"] == 0.0 and scores["hit@5"] == 1.0
    assert scores["mrr@10"] == 0.5
    assert scores["recall@5"] == 1.0  # both gold turns within the first five
    # DCG = 1/log2(3) + 1/log2(6); IDCG = 1 + 1/log2(3)
    assert scores["ndcg@10"] == pytest.approx((1 / LOG2_3 + 1 / math.log2(6)) / (1 + 1 / LOG2_3))
    assert curve[:3] == [0.0, 1.0, 1.0] and len(curve) == 10


def test_evidence_judging_normalises_whitespace_and_case():
    q = EvalQuestion("q", "q1", evidence=("flood  defence\nbudget",))
    assert q.is_relevant("any", 0, "We raised the Flood Defence budget twice.")
    assert not q.is_relevant("any", 0, "We raised the flood budget.")
    scores, _, first = score_ranking(
        q, [_hit("a", 0, "nothing"), _hit("b", 2, "the flood defence budget")], 10, 10
    )
    assert first == 2 and scores["recall@10"] is None  # no gold turns: recall undefined


def test_score_answer_first_quote_answer_and_abstention():
    q = EvalQuestion(
        "Who left?", "q1", doc_id="s1", turns=frozenset({2}), answers=("Monica Geller",)
    )
    good = Answer(
        "Who left?", [_quote("s1", 2, "I'm off.", speaker="Monica Geller")], abstained=False
    )
    r = score_answer(q, good, 12.0)
    assert r.first_quote_in_gold == 1.0
    assert r.answer_in_first_quote == 1.0  # the speaker answers a "who" question
    wrong = Answer(
        "Who left?", [_quote("s1", 5, "Bye."), _quote("s1", 2, "Monica Geller left")], False
    )
    r = score_answer(q, wrong, 3.0)
    assert (r.first_quote_in_gold, r.answer_in_first_quote, r.answer_in_quotes) == (0.0, 0.0, 1.0)
    abstained = Answer("Who left?", [], abstained=True)
    r = score_answer(q, abstained, 1.0)
    assert r.abstained and r.first_quote_in_gold == 0.0 and r.answer_in_quotes == 0.0
    no_answer = EvalQuestion("q", "q2", evidence=("raised the budget",))
    r = score_answer(no_answer, Answer("q", [_quote("d", 0, "raised the budget")], False), 1.0)
    assert r.first_quote_in_gold == 1.0 and r.answer_in_first_quote is None
