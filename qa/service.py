"""`TranscriptQA`: the one facade the UI, the CLI and the tests use.

It owns an index folder (see `embeddings.store` for the layout) and an immutable in-memory
snapshot of it. Searches read whichever snapshot was current when they started; `build`,
`update` and `remove` make a new snapshot (re-embedding only passages whose indexed text is
new), write it atomically, then swap the reference, so concurrent readers never see a mix.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings import store
from embeddings.encoder import Encoder
from qa.chunking import DEFAULT_SETTINGS, ChunkSettings, chunk
from qa.errors import IndexLoadError, QueryError
from qa.lexical import LexicalIndex
from qa.limits import check_ask, check_search
from qa.results import DocumentInfo, Hit
from qa.retrieval import (
    DEFAULT_CONTEXT,
    DEFAULT_SEARCH,
    ContextSettings,
    Retriever,
    SearchConfig,
    index_texts,
)
from qa.transcript import Passage, Transcript

if TYPE_CHECKING:
    from qa.results import Answer

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass(slots=True)
class UpdateStats:
    """What the last build/update/remove did: the numbers tests and the CLI report."""

    docs_added: int = 0
    docs_changed: int = 0
    docs_removed: int = 0
    docs_unchanged: int = 0
    passages: int = 0
    embedded: int = 0  # passages whose vectors were computed in this run
    reused: int = 0  # passages whose vectors came from the previous index
    rebuilt: bool = False  # True when model/chunker/context settings forced a full rebuild
    reason: str | None = None
    written: bool = False  # False when nothing changed and the index was left as it was
    skipped: list[Any] = field(default_factory=list)  # files the loader could not read
    seconds: float = 0.0


class TranscriptQA:
    """Build, open, update and search a transcript index; ask questions with `ask`."""

    def __init__(
        self,
        index_dir: PathLike,
        snapshot: store.Snapshot,
        encoder: Encoder,
        *,
        search_config: SearchConfig = DEFAULT_SEARCH,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.search_config = search_config
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
        chunk_settings: ChunkSettings = DEFAULT_SETTINGS,
        context: ContextSettings = DEFAULT_CONTEXT,
        search_config: SearchConfig = DEFAULT_SEARCH,
    ) -> TranscriptQA:
        """Index every transcript under `corpus_path` into `index_dir`.

        If `index_dir` already holds a compatible index, vectors of unchanged passages are
        reused; a different model, chunker or context setting rebuilds from scratch (logged,
        and reported in `last_update_stats.rebuilt`).
        """
        started = time.perf_counter()
        encoder = Encoder(model)
        transcripts, skipped = _load(corpus_path, show_progress)
        previous: store.Snapshot | None = None
        reason: str | None = None
        if store.exists(index_dir):
            try:
                previous = store.load(index_dir)
            except IndexLoadError as exc:
                reason = f"the previous index could not be read ({exc})"
                log.warning("Rebuilding %s from scratch: %s", index_dir, reason)
        if previous is not None:
            reason = _incompatibility(previous.manifest, encoder.name, chunk_settings, context)
            if reason:
                log.warning("Rebuilding %s from scratch: %s", index_dir, reason)
                previous = None
        snapshot, stats = _make_snapshot(
            transcripts, previous, encoder, chunk_settings, context, show_progress
        )
        stats.rebuilt = reason is not None
        stats.reason = reason
        stats.skipped = skipped
        if stats.written or previous is None:
            store.save(snapshot, index_dir)
            stats.written = True
        qa = cls(index_dir, snapshot, encoder, search_config=search_config)
        stats.seconds = time.perf_counter() - started
        qa.last_update_stats = stats
        return qa

    @classmethod
    def open(
        cls, index_dir: PathLike, *, search_config: SearchConfig = DEFAULT_SEARCH
    ) -> TranscriptQA:
        """Load an index folder. The embedding model loads on the first query that needs it."""
        snapshot = store.load(index_dir)
        encoder = Encoder(snapshot.manifest.model)
        return cls(index_dir, snapshot, encoder, search_config=search_config)

    # -- changes ---------------------------------------------------------------------------

    @property
    def snapshot(self) -> store.Snapshot:
        return self._retriever.snapshot

    def update(
        self, paths: PathLike | Sequence[PathLike], show_progress: bool = True
    ) -> UpdateStats:
        """Re-scan files and folders: new and changed documents are indexed, vanished ones removed."""
        started = time.perf_counter()
        with self._write_lock:
            old = self.snapshot
            scanned, skipped = _load(paths, show_progress)
            roots = [
                Path(p).resolve()
                for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)
            ]
            keep: dict[str, Transcript] = {}
            for doc_id, t in old.transcripts.items():
                if doc_id in scanned:
                    continue
                if t.source and _under(Path(t.source), roots):
                    continue  # its file was re-scanned and is gone (or no longer parses)
                keep[doc_id] = t
            keep.update(scanned)
            chunker = ChunkSettings(**old.manifest.chunker)
            context = ContextSettings(**old.manifest.context)
            stats = self._commit(keep, old, chunker, context, show_progress)
            stats.skipped = skipped
            stats.seconds = time.perf_counter() - started
            self.last_update_stats = stats
            return stats

    def remove(self, doc_id: str) -> bool:
        """Drop one document from the index. Returns False if it was not there."""
        started = time.perf_counter()
        with self._write_lock:
            old = self.snapshot
            if doc_id not in old.transcripts:
                return False
            keep = {d: t for d, t in old.transcripts.items() if d != doc_id}
            chunker = ChunkSettings(**old.manifest.chunker)
            context = ContextSettings(**old.manifest.context)
            stats = self._commit(keep, old, chunker, context, show_progress=False)
            stats.seconds = time.perf_counter() - started
            self.last_update_stats = stats
            return True

    def _commit(
        self,
        transcripts: dict[str, Transcript],
        old: store.Snapshot,
        chunker: ChunkSettings,
        context: ContextSettings,
        show_progress: bool,
    ) -> UpdateStats:
        snapshot, stats = _make_snapshot(
            transcripts, old, self.encoder, chunker, context, show_progress
        )
        if stats.written:
            store.save(snapshot, self.index_dir)
            self._retriever = Retriever(snapshot, self.encode, self.search_config)
        return stats

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
    ) -> list[Hit]:
        """The `k` best passages for `query` among those that pass every filter."""
        check_search(query, k, speaker, since, until, doc, title, mode)
        return self._retriever.search(
            query, k, speaker=speaker, since=since, until=until, doc=doc, title=title, mode=mode
        )

    def ask(
        self,
        question: str,
        history: list[Any] | None = None,
        k: int = 5,
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
            view, question, history=history, k=k, speaker=speaker, since=since, until=until, doc=doc
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings with the index's model (for the answerer)."""
        return self.encoder.encode(list(texts))

    def speakers(self) -> list[str]:
        """Canonical speaker names, most turns first."""
        return self._retriever.speakers()

    def resolve_speaker(self, name: str) -> str | None:
        """The canonical name for any alias (a label as written, the name, a unique surname)."""
        return self._retriever.resolve_speaker(name)

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


def _load(
    paths: PathLike | Sequence[PathLike], show_progress: bool
) -> tuple[dict[str, Transcript], list[Any]]:
    from qa.ingest import load_corpus

    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    transcripts: dict[str, Transcript] = {}
    skipped: list[Any] = []
    for item in items:
        loaded = _call_load_corpus(load_corpus, item, show_progress)
        for t in loaded.transcripts:
            transcripts[t.doc_id] = t
        skipped.extend(loaded.skipped)
    for s in skipped:
        log.warning("Skipped %s: %s", getattr(s, "path", s), getattr(s, "reason", ""))
    return transcripts, skipped


def _call_load_corpus(load_corpus: Any, path: PathLike, show_progress: bool) -> Any:
    try:
        return load_corpus(path, show_progress=show_progress)
    except TypeError:
        return load_corpus(path)


def _under(path: Path, roots: list[Path]) -> bool:
    path = path.resolve()
    return any(path == r or r in path.parents for r in roots)


def _incompatibility(
    manifest: store.Manifest, model: str, chunker: ChunkSettings, context: ContextSettings
) -> str | None:
    if manifest.model != model:
        return f"the embedding model changed ({manifest.model} -> {model})"
    if manifest.chunker != chunker.as_dict():
        return f"the chunker settings changed ({manifest.chunker} -> {chunker.as_dict()})"
    if manifest.context != context.as_dict():
        return f"the passage context settings changed ({manifest.context} -> {context.as_dict()})"
    return None


def _make_snapshot(
    transcripts: dict[str, Transcript],
    previous: store.Snapshot | None,
    encoder: Encoder,
    chunker: ChunkSettings,
    context: ContextSettings,
    show_progress: bool,
) -> tuple[store.Snapshot, UpdateStats]:
    """The snapshot for exactly `transcripts`, reusing what `previous` already computed."""
    stats = UpdateStats()
    old_docs = previous.manifest.docs if previous else {}
    old_rows: dict[str, list[int]] = {}
    old_key_row: dict[str, int] = {}
    if previous is not None:
        for i, p in enumerate(previous.passages):
            old_rows.setdefault(p.doc_id, []).append(i)
        old_key_row = {k: i for i, k in enumerate(previous.keys)}

    ordered = sorted(transcripts.values(), key=lambda t: (t.date or dt.date.min, t.doc_id))
    passages: list[Passage] = []
    texts: list[str] = []
    docs: dict[str, dict[str, Any]] = {}
    for t in ordered:
        digest = store.transcript_hash(t)
        old = old_docs.get(t.doc_id)
        if previous is not None and old is not None and old["hash"] == digest:
            stats.docs_unchanged += 1
            ps = [previous.passages[i] for i in old_rows.get(t.doc_id, [])]
        else:
            if old is None:
                stats.docs_added += 1
            else:
                stats.docs_changed += 1
            ps = chunk(t, chunker)
        passages.extend(ps)
        texts.extend(index_texts(t, ps, context))
        docs[t.doc_id] = {"hash": digest, "source": t.source, "passages": len(ps)}
    stats.docs_removed = sum(1 for d in old_docs if d not in transcripts)
    stats.passages = len(passages)
    keys = [store.content_key(x) for x in texts]

    # Vectors: reuse by content key, embed the rest once each.
    missing: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key not in old_key_row and key not in missing:
            missing[key] = i
    stats.embedded = len(missing)
    stats.reused = sum(1 for key in keys if key in old_key_row)
    new_vecs = encoder.encode([texts[i] for i in missing.values()], show_progress=show_progress)
    dim = (
        new_vecs.shape[1] if len(missing) else (previous.manifest.dim if previous else encoder.dim)
    )
    vectors = np.empty((len(keys), dim), dtype=np.float32)
    new_row = {key: r for r, key in enumerate(missing)}
    for i, key in enumerate(keys):
        if key in new_row:
            vectors[i] = new_vecs[new_row[key]]
        else:
            assert previous is not None
            vectors[i] = previous.vectors[old_key_row[key]]

    moved = previous is not None and any(
        old_docs[d].get("source") != info["source"] for d, info in docs.items() if d in old_docs
    )
    changed = previous is None or (
        stats.docs_added
        or stats.docs_changed
        or stats.docs_removed
        or moved
        or keys != previous.keys
    )
    stats.written = bool(changed)
    if not changed:
        assert previous is not None
        return previous, stats
    lexical = LexicalIndex.build(texts)
    manifest = store.Manifest(
        model=encoder.name,
        dim=int(dim),
        chunker=chunker.as_dict(),
        context=context.as_dict(),
        docs=docs,
    )
    snapshot = store.Snapshot(
        manifest=manifest,
        transcripts={t.doc_id: t for t in ordered},
        passages=passages,
        keys=keys,
        vectors=vectors,
        lexical=lexical,
        ann=store.build_ann(vectors),
    )
    return snapshot, stats
