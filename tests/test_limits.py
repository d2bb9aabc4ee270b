"""Input limits: bad questions, k and filters are refused with a `QueryError` that says why.

Checked both on `qa.limits` directly and through `TranscriptQA.search/ask` (the facade the
chat and CLI use), so a limit that is defined but never applied fails here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa import limits
from qa.errors import QueryError, TranscriptError
from qa.service import TranscriptQA


@pytest.fixture(scope="module")
def qa(small_index: Path) -> TranscriptQA:
    return TranscriptQA.open(small_index)


def test_question_length_limit_is_exact() -> None:
    ok = "x" * limits.MAX_QUESTION_CHARS
    assert limits.check_question(ok) == ok
    with pytest.raises(QueryError, match=r"2,001 characters long; the limit is 2,000"):
        limits.check_question(ok + "x")


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        (None, "must be text"),
        (b"bytes?", "must be text"),
        ("bad \ud800 surrogate", "not valid Unicode"),
    ],
)
def test_bad_questions_are_refused(question: object, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        limits.check_question(question)


@pytest.mark.parametrize("k", [0, -1, 101, 10**9, True, 2.5, "5", None])
def test_k_outside_1_to_100_is_refused(k: object) -> None:
    with pytest.raises(QueryError, match=r"k=.*from 1 to 100"):
        limits.check_k(k)


def test_k_bounds_are_accepted() -> None:
    assert limits.check_k(1) == 1
    assert limits.check_k(100) == 100


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2023-13-01", None, r"since='2023-13-01' is not a date"),
        ("yesterday", None, "is not a date: expected YYYY-MM-DD"),
        (None, "2024-02-30", r"until='2024-02-30' is not a date"),
        ("2024-05-01", "2024-04-30", "since=2024-05-01 is after until=2024-04-30"),
        (20240101, None, "got int"),
        ("9" * 5000, None, "expected a YYYY-MM-DD date"),
    ],
)
def test_bad_dates_are_refused(since: object, until: object, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        limits.check_dates(since, until)


def test_good_dates_are_parsed() -> None:
    assert limits.check_dates("2024-02-29", dt.date(2024, 3, 1)) == (
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 1),
    )
    assert limits.check_dates(dt.datetime(2020, 1, 2, 3, 4), "") == (dt.date(2020, 1, 2), None)


@pytest.mark.parametrize("mode", ["BM25", "semantic", "", None])
def test_unknown_mode_is_refused(mode: object) -> None:
    with pytest.raises(QueryError, match="expected one of bm25, dense, hybrid"):
        limits.check_mode(mode)


def test_filter_values_have_sane_length_and_type() -> None:
    assert limits.check_names("Eva Lund", "speaker") == ["Eva Lund"]
    assert limits.check_names(("a", "b"), "doc") == ["a", "b"]
    with pytest.raises(QueryError, match="speaker: a value of 301 characters; the limit is 300"):
        limits.check_names("x" * 301, "speaker")
    with pytest.raises(QueryError, match="at most 100"):
        limits.check_names([str(i) for i in range(101)], "doc")
    with pytest.raises(QueryError, match="is not text"):
        limits.check_names(["ok", 3], "doc")
    with pytest.raises(QueryError, match="expected text or a list"):
        limits.check_names(42, "speaker")


def test_history_is_trimmed_to_the_most_recent_exchanges() -> None:
    history = [(f"question {i}", None) for i in range(limits.MAX_HISTORY + 15)]
    kept = limits.check_ask("And then?", history, 3)
    assert kept == history[-limits.MAX_HISTORY :]
    with pytest.raises(QueryError, match="history item"):
        limits.check_ask("And then?", ["just a string"], 3)
    with pytest.raises(QueryError, match="history must be a list"):
        limits.check_ask("And then?", "not a list", 3)  # type: ignore[arg-type]


def test_file_size_limit_names_the_file_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TQA_MAX_FILE_MB", "1")
    limits.check_file_size(tmp_path / "ok.txt", 1024 * 1024)
    with pytest.raises(TranscriptError, match=r"big\.txt: file is 2\.0 MB, over the 1 MB limit"):
        limits.check_file_size(tmp_path / "big.txt", 2 * 1024 * 1024)
    monkeypatch.setenv("TQA_MAX_FILE_MB", "not a number")
    assert limits.max_file_bytes() == limits.MAX_FILE_MB * 1024 * 1024


# --- the same limits through the facade ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "x" * (limits.MAX_QUERY_CHARS + 1)}, "the limit is 50,000"),
        ({"k": 0}, "k=0"),
        ({"k": 1000}, "k=1000"),
        ({"mode": "fuzzy"}, "mode='fuzzy'"),
        ({"since": "2024-01-01", "until": "2023-01-01"}, "is after"),
        ({"since": "last tuesday"}, "is not a date"),
        ({"speaker": "s" * 1000}, "speaker: a value of 1,000 characters"),
        ({"doc": ["d"] * 500}, "doc: 500 values"),
        ({"title": 5}, "title=5"),
    ],
)
def test_search_validates_its_arguments(qa: TranscriptQA, kwargs: dict, message: str) -> None:
    args = {"query": "harbour wall", **kwargs}
    with pytest.raises(QueryError, match=message):
        qa.search(**args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"question": "why? " * 500}, "2,500 characters long"),
        ({"k": 101}, "k=101"),
        ({"since": "2024-99-01"}, "is not a date"),
        ({"until": "2020-01-01", "since": "2021-01-01"}, "is after"),
        ({"history": ["nonsense"]}, "history item"),
    ],
)
def test_ask_validates_its_arguments(qa: TranscriptQA, kwargs: dict, message: str) -> None:
    args = {"question": "What about the harbour wall?", **kwargs}
    with pytest.raises(QueryError, match=message):
        qa.ask(**args)


def test_a_question_at_the_limit_is_still_answered(qa: TranscriptQA) -> None:
    question = ("What was said about the harbour wall? " * 60)[: limits.MAX_QUESTION_CHARS]
    answer = qa.ask(question)
    for quote in answer.quotes:
        text = qa.transcript(quote.doc_id).text
        assert text[quote.start : quote.end] == quote.text
    assert answer.quotes or answer.closest


def test_the_chat_listens_on_loopback_by_default() -> None:
    """Never reachable from the network unless the user asks (`--host 0.0.0.0`)."""
    import inspect

    from qa.cli import serve_cmd

    host = next(p for p in serve_cmd.params if p.name == "host")
    assert host.default == "127.0.0.1"
    app = pytest.importorskip("ui.app")
    for fn in (app.serve, app.launch):
        assert inspect.signature(fn).parameters["host"].default == "127.0.0.1"
