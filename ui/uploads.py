"""The chat's "Add or remove transcripts" section: an upload box and the document list.

Thin, like the rest of `ui/`: files go to `TranscriptQA.add_files` (which checks them, keeps a
copy under the index's own folder and indexes them; see `qa.uploads`), removal to
`TranscriptQA.remove`. This module renders what those return, keeps the chat's speaker and
document pickers in step, and deletes Gradio's temporary copy of each upload once it has been
read. The browser never names a document to remove: a row's button sends its row number,
looked up in the list this session was shown (`gr.State`), so a stale page can only remove
what it showed, and a document already gone is reported as such.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
from collections.abc import Callable, MutableMapping, MutableSet, Sequence
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import gradio as gr

from qa import limits
from qa.errors import QueryError, TranscriptQAError
from qa.ingest import Skipped
from qa.parsers import SUPPORTED_EXTENSIONS
from qa.uploads import AddResult, refusal
from ui import memory
from ui.api import bad_request

if TYPE_CHECKING:
    from qa.results import DocumentInfo
    from qa.service import TranscriptQA

log = logging.getLogger(__name__)

UPLOAD_CONCURRENCY_ID = "tqa-uploads"
T = TypeVar("T")
MAX_LISTED_PROBLEMS = 50  # per upload; the rest are counted
MAX_SPEAKERS_SHOWN = 4

CSS = """
.tqa-docs { font-size: 14px; color: var(--body-text-color); }
.tqa-docs table { width: 100%; border-collapse: collapse; border: 0 !important; margin: 0; }
.tqa-docs tr { border: 0 !important; }
.tqa-docs th, .tqa-docs td { border: 0; }
.tqa-docs th { text-align: left; font-size: 12px; font-weight: 600; letter-spacing: 0.04em;
  text-transform: uppercase; color: var(--body-text-color-subdued); padding: 4px 8px;
  border-bottom: 1px solid var(--border-color-primary); position: sticky; top: 0;
  background: var(--background-fill-primary); }
.tqa-docs td { padding: 5px 8px; border-bottom: 1px solid var(--border-color-primary);
  vertical-align: top; overflow-wrap: anywhere; }
.tqa-docs td.tqa-num { text-align: right; white-space: nowrap; }
.tqa-docs td.tqa-date { white-space: nowrap; }
.tqa-docs .tqa-badge { display: inline-block; margin-left: 6px; padding: 0 7px; border-radius: 999px;
  font-size: 11.5px; border: 1px solid var(--color-accent); color: var(--color-accent); }
.tqa-docs .tqa-remove { cursor: pointer; font: inherit; font-size: 12.5px; padding: 2px 10px;
  border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--background-fill-secondary); color: var(--body-text-color); }
.tqa-docs .tqa-remove:hover, .tqa-docs .tqa-remove:focus-visible { border-color: #dc2626; color: #dc2626; }
.tqa-docs-empty { color: var(--body-text-color-subdued); }
.tqa-report { font-size: 14px; }
.tqa-report-ok { margin: 4px 0; padding: 8px 12px; border-radius: 8px; border: 1px solid #16a34a;
  background: rgba(22, 163, 74, 0.08); }
.tqa-report-bad { margin: 6px 0 4px 0; padding: 8px 12px; border-radius: 8px; border: 1px solid #f59e0b;
  background: rgba(245, 158, 11, 0.10); }
.tqa-report ul { margin: 4px 0 0 18px; padding: 0; }
.tqa-report li { margin: 2px 0; overflow-wrap: anywhere; }
.tqa-report .tqa-file { font-weight: 600; }
"""

# A row's Remove button: confirm, then send the row number (never a document id or a path).
_JS_LIST = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-row]');
  if (!button || !element.contains(button)) { return; }
  const title = button.getAttribute('data-title') || 'this document';
  if (window.confirm('Remove “' + title + '” from the index?')) {
    trigger('remove_row', {row: Number(button.getAttribute('data-row'))});
  }
});
"""

# Before Gradio uploads anything: a file over the size limit, past the file count or past the
# uploads limit is kept back, reported (`trigger('refused', ...)`, on every selection or drop,
# so an empty list clears the last one) and the rest go on. Gradio alone would refuse the
# whole selection for one file that is too large. Installed once per page, on the document;
# it calls the trigger of the report panel mounted last.
_JS_GUARD = """
window.__tqaRefused = trigger;
if (!window.__tqaUploadGuard) {
  window.__tqaUploadGuard = true;
  const LIMIT = __SIZE__, COUNT = __COUNT__, TOTAL = __TOTAL__;
  const sift = (files) => {
    const keep = [], refused = [];
    let total = 0;
    for (const f of files) {
      const item = {name: String(f.name).slice(0, 300), size: f.size};
      if (f.size > LIMIT) { refused.push({...item, why: 'size'}); continue; }
      if (keep.length >= COUNT) { refused.push({...item, why: 'count'}); continue; }
      if (total + f.size > TOTAL) { refused.push({...item, why: 'total'}); continue; }
      total += f.size;
      keep.push(f);
    }
    window.__tqaRefused('refused', {files: refused.slice(0, 5000), more: Math.max(0, refused.length - 5000)});
    return {keep, refused};
  };
  const only = (files) => { const t = new DataTransfer(); files.forEach((f) => t.items.add(f)); return t; };
  document.addEventListener('change', (event) => {
    const input = event.target;
    if (!event.isTrusted || !input.matches || !input.matches('#tqa-upload input[type=file]')) { return; }
    const {keep, refused} = sift(Array.from(input.files || []));
    if (!refused.length) { return; }
    if (!keep.length) { event.stopImmediatePropagation(); input.value = ''; return; }
    input.files = only(keep).files;
  }, true);
  document.addEventListener('drop', (event) => {
    const zone = event.target.closest ? event.target.closest('#tqa-upload') : null;
    if (!zone || !event.isTrusted || !event.dataTransfer || !event.dataTransfer.files.length) { return; }
    const {keep, refused} = sift(Array.from(event.dataTransfer.files));
    if (!refused.length) { return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    if (keep.length) {
      event.target.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: only(keep)}));
    }
  }, true);
}
"""


def _guard_js(size: int, count: int, total: int) -> str:
    return (
        _JS_GUARD.replace("__SIZE__", str(int(size)))
        .replace("__COUNT__", str(int(count)))
        .replace("__TOTAL__", str(int(total)))
    )


# ---------------------------------------------------------------- rendering


def _date(value: dt.date | None) -> str:
    return f"{value.day} {value:%B %Y}" if value else ""


def _speakers(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_SPEAKERS_SHOWN])
    more = len(names) - MAX_SPEAKERS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def ordered(documents: Sequence[DocumentInfo]) -> list[DocumentInfo]:
    """The list's order: newest first, as in the document picker."""
    return sorted(documents, key=lambda d: (d.date or dt.date.min, d.title), reverse=True)


def render_documents(documents: Sequence[DocumentInfo]) -> str:
    """The document table (`documents` in `ordered` order; row i removes documents[i])."""
    if not documents:
        return '<div class="tqa-docs"><p class="tqa-docs-empty">No transcripts yet.</p></div>'
    rows = []
    for i, d in enumerate(documents):
        badge = '<span class="tqa-badge">uploaded</span>' if d.uploaded else ""
        rows.append(
            "<tr>"
            f'<td class="tqa-doc-title">{escape(d.title)}{badge}</td>'
            f'<td class="tqa-date">{escape(_date(d.date))}</td>'
            f'<td class="tqa-doc-speakers">{escape(_speakers(d.speakers))}</td>'
            f'<td class="tqa-num">{d.turns:,}</td>'
            f'<td><button type="button" class="tqa-remove" data-row="{i}" '
            f'data-title="{escape(d.title[:120])}" '
            f'aria-label="Remove {escape(d.title[:120])}">Remove</button></td>'
            "</tr>"
        )
    count = f"{len(documents):,} transcript{'s' if len(documents) != 1 else ''}"
    return (
        f'<div class="tqa-docs"><p class="tqa-docs-count">{count}</p><table>'
        "<thead><tr><th>Title</th><th>Date</th><th>Speakers</th><th>Turns</th><th></th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_report(result: AddResult, titles: dict[str, str]) -> str:
    """What an upload did: the documents added, and each file left out with its reason."""
    parts = []
    if result.added:
        names = "".join(f"<li>{escape(titles.get(d, d))}</li>" for d in result.added)
        n = len(result.added)
        parts.append(
            f'<div class="tqa-report-ok">Added {n} transcript{"s" if n != 1 else ""}, '
            f"searchable now:<ul>{names}</ul></div>"
        )
    if result.skipped:
        items = "".join(
            f'<li><span class="tqa-file">{escape(s.path)}</span>: {escape(s.reason)}</li>'
            for s in result.skipped[:MAX_LISTED_PROBLEMS]
        )
        more = len(result.skipped) - MAX_LISTED_PROBLEMS
        if more > 0:
            items += f"<li>… and {more:,} more files not added</li>"
        n = len(result.skipped)
        parts.append(
            f'<div class="tqa-report-bad">{n} file{"s" if n != 1 else ""} not added:'
            f"<ul>{items}</ul></div>"
        )
    if not parts:
        parts.append('<div class="tqa-report-bad">No files were given.</div>')
    return f'<div class="tqa-report">{"".join(parts)}</div>'


def _message(text: str, ok: bool = False) -> str:
    kind = "tqa-report-ok" if ok else "tqa-report-bad"
    return f'<div class="tqa-report"><div class="{kind}">{escape(text)}</div></div>'


def doc_choices(documents: Sequence[DocumentInfo]) -> list[tuple[str, str]]:
    """The chat's document picker: (label, doc_id), newest first (as `build_app` makes it)."""
    return [
        (f"{d.date.isoformat() + ' · ' if d.date else ''}{d.title}", d.doc_id)
        for d in ordered(documents)
    ]


def help_text() -> str:
    size = limits.megabytes(limits.max_file_bytes())
    return (
        f"Drop transcript files here or click to choose them: {', '.join(SUPPORTED_EXTENSIONS)} "
        f"(en.kremlin.ru text, `Speaker: text`, WebVTT, SRT, JSON), UTF-8, up to {size} MB "
        f"each and {limits.max_upload_files():,} at a time. They are indexed at once, kept with "
        "the index, and searchable when the list below shows them. A file named "
        "`2025-02-03_podcast.vtt` without a date of its own is dated 3 February 2025."
    )


# ---------------------------------------------------------------- temporary files


def _discard_temporary(paths: Sequence[str]) -> None:
    """Delete Gradio's temporary copies of uploads once read (only inside its upload folder),
    so repeated uploads do not pile up on disk."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder()).resolve()
    for p in paths:
        try:
            path = Path(p).resolve()
            if root not in path.parents or not path.is_file():
                continue
            path.unlink()
            if path.parent != root and not any(path.parent.iterdir()):
                path.parent.rmdir()
        except OSError:
            continue


def _paths(files: Any) -> list[str]:
    """Gradio's value of a multiple-file box: paths (or file objects with a `.name`/`path`)."""
    if not files:
        return []
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    out = []
    for f in files:
        path = f if isinstance(f, (str, os.PathLike)) else getattr(f, "path", None) or f.name
        out.append(str(path))
    return out


# ---------------------------------------------------------------- the section


class Writer:
    """Runs every change to the index (uploads and removals, from the page and from /add and
    /remove) on a thread of its own that ends with the change.

    The encoder keeps working memory per thread that has run it (OpenVINO: one infer request
    per thread), sized to the largest batch that thread embedded: ~14 MB for 32 passages of
    ~256 tokens, held while the thread lives; a question is one short row. Gradio runs events
    on a pool of up to 40 AnyIO threads, so with uploads on any of them, thread after thread
    came to hold upload-sized buffers (the soak server's 8-16 MB blocks went from 10 to 15 in
    three minutes; `benchmarks/soak_server.py` probes). A thread that ends frees its request;
    starting one costs nothing measurable (a fresh thread's first batch of 32 x 256 tokens
    takes as long as a warm one's). Changes take turns anyway (the write lock, one upload
    event at a time). After each change the pages the old snapshot's objects freed go back to
    the system (`ui.memory.trim`). What this cannot free: OpenVINO's compiled model also keeps
    ~10-19 MB for every new large input shape it runs, in any thread (README, soak test).
    """

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on a new thread, in the caller's context (Gradio's progress
        bar follows `contextvars`), waiting for it; its exception is raised here."""
        context = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tqa-index-writer") as pool:
            return pool.submit(context.run, self._changing, fn, *args, **kwargs).result()

    @staticmethod
    def _changing(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:  # the old snapshot's objects were just freed: their pages go back
            memory.trim()


def documents_section(
    qa: TranscriptQA,
    *,
    speaker: gr.Dropdown,
    doc: gr.Dropdown,
    titles: MutableMapping[str, str],
    doc_ids: MutableSet[str],
    header: tuple[gr.Markdown, Callable[[], str]] | None = None,
) -> None:
    """Build the section where it is called (inside `gr.Blocks`) and wire its events.

    `speaker` and `doc` are the chat's pickers (their choices follow every change); `titles`
    and `doc_ids` the chat's own tables of titles and of documents a filter may name, updated
    in place (titles are only added: an earlier answer may still cite a removed document).
    `header`: the chat's header line and what it should say now, redrawn after every change
    and on page load (its document and speaker counts).
    """
    writer = Writer()
    heading, header_text = header if header is not None else (None, None)
    with_header = [heading] if heading is not None else []

    def head() -> tuple[Any, ...]:
        return (header_text(),) if header_text is not None else ()

    first = ordered(qa.documents())
    # The page's limits, read once (as Gradio's own upload limit is, at launch).
    size_limit, count_limit = limits.max_file_bytes(), limits.max_upload_files()

    def sync() -> list[DocumentInfo]:
        """The chat's tables in step with the index; its documents, in list order."""
        documents = ordered(qa.documents())
        ids = {d.doc_id for d in documents}
        titles.update({d.doc_id: d.title for d in documents})
        doc_ids.update(ids)  # add first, then drop: a filter never sees an empty set
        doc_ids.intersection_update(ids)
        return documents

    def changed(current_speaker: str | None, current_doc: str | None) -> tuple[Any, ...]:
        documents = sync()
        ids = {d.doc_id for d in documents}
        speakers = qa.speakers()
        return (
            render_documents(documents),
            [d.doc_id for d in documents],
            gr.update(
                choices=speakers, value=current_speaker if current_speaker in speakers else None
            ),
            gr.update(
                choices=doc_choices(documents), value=current_doc if current_doc in ids else None
            ),
            *head(),
        )

    def refused_files(held: list[Skipped], evt: gr.EventData) -> tuple[Any, list[Skipped]]:
        """Files the page kept back (see `_JS_GUARD`): listed now, and again with the rest."""
        data = getattr(evt, "_data", None) or {}
        items = data.get("files") if isinstance(data, dict) else None
        held = [
            refusal(i.get("name"), i.get("size"), i.get("why"), size_limit, count_limit)
            for i in (items if isinstance(items, list) else [])[:5000]
            if isinstance(i, dict)
        ]
        more = data.get("more") if isinstance(data, dict) else 0
        if isinstance(more, int) and more > 0:
            held.append(Skipped(f"{more:,} more files", "not added (over the limits above)"))
        if not held:
            return gr.skip(), held
        return render_report(AddResult(skipped=held), {}), held

    def upload_files(
        files: Any,
        held: list[Skipped],
        current_speaker: str | None,
        current_doc: str | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio idiom)
    ) -> tuple[Any, ...]:
        paths = _paths(files)
        if not paths:
            return (gr.skip(),) * (7 + len(with_header))
        names = [Path(p).name for p in paths]  # Gradio keeps the name the browser sent
        progress(0, desc=f"Checking {len(paths)} file(s)")
        try:
            result = writer.run(
                qa.add_files,
                list(zip(paths, names, strict=True)),
                show_progress=True,  # the embedding bar (tqdm), which Gradio follows
                progress=lambda f, m: progress(f, desc=m),
            )
        except TranscriptQAError as exc:
            report = _message(f"Nothing was added: {exc}")
        except Exception:
            log.exception("adding %d uploaded file(s) failed", len(paths))
            report = _message("Something went wrong adding the files; nothing was added.")
        else:
            titles.update({d: qa.transcript(d).title for d in result.added})
            result.skipped = [*held, *result.skipped]
            report = render_report(result, dict(titles))
        finally:
            _discard_temporary(paths)
        return (report, *changed(current_speaker, current_doc), None, [])

    def remove_document(
        listed: list[str],
        current_speaker: str | None,
        current_doc: str | None,
        evt: gr.EventData,
    ) -> tuple[Any, ...]:
        row = getattr(evt, "_data", {}).get("row")
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < len(listed):
            report = _message("That document is no longer in the list.")
        else:
            doc_id = listed[row]
            title = titles.get(doc_id, doc_id)
            try:
                uploaded = next((d.uploaded for d in qa.documents() if d.doc_id == doc_id), False)
                gone = writer.run(qa.remove, doc_id)
            except TranscriptQAError as exc:
                report = _message(f"“{title}” could not be removed: {exc}")
            except Exception:
                log.exception("removing %r failed", doc_id)
                report = _message(f"Something went wrong removing “{title}”; it is still there.")
            else:
                if not gone:
                    report = _message(f"“{title}” was already removed.")
                elif uploaded:
                    report = _message(f"Removed “{title}” and its stored file.", ok=True)
                else:
                    report = _message(
                        f"Removed “{title}” from the index. Its file stays in its folder, so "
                        "indexing that folder again (as `tqa serve --corpus` does at start) "
                        "adds it back.",
                        ok=True,
                    )
        return (report, *changed(current_speaker, current_doc))

    def refresh_documents() -> tuple[str, list[str]]:
        documents = ordered(qa.documents())
        return render_documents(documents), [d.doc_id for d in documents]

    def on_load() -> tuple[Any, ...]:
        """A page opened (or reloaded) after an upload or a removal: the list and the pickers
        as the index is now, not as it was when the app was built (values are left alone)."""
        documents = ordered(qa.documents())
        return (
            render_documents(documents),
            [d.doc_id for d in documents],
            gr.update(choices=qa.speakers()),
            gr.update(choices=doc_choices(documents)),
            *head(),
        )

    # -- the same two changes over HTTP: /add and /remove (documented in the README)

    def add_api(files: Any) -> dict[str, Any]:
        """Add transcript files to the index, as the page's upload box does.

        Args:
            files: the files (gradio_client: `[handle_file(path), ...]`); each is checked, a bad one is listed in "skipped" with its reason and the rest go in.
        Returns:
            {"added": [{"doc_id", "title"}], "skipped": [{"name", "reason"}], "documents": int}
        """
        paths = _paths(files)
        try:
            if not paths:
                raise QueryError("no files: send one or more transcript files")
            result = writer.run(qa.add_files, [(p, Path(p).name) for p in paths])
        except TranscriptQAError as exc:
            raise bad_request("add", exc) from None
        finally:
            _discard_temporary(paths)
        sync()
        return {
            "added": [{"doc_id": d, "title": qa.transcript(d).title} for d in result.added],
            "skipped": [{"name": s.path, "reason": s.reason} for s in result.skipped],
            "documents": len(qa.snapshot.transcripts),
        }

    def remove_api(doc_id: str) -> dict[str, Any]:
        """Remove one document from the index, as the document list's Remove button does.

        Args:
            doc_id: the document's id (from /search, a quote, or /add).
        Returns:
            {"doc_id", "removed": bool (False: it was not there), "stored_file_removed": bool (an upload's kept copy went too), "documents": int}
        """
        if not isinstance(doc_id, str) or not doc_id.strip() or len(doc_id) > 1000:
            raise bad_request("remove", "doc_id must be a document id (a non-empty string)")
        known = {d.doc_id: d for d in qa.documents()}
        uploaded = doc_id in known and known[doc_id].uploaded
        try:
            gone = writer.run(qa.remove, doc_id)
        except TranscriptQAError as exc:
            raise bad_request("remove", exc) from None
        sync()
        return {
            "doc_id": doc_id,
            "removed": gone,
            "stored_file_removed": gone and uploaded,
            "documents": len(qa.snapshot.transcripts),
        }

    with gr.Accordion("Add or remove transcripts", open=False, elem_id="tqa-documents") as box:
        gr.Markdown(help_text(), elem_id="tqa-upload-help")
        files = gr.File(
            label="Add transcripts",
            file_count="multiple",
            type="filepath",
            height=140,
            elem_id="tqa-upload",
        )
        report = gr.HTML(
            "",
            css_template=CSS,
            js_on_load=_guard_js(size_limit, count_limit, limits.max_uploads_bytes()),
            elem_id="tqa-upload-report",
        )
        held = gr.State([])  # files the page kept back from the upload under way
        listing = gr.HTML(
            render_documents(first),
            css_template=CSS,
            js_on_load=_JS_LIST,
            max_height=460,
            elem_id="tqa-doclist",
        )
        listed = gr.State([d.doc_id for d in first])

    private: dict[str, Any] = {"api_visibility": "private"}
    report.refused(refused_files, [held], [report, held], concurrency_limit=None, **private)
    files.upload(
        upload_files,
        [files, held, speaker, doc],
        [report, listing, listed, speaker, doc, *with_header, files, held],
        concurrency_limit=1,
        concurrency_id=UPLOAD_CONCURRENCY_ID,
        show_progress="full",
        show_progress_on=[report],
        **private,
    )
    listing.remove_row(
        remove_document,
        [listed, speaker, doc],
        [report, listing, listed, speaker, doc, *with_header],
        concurrency_limit=1,
        concurrency_id=UPLOAD_CONCURRENCY_ID,
        show_progress="full",
        show_progress_on=[report],
        **private,
    )
    box.expand(refresh_documents, None, [listing, listed], show_progress="hidden", **private)
    # Endpoints only (no page element triggers them): hidden inputs, so Gradio checks each
    # file is one it received (an upload), never a path on the server the client names.
    api_files = gr.File(file_count="multiple", type="filepath", visible=False)
    api_doc = gr.Textbox(visible=False)
    api_out = gr.JSON(visible=False)
    api_trigger = gr.Button(visible=False)
    writes: dict[str, Any] = {
        "concurrency_limit": 1,
        "concurrency_id": UPLOAD_CONCURRENCY_ID,
        "show_progress": "hidden",
    }
    api_trigger.click(add_api, [api_files], [api_out], api_name="add", **writes)
    api_trigger.click(remove_api, [api_doc], [api_out], api_name="remove", **writes)
    gr.on(  # no triggers and no inputs: on every page load
        None,
        on_load,
        None,
        [listing, listed, speaker, doc, *with_header],
        show_progress="hidden",
        concurrency_limit=None,
        **private,
    )
