"""What the API returns: small, typed, serialisable result types."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from qa.transcript import Passage


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved passage. `score` is the fused score that ranked it."""

    passage: Passage
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    rerank_score: float | None = None  # the reranker's logit, when it read this passage


@dataclass(frozen=True, slots=True)
class Quote:
    """One to a few consecutive complete sentences of one turn, verbatim at `start:end`."""

    text: str
    speaker: str | None
    role: str | None
    title: str
    date: dt.date | None
    place: str | None
    doc_id: str
    turn: int
    start: int
    end: int
    score: float
    highlight: tuple[int, int]  # the best sentence, in the same source offsets
    retranslated: bool = False
    # Seconds into the recording (first overlapping cue's start, last one's end), where the
    # transcript has cue times; never the character offsets `start`/`end`.
    time_start: float | None = None
    time_end: float | None = None
    url: str | None = None  # where the document links (`qa.links.document_url`), no #t=
    # How much the best sentence itself says about the question (`qa.answering.support`:
    # its similarity to the question, or to the question it replies to, plus the words
    # they share), whatever its passage's rank; None when not known (an older client).
    support: float | None = None


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    doc_id: str
    title: str
    date: dt.date | None
    place: str | None
    format: str
    turns: int
    passages: int
    speakers: tuple[str, ...] = ()
    # Added through the chat or `TranscriptQA.add_files`: its source is kept in the index's
    # own folder (`qa.uploads`), and `remove()` deletes that copy too.
    uploaded: bool = False


@dataclass(slots=True)
class Answer:
    question: str
    quotes: list[Quote]
    abstained: bool
    closest: list[Hit] = field(default_factory=list)
    # Filters in force: those given by the caller and those the question implied.
    filters: dict[str, Any] = field(default_factory=dict)
    implied_filters: dict[str, Any] = field(default_factory=dict)
    # Filters the question implied that nothing matched, dropped to find these quotes
    # (e.g. {"since": 2024-01-01, "until": 2024-12-31}); `note` says so in words.
    relaxed: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def to_markdown(self) -> str:
        from qa.rendering import answer_to_markdown

        return answer_to_markdown(self)
