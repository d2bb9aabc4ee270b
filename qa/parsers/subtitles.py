"""WebVTT and SRT subtitles.

Speakers come from `<v Name>` voice tags or a `Name: ` prefix (after a caption's ">>" or a
dialogue dash, which also start a new voice inside a cue); a cue without either continues the
previous speaker. A voice no cue names (automatic captions, a ">>" with no name) is an
"Unknown speaker": no one in the speaker list, cited as "unknown speaker" with its time.
Consecutive cues of one speaker merge into one turn that keeps the first cue's start and the
last cue's end time (seconds). Markup (`<i>`, `<c.x>`, timestamps inside
cues, entities) is removed: `Transcript.text` is a plain rendering, one `Speaker: text` line
per turn, so quotes never carry markup. Metadata may be given as `Key: value` lines in the
WebVTT header or a NOTE block before the first cue (Title, Date, Time, Place, Lead, Topics,
URL); a missing title or date comes from the file name (`2024-04-16_launch.vtt`). The link to
the recording is a `URL:` line, or else the first http(s) URL on any line of those NOTE blocks
(`NOTE url: https://…`, `NOTE https://…`). Every cue's span in the text and its times are kept
(`Transcript.cues`), so a passage of a long merged turn is timed by its own cues.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from qa.errors import TranscriptError
from qa.links import find_url
from qa.parsers._common import (
    RawTurn,
    build_turns,
    clock_seconds,
    header_fields,
    render_turns,
)
from qa.speakers import looks_like_label
from qa.transcript import Cue, Transcript

FORMAT = "subtitles"
UNNAMED_VOICE = "Unknown speaker"
_TS = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
TIMING_RE = re.compile(rf"^\s*{_TS}\s+-->\s+{_TS}(?:\s+.*)?$")
SRT_START_RE = re.compile(r"^\s*\d+\s*\n\s*\d+:\d{2}:\d{2}[,.]\d{1,3}\s+-->")
VOICE_RE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
TAG_RE = re.compile(r"</?[^>\n]*>")
PREFIX_RE = re.compile(r"^\s*(?:-\s*)?([^:\n]{1,80}?):\s+")
META_RE = re.compile(r"^([A-Za-z]+):\s*(.*)$")
META_KEYS = {"title", "date", "time", "place", "lead", "topics", "location", "url"}


def sniff(path: str | Path, head: str) -> bool:
    return head.lstrip("\ufeff").startswith("WEBVTT") or bool(SRT_START_RE.match(head.lstrip()))


@dataclass(slots=True)
class _Cue:
    """Consecutive cues of one speaker, merged: their texts and (start, end) times."""

    speaker: str | None
    text: str
    start: float
    end: float
    parts: list[tuple[str, float, float]]


def _clean(text: str) -> str:
    return " ".join(html.unescape(TAG_RE.sub("", text)).split())


# A new voice inside a cue: a caption's ">>" (at a line start or mid-line) or a dialogue dash
# opening a line ("- Where from?\n- Reserves.").
_CHANGE_RE = re.compile(r"(?:^|\n)\s*(?:>>|-\s)|\s>>\s")


def _cue_segments(lines: list[str]) -> list[tuple[str | None, str, bool]]:
    """(speaker, text, changed) for each voice of a cue: `<v Name>` tags, `Name: ` prefixes
    (after an optional ">>" or "-"), and ">>"/dash turns with no name (`changed`: a new,
    unnamed speaker, not the previous one continuing)."""
    raw = "\n".join(lines)
    voices = list(VOICE_RE.finditer(raw))
    if voices:
        parts = [
            (m.group(1), raw[m.end() : n.start() if n else len(raw)])
            for m, n in zip(voices, [*voices[1:], None], strict=True)
        ]
        head = _clean(raw[: voices[0].start()])
        out: list[tuple[str | None, str, bool]] = [(None, head, False)] if head else []
        for voice, words in parts:
            if said := _clean(words):
                out.append((" ".join(voice.split()), said, True))
        return out
    marks = list(_CHANGE_RE.finditer(raw))
    dashes = sum(1 for m in marks if m.group().strip().startswith("-"))
    if dashes < 2:  # one dash is punctuation ("- and then"), not a second voice
        marks = [m for m in marks if ">>" in m.group()]
    cuts = [0, *(m.start() for m in marks), len(raw)]
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        chunk = raw[a:b]
        changed = bool(_CHANGE_RE.match(chunk)) or (a > 0)
        text = _clean(re.sub(r"^\s*(?:>>|-)\s*", "", chunk))
        if not text:
            continue
        speaker = None
        m = PREFIX_RE.match(text)
        if m and looks_like_label(m.group(1), max_words=8):
            speaker = m.group(1).strip()
            text = text[m.end() :]
        if text:
            out.append((speaker, text, changed or speaker is not None))
    return out


def parse(path: str | Path, text: str) -> Transcript:
    lines = text.split("\n")
    is_vtt = text.lstrip("\ufeff").startswith("WEBVTT")
    meta: dict[str, str] = {}
    cues: list[_Cue] = []
    k = 0
    n = len(lines)
    if is_vtt:
        k = 1
        while k < n and lines[k].strip():  # header lines after WEBVTT
            m = META_RE.match(lines[k].strip())
            if m and m.group(1).lower() in META_KEYS:
                meta[m.group(1).lower()] = m.group(2).strip()
            k += 1
    while k < n:
        while k < n and not lines[k].strip():
            k += 1
        if k >= n:
            break
        block_start = k
        block = []
        while k < n and lines[k].strip():
            block.append(lines[k])
            k += 1
        first = block[0].strip()
        if is_vtt and first.startswith(("NOTE", "STYLE", "REGION")):
            if re.match(r"NOTE(?:\s|$)", first) and not cues:
                for line in [first[4:], *block[1:]]:
                    m = META_RE.match(line.strip())
                    if m and m.group(1).lower() in META_KEYS:
                        meta[m.group(1).lower()] = m.group(2).strip()
                    elif "note_url" not in meta and (url := find_url(line)):
                        meta["note_url"] = url
            continue
        timing_at = next((j for j, line in enumerate(block[:2]) if "-->" in line), None)
        if timing_at is None:
            raise TranscriptError(
                path,
                "malformed cue: expected a timing line like '00:00:01.000 --> 00:00:04.000'",
                block_start + 1,
            )
        timing = TIMING_RE.match(block[timing_at])
        if not timing:
            raise TranscriptError(
                path,
                f"malformed cue timing {block[timing_at].strip()[:60]!r}: expected 'HH:MM:SS.mmm --> HH:MM:SS.mmm'",
                block_start + timing_at + 1,
            )
        parts = timing.groups()
        start, end = clock_seconds(*parts[:4]), clock_seconds(*parts[4:])
        if end < start:
            raise TranscriptError(
                path, "malformed cue: end time before start time", block_start + timing_at + 1
            )
        for speaker, body, changed in _cue_segments(block[timing_at + 1 :]):
            if speaker is None and not changed and cues:
                speaker = cues[-1].speaker  # the same voice goes on
            if cues and cues[-1].speaker == speaker and not (changed and speaker is None):
                cues[-1].text += " " + body
                cues[-1].end = end
                cues[-1].parts.append((body, start, end))
            else:
                cues.append(_Cue(speaker, body, start, end, [(body, start, end)]))
    if not cues:
        raise TranscriptError(path, "no subtitle cues found: expected timed cues after the header")
    # A voice no cue names is someone speaking, not narration: a generic label says so in the
    # text and the citation ("unknown speaker"), as "Question" does for a questioner.
    labels = [c.speaker or UNNAMED_VOICE for c in cues]
    rendered, spans = render_turns(zip(labels, (c.text for c in cues), strict=True))
    raw = [
        RawTurn(label, s, e, c.start, c.end)
        for label, c, (s, e) in zip(labels, cues, spans, strict=True)
    ]
    timed: list[Cue] = []
    for c, (s, _) in zip(cues, spans, strict=True):
        pos = s
        for body, t0, t1 in c.parts:  # the turn's text is its cues' texts joined by spaces
            timed.append(Cue(pos, pos + len(body), t0, t1))
            pos += len(body) + 1
    fields = header_fields(path, meta)
    if fields["url"] is None:
        fields["url"] = meta.get("note_url")
    return Transcript(
        turns=build_turns(rendered, raw),
        text=rendered,
        **fields,  # type: ignore[arg-type]
        format=FORMAT,
        cues=timed,
    )
