"""Cue times and links: when in a recording a passage was said, and where a citation points.

A transcript may name its recording or page (`Transcript.url`: a `URL:` header line, a JSON
`url` field, a WebVTT `NOTE` line). Only absolute http(s) URLs are kept: anything else
(`javascript:`, `data:`, relative paths, control characters) is no link. Files in the
en.kremlin.ru layout whose file stem is the numeric event id link to the event page,
`http://en.kremlin.ru/d/<id>`, unless `TQA_KREMLIN_LINKS=0` in the environment (or
`qa.links.KREMLIN_LINKS = False`, or a caller's `kremlin=False`) turns that off. That link is
derived when a passage or quote is made (also when an index is opened), not stored, so the
setting takes effect on the next start without re-indexing.

Times are seconds from the start of the recording. A passage's time is that of the cues it
overlaps: the first one's start and the last one's end (`span_times`). Transcripts without
cue boundaries inside turns (JSON turns are their own cues) use the turn's times.
"""

from __future__ import annotations

import bisect
import functools
import math
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from qa.transcript import Cue, Transcript

KREMLIN_EVENT_URL = "http://en.kremlin.ru/d/{id}"
KREMLIN_LINKS_ENV = "TQA_KREMLIN_LINKS"
MAX_URL_CHARS = 2048
_OFF = {"0", "false", "no", "off"}
_SCHEMES = ("http", "https")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")  # whitespace, controls and backslashes
# Characters a URL may carry as they are; everything else is percent-encoded (so a link can
# go into an HTML attribute or a Markdown link target without any character meaning markup).
_URL_SAFE = "/:?#[]@!$&*+,;=%~-._"
_MEDIA_PAIR = re.compile(r"^[A-Za-z_][\w.-]*=[^&]*$")


def safe_url(value: object) -> str | None:
    """`value` as an absolute http(s) URL fit to link to, else None.

    Whitespace around it is dropped; a URL with spaces, control characters or backslashes
    inside, user credentials, no host, or any other scheme (`javascript:`, `data:`, `file:`)
    is refused. Non-ASCII and markup-like characters (`<>"'()` and the like) are
    percent-encoded.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_URL_CHARS or _BAD_CHARS.search(text):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname or "@" in parts.netloc:
        return None
    netloc = parts.netloc
    if not netloc.isascii():  # an international domain name: its ASCII (punycode) form
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        netloc = host if port is None else f"{host}:{port}"
    cleaned = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))
    return quote(cleaned, safe=_URL_SAFE)


def find_url(text: str) -> str | None:
    """The first http(s) URL in a line of text ("url: https://…", "Recording https://…")."""
    m = re.search(r"\bhttps?://\S+", text, re.IGNORECASE)
    return safe_url(m.group(0).rstrip(".,;)>\"'")) if m else None


def _env_flag() -> bool:
    return os.environ.get(KREMLIN_LINKS_ENV, "1").strip().lower() not in _OFF


KREMLIN_LINKS: bool = _env_flag()
"""Whether en.kremlin.ru files link to their event page: `TQA_KREMLIN_LINKS=0` (or false, no,
off) when the program starts turns it off; code may set this (or pass `kremlin=`)."""


def kremlin_links_enabled() -> bool:
    return KREMLIN_LINKS


def kremlin_event_url(stem: str) -> str | None:
    """`http://en.kremlin.ru/d/<stem>` for a numeric file stem (the event id), else None."""
    return KREMLIN_EVENT_URL.format(id=stem) if stem.isascii() and stem.isdigit() else None


def _stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def document_url(transcript: Transcript, kremlin: bool | None = None) -> str | None:
    """Where citations of `transcript` link: its own URL, else (Kremlin layout, numeric file
    stem, `kremlin` or `kremlin_links_enabled()`) the event page, else None."""
    enabled = kremlin_links_enabled() if kremlin is None else kremlin
    t = transcript
    return _document_url(t.url, t.format, t.source, t.doc_id, enabled)


@functools.lru_cache(maxsize=4096)  # called for every passage when an index is opened
def _document_url(
    url: str | None, format: str, source: str | None, doc_id: str, kremlin: bool
) -> str | None:
    own = safe_url(url) if url else None
    if own or format != "kremlin" or not kremlin:
        return own
    return kremlin_event_url(_stem(source) if source else doc_id)


def with_time(url: str | None, seconds: float | None) -> str | None:
    """`url` checked, with the media fragment `#t=SECONDS` (whole seconds, rounded down) when
    `seconds` is known; an existing `t=` is replaced, any other fragment is kept as it is."""
    url = safe_url(url)
    if url is None or seconds is None or not math.isfinite(seconds) or seconds < 0:
        return url
    base, sep, fragment = url.partition("#")
    t = f"t={int(seconds)}"
    if not sep or not fragment:
        return f"{base}#{t}"
    pairs = fragment.split("&")
    if not all(_MEDIA_PAIR.match(p) for p in pairs):
        return url  # a page anchor ("#section"): not ours to change
    kept = [p for p in pairs if not p.startswith("t=")]
    return f"{base}#{'&'.join([*kept, t])}"


def format_time(seconds: float | None) -> str:
    """`00:12:31`: hours, minutes, seconds (rounded down), always with hours."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def format_span(start: float | None, end: float | None) -> str:
    """`00:12:31–00:12:45`, or one time when the end is unknown or in the same second."""
    first = format_time(start)
    if not first:
        return ""
    last = format_time(end) if end is not None and start is not None and end >= start else ""
    return f"{first}–{last}" if last and last != first else first


def span_times(
    transcript: Transcript, turn: int, start: int, end: int
) -> tuple[float | None, float | None]:
    """Seconds of `transcript.text[start:end]` in turn `turn`: the first overlapping cue's start
    and the last one's end; the turn's own times when the transcript has no cue boundaries."""
    cues = transcript.cues
    if cues:
        found = cues_between(cues, start, end)
        if found:
            return found[0].time_start, found[-1].time_end
    t = transcript.turns[turn]
    return t.time_start, t.time_end


def cues_between(cues: Sequence[Cue], start: int, end: int) -> Sequence[Cue]:
    """The cues (sorted by offset, not overlapping) whose text overlaps `[start, end)`."""
    lo = bisect.bisect_right(cues, start, key=lambda c: c.end)
    hi = lo
    while hi < len(cues) and cues[hi].start < max(end, start + 1):
        hi += 1
    return cues[lo:hi]
