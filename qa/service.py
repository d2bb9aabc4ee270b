"""`TranscriptQA`: the one facade the UI, the CLI and the tests use.

It owns an index folder (see `embeddings.store` for the layout) and an immutable in-memory
snapshot of it. Searches read whichever snapshot was current when they started; `build`,
`update`, `add_files` and `remove` make a new snapshot (`qa.indexing`: re-embedding only
passages whose indexed text is new), write it atomically, then swap the reference, so
concurrent readers never see a mix. Files added with `add_files` are kept in the index's own
folder (`qa.uploads`), and every build reads them again.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings import backends, store
from embeddings.encoder import Encoder
from qa import reranking, stores, uploads
from qa.answering import AnswerSettings
from qa.chunking import DEFAULT_SETTINGS, ChunkSettings
from qa.context import DEFAULT_CONTEXT, ContextSettings, context_from_dict
from qa.errors import IndexLoadError, QueryError
from qa.indexing import (
    PathLike,
    UpdateStats,
    _incompatibility,
    _make_snapshot,
    _scan,
    updated_documents,
)
from qa.limits import check_ask, check_search
from qa.reranking import Reranker
from qa.results import DocumentInfo, Hit
from qa.retrieval import DEFAULT_SEARCH, Retriever, SearchConfig
from qa.speakers import AliasSpec, AliasTable, as_alias_table
from qa.transcript import Passage, Transcript

if TYPE_CHECKING:
    from qa.query import SpeakerNames
    from qa.results import Answer

log = logging.getLogger(__name__)


class TranscriptQA:
    """Build, open, update and search a transcript index; ask questions with `ask`."""

    def __init__(
        self,
        index_dir: PathLike,
        snapshot: store.Snapshot,
        encoder: Encoder,
        *,
        search_config: SearchConfig = DEFAULT_SEARCH,
        answer_settings: AnswerSettings | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.search_config = search_config
        self.answer_settings = answer_settings or AnswerSettings()
        self._retriever = Retriever(snapshot, self.encode, search_config)
        self._write_lock = threading.Lock()
        self.last_update_stats = UpdateStats(passages=len(snapshot.passages))

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        corpus_path: PathLike | Sequence[PathLike],
        index_dir: PathLike,
        model: str | None = None,
        show_progress: bool = True,
        *,
        backend: str | None = None,
        chunk_settings: ChunkSettings = DEFAULT_SETTINGS,
        context: ContextSettings = DEFAULT_CONTEXT,
        search_config: SearchConfig = DEFAULT_SEARCH,
        answer_settings: AnswerSettings | None = None,
        aliases: AliasSpec = None,
    ) -> TranscriptQA:
        """Index every transcript under `corpus_path` into `index_dir`.

        If `index_dir` already holds a compatible index, vectors of unchanged passages are
        reused; a different model, encoder backend or chunker setting rebuilds from scratch
        (logged, and reported in `last_update_stats.rebuilt`). Transcripts uploaded into this
        index (`add_files`, kept in `<index_dir>/uploads/`) stay in it. `backend` (see
        `embeddings.backends`): None means `$TQA_BACKEND` if set, else an existing index's
        backend where it runs, else the fastest this machine runs (`auto`). `aliases`: a
        speaker alias file or table (`qa.speakers.AliasTable`), kept in the index and applied
        by every later update; None keeps the index's own, if it has one.
        """
        if stores.is_postgres(index_dir):  # issue 14: a postgresql:// URI -> qa/stores/postgres.py
            return stores.postgres_class().build(  # type: ignore[no-any-return]
                corpus_path,
                index_dir,
                model,
                show_progress,
                backend=backend,
                chunk_settings=chunk_settings,
                context=context,
                search_config=search_config,
                answer_settings=answer_settings,
                aliases=aliases,
            )
        started = time.perf_counter()
        given = None if aliases is None else as_alias_table(aliases)  # a bad file fails here
        # Held from reading the old index to switching in the new one (see store.writer_lock).
        with store.writer_lock(index_dir, _waiting(index_dir, show_progress)):
            previous: store.Snapshot | None = None
            reason: str | None = None
            if store.exists(index_dir):
                try:
                    previous = store.load(index_dir)
                except IndexLoadError as exc:
                    reason = f"the previous index could not be read ({exc})"
                    log.warning("Rebuilding %s from scratch: %s", index_dir, reason)
            backend = backends.asked(backend)
            if backend is None and previous is not None:
                backend = _runnable_or_auto(previous.manifest.backend)
            encoder = Encoder(model, backend=backend)
            if previous is not None:
                reason = _incompatibility(
                    previous.manifest, encoder.name, chunk_settings, encoder.backend
                )
                if reason:
                    log.warning("Rebuilding %s from scratch: %s", index_dir, reason)
                    if given is None and previous.manifest.aliases is not None:
                        given = as_alias_table(previous.manifest.aliases)  # kept on a rebuild
                    previous = None
            transcripts, skipped, file_hashes = _scan(corpus_path, previous, show_progress)
            kept = uploads.folder_to_scan(index_dir, _as_list(corpus_path))
            if kept is not None:  # uploads keep their ids; a corpus file of that name is renamed
                added, more, added_hashes = _scan(kept, previous, False)
                transcripts = uploads.rename_clashes(transcripts, file_hashes, added)
                transcripts.update(added)
                file_hashes.update(added_hashes)
                skipped.extend(more)
            snapshot, stats = _make_snapshot(
                transcripts,
                previous,
                encoder,
                chunk_settings,
                context,
                show_progress,
                file_hashes,
                aliases=given,
            )
            stats.rebuilt = reason is not None
            stats.reason = reason
            stats.skipped = skipped
            if stats.written or previous is None:
                saved = store.save(snapshot, index_dir)
                snapshot = replace(snapshot, generation=saved.name)
                stats.written = True
        qa = cls(
            index_dir,
            snapshot,
            encoder,
            search_config=search_config,
            answer_settings=answer_settings,
        )
        stats.seconds = time.perf_counter() - started
        qa.last_update_stats = stats
        return qa

    @classmethod
    def open(
        cls,
        index_dir: PathLike,
        *,
        search_config: SearchConfig = DEFAULT_SEARCH,
        answer_settings: AnswerSettings | None = None,
    ) -> TranscriptQA:
        """Load an index folder. The embedding model loads on the first query that needs it."""
        if stores.is_postgres(index_dir):  # issue 14: a postgresql:// URI -> qa/stores/postgres.py
            return stores.postgres_class().open(  # type: ignore[no-any-return]
                index_dir, search_config=search_config, answer_settings=answer_settings
            )
        snapshot = store.load(index_dir)
        encoder = Encoder(
            snapshot.manifest.model, backend=_runnable_or_auto(snapshot.manifest.backend)
        )
        return cls(
            index_dir,
            snapshot,
            encoder,
            search_config=search_config,
            answer_settings=answer_settings,
        )

    # -- changes ---------------------------------------------------------------------------

    @property
    def snapshot(self) -> store.Snapshot:
        return self._retriever.snapshot

    def update(
        self,
        paths: PathLike | Sequence[PathLike],
        show_progress: bool = True,
        *,
        aliases: AliasSpec = None,
    ) -> UpdateStats:
        """Re-scan files and folders: new and changed documents are indexed, vanished ones removed.

        `aliases`: a new speaker alias file or table for the whole index (kept in it, as with
        `build`); None keeps the index's own. `update([], aliases=…)` only applies the table.
        """
        started = time.perf_counter()
        given = None if aliases is None else as_alias_table(aliases)
        with (
            self._write_lock,
            store.writer_lock(self.index_dir, _waiting(self.index_dir, show_progress)),
        ):
            old = self._latest()
            scanned, skipped, file_hashes = _scan(paths, old, show_progress)
            roots = [Path(p).resolve() for p in _as_list(paths)]
            keep, hashes = updated_documents(old, scanned, file_hashes, roots, self._uploaded)
            chunker = ChunkSettings(**old.manifest.chunker)
            context = context_from_dict(old.manifest.context)
            stats = self._commit(keep, old, chunker, context, show_progress, hashes, given)
            stats.skipped = skipped
            stats.seconds = time.perf_counter() - started
            self.last_update_stats = stats
            return stats

    def remove(self, doc_id: str) -> bool:
        """Drop one document from the index. Returns False if it was not there.

        An uploaded document's stored file goes too: it is hidden first, deleted once the index
        without it is written, and put back if writing fails (the folder matches the index).
        Another document's file stays where it is, so re-indexing its folder adds it again.
        """
        started = time.perf_counter()
        with self._write_lock, store.writer_lock(self.index_dir):
            old = self._latest()
            if doc_id not in old.transcripts:
                return False
            keep = {d: t for d, t in old.transcripts.items() if d != doc_id}
            chunker = ChunkSettings(**old.manifest.chunker)
            context = context_from_dict(old.manifest.context)
            hashes = {d: old.manifest.docs[d].get("file_hash") for d in keep}
            parked = uploads.park(self.index_dir, old.transcripts[doc_id].source)
            try:
                stats = self._commit(keep, old, chunker, context, False, hashes)
            except BaseException:
                uploads.unpark(parked)
                raise
            uploads.discard(parked)
            stats.seconds = time.perf_counter() - started
            self.last_update_stats = stats
            return True

    def add_files(
        self,
        files: Sequence[PathLike | tuple[PathLike, str]],
        show_progress: bool = False,
        progress: uploads.Progress | None = None,
    ) -> uploads.AddResult:
        """Add transcript files to the index, keeping a copy of each in its folder (`qa.uploads`).

        `files`: paths, or (path, name) pairs when the name to go by is not the path's (a
        browser upload's temporary file and the name it came with). Each file is checked as
        `tqa index` checks it, within the limits of `qa.limits` (`TQA_MAX_FILE_MB` per file,
        `TQA_MAX_UPLOAD_FILES` per call, `TQA_MAX_UPLOADS_MB` for all stored uploads); a bad
        one is listed in `AddResult.skipped` with its reason and the rest go in. The copies
        are named here (the given name cleaned, never a path), so nothing is written outside
        `<index_dir>/uploads/`. The new documents are searchable when this returns; searches
        running meanwhile see the index as it was. `progress(fraction, message)` is told how
        far it got.
        """
        started = time.perf_counter()
        items = uploads.as_uploads(files)
        with (
            self._write_lock,
            store.writer_lock(self.index_dir, _waiting(self.index_dir, show_progress)),
        ):
            old = self._latest()
            hashes = {d: info.get("file_hash") for d, info in old.manifest.docs.items()}
            batch = uploads.store(
                self.index_dir,
                items,
                old.transcripts,
                hashes,
                None if progress is None else lambda f, m: progress(0.2 * f, m),
            )
            result = uploads.AddResult(skipped=batch.skipped)
            if not batch.transcripts:
                return result
            if progress is not None:
                progress(0.2, f"Indexing {len(batch.transcripts)} transcript(s)")
            keep = {**old.transcripts, **batch.transcripts}
            hashes.update(batch.hashes)
            chunker = ChunkSettings(**old.manifest.chunker)
            context = context_from_dict(old.manifest.context)
            try:
                stats = self._commit(keep, old, chunker, context, show_progress, hashes)
            except BaseException:
                batch.discard()
                raise
            stats.skipped = list(batch.skipped)
            stats.seconds = time.perf_counter() - started
            self.last_update_stats = stats
            result.added = list(batch.transcripts)
            result.stats = stats
            if progress is not None:
                progress(1.0, "Done")
            return result

    def _uploaded(self, t: Transcript) -> bool:
        return uploads.is_upload(t.source, self.index_dir)

    def _commit(
        self,
        transcripts: dict[str, Transcript],
        old: store.Snapshot,
        chunker: ChunkSettings,
        context: ContextSettings,
        show_progress: bool,
        file_hashes: dict[str, str | None],
        aliases: AliasTable | None = None,
    ) -> UpdateStats:
        snapshot, stats = _make_snapshot(
            transcripts, old, self.encoder, chunker, context, show_progress, file_hashes, aliases
        )
        if stats.written:
            saved = store.save(snapshot, self.index_dir)
            snapshot = replace(snapshot, generation=saved.name)
            self._retriever = Retriever(snapshot, self.encode, self.search_config)
        return stats

    def _latest(self) -> store.Snapshot:
        """The snapshot to change: ours, or the one on disk if another process saved since we
        read it (its additions must not be lost). Call with the writer lock held."""
        mine = self.snapshot
        on_disk = store.current_generation(self.index_dir)
        if not on_disk or on_disk == mine.generation or not mine.generation:
            return mine
        fresh = store.load(self.index_dir)
        self._retriever = Retriever(fresh, self.encode, self.search_config)
        return fresh

    # -- queries ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        speaker: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        doc: str | Iterable[str] | None = None,
        title: str | None = None,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        adapt: bool = True,
        rerank: bool = False,
    ) -> list[Hit]:
        """The `k` best passages for `query` among those that pass every filter.

        `query_vector`: the query's embedding, when the caller already has it (`ask()` scores
        sentences with the same vector). `adapt=False`: dense search with the model's own
        question vector, not moved by the query adapter (see `adapts_questions`).
        `rerank=True`: the reranker reads the best `AnswerSettings.rerank_passages` and
        reorders them (`Hit.rerank_score`); slower, and only when a reranker is there.
        """
        check_search(query, k, speaker, since, until, doc, title, mode)
        reranker = self.reranker if rerank else None
        hits = self._retriever.search(
            query,
            max(k, self.answer_settings.rerank_passages) if reranker else k,
            speaker=speaker,
            since=since,
            until=until,
            doc=doc,
            title=title,
            mode=mode,
            query_vector=query_vector,
            adapt=adapt,
        )
        if reranker is None or not hits:
            return hits
        pool = hits[: self.answer_settings.rerank_passages]
        documents = [
            reranking.Document(reranking.pair_text(self.transcript(h.passage.doc_id), h.passage), i)
            for i, h in enumerate(pool)
        ]
        results = reranking.rank(reranker, query, documents)
        return [replace(pool[r.document.id], rerank_score=r.score) for r in results][:k]

    @property
    def adapts_questions(self) -> bool:
        """Dense search moves questions with the model's query adapter (embeddings/adapter.py)."""
        return self._retriever.adapter is not None

    def ask(
        self,
        question: str,
        history: list[Any] | None = None,
        k: int | None = None,
        speaker: str | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        doc: str | None = None,
    ) -> Answer:
        """Answer with verbatim quotes (see `qa.answering`)."""
        from qa.answering import answer

        history = check_ask(question, history, k, speaker, since, until, doc)
        view = copy.copy(self)  # one snapshot for the whole answer, while update() swaps
        return answer(
            view,
            question,
            history=history,
            k=self.answer_settings.quotes if k is None else k,
            speaker=speaker,
            since=since,
            until=until,
            doc=doc,
            settings=self.answer_settings,
        )

    @property
    def reranker(self) -> Reranker | None:
        """The reranker model `AnswerSettings.reranker` names (a bundled name or a folder), or
        None: the stage is off (`rerank=False`) or there is no such model (none ships today;
        `ask()` then runs the stage's rules alone)."""
        if not self.answer_settings.rerank:
            return None
        return reranking.bundled(self.answer_settings.reranker)

    def knows(self, word: str) -> bool:
        """Whether the transcripts say `word` anywhere (their indexed words, stemmed)."""
        return self.snapshot.lexical.size > 0 and self.snapshot.lexical.knows(word)

    def passages_of_turn(self, doc_id: str, turn: int) -> list[Passage]:
        """The indexed passages of one turn, in reading order."""
        return self._retriever.passages_of_turn(doc_id, turn)

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings with the index's model (for the answerer)."""
        return self.encoder.encode(list(texts))

    def warm_up(self) -> None:
        """Load the model and build what the first search would build (a server calls this
        before taking questions: otherwise the first user waits seconds for the model)."""
        self.search("warm up", k=1)
        self.speaker_names()
        reranker = self.reranker
        if reranker is not None:
            reranker.scores("warm up", ["warm up"])
        self._retriever.turn_sentences("", 0)

    def speaker_names(self) -> SpeakerNames:
        """Finds the index's speakers in a question (built once per snapshot)."""
        return self._retriever.filters.speaker_names  # type: ignore[no-any-return]

    def passage_sentences(self, passage: Passage) -> tuple[np.ndarray, np.ndarray] | None:
        """(spans, vectors) of a passage's sentences, pooled at index time (None if absent)."""
        return self._retriever.passage_sentences(passage)

    def turn_sentences(self, doc_id: str, turn: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(spans, vectors) of every sentence of one turn, in order (None if absent)."""
        return self._retriever.turn_sentences(doc_id, turn)

    def speakers(self) -> list[str]:
        """Canonical speaker names, most turns first."""
        return self._retriever.filters.speakers()

    def resolve_speaker(self, name: str) -> str | None:
        """The canonical name for any alias (a label as written, the name, a unique surname)."""
        return self._retriever.filters.resolve_speaker(name)

    def documents(self) -> list[DocumentInfo]:
        snap = self.snapshot
        counts: dict[str, int] = {}
        for p in snap.passages:
            counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
        docs = [
            DocumentInfo(
                doc_id=t.doc_id,
                title=t.title,
                date=t.date,
                place=t.place,
                format=t.format,
                turns=len(t.turns),
                passages=counts.get(t.doc_id, 0),
                speakers=tuple(t.speakers),
                uploaded=self._uploaded(t),
            )
            for t in snap.transcripts.values()
        ]
        return sorted(docs, key=lambda d: (d.date or dt.date.min, d.doc_id))

    def transcript(self, doc_id: str) -> Transcript:
        try:
            return self.snapshot.transcripts[doc_id]
        except KeyError:
            raise QueryError(f"No document '{doc_id}' in the index at {self.index_dir}") from None

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        dates = [t.date for t in self.snapshot.transcripts.values() if t.date]
        return (min(dates), max(dates)) if dates else (None, None)

    @property
    def model_name(self) -> str:
        return self.snapshot.manifest.model

    def __len__(self) -> int:
        return len(self.snapshot.passages)

    def __repr__(self) -> str:
        snap = self.snapshot
        return (
            f"TranscriptQA({str(self.index_dir)!r}: {len(snap.transcripts)} documents, "
            f"{len(snap.passages)} passages, model {snap.manifest.model})"
        )


# --- helpers ---------------------------------------------------------------------------------


def _as_list(paths: PathLike | Sequence[PathLike]) -> list[PathLike]:
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def _runnable_or_auto(backend: str) -> str:
    """An index's backend, or (where this machine cannot run it) the `auto` choice: questions
    then embed within float error of the index (benchmarks/results/encoder_backends.json), and
    the next update re-embeds, so vectors never mix."""
    if backend in backends.NAMES and backends.runnable(backend):
        return backend
    chosen = backends.resolve(backends.AUTO)
    log.warning("Encoder backend %s cannot run here; using %s", backend, chosen)
    return chosen


def _waiting(index_dir: PathLike, show_progress: bool) -> Any:
    """What to do when another process holds the index's writer lock: say so, then wait."""

    def say() -> None:
        message = f"Waiting for another process that is writing the index at {index_dir} ..."
        log.warning(message)
        if show_progress:
            print(message, file=sys.stderr, flush=True)

    return say
