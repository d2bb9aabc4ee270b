"""HTML for the chat, built by hand so that no transcript text is ever interpreted.

Every string that comes from a transcript or from the user goes through `esc()`
(`html.escape`, quotes included) and is never passed through a Markdown renderer:
a transcript containing `<script>`, `<img onerror=…>`, `[a](javascript:…)` or `&amp;`
shows exactly those characters. The only markup here is the fixed markup these
functions write. Citations are buttons carrying an opaque id (`data-qid="3-q0"`:
answer 3, quote 0) that the app resolves against its own state; nothing the browser
sends names a document or a file. Times in a recording show as `00:12:31`; a transcript that
names its recording or page gets links (`<a target="_blank" rel="noopener noreferrer">`),
only to absolute http(s) URLs (`qa.links.safe_url`), with `#t=SECONDS` where times exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qa.links import document_url, format_span, format_time, safe_url, span_times, with_time
from qa.rendering import citation_parts, escape_html, link_host, speaker_or_role
from qa.rendering import format_date as _format_date
from qa.results import Answer, DocumentInfo, Hit, Quote
from qa.transcript import Transcript

ABSTAIN_TEXT = "I found nothing in the transcripts that answers this."
CLOSEST_LABEL = "Closest matches — not an answer"


def esc(text: object) -> str:
    """Escape anything for HTML text and attribute values."""
    return escape_html("" if text is None else str(text))


def format_date(value: dt.date | str | None) -> str:
    """'14 March 2023' — unambiguous for any reader."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    return _format_date(value)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One question and what the chat showed for it (an answer, or a message instead)."""

    question: str
    answer: Answer | None = None
    message: str | None = None  # shown instead of an answer (refusal, bad filter, error)
    pending: bool = False  # waiting for its answer
    claimed: bool = False  # a worker is computing the answer


# ---------------------------------------------------------------- pieces


def marked(text: str, base: int, spans: Sequence[tuple[int, int, str]]) -> str:
    """Escape `text` (which starts at source offset `base`) wrapping each span in `<mark class=…>`.

    Spans are in source offsets, outermost first, and nest (a best sentence inside a
    quote); spans outside the text are clipped.
    """
    if not spans:
        return esc(text)
    (start, end, cls), inner = spans[0], spans[1:]
    lo = max(0, min(len(text), start - base))
    hi = max(lo, min(len(text), end - base))
    if lo == hi:
        return esc(text)
    return (
        esc(text[:lo])
        + f'<mark class="{esc(cls)}">'
        + marked(text[lo:hi], base + lo, inner)
        + "</mark>"
        + esc(text[hi:])
    )


def citation_text(
    speaker: str | None,
    role: str | None,
    title: str,
    date: dt.date | None,
    place: str | None,
    retranslated: bool = False,
) -> str:
    """'Elena Marsh, Mayor of Harbour Vale · Briefing on … · 14 March 2023 · City Hall' (escaped)."""
    who, *rest = citation_parts(
        speaker, role, title, date, place, retranslated, unattributed="Narrative (no speaker)"
    )
    return " · ".join([f'<span class="tqa-who">{esc(who)}</span>', *(esc(p) for p in rest)])


def cite_button(qid: str, cite: str) -> str:
    """The citation as a button; `cite` is already escaped."""
    return (
        f'<button type="button" class="tqa-cite" data-qid="{esc(qid)}" '
        f'title="Show this passage in its transcript">— {cite}</button>'
    )


def link(url: str | None, text: str, cls: str = "tqa-link", title: str = "") -> str:
    """`<a>` to `url` (checked: http/https only) opening in a new tab, or "" for no URL;
    `text` and `title` are escaped here."""
    url = safe_url(url)
    if url is None:
        return ""
    hint = f' title="{esc(title)}"' if title else ""
    return (
        f'<a class="{esc(cls)}" href="{esc(url)}" target="_blank" '
        f'rel="noopener noreferrer"{hint}>{esc(text)}</a>'
    )


def time_and_link(time_start: float | None, time_end: float | None, url: str | None) -> str:
    """After a citation: the time in the recording ("00:12:31–00:12:45"), as a link to
    `url#t=751` when the transcript names its recording; without times, a link named by its
    host ("en.kremlin.ru ↗"). "" when there is neither."""
    when = format_span(time_start, time_end)
    target = with_time(url, time_start)
    if target is None:
        return f' <span class="tqa-time">{esc(when)}</span>' if when else ""
    if when:
        title = f"Open the recording at {format_time(time_start)}"
        return " " + link(target, f"{when} ↗", "tqa-link tqa-time", title)
    return " " + link(target, f"{link_host(target)} ↗", "tqa-link", f"Open {target}")


def render_quote(quote: Quote, qid: str) -> str:
    """A block quote with its best sentence highlighted and a clickable citation under it."""
    body = marked(quote.text, quote.start, [(*quote.highlight, "tqa-best")])
    cite = citation_text(
        quote.speaker, quote.role, quote.title, quote.date, quote.place, quote.retranslated
    )
    tail = time_and_link(quote.time_start, quote.time_end, quote.url)
    return (
        '<figure class="tqa-quote">'
        f"<blockquote>{body}</blockquote>"
        f"<figcaption>{cite_button(qid, cite)}{tail}</figcaption>"
        "</figure>"
    )


def render_hit(hit: Hit, qid: str) -> str:
    """A closest-match passage: shown as context, never highlighted as an answer."""
    p = hit.passage
    cite = citation_text(p.speaker, p.role, p.title, p.date, p.place, p.retranslated)
    tail = time_and_link(p.time_start, p.time_end, p.url)
    return (
        '<figure class="tqa-quote tqa-near">'
        f"<blockquote>{esc(p.text)}</blockquote>"
        f"<figcaption>{cite_button(qid, cite)}{tail}</figcaption>"
        "</figure>"
    )


FILTER_NAMES = {"speaker": "Speaker", "since": "Since", "until": "Until", "doc": "Document"}


def filter_chips(
    filters: Mapping[str, Any],
    implied: Mapping[str, Any] | None = None,
    titles: Mapping[str, str] | None = None,
) -> str:
    """Chips for the filters in force; those the question implied say so."""
    implied = implied or {}
    chips = []
    for key, value in filters.items():
        if value in (None, "", (), []):
            continue
        shown = value
        if key == "doc" and titles:
            shown = titles.get(str(value), value)
        elif isinstance(value, dt.date):
            shown = value.isoformat()
        name = FILTER_NAMES.get(key, key.replace("_", " ").capitalize())
        note = ""
        cls = "tqa-chip"
        if key in implied:
            note = ' <span class="tqa-implied">from your question</span>'
            cls += " tqa-chip-implied"
        chips.append(f'<span class="{cls}">{esc(name)}: <b>{esc(shown)}</b>{note}</span>')
    return "".join(chips)


def render_answer(answer: Answer, n: int, titles: Mapping[str, str] | None = None) -> str:
    """The bot side of exchange `n`: applied filters, then quotes or an abstention."""
    out = []
    chips = filter_chips(answer.filters, answer.implied_filters, titles)
    if chips:
        out.append(f'<div class="tqa-filters">Filtered by {chips}</div>')
    if answer.note:  # a dropped filter, or which of several people a role was taken as
        out.append(f'<p class="tqa-relaxed">{esc(answer.note)}</p>')
    if answer.quotes and not answer.abstained:
        out.extend(render_quote(q, f"{n}-q{i}") for i, q in enumerate(answer.quotes))
    else:
        out.append(f'<p class="tqa-abstain">{esc(ABSTAIN_TEXT)}</p>')
        if answer.closest:
            out.append(
                f'<div class="tqa-closest"><div class="tqa-closest-label">{esc(CLOSEST_LABEL)}</div>'
                + "".join(render_hit(h, f"{n}-c{i}") for i, h in enumerate(answer.closest))
                + "</div>"
            )
    return "".join(out)


def shorten(text: str, limit: int = 3000) -> str:
    """A refused, oversized question is echoed by its start and size, not in full."""
    return text if len(text) <= limit else f"{text[:300]}… ({len(text):,} characters)"


def render_conversation(
    exchanges: Sequence[Exchange], intro: str = "", titles: Mapping[str, str] | None = None
) -> str:
    """The whole chat, oldest first; `intro` (trusted, already HTML) shows while it is empty."""
    if not exchanges:
        return f'<div class="tqa-chat tqa-empty">{intro}</div>'
    parts = ['<div class="tqa-chat">']
    for n, ex in enumerate(exchanges):
        parts.append(
            '<div class="tqa-exchange">'
            f'<div class="tqa-user"><span class="tqa-label">You</span>'
            f'<div class="tqa-text">{esc(shorten(ex.question))}</div></div>'
            '<div class="tqa-bot"><span class="tqa-label">From the transcripts</span>'
        )
        if ex.pending:
            parts.append('<p class="tqa-pending">Looking for quotes…</p>')
        elif ex.message is not None:
            parts.append(f'<p class="tqa-message">{esc(ex.message)}</p>')
        elif ex.answer is not None:
            parts.append(render_answer(ex.answer, n, titles))
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


# ---------------------------------------------------------------- source view


def render_source(
    transcript: Transcript,
    turn: int,
    span: tuple[int, int],
    best: tuple[int, int] | None = None,
    context: int = 1,
) -> str:
    """Turn `turn` of `transcript` with `context` turns either side, `span` (and `best`) marked.

    Each turn shows its time in the recording where the transcript has times (a link to that
    moment when it names its recording), the focused turn also the quote's own time, and the
    metadata the transcript's link."""
    t = transcript
    url = document_url(t)
    meta: list[tuple[str, str]] = []  # (name, escaped HTML)
    if t.date:
        meta.append(("Date", esc(format_date(t.date) + (f", {t.time}" if t.time else ""))))
    if t.place:
        meta.append(("Place", esc(t.place)))
    speakers = t.speakers
    if speakers:
        shown = ", ".join(speakers[:8]) + (
            f" and {len(speakers) - 8} more" if len(speakers) > 8 else ""
        )
        meta.append(("Speakers", esc(shown)))
    if t.topics:
        meta.append(("Topics", esc(", ".join(t.topics))))
    if t.geography:
        meta.append(("Places", esc(", ".join(t.geography))))
    if url:
        meta.append(("Link", link(url, url)))
    meta.append(("Document", esc(f"{t.doc_id} ({t.format}, {len(t.turns)} turns)")))
    parts = [
        '<div class="tqa-source">',
        f"<h3>{esc(t.title)}</h3>",
        '<dl class="tqa-meta">'
        + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in meta)
        + "</dl>",
    ]
    if t.lead:
        parts.append(f'<p class="tqa-lead">{esc(t.lead)}</p>')
    lo, hi = max(0, turn - context), min(len(t.turns), turn + context + 1)
    if lo > 0:
        parts.append(f'<p class="tqa-gap">… {lo} earlier turn{"s" if lo > 1 else ""} …</p>')
    for i in range(lo, hi):
        tr = t.turns[i]
        focus = i == turn
        spans: list[tuple[int, int, str]] = []
        if focus:
            spans.append((span[0], span[1], "tqa-span"))
            if best:
                spans.append((best[0], best[1], "tqa-best"))
        who = esc(speaker_or_role(tr.speaker, tr.role, "Narrative"))
        if tr.speaker and tr.role:
            who += f' <span class="tqa-role">{esc(tr.role)}</span>'
        who += time_and_link(tr.time_start, tr.time_end, url) if tr.time_start is not None else ""
        if focus:
            q_start, q_end = span_times(t, turn, *span)
            if q_start is not None and (q_start, q_end) != (tr.time_start, tr.time_end):
                quoted = time_and_link(q_start, q_end, url)
                who += f' <span class="tqa-quote-time">quote:{quoted}</span>'
        parts.append(
            f'<div class="tqa-turn{" tqa-focus" if focus else ""}">'
            f'<div class="tqa-turn-who">{who}</div>'
            f'<div class="tqa-turn-text">{marked(tr.text, tr.start, spans)}</div></div>'
        )
    if hi < len(t.turns):
        rest = len(t.turns) - hi
        parts.append(f'<p class="tqa-gap">… {rest} later turn{"s" if rest > 1 else ""} …</p>')
    parts.append("</div>")
    return "".join(parts)


# ---------------------------------------------------------------- about


def render_about(
    documents: Sequence[DocumentInfo],
    speakers: int,
    date_range: tuple[dt.date | None, dt.date | None],
) -> str:
    """'3 transcripts · 25 speakers · 14 March 2023 – 19 June 2023'."""
    parts = [
        f"{len(documents)} transcript{'s' if len(documents) != 1 else ''}",
        f"{speakers} speaker{'s' if speakers != 1 else ''}",
    ]
    first, last = date_range
    if first and last:
        parts.append(
            format_date(first) if first == last else f"{format_date(first)} – {format_date(last)}"
        )
    return esc(" · ".join(parts))


def render_intro(about: str, examples: Iterable[str]) -> str:
    """The empty chat: what this is, what is in it, what to try."""
    items = "".join(f"<li>{esc(e)}</li>" for e in examples)
    tips = f'<p>Try:</p><ul class="tqa-try">{items}</ul>' if items else ""
    return (
        "<p><b>Ask about what was said.</b> Every answer is a verbatim quote with who said it, "
        "where and when; click a citation to read it in its transcript.</p>"
        f'<p class="tqa-about">In this collection: {about}</p>{tips}'
    )
