"""The chat's HTTP API through `gradio_client`, and the HTML it renders.

A real server on a free loopback port over the small fixture index: answers come back
as structured JSON whose quotes are verbatim at their offsets, with citations that
match the transcript; oversized and malformed requests are refused with a message.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.results import Answer, Hit, Quote
from qa.transcript import Passage
from ui import render
from ui.api import answer_from_dict, answer_to_dict

gradio_client = pytest.importorskip("gradio_client")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(small_index: Path) -> Iterator[tuple[Any, Any, str]]:
    from qa.service import TranscriptQA
    from ui.app import build_app, launch

    qa = TranscriptQA.open(small_index)
    app = build_app(qa)
    _, url = launch(app, port=free_port(), block=False)
    try:
        yield qa, gradio_client.Client(url, verbose=False), url
    finally:
        app.close()


def _check_verbatim_citation(qa: Any, item: dict[str, Any]) -> None:
    """The item's text is the source at its offsets and its citation is that turn's."""
    t = qa.transcript(item["doc_id"])
    assert t.text[item["start"] : item["end"]] == item["text"]
    turn = t.turns[item["turn"]]
    assert turn.start <= item["start"] < item["end"] <= turn.end
    assert item["speaker"] == turn.speaker
    assert item["role"] == turn.role
    assert item["title"] == t.title
    assert item["date"] == (t.date.isoformat() if t.date else None)
    assert item["place"] == t.place


def test_ask_returns_verbatim_cited_quotes(served: tuple[Any, Any, str]) -> None:
    qa, client, _ = served
    result = client.predict(
        question="What does the harbour wall need before winter?", api_name="/ask"
    )
    assert result["abstained"] is False
    assert result["quotes"], result
    for quote in result["quotes"]:
        _check_verbatim_citation(qa, quote)
        lo, hi = quote["highlight"]
        assert quote["start"] <= lo < hi <= quote["end"]
        assert isinstance(quote["score"], float)
    best = result["quotes"][0]
    assert "needs new concrete" in best["text"]
    assert (best["speaker"], best["title"], best["date"], best["place"]) == (
        "Tom Reed",
        "Harbour budget meeting",
        "2021-03-04",
        "Town Hall",
    )


def test_ask_applies_and_reports_filters(served: tuple[Any, Any, str]) -> None:
    qa, client, _ = served
    result = client.predict(
        question="What was said about the budget?",
        speaker="karl vik",  # any spelling the index resolves
        since="2022",
        until="2022-12",
        api_name="/ask",
    )
    assert result["filters"]["speaker"] == "Karl Vik"
    assert result["filters"]["since"] == "2022-01-01"
    assert result["filters"]["until"] == "2022-12-31"
    for item in result["quotes"] + result["closest"]:
        assert item["speaker"] == "Karl Vik"
        _check_verbatim_citation(qa, item)


def test_search_endpoint_returns_verbatim_hits(served: tuple[Any, Any, str]) -> None:
    qa, client, _ = served
    result = client.predict(query="ferry timetable", k=3, speaker="Anna Berg", api_name="/search")
    assert 1 <= len(result["hits"]) <= 3
    for hit in result["hits"]:
        assert hit["speaker"] == "Anna Berg"
        _check_verbatim_citation(qa, hit)
    assert "ferry timetable" in result["hits"][0]["text"]


def test_follow_up_history_round_trips(served: tuple[Any, Any, str]) -> None:
    _, client, _ = served
    first = client.predict(question="What did Mia Holm say about school lunches?", api_name="/ask")
    assert first["implied_filters"].get("speaker") == "Mia Holm"
    follow_up = "And what did she say about the cost?"
    alone = client.predict(question=follow_up, api_name="/ask")
    second = client.predict(
        question=follow_up,
        history=[{"question": first["question"], "answer": first}],
        api_name="/ask",
    )
    # Only with the history does "she" mean the speaker of the previous question.
    assert alone["filters"].get("speaker") is None
    assert second["filters"].get("speaker") == "Mia Holm"
    assert second["quotes"] and all(q["speaker"] == "Mia Holm" for q in second["quotes"])
    # What an API client sends back as history is the answer it was given.
    assert answer_to_dict(answer_from_dict(first)) == first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"question": "x" * 100_000}, "100,000 characters"),
        ({"question": "   "}, "question is empty"),
        ({"question": "budget", "speaker": "Nobody Atall"}, "No speaker"),
        ({"question": "budget", "since": "last Tuesday"}, "not a date"),
        ({"question": "budget", "since": "2023", "until": "2022"}, "after"),
        ({"question": "budget", "doc": "../../etc/passwd"}, "No document"),
        ({"question": "budget", "history": [{"question": "hi"}]}, "history items"),
    ],
)
def test_bad_requests_are_refused_with_a_message(
    served: tuple[Any, Any, str], kwargs: dict[str, Any], message: str
) -> None:
    _, client, _ = served
    with pytest.raises(gradio_client.exceptions.AppError, match=re.escape(message)):
        client.predict(**kwargs, api_name="/ask")


def test_no_file_is_served_from_the_corpus_or_the_index(
    served: tuple[Any, Any, str], small_index: Path
) -> None:
    import httpx

    qa, _, url = served
    source = Path(qa.transcript(qa.documents()[0].doc_id).source or "").resolve()
    assert source.is_file()
    for path in (
        source,
        *sorted(p for p in small_index.rglob("*") if p.is_file())[:3],
        Path("/etc/passwd"),
    ):
        for prefix in ("gradio_api/file=", "file="):
            response = httpx.get(f"{url}{prefix}{path}", timeout=10)
            assert response.status_code in (403, 404), (path, response.status_code)


def test_search_k_is_validated(served: tuple[Any, Any, str]) -> None:
    _, client, _ = served
    with pytest.raises(gradio_client.exceptions.AppError, match="expected a whole number"):
        client.predict(query="harbour", k=5000, api_name="/search")


# ---------------------------------------------------------------- rendering (no server)

PAYLOAD = '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1"> [a](javascript:x) &amp; ${x} {{y}}'


def _quote(text: str, title: str = PAYLOAD) -> Quote:
    return Quote(
        text=text,
        speaker="Dana <b>Reyes</b>",
        role=None,
        title=title,
        date=dt.date(2023, 8, 14),
        place="Room <i>4</i>",
        doc_id="d",
        turn=0,
        start=100,
        end=100 + len(text),
        score=1.0,
        highlight=(100, 100 + text.index(" <img")),
    )


def test_rendered_answer_escapes_every_transcript_string() -> None:
    html = render.render_conversation(
        [render.Exchange(question=PAYLOAD, answer=Answer("q", [_quote(PAYLOAD)], False))]
    )
    for tag in ("<script", "<img", "<i>", "<b>Reyes"):
        assert tag not in html
    assert "javascript:" not in html.replace("(javascript:x)", "")  # only as escaped text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&amp;amp;" in html  # an entity in the source shows as typed
    # The best sentence is marked, and everything after it stays outside the mark.
    assert (
        '<mark class="tqa-best">&lt;script&gt;window.__xss=1&lt;/script&gt;</mark> &lt;img' in html
    )
    assert 'data-qid="0-q0"' in html


def test_abstention_is_marked_and_shows_closest_matches() -> None:
    text = "The <b>harbour</b> wall needs concrete."
    passage = Passage("d", 3, "Tom Reed", None, None, "T", None, text, 10, 10 + len(text))
    html = render.render_answer(Answer("q", [], True, [Hit(passage, 0.2)]), 4)
    assert render.ABSTAIN_TEXT in html
    assert render.CLOSEST_LABEL in html
    assert "The &lt;b&gt;harbour&lt;/b&gt; wall" in html
    assert 'data-qid="4-c0"' in html and "tqa-best" not in html
