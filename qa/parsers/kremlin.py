"""The en.kremlin.ru text layout.

    Events                                   kicker (optional)
    Meeting with Marine Le Pen               title
    Vladimir Putin met with …                lead (optional, may span lines)
    March 24, 2017                           date
    14:00                                    time (optional)
    The Kremlin, Moscow                      place (optional)
    9 of 11 / <caption>                      photo counter + caption (optional; not text)
    <lead-in narrative, * * *, headings>
    President of Russia Vladimir Putin: …    a label opens a turn; unlabelled paragraphs continue it
    <…>                                      elision: skipped, the speaker carries on
    Geography / Topics / Persons / Publication status / … / Text version    footer lists

`Transcript.text` is the decoded file itself; every turn is `text[start:end]`, from just after
`Label: ` to the end of its last paragraph. Narrative paragraphs (no speaker) are turns with
`speaker=None` so they stay searchable. A narrative-only document is accepted when its header
is valid: many Kremlin "working meeting" pages are a summary with no quoted speech.
"""

from __future__ import annotations

import re
from pathlib import Path

from qa.errors import TranscriptError
from qa.parsers._common import RawTurn, build_turns, doc_id_for, parse_date
from qa.speakers import clean_label, is_generic, label_words, looks_like_label
from qa.transcript import Transcript

FORMAT = "kremlin"

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
DATE_RE = re.compile(rf"^(?:{_MONTHS}) \d{{1,2}}, \d{{4}}$")
TIME_RE = re.compile(r"^\d{1,2}:\d{2}$")
PHOTO_RE = re.compile(r"^\d+ of \d+$")
SEPARATOR_RE = re.compile(r"^\*(?:\s*\*){2,}$")
ELISION_RE = re.compile(r"^<(?:…|\.\.\.)>$")
LABEL_RE = re.compile(r"^([^:\n]{1,160}?):(?: +|$)")
HEADING_START = re.compile(
    r"^(?:Speech(?:es)? (?:at|before)|Beginning of|Excerp?ts? from|(?:Opening|Closing|Concluding) "
    r"remarks|Transcript of|Remarks (?:at|during)|Address (?:at|to)|Press statements?|Statements? "
    r"(?:following|for|at)|News conference|Conversation with|Videoconference with)\b"
)
FOOTER_SECTIONS = ("Geography", "Topics", "Persons", "Organisations")
FOOTER_END = ("Publication status", "Text version")
_TERMINAL = tuple(".!?…,;:»”\")’'-–—")


def sniff(path: str | Path, head: str) -> bool:
    """A date line like "March 24, 2017" within the first few lines, after a title."""
    lines = [ln.strip() for ln in head.split("\n")[:10]]
    return any(DATE_RE.match(ln) for ln in lines[1:8])


def _lines(text: str) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _looks_like_place(line: str) -> bool:
    """Places are short, unpunctuated names: "The Kremlin, Moscow", "Sochi"."""
    words = line.split()
    return (
        0 < len(words) <= 8
        and not line.endswith(_TERMINAL[:4])
        and ":" not in line
        and words[0][:1].isupper()
        and not SEPARATOR_RE.match(line)
        and not PHOTO_RE.match(line)
    )


def _footer_start(lines: list[str]) -> tuple[int, dict[str, list[str]]]:
    """Index of the first footer line, and the footer lists by section name."""
    n = len(lines)
    status = next(
        (i for i in range(n - 1, -1, -1) if lines[i].strip() == "Publication status"), None
    )
    if status is None:
        status = next((i for i in range(n - 1, -1, -1) if lines[i].strip() == "Text version"), n)
    start = status
    # Walk back over the list sections that sit right before "Publication status".
    while True:
        prev = None
        for i in range(start - 1, max(start - 400, -1), -1):
            s = lines[i].strip()
            if s in FOOTER_SECTIONS:
                prev = i
                break
            if len(s) > 120 or s.endswith((".", "?", "!", ":")):
                break  # a body paragraph: the footer lists end here
        if prev is None:
            break
        start = prev
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in lines[start:]:
        s = line.strip()
        if s in FOOTER_SECTIONS:
            current = s
            sections[current] = []
        elif s in FOOTER_END:
            current = None
        elif current and s:
            sections[current].append(s)
    return start, sections


def parse(path: str | Path, text: str) -> Transcript:
    spans = _lines(text)
    lines = [text[s:e] for s, e in spans]
    n = len(lines)
    i = 0
    while i < n and not lines[i].strip():
        i += 1
    if i < n and lines[i].strip() in ("Events", "News", "Transcripts"):
        i += 1
    if i >= n:
        raise TranscriptError(
            path,
            "expected a Kremlin-style header (title, then a date line like 'March 24, 2017')",
            1,
        )
    title_line = i
    title = lines[i].strip()
    date_line = next(
        (j for j in range(i + 1, min(i + 8, n)) if DATE_RE.match(lines[j].strip())), None
    )
    if date_line is None:
        raise TranscriptError(
            path,
            "expected a date line like 'March 24, 2017' within the first lines after the title",
            title_line + 1,
        )
    lead = " ".join(ln.strip() for ln in lines[title_line + 1 : date_line] if ln.strip()) or None
    date = parse_date(lines[date_line].strip())
    i = date_line + 1
    time = None
    if i < n and TIME_RE.match(lines[i].strip()):
        time = lines[i].strip()
        i += 1
    place = None
    if i < n and _looks_like_place(lines[i].strip()) and not _is_label_line(lines[i]):
        place = lines[i].strip()
        i += 1
    while i < n and PHOTO_RE.match(lines[i].strip()):
        i += 2  # photo counter and its caption: page furniture, not transcript text

    footer, sections = _footer_start(lines)
    body = range(i, max(i, footer))
    raw = _body_turns(text, spans, lines, body, sections.get("Persons", []))
    if not raw:
        raise TranscriptError(
            path,
            "no transcript text: expected paragraphs between the header and the footer lists",
            i + 1,
        )
    turns = build_turns(text, raw, persons=sections.get("Persons", []))
    return Transcript(
        doc_id=doc_id_for(path),
        title=title,
        turns=turns,
        text=text,
        date=date,
        time=time,
        place=place,
        lead=lead,
        topics=sections.get("Topics", []),
        geography=sections.get("Geography", []),
        persons=sections.get("Persons", []),
        source=str(path),
        format=FORMAT,
    )


def _label_of(line: str, repeated: frozenset[str] = frozenset()) -> str | None:
    """The speaker label opening `line`, if the text before its first `: ` is one.

    A short lowercase description ("Call centre operator") or a single word ("Putin") counts
    only when it opens several paragraphs of the document (`repeated`): once, it is more likely
    a sentence or a list item.
    """
    m = LABEL_RE.match(line)
    if not m:
        return None
    label = m.group(1).strip()
    if not label:
        return None
    if HEADING_START.match(label):
        return None  # "Speeches at the opening of …: …" introduces a section
    if " " not in clean_label(label) and not is_generic(label) and label not in repeated:
        return None  # a lone capitalised word ("Healthcare: …") is a list item, not a speaker
    if looks_like_label(label) or (label in repeated and looks_like_label(label, loose=True)):
        return label
    return None


def _is_label_line(line: str, repeated: frozenset[str] = frozenset()) -> bool:
    return _label_of(line, repeated) is not None


def _evidence(lines: list[str], body: range, persons: list[str]) -> frozenset[str]:
    """Label candidates that the document itself vouches for.

    A prefix opening two or more paragraphs, or a single word that is the surname of a longer
    label or of a listed person ("Putin" beside "Vladimir Putin").
    """
    counts: dict[str, int] = {}
    surnames = {p.split()[0].casefold() for p in persons if p.split()}  # footer: surname first
    for k in body:
        m = LABEL_RE.match(lines[k])
        if m:
            key = m.group(1).strip()
            counts[key] = counts.get(key, 0) + 1
            words = label_words(key)
            if len(words) >= 2 and looks_like_label(key):
                surnames.add(words[-1].casefold())
    return frozenset(
        k for k, c in counts.items() if c >= 2 or (" " not in k and k.casefold() in surnames)
    )


def _is_heading(lines: list[str], k: int, body_end: int, repeated: frozenset[str]) -> bool:
    """A section heading ("Opening remarks at …"): unpunctuated, followed by a label or separator."""
    s = lines[k].strip()
    if not s or s.endswith(_TERMINAL) or not s[0].isupper() or len(s.split()) > 30:
        return False
    for j in range(k + 1, body_end):
        nxt = lines[j].strip()
        if nxt:
            return bool(SEPARATOR_RE.match(nxt)) or _is_label_line(nxt, repeated)
    return False


def _body_turns(
    text: str, spans: list[tuple[int, int]], lines: list[str], body: range, persons: list[str]
) -> list[RawTurn]:
    raw: list[RawTurn] = []
    current: RawTurn | None = None  # the open turn (speaker or narrative)

    def close() -> None:
        nonlocal current
        if current is not None and current.end > current.start:
            raw.append(current)
        current = None

    body_end = body.stop
    repeated = _evidence(lines, body, persons)
    for k in body:
        line = lines[k]
        s = line.strip()
        ls, le = spans[k]
        if not s:
            continue
        if SEPARATOR_RE.match(s):
            close()
            continue
        if ELISION_RE.match(s):
            continue  # skipped; the open turn carries on past it
        label = _label_of(line, repeated)
        if label is not None:
            close()
            m = LABEL_RE.match(line)
            assert m is not None
            start, end = _strip_span(text, ls + m.end(), le)
            current = RawTurn(label, start, end) if end > start else RawTurn(label, le + 1, le + 1)
            if end <= start:
                current.end = current.start  # label alone on its line: text starts next line
            continue
        start, end = _strip_span(text, ls, le)
        if (current is None or current.label is None or HEADING_START.match(s)) and _is_heading(
            lines, k, body_end, repeated
        ):
            # A heading is its own narrative turn, never glued to the lead-in; inside a speech
            # only the site's usual section headings count ("Speech at …", "Excerpts from …"),
            # since a speaker's unpunctuated last line ("Thank you") looks the same.
            close()
            raw.append(RawTurn(None, start, end))
            continue
        if current is None:
            current = RawTurn(None, start, end)
        else:
            if current.end == current.start:
                current.start = start
            current.end = end
    close()
    return raw
