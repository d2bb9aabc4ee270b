"""`TranscriptQA`: the one facade the UI, the CLI and the tests use.

It owns an index folder (see `embeddings.store` for the layout) and an immutable in-memory
snapshot of it. Searches read whichever snapshot was current when they started; `build`,
`update` and `remove` make a new snapshot (re-embedding only passages whose indexed text is
new), write it atomically, then swap the reference, so concurrent readers never see a mix.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings import store
from embeddings.encoder import Encoder
from qa import reranking
from qa.answering import AnswerSettings
from qa.chunking import DEFAULT_SETTINGS, ChunkSettings, chunk, sentence_spans
from qa.errors import IndexLoadError, QueryError, TranscriptError
from qa.lexical import LexicalIndex
from qa.limits import check_ask, check_search
from qa.reranking import Reranker
from qa.results import DocumentInfo, Hit
from qa.retrieval import (
    DEFAULT_CONTEXT,
    DEFAULT_SEARCH,
    ContextSettings,
    Retriever,
    SearchConfig,
    context_from_dict,
    embed_text,
    header_text,
    index_texts,
    search_vectors,
)
from qa.transcript import Passage, Transcript

if TYPE_CHECKING:
    from qa.query import SpeakerNames
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
        chunk_settings: ChunkSettings = DEFAULT_SETTINGS,
        context: ContextSettings = DEFAULT_CONTEXT,
        search_config: SearchConfig = DEFAULT_SEARCH,
        answer_settings: AnswerSettings | None = None,
    ) -> TranscriptQA:
        """Index every transcript under `corpus_path` into `index_dir`.

        If `index_dir` already holds a compatible index, vectors of unchanged passages are
        reused; a different model, chunker or context setting rebuilds from scratch (logged,
        and reported in `last_update_stats.rebuilt`).
        """
        started = time.perf_counter()
        encoder = Encoder(model)
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
            if previous is not None:
                reason = _incompatibility(previous.manifest, encoder.name, chunk_settings)
                if reason:
                    log.warning("Rebuilding %s from scratch: %s", index_dir, reason)
                    previous = None
            transcripts, skipped, file_hashes = _scan(corpus_path, previous, show_progress)
            snapshot, stats = _make_snapshot(
                transcripts, previous, encoder, chunk_settings, context, show_progress, file_hashes
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
        snapshot = store.load(index_dir)
        encoder = Encoder(snapshot.manifest.model)
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
        self, paths: PathLike | Sequence[PathLike], show_progress: bool = True
    ) -> UpdateStats:
        """Re-scan files and folders: new and changed documents are indexed, vanished ones removed."""
        started = time.perf_counter()
        with (
            self._write_lock,
            store.writer_lock(self.index_dir, _waiting(self.index_dir, show_progress)),
        ):
            old = self._latest()
            scanned, skipped, file_hashes = _scan(paths, old, show_progress)
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
            context = context_from_dict(old.manifest.context)
            hashes = {
                d: old.manifest.docs[d].get("file_hash") for d in keep if d in old.manifest.docs
            }
            hashes.update(file_hashes)
            stats = self._commit(keep, old, chunker, context, show_progress, hashes)
            stats.skipped = skipped
            stats.seconds = time.perf_counter() - started
            self.last_update_stats = stats
            return stats

    def remove(self, doc_id: str) -> bool:
        """Drop one document from the index. Returns False if it was not there."""
        started = time.perf_counter()
        with self._write_lock, store.writer_lock(self.index_dir):
            old = self._latest()
            if doc_id not in old.transcripts:
                return False
            keep = {d: t for d, t in old.transcripts.items() if d != doc_id}
            chunker = ChunkSettings(**old.manifest.chunker)
            context = context_from_dict(old.manifest.context)
            hashes = {d: old.manifest.docs[d].get("file_hash") for d in keep}
            stats = self._commit(keep, old, chunker, context, False, hashes)
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
        file_hashes: dict[str, str | None],
    ) -> UpdateStats:
        snapshot, stats = _make_snapshot(
            transcripts, old, self.encoder, chunker, context, show_progress, file_hashes
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
        texts = [reranking.pair_text(self.transcript(h.passage.doc_id), h.passage) for h in pool]
        scores = reranker.scores(query, texts)
        order = np.argsort(-scores, kind="stable")
        return [replace(pool[i], rerank_score=float(scores[i])) for i in order][:k]

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
        """The bundled reranker `ask()` reads candidates with, or None (switched off in
        `AnswerSettings(rerank=False)`, or its weights are missing)."""
        if not self.answer_settings.rerank:
            return None
        return reranking.bundled(self.answer_settings.reranker)

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
        return self._retriever.speaker_names  # type: ignore[no-any-return]

    def passage_sentences(self, passage: Passage) -> tuple[np.ndarray, np.ndarray] | None:
        """(spans, vectors) of a passage's sentences, pooled at index time (None if absent)."""
        return self._retriever.passage_sentences(passage)

    def turn_sentences(self, doc_id: str, turn: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(spans, vectors) of every sentence of one turn, in order (None if absent)."""
        return self._retriever.turn_sentences(doc_id, turn)

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


def _waiting(index_dir: PathLike, show_progress: bool) -> Any:
    """What to do when another process holds the index's writer lock: say so, then wait."""

    def say() -> None:
        message = f"Waiting for another process that is writing the index at {index_dir} ..."
        log.warning(message)
        if show_progress:
            print(message, file=sys.stderr, flush=True)

    return say


def _file_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def _scan(
    paths: PathLike | Sequence[PathLike], previous: store.Snapshot | None, show_progress: bool
) -> tuple[dict[str, Transcript], list[Any], dict[str, str | None]]:
    """Transcripts under `paths`, parsing only files whose bytes changed since `previous`.

    Unchanged files (same content hash, same path) reuse the stored transcript, so re-indexing
    an unchanged corpus reads but does not parse it. When every file is new the whole folder
    goes through `load_corpus` at once (speaker names are then unified across the corpus);
    otherwise changed files are loaded one by one.
    """
    from qa.ingest import PARSER_VERSION, iter_files, load_corpus

    reusable: dict[str, tuple[str, list[Transcript]]] = {}
    if previous is not None:
        for doc_id, info in previous.manifest.docs.items():
            source, digest = info.get("source"), info.get("file_hash")
            if info.get("parser", 1) != PARSER_VERSION:
                continue  # parsed by older rules: read the file again (vectors are reused)
            if source and digest and doc_id in previous.transcripts:
                entry = reusable.setdefault(str(Path(source).resolve()), (digest, []))
                entry[1].append(previous.transcripts[doc_id])
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    transcripts: dict[str, Transcript] = {}
    hashes: dict[str, str | None] = {}
    skipped: list[Any] = []
    for item in items:
        root = Path(item)
        if not root.exists():
            raise TranscriptError(root, "no such file or folder")
        files = [root] if root.is_file() else list(iter_files(root))
        digests = {str(f.resolve()): _file_hash(f) for f in files}
        changed = []
        for f in files:
            key = str(f.resolve())
            old = reusable.get(key)
            if old is not None and old[0] == digests[key]:
                for t in old[1]:
                    transcripts[t.doc_id] = t
                    hashes[t.doc_id] = old[0]
            else:
                changed.append(f)
        batches = [root] if len(changed) == len(files) else changed
        for batch in batches:
            loaded = _call_load_corpus(load_corpus, batch, show_progress and batch is root)
            for t in loaded.transcripts:
                transcripts[t.doc_id] = t
                hashes[t.doc_id] = digests.get(str(Path(t.source).resolve())) if t.source else None
            skipped.extend(loaded.skipped)
    for s in skipped:
        log.warning("Skipped %s: %s", getattr(s, "path", s), getattr(s, "reason", ""))
    return transcripts, skipped, hashes


def _call_load_corpus(load_corpus: Any, path: PathLike, show_progress: bool) -> Any:
    try:
        return load_corpus(path, show_progress=show_progress)
    except TypeError:
        return load_corpus(path)


def _under(path: Path, roots: list[Path]) -> bool:
    path = path.resolve()
    return any(path == r or r in path.parents for r in roots)


def _incompatibility(manifest: store.Manifest, model: str, chunker: ChunkSettings) -> str | None:
    """Why vectors in `manifest` cannot be reused (None: they can). Context settings are not a
    reason: vectors are keyed by the text embedded, which context does not change."""
    if manifest.model != model:
        return f"the embedding model changed ({manifest.model} -> {model})"
    if manifest.chunker != chunker.as_dict():
        return f"the chunker settings changed ({manifest.chunker} -> {chunker.as_dict()})"
    return None


def _make_snapshot(
    transcripts: dict[str, Transcript],
    previous: store.Snapshot | None,
    encoder: Encoder,
    chunker: ChunkSettings,
    context: ContextSettings,
    show_progress: bool,
    file_hashes: dict[str, str | None] | None = None,
) -> tuple[store.Snapshot, UpdateStats]:
    """The snapshot for exactly `transcripts`, reusing what `previous` already computed."""
    from qa.ingest import PARSER_VERSION

    stats = UpdateStats()
    old_docs = previous.manifest.docs if previous else {}
    old_rows: dict[str, list[int]] = {}
    if previous is not None:
        for i, p in enumerate(previous.passages):
            old_rows.setdefault(p.doc_id, []).append(i)

    ordered = sorted(transcripts.values(), key=lambda t: (t.date or dt.date.min, t.doc_id))
    passages: list[Passage] = []
    by_doc: list[tuple[Transcript, list[Passage]]] = []
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
        by_doc.append((t, ps))
        docs[t.doc_id] = {
            "hash": digest,
            "source": str(Path(t.source).resolve()) if t.source else None,
            "file_hash": (file_hashes or {}).get(t.doc_id),
            "passages": len(ps),
            "parser": PARSER_VERSION,
        }
    stats.docs_removed = sum(1 for d in old_docs if d not in transcripts)
    stats.passages = len(passages)
    texts = [embed_text(p) for p in passages]
    keys = [store.content_key(x) for x in texts]
    headers = [header_text(t, context) for t in ordered]
    doc_keys = [store.content_key(h) if h else "" for h in headers]

    moved = previous is not None and any(
        (old_docs[d].get("source"), old_docs[d].get("file_hash"), old_docs[d].get("parser", 1))
        != (info["source"], info["file_hash"], info["parser"])
        for d, info in docs.items()
        if d in old_docs
    )
    changed = previous is None or bool(
        stats.docs_added
        or stats.docs_changed
        or stats.docs_removed
        or moved
        or keys != previous.keys
        or doc_keys != previous.doc_keys
        or previous.manifest.context != context.as_dict()
        or previous.lexical.stale
        or previous.search_vectors is None
        or previous.sentences is None
    )
    stats.written = changed
    if not changed:
        assert previous is not None
        stats.reused = len(keys)
        return previous, stats

    # Content key -> a vector we already have (passages and document headers alike), and
    # -> (sentence spans relative to the passage start, their vectors). Gathered only now:
    # re-indexing an unchanged corpus returns above without touching any vector.
    known: dict[str, np.ndarray] = {}
    known_sentences: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if previous is not None:
        known.update(zip(previous.keys, previous.vectors, strict=True))
        known.update(
            (k, v) for k, v in zip(previous.doc_keys, previous.doc_vectors, strict=True) if k
        )
        if previous.sentences is not None:
            for i, (key, p) in enumerate(zip(previous.keys, previous.passages, strict=True)):
                spans, vecs = previous.sentences.of(i)
                known_sentences[key] = (spans - p.start, vecs)

    # Embed each text we have no vector for, once; passages with their sentences.
    missing: dict[str, tuple[str, Passage]] = {}
    for key, text, p in zip(keys, texts, passages, strict=True):
        if key not in missing and (key not in known or key not in known_sentences):
            missing[key] = (text, p)
    missing_headers = {
        key: text
        for key, text in zip(doc_keys, headers, strict=True)
        if key and key not in known and key not in missing
    }
    stats.embedded = len(missing)
    stats.reused = sum(1 for k in keys if k not in missing)
    if missing:
        relative = [
            np.asarray(sentence_spans(p.text), dtype=np.int64).reshape(-1, 2)
            for _, p in missing.values()
        ]
        # The embedded text is "Speaker: " + the passage: its sentences sit that much later.
        shifted = [
            [(a + len(text) - len(p.text), b + len(text) - len(p.text)) for a, b in rel.tolist()]
            for (text, p), rel in zip(missing.values(), relative, strict=True)
        ]
        new, pooled = encoder.encode_with_spans(
            [text for text, _ in missing.values()], shifted, show_progress=show_progress
        )
        known.update(zip(missing, new, strict=True))
        for key, rel, vecs in zip(missing, relative, pooled, strict=True):
            known_sentences[key] = (rel, vecs)
    if missing_headers:
        known.update(
            zip(missing_headers, encoder.encode(list(missing_headers.values())), strict=True)
        )
    dim = next(iter(known.values())).shape[0] if known else encoder.dim
    vectors = np.zeros((len(keys), dim), dtype=np.float32)
    for i, key in enumerate(keys):
        vectors[i] = known[key]
    doc_vectors = np.zeros((len(doc_keys), dim), dtype=np.float32)
    for i, key in enumerate(doc_keys):
        if key:
            doc_vectors[i] = known[key]

    sentences = _sentence_table(passages, keys, known_sentences, int(dim))
    lexical = LexicalIndex.build([x for t, ps in by_doc for x in index_texts(t, ps, context)])
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
        doc_keys=doc_keys,
        doc_vectors=doc_vectors,
        lexical=lexical,
        sentences=sentences,
    )
    composed = search_vectors(snapshot, context)
    snapshot = replace(snapshot, search_vectors=composed, ann=store.build_ann(composed))
    return snapshot, stats


def _sentence_table(
    passages: list[Passage],
    keys: list[str],
    known: dict[str, tuple[np.ndarray, np.ndarray]],
    dim: int,
) -> store.SentenceTable:
    counts = np.fromiter((len(known[k][0]) for k in keys), dtype=np.int64, count=len(keys))
    rows = np.r_[0, np.cumsum(counts)].astype(np.int64)
    total = int(rows[-1])
    spans = np.zeros((total, 2), dtype=np.int64)
    vectors = np.zeros((total, dim), dtype=np.float16)
    for i, (key, p) in enumerate(zip(keys, passages, strict=True)):
        rel, vecs = known[key]
        spans[rows[i] : rows[i + 1]] = rel + p.start
        vectors[rows[i] : rows[i + 1]] = vecs
    return store.SentenceTable(rows=rows, spans=spans, vectors=vectors)
