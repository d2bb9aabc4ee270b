"""Plain `Speaker: text` transcripts, with an optional header block.

    Title: Public session of the transit strike mediation
    Date: 2023-06-02
    Time: 14:00
    Place: Civic Conference Centre, Harbour Vale
    Topics: Transport, Labour
    URL: https://example.org/recordings/strike-mediation.mp3
                                                  ← a blank line ends the header
    Walter Lind: Good afternoon. …
    More of Walter Lind's turn on its own line.
    Gideon Pell: Thank you, Mr Lind. …

Without a `Title:` or `Date:`, a file name like `2023-06-02_strike_mediation.txt` gives them
(`_common.filename_metadata`). A `URL:` (absolute http/https) is where citations link.

`Transcript.text` is the decoded file; a turn runs from after `Label: ` to the end of its last
line. Lines before the first label are narrative (speaker None). Exports with times are read
too: a clock before the label ("[00:12:31] Jane Okoro: …"), after it ("Jane Okoro (00:12:31):
…"), or a name and a clock alone on a line with the words below (Otter, Zoom); the turn keeps
that time (and runs until the next turn's). A file with no speaker label
at all is rejected: without speakers it is not a transcript this format can cite.
"""

from __future__ import annotations

import re
from pathlib import Path

from qa.errors import TranscriptError
from qa.parsers._common import RawTurn, build_turns, clock_seconds, header_fields
from qa.speakers import looks_like_label
from qa.transcript import Transcript

FORMAT = "plain"
HEADER_KEYS = {
    "title": "title",
    "date": "date",
    "time": "time",
    "place": "place",
    "location": "place",
    "venue": "place",
    "lead": "lead",
    "summary": "lead",
    "description": "lead",
    "topics": "topics",
    "geography": "geography",
    "persons": "persons",
    "speakers": "persons",
    "url": "url",
}
_HEADER_RE = re.compile(r"^([A-Za-z]+):[ \t]*(.*)$")
LABEL_RE = re.compile(r"^[ \t]*([^:\n]{1,120}?):(?:[ \t]+|$)")
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,]\d{1,3})?"
# "[00:12:31] Jane Okoro: …", "00:12:31 Jane Okoro: …", "(12:31) - Jane Okoro: …"
_LEADING_TIME = re.compile(rf"^[ \t]*[\[(]?{_CLOCK}[\])]?[ \t]*(?:[-–|][ \t]*)?(?=\S)")
# "Jane Okoro (00:12:31): …", "Jane Okoro [12:31]: …", "Jane Okoro 12:31: …"
_LABEL_TIME = re.compile(rf"^([^:\n]{{1,120}}?)[ \t]+[\[(]?{_CLOCK}[\])]?:(?:[ \t]+|$)")
# Otter and Zoom exports: "Jane Okoro  0:05" alone on a line, the words on the lines after.
_NAME_LINE = re.compile(rf"^[ \t]*([^:\n\d][^:\n]{{0,80}}?)[ \t]+{_CLOCK}[ \t]*$")


def _seconds(match: re.Match[str], first: int) -> float:
    """A clock's seconds: h:mm:ss, or m:ss when it has two parts."""
    a, b, c = (match.group(first + i) for i in range(3))
    return clock_seconds(a, b, c) if c is not None else clock_seconds(None, a, b)


def _label(line: str) -> tuple[str, int, float | None] | None:
    """The speaker label a line opens with, where its words start, and the time it gives."""
    when = None
    skip = 0
    lead = _LEADING_TIME.match(line)
    if lead:
        when, skip = _seconds(lead, 1), lead.end()
    rest = line[skip:]
    timed = _LABEL_TIME.match(rest)
    if timed and looks_like_label(timed.group(1).strip(), max_words=12):
        return timed.group(1).strip(), skip + timed.end(), _seconds(timed, 2)
    m = LABEL_RE.match(rest)
    if not m:
        alone = _NAME_LINE.match(line)
        if alone and looks_like_label(alone.group(1).strip(), max_words=8):
            return alone.group(1).strip(), len(line), _seconds(alone, 2)
        return None
    label = m.group(1).strip()
    if not label or not looks_like_label(label, max_words=12):
        return None
    return label, skip + m.end(), when


def sniff(path: str | Path, head: str) -> bool:
    """Some line opens with a speaker label that is not a header key ("Title:", "Date:")."""
    for line in head.split("\n")[:60]:
        found = _label(line)
        if found and found[0].lower() not in HEADER_KEYS:
            return True
    return False


def _header(path: str | Path, lines: list[str]) -> tuple[dict[str, str], int]:
    """Leading `Key: value` lines with known keys (Title, Date, …); a blank line may follow."""
    meta: dict[str, str] = {}
    k = 0
    while k < len(lines) and not lines[k].strip():
        k += 1
    while k < len(lines) and lines[k].strip():
        m = _HEADER_RE.match(lines[k].strip())
        if (
            not m
            or m.group(1).lower() not in HEADER_KEYS
            or HEADER_KEYS[m.group(1).lower()] in meta
        ):
            break  # the turns begin
        meta[HEADER_KEYS[m.group(1).lower()]] = m.group(2).strip()
        k += 1
    return meta, k


def parse(path: str | Path, text: str) -> Transcript:
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    meta, body_start = _header(path, lines)
    raw: list[RawTurn] = []
    current: RawTurn | None = None
    for k in range(body_start, len(lines)):
        line = lines[k]
        if not line.strip():
            continue
        base = offsets[k]
        found = _label(line)
        if found:
            label, cut, when = found
            if current is not None and current.end > current.start:
                raw.append(current)
            body = line[cut:].rstrip()
            start = base + cut
            current = (
                RawTurn(label, start, start + len(body), when)
                if body
                else RawTurn(label, base + len(line) + 1, base + len(line) + 1, when)
            )
            continue
        stripped = line.strip()
        start = base + len(line) - len(line.lstrip())
        end = start + len(stripped)
        if current is None:
            current = RawTurn(None, start, end)
        else:
            if current.end == current.start:
                current.start = start
            current.end = end
    if current is not None and current.end > current.start:
        raw.append(current)
    for turn, after in zip(raw, raw[1:], strict=False):
        if turn.time_start is not None and after.time_start is not None:
            turn.time_end = after.time_start  # a turn lasts until the next one starts
    if not any(r.label for r in raw):
        raise TranscriptError(
            path,
            "no speaker labels found: expected lines like 'Name: what they said'",
            body_start + 1,
        )
    return Transcript(
        turns=build_turns(text, raw),
        text=text,
        **header_fields(path, meta),  # type: ignore[arg-type]
        format=FORMAT,
    )
