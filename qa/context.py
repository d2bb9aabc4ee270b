"""What a passage is indexed with: its text plus context, while the quoted text stays verbatim.

A passage alone ("Yes, we did.") rarely says what it is about; its event title, date in words,
place and the turns before it do. BM25 indexes that context as text (`index_texts`); the dense
side embeds each passage once and composes its search vector from its own vector and its
neighbours' and document header's (`compose_vectors`), so context weights change without
re-embedding. The settings are recorded in the manifest (`ContextSettings`). Measured on QMSum
val (benchmarks/tune_qmsum.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from qa.transcript import Passage, Transcript, Turn


@dataclass(frozen=True, slots=True)
class ContextSettings:
    """What context a passage is indexed with (recorded in the manifest).

    BM25 indexes the context as text (`index_texts`). The dense side embeds each passage once,
    as `Speaker: text`, plus one header vector per document (title, date), and composes the
    search vector as normalise(passage + w_prev * preceding turns + w_next * following turns +
    w_header * header). Mean-pooled embeddings add up roughly like their texts, so this works
    like embedding the concatenation, at a fraction of the cost, and the weights can change
    without re-embedding anything (measured in benchmarks/tune_qmsum.py).
    """

    title: bool = True
    date: bool = True
    place: bool = True  # "at the Helsinki summit": people name the place of the occasion
    speaker: bool = True
    prev_words: int = 40  # words from the end of the preceding turns (0 = none)
    next_words: int = 0  # words from the start of the following turns (0 = none)
    dense_prev: float = 0.5
    dense_next: float = 0.0
    dense_header: float = 0.3
    version: int = 2

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CONTEXT = ContextSettings()


def context_from_dict(d: dict[str, Any] | None) -> ContextSettings:
    """Settings from a manifest; unknown keys (a newer writer) are ignored, and a setting an
    older writer did not know is off (that index was built without it)."""
    fields = set(ContextSettings.__dataclass_fields__)
    known = {k: v for k, v in (d or {}).items() if k in fields}
    if d is not None and "place" not in known:
        known["place"] = False
    return ContextSettings(**known)


def _date_words(date: dt.date | None) -> str:
    # "12 March 2017": the words people use in questions, not an ISO string.
    return f"{date.day} {date.strftime('%B')} {date.year}" if date else ""


def _labelled(speaker: str | None, words: list[str], use_speaker: bool) -> str:
    text = " ".join(words)
    return f"{speaker}: {text}" if use_speaker and speaker else text


def _before(turns: list[Turn], index: int, budget: int, use_speaker: bool) -> list[str]:
    """Up to `budget` words that precede turn `index`, walking back over as many turns as needed
    (so a run of tiny turns like "Yeah." "OK." still brings in the question before them)."""
    out: list[str] = []
    i = index - 1
    while budget > 0 and i >= 0:
        words = turns[i].text.split()
        take = words[-budget:] if words else []
        if take:
            out.append(_labelled(turns[i].index_label, take, use_speaker))
            budget -= len(take)
        i -= 1
    return out[::-1]


def _after(turns: list[Turn], index: int, budget: int, use_speaker: bool) -> list[str]:
    out: list[str] = []
    i = index + 1
    while budget > 0 and i < len(turns):
        words = turns[i].text.split()
        take = words[:budget]
        if take:
            out.append(_labelled(turns[i].index_label, take, use_speaker))
            budget -= len(take)
        i += 1
    return out


def embed_text(p: Passage) -> str:
    """What the model embeds for a passage: the passage, labelled with its speaker."""
    label = p.index_label or p.speaker  # "Question" for a generic turn
    return f"{label}: {p.text}" if label else p.text


def header_text(t: Transcript, settings: ContextSettings = DEFAULT_CONTEXT) -> str:
    """A document's title, date in words and place, embedded once per document."""
    parts = []
    if settings.title and t.title:
        parts.append(t.title.strip())
    if settings.date and t.date:
        parts.append(_date_words(t.date))
    if settings.place and t.place:
        parts.append(t.place.strip())
    return ". ".join(parts)


def _context_ranges(passages: list[Passage], budget: int) -> tuple[np.ndarray, ...]:
    """Per passage, the index ranges [a, b) of the passages of the preceding turns and [c, d)
    of the following turns in the same document, covering at least `budget` words each (the
    nearest turns first). Passages must be grouped by document in reading order."""
    n = len(passages)
    doc = np.empty(n, dtype=np.int64)
    turn = np.fromiter((p.turn for p in passages), dtype=np.int64, count=n)
    words = np.fromiter((p.text.count(" ") + 1 for p in passages), dtype=np.int64, count=n)
    ids: dict[str, int] = {}
    for i, p in enumerate(passages):
        doc[i] = ids.setdefault(p.doc_id, len(ids))
    idx = np.arange(n)
    new_doc = np.r_[True, doc[1:] != doc[:-1]]
    new_turn = new_doc | np.r_[True, turn[1:] != turn[:-1]]
    doc_start = np.maximum.accumulate(np.where(new_doc, idx, 0))
    turn_start = np.maximum.accumulate(np.where(new_turn, idx, 0))
    end_doc = np.r_[new_doc[1:], True]
    end_turn = np.r_[new_turn[1:], True]
    doc_end = np.minimum.accumulate(np.where(end_doc, idx + 1, n)[::-1])[::-1]
    turn_end = np.minimum.accumulate(np.where(end_turn, idx + 1, n)[::-1])[::-1]
    cum = np.r_[0, np.cumsum(words)]  # cum[j] = words in passages [0, j)
    # Preceding: the largest a with cum[turn_start] - cum[a] >= budget, not before the document.
    a = np.searchsorted(cum, cum[turn_start] - budget, side="right") - 1
    a = np.clip(a, doc_start, turn_start)
    # Following: the smallest d with cum[d] - cum[turn_end] >= budget, not past the document.
    d = np.searchsorted(cum, cum[turn_end] + budget, side="left")
    d = np.clip(d, turn_end, doc_end)
    return a, turn_start, turn_end, d


def compose_vectors(
    passages: list[Passage],
    raw: np.ndarray,
    header_of: np.ndarray,
    headers: np.ndarray,
    settings: ContextSettings,
) -> np.ndarray:
    """Search vectors: each passage's own vector plus weighted context vectors, normalised.

    `passages` must be grouped by document in reading order (as the index stores them);
    `header_of[i]` is the row in `headers` of passage i's document (-1 for none). Vectorised
    with prefix sums: context ranges are contiguous runs of passages.
    """
    if len(raw) == 0:
        return raw.copy()
    out = raw.astype(np.float32, copy=True)
    wanted = [
        (w, b)
        for w, b in (
            (settings.dense_prev, settings.prev_words),
            (settings.dense_next, settings.next_words),
        )
        if w > 0 and b > 0
    ]
    if wanted:
        prefix = np.zeros((len(raw) + 1, raw.shape[1]), dtype=np.float64)
        np.cumsum(raw, axis=0, out=prefix[1:])
    if settings.dense_prev > 0 and settings.prev_words > 0:
        a, b, _, _ = _context_ranges(passages, settings.prev_words)
        out += settings.dense_prev * _unit(prefix[b] - prefix[a])
    if settings.dense_next > 0 and settings.next_words > 0:
        _, _, c, d = _context_ranges(passages, settings.next_words)
        out += settings.dense_next * _unit(prefix[d] - prefix[c])
    if settings.dense_header > 0 and len(headers):
        has = header_of >= 0
        out[has] += settings.dense_header * headers[header_of[has]]
    return _unit(out)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def index_texts(
    transcript: Transcript, passages: list[Passage], settings: ContextSettings = DEFAULT_CONTEXT
) -> list[str]:
    """The text embedded and BM25-indexed for each passage: context lines, then the passage."""
    turns = transcript.turns
    header = header_text(transcript, settings)
    out = []
    for p in passages:
        parts = [header] if header else []
        parts.extend(_before(turns, p.turn, settings.prev_words, settings.speaker))
        label = p.index_label or p.speaker
        parts.append(f"{label}: {p.text}" if settings.speaker and label else p.text)
        parts.extend(_after(turns, p.turn, settings.next_words, settings.speaker))
        out.append("\n".join(parts))
    return out


def search_vectors(
    snapshot: Any, context: ContextSettings, header_of: np.ndarray | None = None
) -> np.ndarray:
    """The composed, normalised vectors a snapshot is searched with."""
    if header_of is None:
        doc_pos = {d: i for i, d in enumerate(snapshot.transcripts)}
        has = [bool(k) for k in snapshot.doc_keys]
        header_of = np.asarray(
            [doc_pos[p.doc_id] if has[doc_pos[p.doc_id]] else -1 for p in snapshot.passages],
            dtype=np.int64,
        )
    return compose_vectors(
        snapshot.passages, snapshot.vectors, header_of, snapshot.doc_vectors, context
    )
