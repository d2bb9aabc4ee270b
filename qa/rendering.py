"""Answers → Markdown. Transcript text is data, never markup: everything quoted is escaped.

A transcript may contain `*`, `_`, `<script>`, `[links](…)`, `#` or `$…$`; rendered
unescaped, those would restyle the answer, inject HTML or break the block quote. So
every character a Markdown (or HTML) renderer could interpret is escaped before it is
placed in the answer, and only our own markup (block quotes, bold, the citation line)
is live. Links go only to absolute http(s) URLs (`qa.links.safe_url`), percent-encoded, so
a link target can never be `javascript:` or break out of the Markdown link.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from qa.links import format_span, with_time
from qa.results import Answer, Hit, Quote

# Backslash-escapable ASCII punctuation that Markdown renderers (CommonMark, marked,
# markdown-it, Gradio's chatbot with its $…$ maths) may interpret anywhere in a line.
_INLINE = re.compile(r"([\\`*_\[\]{}()#!|~$^])")
# At the start of a line, "-", "+", "=" or "1." would start a list, a rule or a heading.
_LINE_START = re.compile(r"^([ \t]*)([-+=]|\d+[.)])", re.MULTILINE)

_WHO = re.compile(r"^\s*(?:who|which\s+(?:speaker|person|participant|official|leader|one))\b", re.I)


def escape_html(text: str) -> str:
    """Escape `&`, `<`, `>` and quotes as HTML entities (for HTML the chat builds itself)."""
    return html.escape(text, quote=True)


def escape_markdown(text: str) -> str:
    """Make `text` render literally in Markdown: HTML entities first, then backslash escapes."""
    escaped = html.escape(text, quote=False)  # & < > → entities: never a tag, never an entity
    escaped = _INLINE.sub(r"\\\1", escaped)
    return _LINE_START.sub(lambda m: f"{m.group(1)}{m.group(2)[:-1]}\\{m.group(2)[-1]}", escaped)


def format_date(date: dt.date | None) -> str:
    return f"{date.day} {date:%B %Y}" if date else ""


def speaker_or_role(speaker: str | None, role: str | None, unattributed: str) -> str:
    """Who to cite: the speaker, else the role of a generic turn ("Question from the floor")."""
    if speaker:
        return speaker
    return role[:1].upper() + role[1:] if role else unattributed


def citation_parts(
    speaker: str | None,
    role: str | None,
    title: str,
    date: dt.date | None,
    place: str | None,
    retranslated: bool = False,
    unattributed: str = "Unattributed",
) -> list[str]:
    """Unescaped citation pieces — who (with role), event, date, place — shared by every renderer.

    A turn by no one in particular is cited by its role: "Question from the floor · …".
    The time in the recording (`qa.links.format_span`) is added by each renderer, since it
    may be a link.
    """
    who = speaker_or_role(speaker, role, unattributed)
    if speaker and role and role.lower() not in who.lower():
        who = f"{who}, {role}"
    if retranslated:
        who = f"{who} (retranslated)"
    return [p for p in (who, title, format_date(date), place or "") if p]


def link_host(url: str) -> str:
    """The host a link goes to, as its text: "en.kremlin.ru"."""
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url


def _markdown_link(text: str, url: str) -> str:
    # `url` is percent-encoded by safe_url (no spaces, <, >, quotes, parentheses or
    # backslashes); only an `&` that would read as an entity needs care in a link target.
    target = re.sub(r"&(?=#?\w+;)", "&amp;", url)
    return f"[{escape_markdown(text)}]({target})"


def time_and_link_markdown(
    time_start: float | None, time_end: float | None, url: str | None
) -> str:
    """The citation's last piece: "00:12:31–00:12:45", linked to `url#t=751` when the transcript
    names its recording; without times, a link named by its host ("[en.kremlin.ru](…)")."""
    when = format_span(time_start, time_end)
    link = with_time(url, time_start)  # None unless `url` passes safe_url
    if link is None:
        return escape_markdown(when)
    return _markdown_link(when or link_host(link), link)


def citation(
    speaker: str | None,
    role: str | None,
    title: str,
    date: dt.date | None,
    place: str | None,
    retranslated: bool = False,
    time_start: float | None = None,
    time_end: float | None = None,
    url: str | None = None,
) -> str:
    """ "Vladimir Putin, President of Russia · Meeting with Marine Le Pen · 24 March 2017 · Moscow",
    then the time in the recording and the link, where the transcript has them."""
    parts = [
        escape_markdown(p) for p in citation_parts(speaker, role, title, date, place, retranslated)
    ]
    tail = time_and_link_markdown(time_start, time_end, url)
    return " · ".join([*parts, tail] if tail else parts)


def quote_to_markdown(quote: Quote) -> str:
    """A block quote with the best sentence in bold, then its citation."""
    h_start, h_end = quote.highlight
    h_start = min(max(h_start, quote.start), quote.end)
    h_end = min(max(h_end, h_start), quote.end)
    before = quote.text[: h_start - quote.start]
    best = quote.text[h_start - quote.start : h_end - quote.start]
    after = quote.text[h_end - quote.start :]
    lines = []
    # Bold each line of the best sentence separately: Markdown emphasis cannot cross lines.
    body = escape_markdown(before)
    best_lines = best.split("\n")
    body += "\n".join(f"**{escape_markdown(b)}**" if b.strip() else b for b in best_lines)
    body += escape_markdown(after)
    for line in body.split("\n"):
        # Leading blanks would make an indented code block inside the quote.
        lines.append(f"> {line.lstrip()}" if line.strip() else ">")
    cite = citation(
        quote.speaker,
        quote.role,
        quote.title,
        quote.date,
        quote.place,
        quote.retranslated,
        quote.time_start,
        quote.time_end,
        quote.url,
    )
    lines.append(">")
    lines.append(f"> — {cite}")
    return "\n".join(lines)


def _snippet(text: str, words: int = 45) -> str:
    parts = text.split()
    if len(parts) <= words:
        return " ".join(parts)
    return " ".join(parts[:words]) + " …"


def hit_to_markdown(hit: Hit) -> str:
    """A closest match: a shortened passage and its citation, on one list item."""
    p = hit.passage
    cite = citation(
        p.speaker, p.role, p.title, p.date, p.place, p.retranslated, p.time_start, p.time_end, p.url
    )
    return f"- “{escape_markdown(_snippet(p.text))}” — {cite}"


def filters_to_text(filters: dict[str, Any]) -> str:
    """Filters as a reader would say them: "speaker Marine Le Pen · 1 March 2017 – 31 March 2017"."""
    parts = []
    if filters.get("speaker"):
        parts.append(f"speaker {filters['speaker']}")
    since, until = filters.get("since"), filters.get("until")
    if since and until:
        parts.append(f"{_date_text(since)} – {_date_text(until)}")
    elif since:
        parts.append(f"since {_date_text(since)}")
    elif until:
        parts.append(f"until {_date_text(until)}")
    if filters.get("doc"):
        parts.append(f"document {filters['doc']}")
    return " · ".join(parts)


def _date_text(value: Any) -> str:
    if isinstance(value, dt.date):
        return format_date(value)
    return str(value)


def answer_to_markdown(answer: Answer, show_filters: bool = True) -> str:
    """The whole answer: quotes (or a plain "not answered" with closest matches) and filters.

    `show_filters=False` leaves out the line naming the filters the question implied,
    for a UI that shows them separately.
    """
    blocks: list[str] = []
    if answer.note:  # a dropped filter, or which of several people a role was taken as
        blocks.append(f"*{escape_markdown(answer.note)}*")
    if answer.abstained or not answer.quotes:
        blocks.append("The transcripts do not seem to answer this question.")
        if answer.closest:
            blocks.append(
                "**Closest matches**\n\n" + "\n".join(hit_to_markdown(h) for h in answer.closest)
            )
    else:
        if _WHO.match(answer.question):
            names = list(
                dict.fromkeys(
                    speaker_or_role(q.speaker, q.role, "Unattributed") for q in answer.quotes
                )
            )
            lead = f"**{escape_markdown(names[0])}**"
            if len(names) > 1:
                others = ", ".join(escape_markdown(n) for n in names[1:])
                lead += f" (also: {others})"
            blocks.append(lead)
        blocks.extend(quote_to_markdown(q) for q in answer.quotes)
    if show_filters and answer.implied_filters:
        text = filters_to_text(answer.implied_filters)
        if text:
            blocks.append(f"*Understood as: {escape_markdown(text)}*")
    return "\n\n".join(blocks)
