"""Pieces every parser shares: raw turns → `Turn`s with canonical speakers, rendering, dates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.links import safe_url
from qa.speakers import AliasTable, SpeakerLabel, canonical_map_for_document, generic_speaker
from qa.transcript import Transcript, Turn

# Formats whose speaker labels are designations, not "Title Name": never split into a role.
UNSPLIT_FORMATS = frozenset({"qmsum"})


@dataclass(slots=True)
class RawTurn:
    """A turn before speaker normalisation: the label as written and its span in the text."""

    label: str | None
    start: int
    end: int
    time_start: float | None = None
    time_end: float | None = None


def build_turns(
    text: str,
    raw: Sequence[RawTurn],
    aliases: AliasTable | None = None,
    persons: Iterable[str] = (),
    split: bool = True,
) -> list[Turn]:
    """Canonicalise labels (per document) and cut each turn's text from `text` by its offsets.

    `split=False` keeps labels whole (no role/name split) for formats whose labels are not
    "Title Name" (QMSum). A generic label ("Question", "Remark") is no one: its turn gets the
    questioner's name when they introduce themselves, else no speaker; either way a role
    (their outlet, or "question from the floor").
    """
    names = canonical_map_for_document(
        (r.label for r in raw if r.label), aliases, persons, split=split
    )
    roles = _document_roles(names.values())
    turns: list[Turn] = []
    for r in raw:
        info = names.get(r.label) if r.label else None
        speaker, role = _speaker_and_role(info, roles, text[r.start : r.end])
        turns.append(
            Turn(
                index=len(turns),
                speaker=speaker,
                label=r.label,
                role=role,
                text=text[r.start : r.end],
                start=r.start,
                end=r.end,
                retranslated=info.retranslated if info else False,
                time_start=r.time_start,
                time_end=r.time_end,
            )
        )
    return turns


def _speaker_and_role(
    info: SpeakerLabel | None, roles: Mapping[str, str], text: str
) -> tuple[str | None, str | None]:
    if info is None:
        return None, None  # narrative
    if info.generic:
        return generic_speaker(info.label, text)
    return info.name, info.role or roles.get(info.name)


def _document_roles(infos: Iterable[SpeakerLabel]) -> dict[str, str]:
    """A speaker's role in this document when all their titled labels agree on one.

    "President of Russia Vladimir Putin: …" then "Vladimir Putin: …": both turns carry the role.
    """
    seen: dict[str, set[str]] = {}
    for info in infos:
        if info.role and not info.generic:
            seen.setdefault(info.name, set()).add(info.role)
    return {name: next(iter(rs)) for name, rs in seen.items() if len(rs) == 1}


def renormalise(transcript: Transcript, aliases: AliasTable | None) -> Transcript:
    """Recompute canonical speakers of a parsed transcript (e.g. with a user alias table)."""
    names = canonical_map_for_document(
        (t.label for t in transcript.turns if t.label),
        aliases,
        transcript.persons,
        split=transcript.format not in UNSPLIT_FORMATS,
    )
    roles = _document_roles(names.values())
    turns = []
    for t in transcript.turns:
        info = names.get(t.label) if t.label else None
        if info:
            speaker, role = _speaker_and_role(info, roles, t.text)
            t = replace(
                t,
                speaker=speaker,
                role=role or t.role,
                retranslated=info.retranslated,
            )
        turns.append(t)
    transcript.turns = turns
    return transcript


def clock_seconds(
    hours: str | None, minutes: str, seconds: str, fraction: str | None = None
) -> float:
    """Seconds of a clock's parts as matched ("01", "02", "03", "5" for 01:02:03.5); the
    hours and the fraction may be missing. Every format's times are read with it."""
    whole = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return whole + int((fraction or "0").ljust(3, "0")) / 1000


def render_turns(items: Iterable[tuple[str | None, str]]) -> tuple[str, list[tuple[int, int]]]:
    """Plain text rendering `Speaker: text` (one line per turn); spans of each turn's text part.

    Used by formats whose source is not itself readable text (JSON, subtitles), so quotes never
    carry escape sequences or markup. Callers collapse whitespace first: one line per turn.
    """
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for label, body in items:
        prefix = f"{label}: " if label else ""
        start = pos + len(prefix)
        parts.append(prefix + body)
        spans.append((start, start + len(body)))
        pos = start + len(body) + 1  # the joining newline
    return "\n".join(parts), spans


def parse_date(value: object) -> dt.date | None:
    """ISO dates first (fast, exact); anything else through `dateparser`. Unparseable → None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    s = str(value).strip()
    if not s:
        return None
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        pass
    for fmt in ("%B %d, %Y", "%d %B %Y", "%b %d, %Y", "%d %b %Y"):
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    import dateparser  # slow to import; only for unusual spellings

    parsed = dateparser.parse(s, languages=["en"], settings={"STRICT_PARSING": True})
    return parsed.date() if parsed else None


def doc_id_for(path: str | Path) -> str:
    return Path(path).stem


# A file stem that starts with a date: 2025-02-03, 2025_02_03, 2025.02.03 or 20250203 (one
# separator throughout), then the end or a separator and words. Year first, so there is no
# day/month ambiguity; a stem like "03-02-2025" or "250203" is not a date.
_STEM_DATE = re.compile(
    r"^(?P<y>(?:19|20)\d\d)(?P<sep>[-_.]?)(?P<m>\d\d)(?P=sep)(?P<d>\d\d)"
    r"(?:[-_.\s]+(?P<rest>.*))?$"
)
_STEM_WORDS = re.compile(r"[-_.\s]+")


def filename_metadata(path: str | Path) -> tuple[dt.date | None, str | None]:
    """The date and a readable title a file's name gives, for a file that states neither.

    `2025-02-03_podcast.vtt` → (2025-02-03, "Podcast"); `20231108-city-council.txt` →
    (2023-11-08, "City council"); `2025-02-03.vtt` → (2025-02-03, None). Only a year-first
    date at the very start of the stem counts, and only if it is a real day (`20251301` is
    not); anything else gives (None, None).
    """
    m = _STEM_DATE.match(Path(path).stem)
    if not m:
        return None, None
    try:
        date = dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return None, None
    words = " ".join(w for w in _STEM_WORDS.split(m["rest"] or "") if w)
    return date, (words[:1].upper() + words[1:]) or None


def fallback_title_date(
    path: str | Path, title: str | None, date: dt.date | None
) -> tuple[str, dt.date | None]:
    """The file's own title and date where it has them, else what its name says (a title
    defaults to the file stem). Metadata inside the file always wins."""
    if title and date:
        return title, date
    stem_date, stem_title = filename_metadata(path)
    return title or stem_title or doc_id_for(path), date or stem_date


def header_fields(path: str | Path, meta: Mapping[str, str]) -> dict[str, object]:
    """`Transcript` metadata from a `Key: value` header (plain files, WebVTT NOTE blocks);
    a missing title or date comes from the file name (`filename_metadata`)."""

    def split(key: str) -> list[str]:
        return [s.strip() for s in meta.get(key, "").split(",") if s.strip()]

    title, date = fallback_title_date(path, meta.get("title"), parse_date(meta.get("date")))
    return {
        "doc_id": doc_id_for(path),
        "title": title,
        "date": date,
        "time": meta.get("time") or None,
        "place": meta.get("place") or meta.get("location") or None,
        "lead": meta.get("lead") or None,
        "topics": split("topics"),
        "geography": split("geography"),
        "persons": split("persons"),
        "source": str(path),
        "url": safe_url(meta.get("url")),
    }
