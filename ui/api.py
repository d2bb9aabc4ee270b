"""JSON shapes of the `/ask` and `/search` endpoints, and back (for follow-up history).

Plain dicts of str/int/float/None/lists so any HTTP client can read them; dates are
ISO strings; `start`/`end` and `highlight` (the best sentence's `[start, end]`) are character
offsets into the transcript text. Times in the recording are `time_start_s`/`time_end_s`
(seconds, float, or null for transcripts without cue times), and `url` is where the citation
links (http/https only, `#t=SECONDS` added where times exist), or null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from qa.links import safe_url, with_time
from qa.results import Answer, Hit, Quote
from qa.transcript import Passage


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
