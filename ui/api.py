"""JSON shapes of the `/ask` and `/search` endpoints, and back (for follow-up history).

Plain dicts of str/int/float/None/lists so any HTTP client can read them; dates are
ISO strings; `start`/`end` and `highlight` (the best sentence's `[start, end]`) are character
offsets into the transcript text. Times in the recording are `time_start_s`/`time_end_s`
(seconds, float, or null for transcripts without cue times), and `url` is where the citation
links (http/https only, `#t=SECONDS` added where times exist), or null.

Input the endpoints refuse (`bad_request`) is one line in the server log, never a traceback,
and a clear message to the client; over plain HTTP (`POST /gradio_api/run/ask`) it is a 400
with `{"error": "…"}` (`ApiInput`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import gradio as gr

from qa.links import safe_url, with_time
from qa.results import Answer, Hit, Quote
from qa.transcript import Passage

log = logging.getLogger(__name__)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) and value else None


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def _seconds_from(value: Any) -> float | None:
    """A time sent back by a client: a finite, non-negative number of seconds, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number >= 0 and number != float("inf") else None


def _times(time_start: float | None, time_end: float | None, url: str | None) -> dict[str, Any]:
    return {
        "time_start_s": _seconds(time_start),
        "time_end_s": _seconds(time_end),
        "url": with_time(url, time_start),
    }


def quote_to_dict(q: Quote) -> dict[str, Any]:
    return {
        "text": q.text,
        "speaker": q.speaker,
        "role": q.role,
        "title": q.title,
        "date": _iso(q.date),
        "place": q.place,
        "doc_id": q.doc_id,
        "turn": q.turn,
        "start": q.start,
        "end": q.end,
        "score": float(q.score),
        "highlight": [int(q.highlight[0]), int(q.highlight[1])],
        "retranslated": q.retranslated,
        **_times(q.time_start, q.time_end, q.url),
    }


def hit_to_dict(h: Hit) -> dict[str, Any]:
    p = h.passage
    return {
        "text": p.text,
        "speaker": p.speaker,
        "role": p.role,
        "title": p.title,
        "date": _iso(p.date),
        "place": p.place,
        "doc_id": p.doc_id,
        "turn": p.turn,
        "start": p.start,
        "end": p.end,
        "score": float(h.score),
        "dense_score": None if h.dense_score is None else float(h.dense_score),
        "bm25_score": None if h.bm25_score is None else float(h.bm25_score),
        "rerank_score": None if h.rerank_score is None else float(h.rerank_score),
        "retranslated": p.retranslated,
        **_times(p.time_start, p.time_end, p.url),
    }


def filters_to_dict(filters: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) for k, v in filters.items() if v not in (None, "")}


def answer_to_dict(a: Answer) -> dict[str, Any]:
    return {
        "question": a.question,
        "abstained": a.abstained,
        "quotes": [quote_to_dict(q) for q in a.quotes],
        "closest": [hit_to_dict(h) for h in a.closest],
        "filters": filters_to_dict(a.filters),
        "implied_filters": filters_to_dict(a.implied_filters),
        "relaxed": filters_to_dict(a.relaxed),
        "note": a.note,
    }


def quote_from_dict(d: Mapping[str, Any]) -> Quote:
    hl = d.get("highlight") or [d["start"], d["end"]]
    return Quote(
        text=str(d["text"]),
        speaker=d.get("speaker"),
        role=d.get("role"),
        title=str(d.get("title") or ""),
        date=_date(d.get("date")),
        place=d.get("place"),
        doc_id=str(d["doc_id"]),
        turn=int(d["turn"]),
        start=int(d["start"]),
        end=int(d["end"]),
        score=float(d.get("score") or 0.0),
        highlight=(int(hl[0]), int(hl[1])),
        retranslated=bool(d.get("retranslated", False)),
        time_start=_seconds_from(d.get("time_start_s")),
        time_end=_seconds_from(d.get("time_end_s")),
        url=safe_url(d.get("url")),
    )


def hit_from_dict(d: Mapping[str, Any]) -> Hit:
    passage = Passage(
        doc_id=str(d["doc_id"]),
        turn=int(d["turn"]),
        speaker=d.get("speaker"),
        role=d.get("role"),
        date=_date(d.get("date")),
        title=str(d.get("title") or ""),
        place=d.get("place"),
        text=str(d["text"]),
        start=int(d["start"]),
        end=int(d["end"]),
        retranslated=bool(d.get("retranslated", False)),
        time_start=_seconds_from(d.get("time_start_s")),
        time_end=_seconds_from(d.get("time_end_s")),
        url=safe_url(d.get("url")),
    )
    return Hit(passage, float(d.get("score") or 0.0), d.get("dense_score"), d.get("bm25_score"))


def _filters_from_dict(d: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (d or {}).items():
        out[k] = _date(v) if k in ("since", "until") else v
    return out


def answer_from_dict(d: Mapping[str, Any]) -> Answer:
    """Rebuild an `Answer` from what `/ask` returned, so an API client can send it back as history."""
    return Answer(
        question=str(d.get("question") or ""),
        quotes=[quote_from_dict(q) for q in d.get("quotes") or []],
        abstained=bool(d.get("abstained", False)),
        closest=[hit_from_dict(h) for h in d.get("closest") or []],
        filters=_filters_from_dict(d.get("filters")),
        implied_filters=_filters_from_dict(d.get("implied_filters")),
        relaxed=_filters_from_dict(d.get("relaxed")),
        note=str(d.get("note") or ""),
    )


# ---------------------------------------------------------------- refusing bad input

BAD_REQUEST = "Bad request"
"""The title of the `gr.Error` an endpoint raises for input it refuses (see `bad_request`)."""

API_PARAMETERS: dict[str, tuple[tuple[str, Any], ...]] = {
    "ask": (
        ("question", None),
        ("speaker", ""),
        ("since", ""),
        ("until", ""),
        ("doc", ""),
        ("history", None),
    ),
    "search": (
        ("query", None),
        ("k", 10),
        ("speaker", ""),
        ("since", ""),
        ("until", ""),
        ("doc", ""),
    ),
}
"""The parameters of `/ask` and `/search` in order, with their defaults (None first: required)."""

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # a question, filters and 10 earlier answers fit easily

_API_PATH = re.compile(r"^(?:/gradio_api)?/(run|api|call)/(ask|search)/?$")


def _one_line(message: object, limit: int = 300) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bad_request(endpoint: str, exc: BaseException | str) -> gr.Error:
    """The error to raise for `/ask` or `/search` input that is refused (a bad date, an unknown
    speaker, a malformed history): logged as one line, shown to the client, no traceback."""
    message = _one_line(exc, 1000)
    log.warning("/%s: bad request: %s", endpoint, _one_line(message))
    return gr.Error(message, title=BAD_REQUEST, print_exception=False)


def check_history(history: object) -> list[Mapping[str, Any]]:
    """`/ask`'s history: a list (or nothing) of {"question": str, "answer": dict} items."""
    if history is None or history == "":
        return []
    if not isinstance(history, list) or not all(
        isinstance(item, Mapping) and isinstance(item.get("answer"), Mapping) for item in history
    ):
        from qa.errors import QueryError

        raise QueryError('history items must be {"question": str, "answer": dict}, in a list.')
    return history


def request_data(endpoint: str, body: bytes) -> list[Any]:
    """The values of a plain-HTTP call's `{"data": [...]}`, missing trailing ones defaulted.

    `ValueError` with a message for anything else (not JSON, no list, too many values).
    """
    params = API_PARAMETERS[endpoint]
    names = ", ".join(name for name, _ in params)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError('the body is not JSON; send {"data": [' + names + "]}") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ValueError('expected {"data": [' + names + "]}, a list of values")
    if not data:
        raise ValueError(f'give at least the {params[0][0]}: {{"data": [{names}]}}')
    if len(data) > len(params):
        raise ValueError(f"{len(data)} values; /{endpoint} takes at most {len(params)}: {names}")
    return data + [default for _, default in params[len(data) :]]


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ApiInput:
    """ASGI middleware for `/ask` and `/search` called over plain HTTP (`POST
    /gradio_api/run/ask`, `/gradio_api/call/ask`; gradio_client is unaffected).

    A body that is not `{"data": [...]}` with 1 to N values gets a 400 with `{"error": "…"}` and
    one line in the log (Gradio itself would print a traceback, or answer `{"error": null}`);
    missing trailing values take their defaults (`{"data": ["pay deal"]}` is a search); and an
    input the endpoint refuses (`bad_request`) answers 400 from `/run/…`, not 500.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _API_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        route, endpoint = match.groups()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_REQUEST_BYTES:
                await self._refuse(
                    send, endpoint, f"the request is over {MAX_REQUEST_BYTES:,} bytes", 413
                )
                return
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        try:
            data = request_data(endpoint, raw)
        except ValueError as exc:
            await self._refuse(send, endpoint, str(exc))
            return
        payload = {**json.loads(raw), "data": data}
        body = json.dumps(payload).encode("utf-8")
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        sent = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal sent
            if sent:
                return await receive()  # e.g. waiting for the client to disconnect
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        if route == "call":  # the answer comes as server-sent events; errors are events there
            await self.app(scope, replay, send)
            return
        await self.app(scope, replay, _BadRequestStatus(send))

    @staticmethod
    async def _refuse(send: Send, endpoint: str, message: str, status: int = 400) -> None:
        log.warning("/%s: bad request: %s", endpoint, _one_line(message))
        body = json.dumps({"error": message, "title": BAD_REQUEST}).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BadRequestStatus:
    """Passes a response on, turning Gradio's 500 for a `bad_request` refusal into a 400."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: MutableMapping[str, Any] | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and message.get("status") == 500:
            self.start = message  # held until the body says whose error it is
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        try:
            refused = json.loads(body).get("title") == BAD_REQUEST
        except (ValueError, AttributeError):
            refused = False
        await self.send({**self.start, "status": 400 if refused else 500})
        await self.send({"type": "http.response.body", "body": body})
