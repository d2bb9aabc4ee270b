"""Turning transcripts into an index snapshot, incrementally (`TranscriptQA` calls these).

Re-indexing should cost what changed, not what exists. `_scan` parses only files whose bytes
changed: a file with the same path and content hash reuses its stored transcript, unless that
was parsed by older rules (another `PARSER_VERSION`), which reads it again. `_make_snapshot`
chunks only changed documents and embeds only texts it has no vector for: passage, header and
sentence vectors are reused by content key (the hash of the text embedded, which context
settings do not change); when nothing changed it returns the previous snapshot as it was.
Saving, the writer lock and the swap of snapshots stay in `qa.service`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from embeddings import store
from embeddings.encoder import Encoder
from qa.chunking import ChunkSettings, chunk, sentence_spans
from qa.context import ContextSettings, embed_text, header_text, index_texts, search_vectors
from qa.errors import TranscriptError
from qa.lexical import LexicalIndex
from qa.speakers import AliasTable
from qa.transcript import Passage, Transcript

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
    for s in skipped:  # callers report them (stats.skipped): logged here only for debugging
        log.info("Skipped %s: %s", getattr(s, "path", s), getattr(s, "reason", ""))
    return transcripts, skipped, hashes


def _call_load_corpus(load_corpus: Any, path: PathLike, show_progress: bool) -> Any:
    try:
        return load_corpus(path, show_progress=show_progress)
    except TypeError:
        return load_corpus(path)


def _under(path: Path, roots: list[Path]) -> bool:
    path = path.resolve()
    return any(path == r or r in path.parents for r in roots)


def updated_documents(
    old: store.Snapshot,
    scanned: dict[str, Transcript],
    file_hashes: dict[str, str | None],
    roots: list[Path],
    uploaded: Callable[[Transcript], bool],
) -> tuple[dict[str, Transcript], dict[str, str | None]]:
    """The documents an `update(roots)` leaves, and their file hashes: the re-scanned ones,
    and every old one whose file is not under `roots` (an upload always stays; a new file with
    an upload's name is renamed, `qa.uploads.rename_clashes`). Both stores update this way."""
    from qa.uploads import rename_clashes

    keep: dict[str, Transcript] = {}
    for doc_id, t in old.transcripts.items():
        if doc_id in scanned and not uploaded(t):
            continue
        if t.source and _under(Path(t.source), roots):
            continue  # its file was re-scanned and is gone (or no longer parses)
        keep[doc_id] = t
    kept_uploads = {d: t for d, t in keep.items() if uploaded(t)}
    keep.update(rename_clashes(scanned, file_hashes, kept_uploads, keep))
    hashes = {d: old.manifest.docs[d].get("file_hash") for d in keep if d in old.manifest.docs}
    hashes.update(file_hashes)
    return keep, hashes


def spans_in_embedded_text(
    text: str, passage: Passage, spans: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Spans relative to `passage` moved into `text`, the string embedded for it: that is
    "Speaker: " + the passage, so its sentences sit that much later."""
    shift = len(text) - len(passage.text)
    return [(a + shift, b + shift) for a, b in spans]


def _incompatibility(
    manifest: store.Manifest, model: str, chunker: ChunkSettings, backend: str
) -> str | None:
    """Why vectors in `manifest` cannot be reused (None: they can). Context settings are not a
    reason: vectors are keyed by the text embedded, which context does not change."""
    if manifest.model != model:
        return f"the embedding model changed ({manifest.model} -> {model})"
    if manifest.backend != backend:
        return f"the encoder backend changed ({manifest.backend} -> {backend})"
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
    aliases: AliasTable | dict[str, list[str]] | None = None,
) -> tuple[store.Snapshot, UpdateStats]:
    """The snapshot for exactly `transcripts`, reusing what `previous` already computed.

    `aliases`: a speaker alias table to apply to every transcript (and keep in the manifest);
    None keeps the one `previous` was built with, if any (see `with_aliases`).
    """
    from qa.ingest import PARSER_VERSION

    table = _alias_table(aliases, previous)
    if table is not None:
        transcripts = with_aliases(transcripts, table)
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
    foreign = previous and _incompatibility(
        previous.manifest, encoder.name, chunker, encoder.backend
    )
    changed = previous is None or bool(
        foreign
        or stats.docs_added
        or stats.docs_changed
        or stats.docs_removed
        or moved
        or keys != previous.keys
        or doc_keys != previous.doc_keys
        or previous.manifest.context != context.as_dict()
        or previous.manifest.aliases != (None if table is None else table.mapping)
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
    if foreign:
        log.warning("Re-embedding every passage: %s", foreign)
        previous = None  # vectors of another model or backend never join these
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
        shifted = [
            spans_in_embedded_text(text, p, rel.tolist())
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
        backend=encoder.backend,
        dim=int(dim),
        chunker=chunker.as_dict(),
        context=context.as_dict(),
        docs=docs,
        aliases=None if table is None else table.mapping,
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


def _alias_table(
    aliases: AliasTable | dict[str, list[str]] | None, previous: store.Snapshot | None
) -> AliasTable | None:
    """The alias table a new snapshot is made with: the one given, else `previous`'s own."""
    if aliases is None:
        aliases = previous.manifest.aliases if previous is not None else None
    if aliases is None:
        return None
    return aliases if isinstance(aliases, AliasTable) else AliasTable(aliases)


def with_aliases(transcripts: dict[str, Transcript], table: AliasTable) -> dict[str, Transcript]:
    """`transcripts` with their speakers named again under `table` (as `load_corpus(path,
    aliases=table)` names them), then unified across all of them. Works from the labels as
    written, so stored transcripts need no re-reading; returns copies (snapshots are shared)."""
    from qa.ingest import unify_speakers
    from qa.parsers._common import renormalise

    copies = {d: renormalise(replace(t), table) for d, t in transcripts.items()}
    unify_speakers(list(copies.values()), table)
    return copies


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
