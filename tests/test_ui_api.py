"""The chat's HTTP API through `gradio_client`, and the HTML it renders.

A real server on a free loopback port over the small fixture index: answers come back
as structured JSON whose quotes are verbatim at their offsets, with citations that
match the transcript; oversized and malformed requests are refused with a message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ports import free_port

from qa.results import Answer, Hit, Quote
from qa.transcript import Passage
from ui import render
from ui.api import answer_from_dict, answer_to_dict

gradio_client = pytest.importorskip("gradio_client")


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


def test_ask_reports_a_dropped_implied_filter_in_relaxed(served: tuple[Any, Any, str]) -> None:
    """She spoke in 2023 only: the year the question implied is dropped, and the JSON says
    so in `relaxed` (not in `filters`), with the note the chat shows."""
    qa, client, _ = served
    result = client.predict(
        question="What did Lena Falk say about the rail tunnel in 2021?", api_name="/ask"
    )
    assert result["abstained"] is False
    assert result["relaxed"] == {"since": "2021-01-01", "until": "2021-12-31"}
    assert result["filters"] == {"speaker": "Lena Falk"}
    assert "2021" in result["note"] and "other years" in result["note"]
    for quote in result["quotes"]:
        _check_verbatim_citation(qa, quote)
        assert quote["date"] == "2023-05-20"
    plain = client.predict(
        question="What did Lena Falk say about the rail tunnel?", api_name="/ask"
    )
    assert plain["relaxed"] == {}


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


# ---------------------------------------------------------------- paging, storage, settings


def _long_transcript(tmp_path: Path, turns: int = 450) -> Any:
    from qa import load_transcript

    lines = [f"Title: Hearing on {PAYLOAD}", "Date: 2024-12-02", ""]
    for i in range(turns):
        who = "Ann Berg" if i % 2 == 0 else "Carl Holt"
        lines.append(f"{who}: Item {i} is noted. {PAYLOAD if i == 250 else ''}".rstrip())
    path = tmp_path / "hearing.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_transcript(path)


def _windows(html: str) -> list[tuple[str, int, int]]:
    return [
        (d, int(lo), int(hi))
        for d, lo, hi in re.findall(r'data-dir="(\w+)" data-lo="(\d+)" data-hi="(\d+)"', html)
    ]


def test_source_view_pages_through_the_transcript(tmp_path: Path) -> None:
    t = _long_transcript(tmp_path)
    tr = t.turns[250]
    html = render.render_source(t, 250, (tr.start, tr.end), qid="0-q0")
    assert len(re.findall(r'class="tqa-turn[ "]', html)) == 3  # the quote and one either side
    assert "… 249 earlier turns …" in html and "… 198 later turns …" in html
    assert _windows(html) == [("earlier", 239, 252), ("later", 249, 262)]
    assert "Read the whole transcript (450 turns)" in html and 'data-view="0-q0"' in html
    wider = render.render_source(t, 250, (tr.start, tr.end), qid="0-q0", window=(249, 262))
    assert len(re.findall(r'class="tqa-turn[ "]', wider)) == 13
    assert "… 188 later turns …" in wider and "tqa-focus" in wider
    # Whatever the browser sends, the window stays inside the transcript and bounded.
    for lo, hi in [(-50, 10**9), ("x", None), (399, 2), (10**12, 10**12 + 5)]:
        a, b = render.clamp_window(450, lo, hi)
        assert 0 <= a < b <= 450 and b - a <= render.MAX_WINDOW
    # Without a citation id (as before): plain gaps, no buttons.
    plain = render.render_source(t, 250, (tr.start, tr.end))
    assert "<button" not in plain and '<p class="tqa-gap">… 249 earlier turns …</p>' in plain


def test_whole_transcript_view_renders_a_page_around_the_quote(tmp_path: Path) -> None:
    t = _long_transcript(tmp_path)
    tr = t.turns[250]
    best = (tr.start, tr.start + 5)
    html = render.render_reader(t, 250, (tr.start, tr.end), best, "2-q1")
    turns = re.findall(r'class="tqa-turn[^"]*" data-turn="(\d+)"', html)
    assert (len(turns), turns[0], turns[-1]) == (101, "200", "300")
    assert "turns 201–301 of 450" in html and 'role="dialog"' in html
    assert '<div class="tqa-turn tqa-focus" data-turn="250">' in html
    assert '<mark class="tqa-span"><mark class="tqa-best">Item ' in html
    assert _windows(html) == [("earlier", 150, 301), ("later", 200, 351)]
    assert 'class="tqa-to-quote" data-lo="200" data-hi="301"' in html
    # Paging on keeps at most MAX_WINDOW turns, dropping the far end.
    far = render.render_reader(t, 250, (tr.start, tr.end), best, "2-q1", (0, 450))
    assert len(re.findall(r'data-turn="\d+"', far)) == render.MAX_WINDOW
    end = render.render_reader(t, 250, (tr.start, tr.end), best, "2-q1", (300, 450))
    assert "End of the transcript" in end and "tqa-focus" not in end
    # A short transcript opens whole.
    short = _long_transcript(tmp_path, turns=30)
    html = render.render_reader(
        short, 20, (short.turns[20].start, short.turns[20].end), None, "0-q0"
    )
    assert "all 30 turns" in html and "Start of the transcript" in html
    assert "End of the transcript" in html and "tqa-more" not in html


def test_whole_transcript_view_escapes_transcript_text(tmp_path: Path) -> None:
    t = _long_transcript(tmp_path)
    html = render.render_reader(t, 250, (t.turns[250].start, t.turns[250].end), None, '"><b>')
    for tag in ("<script", "<img", "<b>"):
        assert tag not in html
    assert "Hearing on &lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert 'data-view="&quot;&gt;&lt;b&gt;"' in html


def _plain_quote(text: str) -> Quote:
    return dataclasses.replace(
        _quote(PAYLOAD), text=text, start=10, end=10 + len(text), highlight=(10, 10 + len(text))
    )


def test_conversation_round_trips_through_browser_storage() -> None:
    import json

    from qa.links import with_time
    from ui.conversation import MAX_STORED, from_store, to_store

    quote = dataclasses.replace(
        _plain_quote("The wall needs concrete."),
        time_start=5.0,
        time_end=9.5,
        url="https://x.org/a.mp4",
        support=0.8123,
    )
    exchanges = [
        render.Exchange("What about the wall?", Answer("What about the wall?", [quote], False)),
        render.Exchange("y" * 9000, message="Too long."),
        render.Exchange("Pending?", pending=True),
    ]
    stored = json.loads(json.dumps(to_store(exchanges)))  # what the browser keeps is JSON
    back = from_store(stored)
    assert [ex.question for ex in back] == ["What about the wall?", render.shorten("y" * 9000)]
    q = back[0].answer.quotes[0]
    assert (q.text, q.start, q.end, q.highlight) == (
        quote.text,
        quote.start,
        quote.end,
        quote.highlight,
    )
    assert (q.time_start, q.time_end, q.support) == (5.0, 9.5, 0.8123)
    assert with_time(q.url, q.time_start) == "https://x.org/a.mp4#t=5"  # links as before
    assert back[1].message == "Too long." and back[1].answer is None
    # Only the newest are kept.
    many = [render.Exchange(f"q{i}", message="m") for i in range(MAX_STORED + 5)]
    assert [ex.question for ex in from_store(to_store(many))][0] == "q5"


@pytest.mark.parametrize(
    "stored",
    [None, "x", [], {"v": 99, "exchanges": []}, {"v": 1, "exchanges": "no"}, {"v": 1}],
)
def test_unreadable_storage_starts_an_empty_conversation(stored: Any) -> None:
    from ui.conversation import from_store

    assert from_store(stored) == []


def test_tampered_storage_is_checked_like_api_history() -> None:
    from ui.conversation import from_store, to_store

    good = to_store([render.Exchange("q", Answer("q", [_plain_quote("Fine.")], False))])[
        "exchanges"
    ][0]
    hostile = json_copy(good)
    hostile["answer"]["quotes"][0]["url"] = "javascript:alert(1)"
    hostile["support"] = ["lots"]
    items = [
        hostile,
        {"question": 5, "message": "m"},
        {"question": "q", "answer": {"quotes": [{"text": "no offsets"}]}},
        {"question": "q" * 3000, "answer": good["answer"]},  # no answered question is this long
        {"question": "big", "message": "m" * 300_000},
        "garbage",
    ]
    back = from_store({"v": 1, "exchanges": items})
    assert len(back) == 1
    q = back[0].answer.quotes[0]
    assert q.url is None and q.support is None
    assert "<a " not in render.render_quote(q, "0-q0")


def json_copy(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))


def test_settings_reach_the_search(small_index: Path) -> None:
    from qa.errors import QueryError
    from qa.service import TranscriptQA
    from ui.app import check_settings, with_search_mode

    assert check_settings("bm25", 1.0) == ("bm25", 1)
    assert check_settings(None, None) == ("hybrid", 3)
    for mode, k in [("regex", 3), ("dense", 0), ("dense", 11), ("dense", "many")]:
        with pytest.raises(QueryError):
            check_settings(mode, k)  # type: ignore[arg-type]
    qa = TranscriptQA.open(small_index)
    assert with_search_mode(qa, "hybrid") is qa
    view = with_search_mode(qa, "bm25")
    assert view.answer_settings.search_mode == "bm25" and qa.answer_settings.search_mode == "hybrid"
    modes: list[str] = []
    search = type(qa).search

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        modes.append(kwargs.get("mode", "hybrid"))
        return search(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(qa), "search", recording)
        answer = view.ask("What does the harbour wall need before winter?", k=1)
        assert modes and set(modes) == {"bm25"}
        assert len(answer.quotes) == 1 and answer.quotes[0].support is not None
        modes.clear()
        qa.ask("What does the harbour wall need before winter?")
        # hybrid, and the dense search whose best passages the answer also reads
        # (AnswerSettings.dense_extra); never the lexical search alone
        assert modes[0] == "hybrid" and set(modes) == {"hybrid", "dense"}
