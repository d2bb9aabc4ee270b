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

import calendar
import datetime as dt
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from qa import limits
from qa.errors import IndexLoadError, QueryError, TranscriptQAError
from ui import render
from ui.api import answer_from_dict, answer_to_dict, hit_to_dict
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

# Scroll only the panel's own scroll box, never the page: the reader keeps their place.
_JS_SCROLL = """
const scrollWithin = (target, where) => {
  let box = target.parentElement;
  while (box && box !== document.body) {
    const style = getComputedStyle(box);
    if (/(auto|scroll)/.test(style.overflowY) && box.scrollHeight > box.clientHeight) { break; }
    box = box.parentElement;
  }
  if (!box || box === document.body) { return; }
  const offset = target.getBoundingClientRect().top - box.getBoundingClientRect().top;
  const centre = where === 'center' ? (box.clientHeight - target.offsetHeight) / 2 : 8;
  box.scrollTo({top: box.scrollTop + offset - Math.max(8, centre), behavior: 'smooth'});
};
"""

_JS_CONVERSATION = (
    _JS_SCROLL
    + """
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-qid]');
  if (button && element.contains(button)) {
    trigger('cite', {qid: button.getAttribute('data-qid')});
  }
});
watch('value', () => {
  const exchanges = element.querySelectorAll('.tqa-exchange');
  const last = exchanges[exchanges.length - 1];
  if (last) { scrollWithin(last, 'start'); }
});
"""
)

_JS_SOURCE = (
    _JS_SCROLL
    + """
watch('value', () => {
  const turn = element.querySelector('.tqa-focus');
  const mark = element.querySelector('.tqa-focus mark');
  if (!turn) { return; }
  // A short turn is shown whole (with the metadata above if it fits); a long one at its quote.
  if (!mark || turn.offsetHeight < 320) { scrollWithin(turn, 'center'); } else { scrollWithin(mark, 'center'); }
});
"""
)

SOURCE_PLACEHOLDER = (
    '<div class="tqa-placeholder">Click a citation under a quote to read it here, '
    "in its transcript, with the turns before and after.</div>"
)


# ---------------------------------------------------------------- input checks


def check_question(question: str | None) -> str:
    """The question, stripped, within `qa.limits` (`QueryError` with a message otherwise)."""
    return limits.check_question(question if question is not None else "").strip()


def parse_date(value: str | None, *, end: bool = False) -> dt.date | None:
    """'2023', '2023-06' or '2023-06-02' → a date (the period's last day when `end`)."""
    text = (value or "").strip()
    if not text:
        return None
    m = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", text)
    try:
        if not m:
            raise ValueError(text)
        year, month, day = int(m[1]), m[2], m[3]
        if month is None:
            return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        if day is None:
            last = calendar.monthrange(year, int(month))[1]
            return dt.date(year, int(month), last if end else 1)
        return dt.date(year, int(month), int(day))
    except ValueError:
        raise QueryError(
            f"{text[:40]!r} is not a date; use YYYY-MM-DD (or YYYY-MM, or YYYY)."
        ) from None


class Filters:
    """Validated side-panel (or API) filters, as `TranscriptQA.search/ask` keyword arguments."""

    def __init__(self, qa: TranscriptQA, doc_ids: set[str]) -> None:
        self.qa = qa
        self.doc_ids = doc_ids

    def __call__(
        self, speaker: str | None, since: str | None, until: str | None, doc: str | None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
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
    about = render.render_about(documents, len(speakers), qa.date_range())
    examples = list(examples or [])
    intro = render.render_intro(about, [])
    filters = Filters(qa, set(titles))
    doc_choices = [
        (f"{d.date.isoformat() + ' · ' if d.date else ''}{d.title}", d.doc_id)
        for d in sorted(documents, key=lambda d: (d.date or dt.date.min, d.title), reverse=True)
    ]

    def conversation(exchanges: Sequence[Exchange]) -> str:
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
        exchanges: list[Exchange], speaker: str | None, since: str, until: str, doc: str | None
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
            result = qa.ask(text, history=_history(exchanges[:n]), **kwargs)
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

    def new_conversation(exchanges: list[Exchange]) -> tuple[str, list[Exchange], str]:
        with claim:
            exchanges.clear()
        return conversation(exchanges), exchanges, SOURCE_PLACEHOLDER

    def show_source(exchanges: list[Exchange], evt: gr.EventData) -> str:
        qid = str(getattr(evt, "_data", {}).get("qid", ""))[:20]
        m = _QID.match(qid)
        if not m or int(m[1]) >= len(exchanges) or exchanges[int(m[1])].answer is None:
            return '<div class="tqa-placeholder">That citation is no longer available.</div>'
        ans, i = exchanges[int(m[1])].answer, int(m[3])
        assert ans is not None
        if m[2] == "q" and i < len(ans.quotes):
            q = ans.quotes[i]
            doc_id, turn, span, best = q.doc_id, q.turn, (q.start, q.end), q.highlight
        elif m[2] == "c" and i < len(ans.closest):
            p = ans.closest[i].passage
            doc_id, turn, span, best = p.doc_id, p.turn, (p.start, p.end), None
        else:
            return '<div class="tqa-placeholder">That citation is no longer available.</div>'
        try:
            transcript = qa.transcript(doc_id)
        except (KeyError, TranscriptQAError):
            return '<div class="tqa-placeholder">That document is no longer in the index.</div>'
        return render.render_source(transcript, turn, span, best)

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
            since: only transcripts dated on or after this day: YYYY-MM-DD, YYYY-MM or YYYY.
            until: only transcripts dated on or before this day: YYYY-MM-DD, YYYY-MM or YYYY.
            doc: only this document (a doc_id from a quote or /search); "" for all.
            history: earlier turns for follow-ups, oldest first: [{"question": str, "answer": <an /ask result>}].
        Returns:
            {"question", "abstained", "quotes": [{text, speaker, role, title, date, place, doc_id, turn, start, end, score, highlight, retranslated}], "closest": [passages], "filters", "implied_filters"}
        """
        try:
            text = check_question(question)
            kwargs = filters(speaker, since, until, doc)
            past = []
            for item in (history or [])[-MAX_HISTORY:]:
                if not isinstance(item, dict) or not isinstance(item.get("answer"), dict):
                    raise QueryError('history items must be {"question": str, "answer": dict}.')
                past.append(
                    (check_question(item.get("question")), answer_from_dict(item["answer"]))
                )
            result = qa.ask(text, history=past, **kwargs)
        except TranscriptQAError as exc:
            raise gr.Error(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise gr.Error(f"Malformed request: {exc}") from None
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
            since: only transcripts dated on or after this day: YYYY-MM-DD, YYYY-MM or YYYY.
            until: only transcripts dated on or before this day: YYYY-MM-DD, YYYY-MM or YYYY.
            doc: only this document (a doc_id); "" for all.
        Returns:
            {"query", "hits": [{text, speaker, role, title, date, place, doc_id, turn, start, end, score, dense_score, bm25_score, retranslated}]}
        """
        try:
            text = check_question(query)
            limits.check_k(k)
            hits = qa.search(text, k=k, **filters(speaker, since, until, doc))
        except TranscriptQAError as exc:
            raise gr.Error(str(exc)) from None
        return {"query": text, "hits": [hit_to_dict(h) for h in hits]}

    # -- layout

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        exchanges = gr.State([])
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
                since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", elem_id="tqa-since")
                until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", elem_id="tqa-until")
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
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                gr.Markdown(f"## {title}\n{about}", elem_id="tqa-title")
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
                new_chat = gr.Button("New conversation", size="sm", elem_id="tqa-new")
            with gr.Column(scale=2, min_width=340):
                gr.Markdown("### Source")
                source = gr.HTML(
                    SOURCE_PLACEHOLDER,
                    css_template=CSS,
                    js_on_load=_JS_SOURCE,
                    max_height=760,
                    elem_id="tqa-source",
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
                [exchanges, *panel],
                [chat, exchanges],
                concurrency_limit=CONCURRENCY,
                concurrency_id=ASK_CONCURRENCY_ID,
                **private,
            )
        chat.cite(show_source, [exchanges], [source], **cheap)
        for comp in panel:
            comp.change(active_filters, panel, [active], **cheap)
        clear_filters.click(lambda: (None, "", "", None), None, panel, **cheap)
        new_chat.click(new_conversation, [exchanges], [chat, exchanges, source], **cheap)
        gr.api(
            ask_api,
            api_name="ask",
            concurrency_limit=CONCURRENCY,
            concurrency_id=ASK_CONCURRENCY_ID,
        )
        gr.api(search_api, api_name="search", concurrency_limit=CONCURRENCY)
    return app


# ---------------------------------------------------------------- serving


def default_index_dir(corpus: str | Path) -> Path:
    """Where `serve` keeps the index of a corpus folder: `<corpus>/../.index/<name>`."""
    path = Path(corpus).resolve()
    return path.parent / ".index" / path.name


def open_or_build(
    corpus: str | Path | None, index: str | Path | None, show_progress: bool = True
) -> TranscriptQA:
    """Open the index if it exists, else build it from `corpus` (with a progress bar)."""
    from qa.service import TranscriptQA

    if corpus is None and index is None:
        raise TranscriptQAError("Give a corpus folder, an index folder, or both.")
    index_dir = Path(index) if index is not None else default_index_dir(corpus)  # type: ignore[arg-type]
    if index_dir.exists():
        try:
            qa = TranscriptQA.open(index_dir)
        except IndexLoadError as exc:
            if corpus is None:
                raise
            print(f"{exc}\nRebuilding it from {corpus}.", flush=True)
        else:
            if corpus is not None:  # pick up added, changed and deleted files
                stats = qa.update(corpus, show_progress=show_progress)
                if show_progress and stats.written:
                    print(
                        f"Index updated: {stats.docs_added} added, {stats.docs_changed} changed, "
                        f"{stats.docs_removed} removed.",
                        flush=True,
                    )
            return qa
    elif corpus is None:
        raise TranscriptQAError(
            f"{index_dir}: no index here, and no corpus folder to build one from."
        )
    if show_progress:
        print(f"Building the index of {corpus} in {index_dir} (first start only)…", flush=True)
    return TranscriptQA.build(corpus, index_dir, show_progress=show_progress)


def is_bundled_corpus(corpus: str | Path | None) -> bool:
    bundled = Path(__file__).resolve().parent.parent / "corpus"
    return corpus is not None and Path(corpus).resolve() == bundled


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
    server, url, _ = app.launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=False,
        prevent_thread_lock=not block,
        quiet=True,  # serve() prints its own address line
        footer_links=["api", "settings"],
        theme=theme(),
        # Less surface: no upload of any size is needed, no traffic page, no run log.
        max_file_size="1mb",
        enable_monitoring=False,
        run_history=False,
    )
    return server, url


def serve(
    corpus: str | None = "corpus",
    index: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    show_progress: bool = True,
    block: bool = True,
) -> gr.Blocks:
    """Open (or first build) the index and start the chat on http://host:port.

    Loopback only unless `host` says otherwise. With `block=False` it returns at once
    with the app running in the background (for tests); otherwise it serves until
    interrupted.
    """
    qa = open_or_build(corpus, index, show_progress=show_progress)
    qa.warm_up()
    examples = BUNDLED_EXAMPLES if is_bundled_corpus(corpus) else []
    app = build_app(qa, examples=examples)
    if show_progress:
        print(f"{qa!r}\nOpen http://{host}:{port} in a browser (Ctrl+C stops).", flush=True)
    launch(app, host=host, port=port, block=block)
    return app
