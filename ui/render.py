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

Each quote shows how closely it matches the question ("strong / fair / weak match", from the
answerer's support score). The source view pages through its transcript ("… 25 later
turns …" shows more) and opens the whole transcript (`render_reader`) in pages of turns
around the quote, so a transcript of thousands of turns never renders at once. Each
answer carries its Markdown (base64, so no transcript text sits in an attribute) for the
chat's "Copy" button.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qa.links import document_url, format_span, format_time, safe_url, span_times, with_time
from qa.rendering import citation_parts, escape_html, link_host, speaker_or_role
from qa.rendering import format_date as _format_date
from qa.results import Answer, DocumentInfo, Hit, Quote
from qa.transcript import Transcript
from ui.conversation import Exchange, exchange_markdown, shorten

__all__ = ["Exchange", "shorten"]  # (defined in ui.conversation; kept importable from here)

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


# How closely a quote matches the question, from `Quote.support` (`qa.answering.support`: the
# best sentence's similarity to the question, or to the question it replies to, plus 0.3 x the
# share of the question's words it has). Below 0.45 the answerer abstains. Over the questions
# of corpus/ and the dev set (108 quotes), >= .75 held 26 quotes (58% in the gold turn),
# .60-.75 45 (40%), .45-.60 37 (46%): the label says how closely the words and meaning
# match, which is what a reader can check, not a promise that the quote answers.
STRONG_MATCH = 0.75
FAIR_MATCH = 0.60
_BAR_FLOOR, _BAR_TOP = 0.45, 0.95  # support at an empty and at a full bar


def relevance(support: float | None) -> tuple[str, float] | None:
    """("strong" | "fair" | "weak", the bar's filled share 0.1-1) for a support score, or None
    when the score is unknown."""
    if support is None or not math.isfinite(support):
        return None
    label = "strong" if support >= STRONG_MATCH else "fair" if support >= FAIR_MATCH else "weak"
    share = (support - _BAR_FLOOR) / (_BAR_TOP - _BAR_FLOOR)
    return label, round(min(1.0, max(0.1, share)), 2)


def render_relevance(support: float | None) -> str:
    """A small bar and "strong match" (or fair, weak); "" when the score is unknown."""
    found = relevance(support)
    if found is None:
        return ""
    label, share = found
    hint = (
        f"How closely the highlighted sentence matches the question (support {support:.2f}; "
        f"strong from {STRONG_MATCH:.2f}, fair from {FAIR_MATCH:.2f}, no answer below 0.45)"
    )
    return (
        f'<span class="tqa-rel tqa-rel-{label}" title="{esc(hint)}">'
        f'<span class="tqa-bar" aria-hidden="true"><span class="tqa-bar-fill" '
        f'style="width: {share * 100:.0f}%"></span></span>{label} match</span>'
    )


def render_quote(quote: Quote, qid: str) -> str:
    """A block quote with its best sentence highlighted and a clickable citation under it,
    then how closely it matches the question."""
    body = marked(quote.text, quote.start, [(*quote.highlight, "tqa-best")])
    cite = citation_text(
        quote.speaker, quote.role, quote.title, quote.date, quote.place, quote.retranslated
    )
    tail = time_and_link(quote.time_start, quote.time_end, quote.url)
    rel = render_relevance(quote.support)
    return (
        '<figure class="tqa-quote">'
        f"<blockquote>{body}</blockquote>"
        f"<figcaption>{cite_button(qid, cite)}{tail}"
        + (f'<div class="tqa-why">{rel}</div>' if rel else "")
        + "</figcaption></figure>"
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
            parts.append(copy_button(ex))
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


def copy_button(ex: Exchange) -> str:
    """ "Copy" for one answer: its Markdown with full citations, base64 in the attribute (the
    browser decodes it; no transcript text ever sits in markup)."""
    data = base64.b64encode(exchange_markdown(ex).encode("utf-8")).decode("ascii")
    return (
        '<div class="tqa-tools"><button type="button" class="tqa-copy" '
        f'data-md="{data}" title="Copy this answer with its citations (Markdown)">'
        "Copy answer</button></div>"
    )


# ---------------------------------------------------------------- source view

SOURCE_CONTEXT = 1  # turns either side of the quote when a citation opens
SOURCE_STEP = 10  # turns one click on "… N later turns …" adds in the source view
READER_PAGE = 50  # the whole transcript opens this many turns either side of the quote …
READER_ALL = 150  # … or whole, up to this many turns; "earlier"/"later" add READER_PAGE
MAX_WINDOW = 400  # turns rendered at once; paging on drops turns at the far end


def clamp_window(n: int, lo: object, hi: object) -> tuple[int, int]:
    """A window of turns `[lo, hi)` inside `0..n`, at least one turn, at most `MAX_WINDOW`
    (whatever the browser sent)."""
    try:
        a, b = int(lo), int(hi)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        a, b = 0, 1
    a = max(0, min(a, n - 1))
    b = max(a + 1, min(b, n, a + MAX_WINDOW))
    return a, b


def source_window(n: int, turn: int) -> tuple[int, int]:
    """The turns a citation opens on: the quoted one with `SOURCE_CONTEXT` either side."""
    return clamp_window(n, turn - SOURCE_CONTEXT, turn + SOURCE_CONTEXT + 1)


def reader_window(n: int, turn: int) -> tuple[int, int]:
    """The turns the whole-transcript view opens on: all of a short transcript, else a page
    either side of the quote."""
    if n <= READER_ALL:
        return 0, n
    return clamp_window(n, turn - READER_PAGE, turn + READER_PAGE + 1)


def _earlier(lo: int, hi: int, step: int) -> tuple[int, int]:
    a = max(0, lo - step)
    return a, min(hi, a + MAX_WINDOW)


def _later(n: int, lo: int, hi: int, step: int) -> tuple[int, int]:
    b = min(n, hi + step)
    return max(lo, b - MAX_WINDOW), b


def _turns(n: int) -> str:
    return f"{n:,} turn{'s' if n != 1 else ''}"


def _more_button(direction: str, hidden: int, window: tuple[int, int], step: int) -> str:
    """ "… 25 later turns …", a button that shows the next `step` of them."""
    shown = min(step, hidden)
    action = "show them" if shown == hidden else f"show {shown} more"
    return (
        f'<button type="button" class="tqa-gap tqa-more" data-dir="{direction}" '
        f'data-lo="{window[0]}" data-hi="{window[1]}" '
        f'title="Show {shown} {direction} turn{"s" if shown != 1 else ""}">'
        f"… {hidden:,} {direction} turn{'s' if hidden != 1 else ''} … "
        f'<span class="tqa-more-label">{action}</span></button>'
    )


def _meta(t: Transcript, url: str | None) -> str:
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
    meta.append(("Document", esc(f"{t.doc_id} ({t.format}, {_turns(len(t.turns))})")))
    out = (
        '<dl class="tqa-meta">'
        + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in meta)
        + "</dl>"
    )
    if t.lead:
        out += f'<p class="tqa-lead">{esc(t.lead)}</p>'
    return out


def _turn(
    t: Transcript,
    i: int,
    url: str | None,
    focus: int,
    span: tuple[int, int],
    best: tuple[int, int] | None,
) -> str:
    """One turn: who (role, time and link) and its text, the quote marked in the focused one."""
    tr = t.turns[i]
    spans: list[tuple[int, int, str]] = []
    if i == focus:
        spans.append((span[0], span[1], "tqa-span"))
        if best:
            spans.append((best[0], best[1], "tqa-best"))
    who = esc(speaker_or_role(tr.speaker, tr.role, "Narrative"))
    if tr.speaker and tr.role:
        who += f' <span class="tqa-role">{esc(tr.role)}</span>'
    who += time_and_link(tr.time_start, tr.time_end, url) if tr.time_start is not None else ""
    if i == focus:
        q_start, q_end = span_times(t, focus, *span)
        if q_start is not None and (q_start, q_end) != (tr.time_start, tr.time_end):
            quoted = time_and_link(q_start, q_end, url)
            who += f' <span class="tqa-quote-time">quote:{quoted}</span>'
    return (
        f'<div class="tqa-turn{" tqa-focus" if i == focus else ""}" data-turn="{i}">'
        f'<div class="tqa-turn-who">{who}</div>'
        f'<div class="tqa-turn-text">{marked(tr.text, tr.start, spans)}</div></div>'
    )


def render_source(
    transcript: Transcript,
    turn: int,
    span: tuple[int, int],
    best: tuple[int, int] | None = None,
    context: int = SOURCE_CONTEXT,
    *,
    qid: str | None = None,
    window: tuple[int, int] | None = None,
) -> str:
    """Turn `turn` of `transcript` with `context` turns either side (or the turns `window`),
    `span` (and `best`) marked.

    Each turn shows its time in the recording where the transcript has times (a link to that
    moment when it names its recording), the focused turn also the quote's own time, and the
    metadata the transcript's link. With the citation's `qid`, "… N earlier/later turns …"
    are buttons that show `SOURCE_STEP` more, and "Read the whole transcript" opens
    `render_reader`."""
    t = transcript
    n = len(t.turns)
    url = document_url(t)
    if window is None:
        lo, hi = clamp_window(n, turn - context, turn + context + 1)
    else:
        lo, hi = clamp_window(n, *window)
    view = f' data-view="{esc(qid)}"' if qid else ""
    parts = [f'<div class="tqa-source"{view}>', f"<h3>{esc(t.title)}</h3>"]
    if qid:
        parts.append(
            '<button type="button" class="tqa-open-whole" title="Open the whole transcript, '
            f'at this quote">Read the whole transcript ({_turns(n)})</button>'
        )
    parts.append(_meta(t, url))
    if lo > 0:
        if qid:
            parts.append(_more_button("earlier", lo, _earlier(lo, hi, SOURCE_STEP), SOURCE_STEP))
        else:
            parts.append(f'<p class="tqa-gap">… {lo} earlier turn{"s" if lo > 1 else ""} …</p>')
    parts.extend(_turn(t, i, url, turn, span, best) for i in range(lo, hi))
    if hi < n:
        rest = n - hi
        if qid:
            parts.append(_more_button("later", rest, _later(n, lo, hi, SOURCE_STEP), SOURCE_STEP))
        else:
            parts.append(f'<p class="tqa-gap">… {rest} later turn{"s" if rest > 1 else ""} …</p>')
    parts.append("</div>")
    return "".join(parts)


def render_reader(
    transcript: Transcript,
    turn: int,
    span: tuple[int, int],
    best: tuple[int, int] | None,
    qid: str,
    window: tuple[int, int] | None = None,
) -> str:
    """The whole-transcript view: a dialog over the page with the transcript's metadata and
    the turns `window` (by default `reader_window`: all of a short transcript, else
    `READER_PAGE` either side of the quote), the quote marked, with "earlier"/"later"
    buttons that page on by `READER_PAGE`, "Back to the quote" and "Close"."""
    t = transcript
    n = len(t.turns)
    url = document_url(t)
    home = reader_window(n, turn)
    lo, hi = home if window is None else clamp_window(n, *window)
    where = f"all {_turns(n)}" if (lo, hi) == (0, n) else f"turns {lo + 1:,}–{hi:,} of {n:,}"
    parts = [
        '<div class="tqa-reader-backdrop">',
        f'<div class="tqa-reader" role="dialog" aria-modal="true" data-view="{esc(qid)}" '
        f'aria-label="Whole transcript: {esc(t.title)}">',
        '<div class="tqa-reader-head">',
        f'<div class="tqa-reader-title"><h3>{esc(t.title)}</h3>'
        f'<span class="tqa-reader-where">Whole transcript · {where}</span></div>',
        '<div class="tqa-reader-actions">',
        f'<button type="button" class="tqa-to-quote" data-lo="{home[0]}" data-hi="{home[1]}">'
        "Back to the quote</button>",
        '<button type="button" class="tqa-close" aria-label="Close the whole transcript">'
        "Close ✕</button>",
        "</div></div>",
        '<div class="tqa-reader-body">',
        _meta(t, url),
    ]
    if lo > 0:
        parts.append(_more_button("earlier", lo, _earlier(lo, hi, READER_PAGE), READER_PAGE))
    else:
        parts.append('<p class="tqa-gap">Start of the transcript</p>')
    parts.extend(_turn(t, i, url, turn, span, best) for i in range(lo, hi))
    if hi < n:
        parts.append(_more_button("later", n - hi, _later(n, lo, hi, READER_PAGE), READER_PAGE))
    else:
        parts.append('<p class="tqa-gap">End of the transcript</p>')
    parts.append("</div></div></div>")
    return "".join(parts)


# ---------------------------------------------------------------- about


def render_about(
    documents: Sequence[DocumentInfo],
    speakers: int,
    date_range: tuple[dt.date | None, dt.date | None],
) -> str:
    """'3 transcripts · 25 speakers · 14 March 2023 – 19 June 2023' (escaped)."""
    return esc(about_text(documents, speakers, date_range))


def about_text(
    documents: Sequence[DocumentInfo],
    speakers: int,
    date_range: tuple[dt.date | None, dt.date | None],
) -> str:
    """'3 transcripts · 25 speakers · 14 March 2023 – 19 June 2023' (plain text)."""
    parts = [
        f"{len(documents)} transcript{'s' if len(documents) != 1 else ''}",
        f"{speakers} speaker{'s' if speakers != 1 else ''}",
    ]
    first, last = date_range
    if first and last:
        parts.append(
            format_date(first) if first == last else f"{format_date(first)} – {format_date(last)}"
        )
    return " · ".join(parts)


def render_intro(about: str, examples: Iterable[str]) -> str:
    """The empty chat: what this is, what is in it, what to try."""
    items = "".join(f"<li>{esc(e)}</li>" for e in examples)
    tips = f'<p>Try:</p><ul class="tqa-try">{items}</ul>' if items else ""
    return (
        "<p><b>Ask about what was said.</b> Every answer is a verbatim quote with who said it, "
        "where and when; click a citation to read it in its transcript.</p>"
        f'<p class="tqa-about">In this collection: {about}</p>{tips}'
    )
