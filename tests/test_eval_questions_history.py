"""The ``history`` and ``abstain`` question fields: parsing, validation, round trips, and how
the runner asks a chat's earlier questions and judges abstention (with a fake, no index)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qa.evaluation.questions import (
    EvalQuestion,
    QuestionFileError,
    load_questions,
    parse_question,
    question_to_record,
    write_questions,
)
from qa.evaluation.report import ask_table
from qa.evaluation.runner import chat_history, evaluate, score_answer
from qa.results import Answer, DocumentInfo, Hit, Quote


def _write(tmp_path, lines, name="qs.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _quote(doc: str, turn: int, text: str) -> Quote:
    return Quote(text, "Ann", None, "T", None, None, doc, turn, 0, len(text), 1.0, (0, len(text)))


# ---- parsing and validation -----------------------------------------------------------


def test_history_and_abstain_are_parsed(tmp_path):
    path = _write(
        tmp_path,
        [
            '{"id": "f", "question": "What about margins?", "history": ["What did the CFO say?",'
            ' "And revenue?"], "doc_id": "call", "turn": 7}',
            '{"id": "o", "question": "Capital of France?", "abstain": true, "kind": "offtopic"}',
            '{"id": "n", "question": "Headcount in 2019?"}',
            '{"id": "g", "question": "Trap?", "evidence": "close but wrong", "abstain": true}',
            '{"id": "x", "question": "Say anything", "abstain": false}',
            '{"id": "d", "question": "Default", "answer": "yes", "abstain": null, "history": []}',
        ],
    )
    f, o, n, g, x, d = load_questions(path)
    assert f.history == ("What did the CFO say?", "And revenue?")  # order kept
    assert f.abstain is None and not f.should_abstain  # answerable: answer it
    assert o.abstain is True and o.should_abstain and not o.answerable and o.history == ()
    assert n.abstain is None and n.should_abstain  # no gold: abstain by default
    # An explicit value wins over what the gold fields imply, both ways.
    assert g.answerable and g.should_abstain
    assert not x.answerable and not x.should_abstain
    assert d.abstain is None and d.history == () and not d.should_abstain


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('"history": "What did the CFO say?"', "'history' must be a list of earlier questions"),
        ('"history": ["ok", ""]', "'history' must be a list of earlier questions"),
        ('"history": ["ok", 3]', "'history' must be a list of earlier questions"),
        ('"history": [["q", "a"]]', "'history' must be a list of earlier questions"),
        ('"abstain": "yes"', r"'abstain' must be true or false, got 'yes'"),
        ('"abstain": 1', r"'abstain' must be true or false, got 1"),
        ('"abstain": [true]', r"'abstain' must be true or false"),
    ],
)
def test_bad_history_or_abstain_names_file_and_line(tmp_path, field, message):
    path = _write(tmp_path, ['{"question": "fine"}', '{"question": "q", ' + field + "}"])
    with pytest.raises(QuestionFileError, match=message) as info:
        load_questions(path)
    assert str(info.value).startswith(f"{path}:2: ")
    assert info.value.line == 2


def test_round_trip_keeps_history_and_abstain(tmp_path):
    questions = [
        EvalQuestion(
            "And margins?",
            "a",
            doc_id="call",
            turns=frozenset({7, 8}),
            history=("What did the CFO say?", "And revenue?"),
            kind="followup",
        ),
        EvalQuestion("Capital of France?", "b", abstain=True, kind="offtopic"),
        EvalQuestion("Say anything", "c", abstain=False),
        EvalQuestion("Plain", "d", answers=("x",)),
    ]
    path = tmp_path / "out.jsonl"
    assert write_questions(questions, path) == 4
    assert load_questions(path) == questions
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["history"] == ["What did the CFO say?", "And revenue?"]
    assert records[1]["abstain"] is True and records[2]["abstain"] is False
    # Defaults are not written, so old files round-trip to the same lines.
    assert "abstain" not in records[3] and "history" not in records[3]
    assert "abstain" not in records[0]
    assert parse_question(question_to_record(questions[0]), path, 1) == questions[0]


# ---- the runner, with a fake service ---------------------------------------------------


class FakeQA:
    """Records every ask() call; answers from a script keyed by question text."""

    def __init__(self, script: dict[str, Answer]) -> None:
        self.script = script
        self.asks: list[tuple[str, list[tuple[str, Answer]] | None, dict[str, Any]]] = []

    def search(self, query: str, k: int = 10, **kwargs: Any) -> list[Hit]:
        return []

    def ask(self, question: str, history: Any = None, **kwargs: Any) -> Answer:
        self.asks.append((question, None if history is None else list(history), kwargs))
        return self.script.get(question) or Answer(question, [], abstained=True)

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo("call", "Q2 call", None, None, "plain", 20, 20)]


def _answer(question: str, turn: int, text: str = "the margin was 8.9 percent") -> Answer:
    return Answer(question, [_quote("call", turn, text)], abstained=False)


def test_runner_asks_the_history_first_in_order_and_passes_the_chain():
    a1 = _answer("What did the CFO say?", 3)
    a2 = _answer("And revenue?", 4)
    final = _answer("What about margins?", 7)
    qa = FakeQA({"What did the CFO say?": a1, "And revenue?": a2, "What about margins?": final})
    follow = EvalQuestion(
        "What about margins?",
        "f",
        doc_id="call",
        turns=frozenset({7}),
        history=("What did the CFO say?", "And revenue?"),
        speaker="Dana Whitfield",
        kind="followup",
    )
    # Shares the start of the chat: its history is not asked a second time.
    other = EvalQuestion(
        "And revenue?", "g", doc_id="call", turns=frozenset({4}), history=("What did the CFO say?",)
    )
    run = evaluate(qa, [follow, other], modes=["bm25"], show_progress=False)
    assert [(q, h, kw) for q, h, kw in qa.asks] == [
        ("What did the CFO say?", None, {}),  # the first question of a chat has no history
        ("And revenue?", [("What did the CFO say?", a1)], {}),  # history asks carry no filters
        (
            "What about margins?",
            [("What did the CFO say?", a1), ("And revenue?", a2)],
            {"speaker": "Dana Whitfield"},  # the question's own filters apply to it alone
        ),
        ("And revenue?", [("What did the CFO say?", a1)], {}),  # cached chain, then `other`
    ]
    first, second = run.asks
    assert first.first_quote_in_gold == 1.0 and first.n_history == 2
    assert second.first_quote_in_gold == 1.0 and second.n_history == 1


def test_chat_history_returns_the_pairs_and_fills_the_cache():
    a1 = _answer("q1", 1)
    a2 = _answer("q2", 2)
    qa = FakeQA({"q1": a1, "q2": a2})
    cache: dict[tuple[str, ...], Answer] = {}
    q = EvalQuestion("q3", "x", history=("q1", "q2"))
    assert chat_history(qa, q, cache) == [("q1", a1), ("q2", a2)]
    assert cache == {("q1",): a1, ("q1", "q2"): a2}
    assert chat_history(qa, q, cache) == [("q1", a1), ("q2", a2)]
    assert len(qa.asks) == 2  # the second call read the cache
    assert chat_history(qa, EvalQuestion("solo", "y"), cache) == []


def test_abstention_is_judged_by_the_abstain_field():
    declined = Answer("", [], abstained=True)
    quoted = _answer("", 7)
    # Should answer (gold), answered; should answer (gold), declined; should abstain, declined;
    # should abstain although gold exists, answered; should answer without gold, answered.
    cases = [
        (EvalQuestion("a", "a", doc_id="call", turns=frozenset({7}), kind="k1"), quoted),
        (EvalQuestion("b", "b", doc_id="call", turns=frozenset({7}), kind="k1"), declined),
        (EvalQuestion("c", "c", abstain=True, kind="k2"), declined),
        (EvalQuestion("d", "d", evidence=("8.9 percent",), abstain=True, kind="k2"), quoted),
        (EvalQuestion("e", "e", abstain=False, kind="k2"), quoted),
    ]
    qa = FakeQA({q.question: answer for q, answer in cases})
    run = evaluate(qa, [q for q, _ in cases], modes=["bm25"], show_progress=False)
    by_id = {r.id: r for r in run.asks}
    assert by_id["d"].first_quote_in_gold is None and by_id["d"].should_abstain is True
    assert by_id["e"].first_quote_in_gold is None and by_id["e"].should_abstain is False
    s = run.ask_summary()
    assert s["n"] == 2  # a and b: should answer and have gold
    assert s["first_quote_in_gold"] == 0.5
    assert s["n_should_answer"] == 3  # a, b, e
    assert s["answered_rate"] == pytest.approx(2 / 3)  # a and e
    assert s["n_should_abstain"] == 2 and s["abstained_rate"] == 0.5  # c of c, d
    # The older names stay consistent with the new ones.
    assert s["abstention_rate"] == pytest.approx(1 / 3) and s["unanswerable_abstained"] == 0.5
    assert s["n_unanswerable"] == 2
    # Broken down by kind.
    k1, k2 = run.ask_summary("k1"), run.ask_summary("k2")
    assert k1["first_quote_in_gold"] == 0.5 and k1["answered_rate"] == 0.5
    assert k1["abstained_rate"] is None  # k1 has nothing to abstain on
    assert (k2["n"], k2["answered_rate"], k2["abstained_rate"]) == (0, 1.0, 0.5)
    data = run.to_dict()
    assert data["by_kind"]["k2"]["ask"]["abstained_rate"] == 0.5
    assert {r["id"]: r["should_abstain"] for r in data["questions"]["ask"]} == {
        "a": False,
        "b": False,
        "c": True,
        "d": True,
        "e": False,
    }
    table = ask_table(run)
    assert "answered (should answer)" in table and "abstained (should abstain)" in table


def test_old_question_files_keep_their_abstention_meaning():
    """Without ``abstain``, unanswerable means should-abstain, as before the field existed."""
    q = EvalQuestion("Who won the 1998 cup?", "q")
    r = score_answer(q, Answer(q.question, [], abstained=True), 1.0)
    assert r.abstain_expected and r.should_abstain is True and r.first_quote_in_gold is None
    gold = EvalQuestion("x", "g", answers=("yes",))
    r = score_answer(gold, Answer("x", [_quote("d", 0, "yes")], abstained=False), 1.0)
    assert not r.abstain_expected and r.answer_in_first_quote == 1.0
