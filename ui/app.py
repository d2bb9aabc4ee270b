"""The Gradio chat: ask, read the quotes, check the source.

Thin by design: every answer comes from `TranscriptQA.ask`, every document from
`TranscriptQA.transcript`; this module only validates input, keeps the conversation
in per-session server-side state (`gr.State`) and renders HTML with `ui.render`.
The browser never sends a document id or a path: citations carry an opaque
`"<exchange>-q<quote>"` id that is looked up in the session's own answers.

Named API endpoints (for `gradio_client`): `/ask` and `/search`, returning JSON
(see `ask_api` and `search_api`).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from starlette.middleware import Middleware

from qa import limits, locations, stores
from qa.errors import IndexLoadError, QueryError, TranscriptQAError
from qa.query import parse_date_bound
from ui import conversation as convo
from ui import memory, render, scripts, uploads
from ui.api import (
    ApiInput,
    answer_from_dict,
    answer_to_dict,
    bad_request,
    check_history,
    hit_to_dict,
)
from ui.ports import check_port
from ui.render import Exchange
from ui.style import CSS

if TYPE_CHECKING:
    from qa.service import TranscriptQA

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = limits.MAX_QUESTION_CHARS  # longer questions get a message, not an answer
MAX_HISTORY = limits.MAX_HISTORY
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
QUEUE_SIZE = 256  # waiting requests beyond this are told the server is busy
CONCURRENCY = 4  # questions answered at once; more only queue up for the same CPU cores

ASK_CONCURRENCY_ID = "tqa-answering"

BUNDLED_EXAMPLES = [
    "When was the Mill Creek barrier completed?",
    "What did Nadia Voss say about breaks for drivers?",
    "Who promised not to raise the property levy?",
    "How many children take a free school lunch?",
]
"""Questions checked against the bundled `corpus/`; shown when serving it."""

_QID = re.compile(r"^(\d{1,5})-([qc])(\d{1,3})$")

# The panels' browser code (ui/scripts.py): clicks become the events handled in build_app.
_JS_CONVERSATION = scripts.CONVERSATION
_JS_SOURCE = scripts.SOURCE
_JS_READER = scripts.READER

SEARCH_MODES = [
    ("Hybrid", "hybrid"),
    ("Meaning (dense)", "dense"),
    ("Words (BM25)", "bm25"),
]
"""The settings drawer's search modes (`TranscriptQA.search(mode=…)`), as (label, mode)."""
MAX_QUOTES = 10  # the most quotes an answer gives (`qa.answering.answer` caps k at 10)
EXPORT_NAME = "transcript-qa-conversation.md"

SOURCE_PLACEHOLDER = (
    '<div class="tqa-placeholder">Click a citation under a quote to read it here, '
    "in its transcript, with the turns before and after.</div>"
)


# ---------------------------------------------------------------- input checks


def check_question(question: str | None) -> str:
    """The question, stripped, within `qa.limits` (`QueryError` with a message otherwise)."""
    return limits.check_question(question if question is not None else "").strip()


def parse_date(value: str | None, *, end: bool = False) -> dt.date | None:
    """A date field as questions take dates ('June 2024', '3 June 2024', '2024') or as
    YYYY-MM-DD, YYYY-MM, YYYY → a date, the period's last day when `end` (until 'June 2024'
    is 2024-06-30). The same reading as `tqa --since/--until` (`qa.query.parse_date_bound`)."""
    return parse_date_bound(value, end=end, name="until" if end else "since")


class Filters:
    """Validated side-panel (or API) filters, as `TranscriptQA.search/ask` keyword arguments."""

    def __init__(self, qa: TranscriptQA, doc_ids: set[str]) -> None:
        self.qa = qa
        self.doc_ids = doc_ids

    def __call__(
        self, speaker: str | None, since: str | None, until: str | None, doc: str | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in (("speaker", speaker), ("doc", doc)):
            if value is not None and not isinstance(value, str):
                raise QueryError(f"{name} must be text, got {type(value).__name__}.")
        if speaker and speaker.strip():
            name = self.qa.resolve_speaker(speaker.strip()[:200])
            if name is None:
                raise QueryError(f"No speaker called {speaker.strip()[:80]!r} in this collection.")
            out["speaker"] = name
        first, last = parse_date(since), parse_date(until, end=True)
        if first and last and first > last:
            raise QueryError("The 'since' date is after the 'until' date.")
        if first:
            out["since"] = first
        if last:
            out["until"] = last
        if doc and doc.strip():
            if doc.strip() not in self.doc_ids:
                raise QueryError(f"No document {doc.strip()[:80]!r} in this collection.")
            out["doc"] = doc.strip()
        return out


def check_settings(mode: str | None, quotes: float | None) -> tuple[str, int]:
    """The settings drawer's search mode and number of quotes, checked."""
    mode = mode or "hybrid"
    if mode not in limits.MODES:
        raise QueryError(f"Unknown search mode {str(mode)[:20]!r}; use hybrid, dense or bm25.")
    try:
        k = int(round(float(quotes if quotes is not None else 3)))
    except (TypeError, ValueError, OverflowError):
        raise QueryError("The number of quotes must be a whole number from 1 to 10.") from None
    if not 1 <= k <= MAX_QUOTES:
        raise QueryError(f"The number of quotes must be from 1 to {MAX_QUOTES}.")
    return mode, k


def with_search_mode(qa: TranscriptQA, mode: str) -> TranscriptQA:
    """`qa` answering with another search mode: a shallow copy with its own `AnswerSettings`
    (the index, model and caches are shared, as `ask()`'s own per-call copy shares them)."""
    settings = getattr(qa, "answer_settings", None)
    if settings is None or getattr(settings, "search_mode", "hybrid") == mode:
        return qa
    view = copy.copy(qa)
    view.answer_settings = replace(settings, search_mode=mode)
    return view


def storage_key(qa: TranscriptQA) -> str:
    """The browser storage key of this index's conversation: one per index folder, so two
    indexes served on one address do not show each other's conversations."""
    where = str(getattr(qa, "index_dir", "."))
    if not stores.is_postgres(where):  # a URI is the same from every folder
        where = str(Path(where).resolve())
    return "tqa-conversation-" + hashlib.sha256(where.encode()).hexdigest()[:12]


_EXPORT_ROOT: Path | None = None
_EXPORT_LOCK = threading.Lock()


def export_file(markdown: str) -> str:
    """Write an export for the download button; Gradio serves a copy from its own cache, so
    files here older than a minute are removed."""
    global _EXPORT_ROOT
    with _EXPORT_LOCK:
        if _EXPORT_ROOT is None:
            _EXPORT_ROOT = Path(tempfile.mkdtemp(prefix="tqa-exports-"))
        root = _EXPORT_ROOT
        for old in root.glob("*/" + EXPORT_NAME):
            try:
                if time.time() - old.stat().st_mtime > 60:
                    old.unlink()
                    old.parent.rmdir()
            except OSError:
                pass
    folder = Path(tempfile.mkdtemp(dir=root))
    path = folder / EXPORT_NAME
    path.write_text(markdown, encoding="utf-8")
    return str(path)


def _history(exchanges: Sequence[Exchange]) -> list[tuple[str, Any]]:
    """The chat so far in `qa.query`'s history format: (question, Answer) pairs, oldest first."""
    pairs = [(ex.question, ex.answer) for ex in exchanges if ex.answer is not None]
    return pairs[-MAX_HISTORY:]


# ---------------------------------------------------------------- the app


def build_app(
    qa: TranscriptQA, examples: Sequence[str] | None = None, title: str = "Transcript QA"
) -> gr.Blocks:
    """The chat over an open index. `examples` are offered as one-click questions."""
    documents = qa.documents()
    titles = {d.doc_id: d.title for d in documents}
    speakers = qa.speakers()
    examples = list(examples or [])
    filters = Filters(qa, set(titles))
    # The header's counts follow uploads and removals: worked out once per index snapshot.
    shown: dict[str, Any] = {"key": None, "about": ""}

    def about() -> str:
        snap = qa.snapshot
        key = (snap.generation, len(snap.transcripts), len(snap.passages))
        if shown["key"] != key:
            now = qa.documents()
            shown["about"] = render.render_about(now, len(qa.speakers()), qa.date_range())
            shown["key"] = key
        return str(shown["about"])

    def header() -> str:
        return f"## {title}\n{about()}"

    doc_choices = [
        (f"{d.date.isoformat() + ' · ' if d.date else ''}{d.title}", d.doc_id)
        for d in sorted(documents, key=lambda d: (d.date or dt.date.min, d.title), reverse=True)
    ]

    def conversation(exchanges: Sequence[Exchange]) -> str:
        intro = render.render_intro(about(), []) if not exchanges else ""
        return render.render_conversation(exchanges, intro, titles)

    # -- chat handlers (private: the public API is /ask and /search)

    # The session's `exchanges` list is changed in place (Gradio hands every event the
    # same stored object), so a question asked while another is being answered is
    # queued beside it rather than lost when the first answer is written back.
    claim = threading.Lock()

    def submit(question: str, exchanges: list[Exchange]) -> tuple[Any, Any, Any]:
        """Show the question at once; the answer follows in `answer`."""
        if not (question or "").strip():
            return gr.skip(), gr.skip(), gr.skip()
        exchanges.append(Exchange(question=question, pending=True))
        return conversation(exchanges), exchanges, ""

    def answer(
        exchanges: list[Exchange],
        speaker: str | None,
        since: str,
        until: str,
        doc: str | None,
        mode: str | None = None,
        n_quotes: float | None = None,
    ) -> tuple[Any, Any]:
        with claim:  # the oldest question nobody is answering yet
            n = next((i for i, ex in enumerate(exchanges) if ex.pending and not ex.claimed), None)
            if n is None:
                return gr.skip(), gr.skip()
            mine = exchanges[n] = replace(exchanges[n], claimed=True)
        question = mine.question
        try:
            text = check_question(question)
            kwargs = filters(speaker, since, until, doc)
            search_mode, k = check_settings(mode, n_quotes)
            asker = with_search_mode(qa, search_mode)
            result = asker.ask(text, history=_history(exchanges[:n]), k=k, **kwargs)
            done = Exchange(question=question, answer=result)
        except TranscriptQAError as exc:
            done = Exchange(question=question, message=str(exc))
        except Exception:  # keep the chat usable; the server log has the details
            log.exception("answering %r failed", question[:200])
            done = Exchange(question=question, message="Something went wrong answering this.")
        with claim:
            if n < len(exchanges) and exchanges[n] is mine:  # not cleared by "New conversation"
                exchanges[n] = done
        return conversation(exchanges), exchanges

    def export_update(exchanges: Sequence[Exchange]) -> Any:
        done = [ex for ex in exchanges if not ex.pending]
        if not done:
            return gr.update(value=None, interactive=False)
        now = render.about_text(qa.documents(), len(qa.speakers()), qa.date_range())
        markdown = convo.conversation_markdown(done, title, now)
        return gr.update(value=export_file(markdown), interactive=True)

    def save(exchanges: list[Exchange]) -> tuple[Any, Any]:
        """After each answer: the conversation into the browser's storage and the export."""
        return convo.to_store(exchanges), export_update(exchanges)

    def restore(stored: Any, exchanges: list[Exchange]) -> tuple[Any, Any, Any]:
        """On page load: the conversation the browser kept (a new session starts empty)."""
        with claim:
            if not exchanges:
                exchanges.extend(convo.from_store(stored))
        return conversation(exchanges), exchanges, export_update(exchanges)

    def new_conversation(exchanges: list[Exchange]) -> tuple[Any, ...]:
        with claim:
            exchanges.clear()
        return (
            conversation(exchanges),
            exchanges,
            SOURCE_PLACEHOLDER,
            convo.to_store(exchanges),
            export_update(exchanges),
            "",
        )

    gone = '<div class="tqa-placeholder">That citation is no longer available.</div>'

    def cited(exchanges: list[Exchange], qid: object) -> tuple[Any, ...] | str:
        """(transcript, turn, span, best, qid) of a citation id from the browser, or the
        placeholder to show instead."""
        qid = str(qid or "")[:20]
        m = _QID.match(qid)
        if not m or int(m[1]) >= len(exchanges) or exchanges[int(m[1])].answer is None:
            return gone
        ans, i = exchanges[int(m[1])].answer, int(m[3])
        assert ans is not None
        if m[2] == "q" and i < len(ans.quotes):
            q = ans.quotes[i]
            doc_id, turn, span, best = q.doc_id, q.turn, (q.start, q.end), q.highlight
        elif m[2] == "c" and i < len(ans.closest):
            p = ans.closest[i].passage
            doc_id, turn, span, best = p.doc_id, p.turn, (p.start, p.end), None
        else:
            return gone
        try:
            transcript = qa.transcript(doc_id)
        except (KeyError, TranscriptQAError):
            return '<div class="tqa-placeholder">That document is no longer in the index.</div>'
        if not 0 <= turn < len(transcript.turns):
            return gone
        return transcript, turn, span, best, qid

    def _event(evt: gr.EventData) -> dict[str, Any]:
        data = getattr(evt, "_data", None)
        return data if isinstance(data, dict) else {}

    def show_source(exchanges: list[Exchange], evt: gr.EventData) -> str:
        found = cited(exchanges, _event(evt).get("qid"))
        if isinstance(found, str):
            return found
        transcript, turn, span, best, qid = found
        return render.render_source(transcript, turn, span, best, qid=qid)

    def more_source(exchanges: list[Exchange], evt: gr.EventData) -> str:
        """ "… 25 later turns …": the source view with the turns the button asks for."""
        data = _event(evt)
        found = cited(exchanges, data.get("qid"))
        if isinstance(found, str):
            return found
        transcript, turn, span, best, qid = found
        window = (data.get("lo"), data.get("hi"))
        return render.render_source(transcript, turn, span, best, qid=qid, window=window)

    def show_whole(exchanges: list[Exchange], evt: gr.EventData) -> str:
        """The whole transcript, opened at the quote (a page of turns around it)."""
        found = cited(exchanges, _event(evt).get("qid"))
        if isinstance(found, str):
            return ""
        transcript, turn, span, best, qid = found
        return render.render_reader(transcript, turn, span, best, qid)

    def page_whole(exchanges: list[Exchange], evt: gr.EventData) -> str:
        data = _event(evt)
        found = cited(exchanges, data.get("qid"))
        if isinstance(found, str):
            return ""
        transcript, turn, span, best, qid = found
        window = (data.get("lo"), data.get("hi"))
        return render.render_reader(transcript, turn, span, best, qid, window)

    def active_filters(speaker: str | None, since: str, until: str, doc: str | None) -> str:
        try:
            current = filters(speaker, since, until, doc)
        except QueryError as exc:
            return f'<div class="tqa-message">{render.esc(exc)}</div>'
        chips = render.filter_chips(current, None, titles)
        return chips or '<span class="tqa-none">No filters: searching everything.</span>'

    # -- API endpoints (documented in the README; typed so gradio_client sees the parameters)

    def ask_api(
        question: str,
        speaker: str = "",
        since: str = "",
        until: str = "",
        doc: str = "",
        history: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Answer a question with verbatim, cited quotes from the transcripts.

        Args:
            question: the question (at most 2,000 characters).
            speaker: only quotes by this speaker (any alias or a unique surname); "" for all.
            since: only transcripts dated on or after this day: YYYY-MM-DD, YYYY-MM, YYYY or 'June 2024'.
            until: only transcripts dated on or before this day (a month or year: its last day).
            doc: only this document (a doc_id from a quote or /search); "" for all.
            history: earlier turns for follow-ups, oldest first: [{"question": str, "answer": <an /ask result>}].
        Returns:
            {"question", "abstained", "quotes": [{text, speaker, role, title, date, place, doc_id, turn, start, end, score, highlight, retranslated}], "closest": [passages], "filters", "implied_filters"}
        """
        try:
            text = check_question(question)
            kwargs = filters(speaker, since, until, doc)
            past = []
            for item in check_history(history)[-MAX_HISTORY:]:
                past.append(
                    (check_question(item.get("question")), answer_from_dict(item["answer"]))
                )
            result = qa.ask(text, history=past, **kwargs)
        except TranscriptQAError as exc:
            raise bad_request("ask", exc) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_request("ask", f"Malformed history: {exc!r}") from None
        return answer_to_dict(result)

    def search_api(
        query: str,
        k: int = 10,
        speaker: str = "",
        since: str = "",
        until: str = "",
        doc: str = "",
    ) -> dict[str, Any]:
        """Retrieve the passages that best match a query (no answer selection), best first.

        Args:
            query: what to search for (at most 2,000 characters).
            k: how many passages, 1 to 100.
            speaker: only passages by this speaker (any alias or a unique surname); "" for all.
            since: only transcripts dated on or after this day: YYYY-MM-DD, YYYY-MM, YYYY or 'June 2024'.
            until: only transcripts dated on or before this day (a month or year: its last day).
            doc: only this document (a doc_id); "" for all.
        Returns:
            {"query", "hits": [{text, speaker, role, title, date, place, doc_id, turn, start, end, score, dense_score, bm25_score, retranslated}]}
        """
        try:
            text = check_question(query)
            limits.check_k(k)
            hits = qa.search(text, k=k, **filters(speaker, since, until, doc))
        except TranscriptQAError as exc:
            raise bad_request("search", exc) from None
        return {"query": text, "hits": [hit_to_dict(h) for h in hits]}

    # -- layout

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        exchanges = gr.State([])
        # The conversation in the browser's localStorage, so it survives a reload. (Gradio
        # encrypts it with this key in the browser; it is no secret, and needs none: the
        # stored answers are rebuilt and checked like /ask history when they come back.)
        key = storage_key(qa)
        stored = gr.BrowserState(convo.to_store([]), storage_key=key, secret=key)
        with gr.Sidebar(label="Filters", open=True, width=330):
            gr.Markdown("### Filters")
            speaker = gr.Dropdown(
                choices=speakers,
                value=None,
                label="Speaker",
                info="Type to search",
                filterable=True,
                elem_id="tqa-speaker",
            )
            with gr.Row():
                since = gr.Textbox(
                    label="Since", placeholder="2024-06, June 2024", elem_id="tqa-since"
                )
                until = gr.Textbox(
                    label="Until", placeholder="2024-06, June 2024", elem_id="tqa-until"
                )
            doc = gr.Dropdown(
                choices=doc_choices,
                value=None,
                label="Document",
                filterable=True,
                elem_id="tqa-doc",
            )
            gr.Markdown("**Active filters**")
            active = gr.HTML(
                active_filters(None, "", "", None),
                css_template=CSS,
                js_on_load=None,
                elem_id="tqa-active",
            )
            clear_filters = gr.Button("Clear filters", size="sm", elem_id="tqa-clear-filters")
            gr.Markdown(
                "Filters apply to the next question. A question can imply its own "
                "(“what did Voss say…”); those are shown with the answer."
            )
            defaults = getattr(qa, "answer_settings", None)
            with gr.Accordion("Settings", open=False, elem_id="tqa-settings"):
                search_mode = gr.Radio(
                    choices=SEARCH_MODES,
                    value=getattr(defaults, "search_mode", "hybrid"),
                    label="Search",
                    info="How passages are found: by meaning, by words, or both (hybrid)",
                    elem_id="tqa-mode",
                )
                n_quotes = gr.Slider(
                    1,
                    MAX_QUOTES,
                    value=getattr(defaults, "quotes", 3),
                    step=1,
                    label="Quotes per answer",
                    info="At most; weaker quotes are left out",
                    elem_id="tqa-quotes",
                )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                heading = gr.Markdown(header(), elem_id="tqa-title")
                chat = gr.HTML(
                    conversation([]),
                    css_template=CSS,
                    js_on_load=_JS_CONVERSATION,
                    max_height=680,
                    min_height=240,
                    elem_id="tqa-chat",
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask a question about the transcripts",
                        lines=1,
                        max_lines=6,
                        scale=5,
                        autofocus=True,
                        elem_id="tqa-question",
                    )
                    ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="tqa-ask")
                with gr.Row():
                    example_buttons = [
                        gr.Button(e, size="sm", variant="secondary", elem_classes=["tqa-example"])
                        for e in examples
                    ]
                with gr.Row():
                    new_chat = gr.Button("New conversation", size="sm", elem_id="tqa-new")
                    export = gr.DownloadButton(
                        "Export as Markdown",
                        value=None,
                        interactive=False,
                        size="sm",
                        elem_id="tqa-export",
                    )
            with gr.Column(scale=2, min_width=340):
                gr.Markdown("### Source")
                source = gr.HTML(
                    SOURCE_PLACEHOLDER,
                    css_template=CSS,
                    js_on_load=_JS_SOURCE,
                    max_height=760,
                    elem_id="tqa-source",
                )
        # The whole-transcript view: a dialog over the page while it holds a transcript.
        reader = gr.HTML("", css_template=CSS, js_on_load=_JS_READER, elem_id="tqa-reader")
        # Add and remove transcripts (ui/uploads.py): keeps the pickers and tables in step.
        uploads.documents_section(
            qa,
            speaker=speaker,
            doc=doc,
            titles=titles,
            doc_ids=filters.doc_ids,
            header=(heading, header),
        )

        panel = [speaker, since, until, doc]
        # Private: the browser's own events (the public API is /ask and /search). Cheap ones
        # run without a concurrency limit so they never wait behind a slow answer.
        private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        cheap: dict[str, Any] = {**private, "concurrency_limit": None}
        for trigger, inp in [(question.submit, question), (ask_button.click, question)] + [
            (b.click, b) for b in example_buttons
        ]:
            trigger(submit, [inp, exchanges], [chat, exchanges, question], **cheap).then(
                answer,
                [exchanges, *panel, search_mode, n_quotes],
                [chat, exchanges],
                concurrency_limit=CONCURRENCY,
                concurrency_id=ASK_CONCURRENCY_ID,
                **private,
            ).then(save, [exchanges], [stored, export], **cheap)
        chat.cite(show_source, [exchanges], [source], **cheap)
        source.more(more_source, [exchanges], [source], **cheap)
        source.whole(show_whole, [exchanges], [reader], **cheap)
        reader.turns(page_whole, [exchanges], [reader], **cheap)
        reader.close(lambda: "", None, [reader], **cheap)
        app.load(restore, [stored, exchanges], [chat, exchanges, export], **cheap)
        for comp in panel:
            comp.change(active_filters, panel, [active], **cheap)
        clear_filters.click(lambda: (None, "", "", None), None, panel, **cheap)
        new_chat.click(
            new_conversation,
            [exchanges],
            [chat, exchanges, source, stored, export, reader],
            **cheap,
        )
        gr.api(
            ask_api,
            api_name="ask",
            concurrency_limit=CONCURRENCY,
            concurrency_id=ASK_CONCURRENCY_ID,
        )
        gr.api(search_api, api_name="search", concurrency_limit=CONCURRENCY)
    return app


# ---------------------------------------------------------------- serving


def open_or_build(
    corpus: str | Path | None,
    index: str | Path | None = None,
    show_progress: bool = True,
    aliases: str | Path | None = None,
) -> TranscriptQA:
    """The index at `index`, by default where every `tqa` command looks for it
    (`qa.locations.default_index_dir()`: $TQA_INDEX, else .tqa-index here): opened and updated
    from `corpus` when one is given (only what changed), or first built from it. `aliases`: a
    speaker alias file applied to the whole index and kept in it."""
    from qa.service import TranscriptQA

    index_dir = locations.index_dir(index)
    # A postgresql:// URI: "exists" asks the database whether the schema holds an index.
    if locations.exists(index_dir):
        try:
            qa = TranscriptQA.open(index_dir)
        except IndexLoadError as exc:
            if corpus is None:
                raise
            print(f"{exc}\nRebuilding it from {corpus}.", flush=True)
        else:
            if corpus is not None or aliases is not None:  # added, changed and deleted files
                stats = qa.update(
                    corpus if corpus is not None else [],
                    show_progress=show_progress,
                    aliases=aliases,
                )
                _report_skipped(stats.skipped)
                if show_progress and stats.written:
                    print(
                        f"Index updated: {stats.docs_added} added, {stats.docs_changed} changed, "
                        f"{stats.docs_removed} removed.",
                        flush=True,
                    )
            return qa
    elif corpus is None:
        raise TranscriptQAError(
            f"{locations.describe(index_dir)}: no index here; run `tqa serve --corpus FOLDER` "
            "(or `tqa index FOLDER`) first."
        )
    if show_progress:
        where = locations.describe(index_dir)
        print(f"Building the index of {corpus} in {where} (first start only)…", flush=True)
    qa = TranscriptQA.build(corpus, index_dir, show_progress=show_progress, aliases=aliases)
    _report_skipped(qa.last_update_stats.skipped)
    return qa


def _report_skipped(skipped: Sequence[Any]) -> None:
    """Each file that could not be read, once, with its reason (as `tqa index` lists them)."""
    for s in skipped:
        path, reason = str(getattr(s, "path", s)), str(getattr(s, "reason", ""))
        print(
            f"skipped {reason if reason.startswith(path) else f'{path}: {reason}'}", file=sys.stderr
        )


BUNDLED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def is_bundled_corpus(corpus: str | Path | None) -> bool:
    return corpus is not None and Path(corpus).resolve() == BUNDLED_CORPUS


def holds_bundled_corpus(qa: TranscriptQA) -> bool:
    """Whether the index holds transcripts of the bundled corpus/ (`BUNDLED_EXAMPLES` fit)."""
    return any(
        t.source and Path(t.source).resolve().is_relative_to(BUNDLED_CORPUS)
        for t in qa.snapshot.transcripts.values()
    )


def theme() -> gr.themes.Base:
    """Gradio's default look in the system's UI font (its bundled semibold face is a
    55-glyph subset, which renders bold text in two fonts at once)."""
    return gr.themes.Default(
        font=[
            "system-ui",
            "-apple-system",
            "Segoe UI",
            "Roboto",
            "Helvetica Neue",
            "Arial",
            "sans-serif",
        ],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


def launch(
    app: gr.Blocks, host: str = DEFAULT_HOST, port: int | None = DEFAULT_PORT, block: bool = True
) -> tuple[Any, str]:
    """Start serving `app` on host:port (loopback by default; never a share link).

    Returns the server app and the local URL (at once when `block` is False).
    """
    app.queue(max_size=QUEUE_SIZE)
    try:
        server, url, _ = _launch(app, host, port, block)
    except OSError:
        if port is not None:
            check_port(host, port)  # taken since serve() looked: one clear line, not a traceback
        raise
    return server, url


def _launch(app: gr.Blocks, host: str, port: int | None, block: bool) -> Any:
    return app.launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=False,
        prevent_thread_lock=not block,
        quiet=True,  # serve() prints its own address line
        footer_links=["api", "settings"],
        theme=theme(),
        # Less surface: uploads (ui/uploads.py) no larger than one transcript may be, no
        # traffic page, no run log.
        max_file_size=limits.max_file_bytes(),
        enable_monitoring=False,
        run_history=False,
        # Bad /ask and /search input over plain HTTP: a 400 and one log line (ui/api.py).
        app_kwargs={"middleware": [Middleware(ApiInput)]},
    )


def serve(
    corpus: str | None = "corpus",
    index: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    show_progress: bool = True,
    block: bool = True,
    aliases: str | Path | None = None,
) -> gr.Blocks:
    """Open (or first build) the index and start the chat on http://host:port.

    The index is `index`, else the one every `tqa` command uses (`qa.locations`); `corpus`
    (if any) is indexed into it first, with `aliases` (a speaker alias file) if given.
    Loopback only unless `host` says otherwise. A port in use is a `PortInUseError` before
    anything is loaded. With `block=False` it returns at once with the app running in the
    background (for tests); otherwise it serves until interrupted.
    """
    check_port(host, port)
    # Before anything large is allocated: index swaps must not fragment malloc's arenas.
    memory.tune_allocator()
    qa = open_or_build(corpus, index, show_progress=show_progress, aliases=aliases)
    qa.warm_up()
    bundled = is_bundled_corpus(corpus) or holds_bundled_corpus(qa)
    examples = BUNDLED_EXAMPLES if bundled else []
    app = build_app(qa, examples=examples)
    if show_progress:
        print(f"{qa!r}\nOpen http://{host}:{port} in a browser (Ctrl+C stops).", flush=True)
    launch(app, host=host, port=port, block=block)
    return app
