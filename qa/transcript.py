"""The data model: transcripts, speaker turns and citable passages.

Offsets are the truth: every `Turn` and `Passage` points into `Transcript.text`
with `start`/`end`, and its `text` is always `Transcript.text[start:end]`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from qa.links import document_url, span_times
from qa.speakers import generic_name


@dataclass(frozen=True, slots=True)
class Cue:
    """One timed subtitle cue inside a turn: `Transcript.text[start:end]` was said from
    `time_start` to `time_end` (seconds). Kept where turns merge several cues (WebVTT, SRT),
    so a passage of a long turn gets its own time, not the turn's."""

    start: int
    end: int
    time_start: float
    time_end: float


@dataclass(frozen=True, slots=True)
class Turn:
    """One speaker's uninterrupted contribution (or a narrative block with no speaker)."""

    index: int
    # Canonical name; None for narrative text that no one speaks and for generic turns
    # ("Question", "Remark") whose speaker did not say who they are.
    speaker: str | None
    # The label exactly as written in the source ("President of Russia Vladimir Putin").
    label: str | None
    # Title taken from the label ("President of Russia"); for a generic turn, what it is
    # ("question from the floor") or the outlet the questioner named ("Harbour Vale Courier").
    role: str | None
    text: str
    start: int
    end: int
    retranslated: bool = False
    time_start: float | None = None  # seconds, for formats with timestamps
    time_end: float | None = None

    @property
    def index_label(self) -> str | None:
        """Who the indexed text says speaks: the canonical name, or for a generic turn its label
        without notes ("Question"), also when the questioner named themselves: "Question: …"
        tells retrieval what kind of turn it is. None for narrative."""
        generic = generic_name(self.label)
        return generic if generic is not None else self.speaker


@dataclass(slots=True)
class Transcript:
    doc_id: str
    title: str
    turns: list[Turn]
    text: str  # the plain text all offsets point into
    date: dt.date | None = None
    time: str | None = None
    place: str | None = None
    lead: str | None = None
    topics: list[str] = field(default_factory=list)
    geography: list[str] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    source: str | None = None  # path the transcript was read from
    format: str = "unknown"
    # The recording or page the transcript names (absolute http(s) only; see qa.links).
    url: str | None = None
    # Timed cues in text order, where turns merge several of them (subtitles); else empty.
    cues: list[Cue] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        """Canonical speakers in order of first appearance."""
        seen: dict[str, None] = {}
        for turn in self.turns:
            if turn.speaker:
                seen.setdefault(turn.speaker, None)
        return list(seen)


@dataclass(frozen=True, slots=True)
class Passage:
    """A window of one turn: the unit that is indexed, retrieved and quoted from."""

    doc_id: str
    turn: int  # index of the turn in `Transcript.turns`
    speaker: str | None
    role: str | None
    date: dt.date | None
    title: str
    place: str | None
    text: str
    start: int
    end: int
    retranslated: bool = False
    # The speaker label of the indexed text (`Turn.index_label`); None: the speaker, if any.
    index_label: str | None = None
    # Seconds into the recording (the first overlapping cue's start, the last one's end), for
    # formats with cue times; not to be confused with the character offsets `start`/`end`.
    time_start: float | None = None
    time_end: float | None = None
    url: str | None = None  # where the document links (`qa.links.document_url`), no #t=

    @classmethod
    def of(cls, transcript: Transcript, turn: int, start: int, end: int) -> Passage:
        """The passage `transcript.text[start:end]` of turn number `turn`, with its citation."""
        t = transcript.turns[turn]
        time_start, time_end = span_times(transcript, turn, start, end)
        return cls(
            doc_id=transcript.doc_id,
            turn=turn,
            speaker=t.speaker,
            role=t.role,
            date=transcript.date,
            title=transcript.title,
            place=transcript.place,
            text=transcript.text[start:end],
            start=start,
            end=end,
            retranslated=t.retranslated,
            index_label=t.index_label,
            time_start=time_start,
            time_end=time_end,
            url=document_url(transcript),
        )
