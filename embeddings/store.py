"""The on-disk index: a folder of generations, swapped in atomically.

Layout of an index folder::

    index_dir/
      CURRENT              name of the live generation ("gen-000003"), replaced atomically
      gen-000003/
        manifest.json      format version, model name + dim, chunker/context settings,
                           per-document content hashes, file sizes (to catch truncation)
        transcripts.json   every transcript (text + turns + metadata): `transcript(doc_id)` and
                           all quoting work from the index alone
        passages.json      columns: document, turn, start, end, content key of the embedded text
        vectors.npy        float32 (passages x dim), L2-normalised embedding of each passage
        doc_vectors.npy    float32 (documents x dim), embedding of each title + date header
        search.npy         float32 (passages x dim), the vectors searched: each passage's
                           vector composed with its context and header (qa.context), so
                           opening an index computes nothing
        sentences.npy      float16 (sentences x dim), each sentence of each passage pooled from
                           the passage's own forward pass (the answerer scores these)
        sentence_spans.npy int64 (sentences x 2), source offsets of those sentences
        sentence_rows.npy  int64 (passages + 1), passage i owns sentence rows [r[i], r[i+1])
        ann.faiss          HNSW graph, only above `ANN_THRESHOLD` passages
        bm25/              bm25s sparse matrices and vocabulary

A new generation is written into a hidden temporary folder, fsynced, renamed into place, and
only then does `CURRENT` move to it (`os.replace`), so a crash or Ctrl-C at any point leaves
the previous generation loadable. Snapshots are immutable once built: readers keep the one
they started with while an update builds the next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.errors import IndexLoadError
from qa.lexical import LexicalIndex
from qa.transcript import Cue, Passage, Transcript, Turn

FORMAT_VERSION = 2
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
TRANSCRIPTS = "transcripts.json"
PASSAGES = "passages.json"
VECTORS = "vectors.npy"
DOC_VECTORS = "doc_vectors.npy"
SEARCH_VECTORS = "search.npy"
SENTENCE_VECTORS = "sentences.npy"
SENTENCE_SPANS = "sentence_spans.npy"
SENTENCE_ROWS = "sentence_rows.npy"
ANN = "ann.faiss"
LOCK = ".writer.lock"  # held by the one process writing the index (see `writer_lock`)
BM25_DIR = "bm25"
# Above this many passages an HNSW graph answers unfiltered dense queries. Measured in
# benchmarks/bench_index.py (results/index.json, 2 shared cores): exact search takes 2 ms at
# 21k vectors, 25 ms at 100k, 62 ms at 300k; HNSW (M=32, efSearch=128) 0.2 ms at recall@10 0.98.
ANN_THRESHOLD = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def rebuild_hint(index_dir: Path | str) -> str:
    return (
        f"Rebuild it with `tqa index <corpus> --index {index_dir}` "
        f"(or `TranscriptQA.build(corpus, '{index_dir}')`)."
    )


def content_key(text: str) -> str:
    """Content hash of an embedded text: equal keys can share a vector."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


# --- transcripts as JSON (never pickle: an index must not be able to run code) -------------


def transcript_to_dict(t: Transcript) -> dict[str, Any]:
    d = {
        "doc_id": t.doc_id,
        "title": t.title,
        "date": t.date.isoformat() if t.date else None,
        "time": t.time,
        "place": t.place,
        "lead": t.lead,
        "topics": list(t.topics),
        "geography": list(t.geography),
        "persons": list(t.persons),
        "source": t.source,
        "format": t.format,
        "text": t.text,
        # Turn text is always text[start:end], so only offsets are stored.
        "turns": [
            [
                u.index,
                u.speaker,
                u.label,
                u.role,
                u.start,
                u.end,
                u.retranslated,
                u.time_start,
                u.time_end,
            ]
            for u in t.turns
        ],
    }
    # Only where present, so documents without them keep their hash (and are not re-read).
    if t.url:
        d["url"] = t.url
    if t.cues:  # cue spans and times inside merged subtitle turns
        d["cues"] = [[c.start, c.end, c.time_start, c.time_end] for c in t.cues]
    return d


def transcript_from_dict(d: dict[str, Any]) -> Transcript:
    text = d["text"]
    turns = [
        Turn(
            index=i,
            speaker=sp,
            label=lab,
            role=role,
            text=text[s:e],
            start=s,
            end=e,
            retranslated=bool(rt),
            time_start=ts,
            time_end=te,
        )
        for i, sp, lab, role, s, e, rt, ts, te in d["turns"]
    ]
    return Transcript(
        doc_id=d["doc_id"],
        title=d["title"],
        turns=turns,
        text=text,
        date=dt.date.fromisoformat(d["date"]) if d["date"] else None,
        time=d.get("time"),
        place=d.get("place"),
        lead=d.get("lead"),
        topics=list(d.get("topics") or []),
        geography=list(d.get("geography") or []),
        persons=list(d.get("persons") or []),
        source=d.get("source"),
        format=d.get("format") or "unknown",
        url=d.get("url"),
        cues=[Cue(int(s), int(e), float(ts), float(te)) for s, e, ts, te in d.get("cues") or []],
    )


def transcript_hash(t: Transcript) -> str:
    """Hash of everything that can change passages or their metadata (not where the file lives)."""
    d = transcript_to_dict(t)
    d.pop("source", None)
    return hashlib.blake2b(
        json.dumps(d, sort_keys=True).encode("utf-8"), digest_size=16
    ).hexdigest()


# --- the snapshot ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    model: str
    dim: int
    chunker: dict[str, int]
    context: dict[str, Any]
    docs: dict[str, dict[str, Any]]  # doc_id -> {"hash", "source", "passages"}
    format_version: int = FORMAT_VERSION
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    files: dict[str, int] = field(default_factory=dict)  # relative path -> size in bytes
    digests: dict[str, str] = field(default_factory=dict)  # relative path -> blake2b (verify)
    # Where the vectors were computed (embeddings.backends): indexes from before backends
    # existed were all torch.
    backend: str = "torch"
    # The speaker alias table the index was built with (canonical -> aliases; see
    # qa.speakers.AliasTable), kept so every later update applies it too; None: none given.
    aliases: dict[str, list[str]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "model": self.model,
            "backend": self.backend,
            "dim": self.dim,
            "chunker": self.chunker,
            "context": self.context,
            "created": self.created,
            "docs": self.docs,
            "files": self.files,
            "digests": self.digests,
            "aliases": self.aliases,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        return cls(
            model=d["model"],
            backend=str(d.get("backend", "torch")),
            dim=int(d["dim"]),
            chunker=dict(d["chunker"]),
            context=dict(d["context"]),
            docs=dict(d["docs"]),
            format_version=int(d["format_version"]),
            created=d.get("created", ""),
            files=dict(d.get("files", {})),
            digests=dict(d.get("digests", {})),
            aliases=None if d.get("aliases") is None else dict(d["aliases"]),
        )


@dataclass(frozen=True)
class SentenceTable:
    """The sentences of every passage with their vectors, in passage order.

    float16 halves the memory of the largest array an index has; a question's cosine with a
    sentence moves by < 1e-4 (measured on corpus/ against float32).
    """

    rows: np.ndarray  # int64 (passages + 1): passage i owns rows [rows[i], rows[i + 1])
    spans: np.ndarray  # int64 (sentences x 2): start, end in the source transcript
    vectors: np.ndarray  # float16 (sentences x dim), L2-normalised

    def __post_init__(self) -> None:
        for array in (self.rows, self.spans, self.vectors):
            if array.flags.writeable:
                array.setflags(write=False)

    def of(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(spans, vectors) of passage `row`."""
        a, b = int(self.rows[row]), int(self.rows[row + 1])
        return self.spans[a:b], self.vectors[a:b]


@dataclass(frozen=True)
class Snapshot:
    """Everything one search needs, never mutated after construction."""

    manifest: Manifest
    transcripts: dict[str, Transcript]
    passages: list[Passage]
    keys: list[str]  # content key of each passage's embedded text
    vectors: np.ndarray  # one row per passage
    doc_keys: list[str]  # content key of each document's header ("" = no header)
    doc_vectors: np.ndarray  # one row per document, in `transcripts` order
    lexical: LexicalIndex
    ann: faiss.Index | None = None
    search_vectors: np.ndarray | None = None  # composed for the manifest's context settings
    sentences: SentenceTable | None = None  # None in indexes written before they existed
    generation: str = ""  # the folder it was read from or written to ("" = not on disk)

    def __post_init__(self) -> None:
        for array in (self.vectors, self.doc_vectors, self.search_vectors):
            if array is not None and array.flags.writeable:
                array.setflags(write=False)


def build_ann(vectors: np.ndarray) -> faiss.Index | None:
    """An HNSW graph for large indexes (None below the threshold: exact search is used)."""
    if len(vectors) < ANN_THRESHOLD:
        return None
    return build_hnsw(vectors)


def build_hnsw(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(np.ascontiguousarray(vectors))
    return index


# --- writing -------------------------------------------------------------------------------


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _generations(index_dir: Path) -> list[Path]:
    return sorted(p for p in index_dir.glob("gen-*") if p.is_dir())


def _write_files(snap: Snapshot, folder: Path) -> None:
    doc_ids = list(snap.transcripts)
    doc_pos = {d: i for i, d in enumerate(doc_ids)}
    with open(folder / TRANSCRIPTS, "w", encoding="utf-8") as fh:
        json.dump(
            [transcript_to_dict(snap.transcripts[d]) for d in doc_ids], fh, ensure_ascii=False
        )
    columns = {
        "doc": [doc_pos[p.doc_id] for p in snap.passages],
        "turn": [p.turn for p in snap.passages],
        "start": [p.start for p in snap.passages],
        "end": [p.end for p in snap.passages],
        "key": snap.keys,
        "doc_key": snap.doc_keys,
    }
    with open(folder / PASSAGES, "w", encoding="utf-8") as fh:
        json.dump(columns, fh)
    np.save(folder / VECTORS, np.ascontiguousarray(snap.vectors, dtype=np.float32))
    np.save(folder / DOC_VECTORS, np.ascontiguousarray(snap.doc_vectors, dtype=np.float32))
    if snap.search_vectors is not None:
        np.save(
            folder / SEARCH_VECTORS, np.ascontiguousarray(snap.search_vectors, dtype=np.float32)
        )
    if snap.sentences is not None:
        table = snap.sentences
        np.save(folder / SENTENCE_VECTORS, np.ascontiguousarray(table.vectors, dtype=np.float16))
        np.save(folder / SENTENCE_SPANS, np.ascontiguousarray(table.spans, dtype=np.int64))
        np.save(folder / SENTENCE_ROWS, np.ascontiguousarray(table.rows, dtype=np.int64))
    if snap.ann is not None:
        faiss.write_index(snap.ann, str(folder / ANN))
    snap.lexical.save(folder / BM25_DIR)


@contextmanager
def writer_lock(index_dir: Path | str, on_wait: Any = None) -> Iterator[None]:
    """Hold the index's writer lock: one process at a time reads, changes and saves an index.

    Without it, two `tqa index` runs on one folder could each save a generation built from
    the same old one, and the later would silently drop what the earlier added. Readers
    never take it. `on_wait()` is called once if another process holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock (in-process writers still serialise)
        yield
        return
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def file_digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def verify(index_dir: Path | str) -> int:
    """Check every file of the live generation against the checksum written with it.

    Loading checks sizes and shapes only (reading every byte would cost a second per 300 MB);
    this catches what those miss, such as a flipped bit inside a vector file. Returns the
    number of files checked; raises `IndexLoadError` naming the first file that differs.
    """
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    folder = _current(index_dir)
    if not manifest.digests:
        raise IndexLoadError(
            f"The index at {index_dir} was written without checksums, so it cannot be verified. "
            + rebuild_hint(index_dir)
        )
    for rel, digest in manifest.digests.items():
        path = folder / rel
        if not path.is_file() or file_digest(path) != digest:
            what = "missing" if not path.is_file() else "changed since it was written"
            raise IndexLoadError(
                f"The index at {index_dir} is damaged: {rel} is {what}. " + rebuild_hint(index_dir)
            )
    return len(manifest.digests)


def current_generation(index_dir: Path | str) -> str:
    """The name of the live generation ("" when there is none or it cannot be read)."""
    try:
        return (Path(index_dir) / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def save(snap: Snapshot, index_dir: Path | str) -> Path:
    """Write `snap` as the new generation of `index_dir` and make it current, atomically."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    gens = _generations(index_dir)
    number = int(gens[-1].name.split("-")[1]) + 1 if gens else 1
    name = f"gen-{number:06d}"
    tmp = index_dir / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_files(snap, tmp)
        written = [p for p in sorted(tmp.rglob("*")) if p.is_file()]
        files = {str(p.relative_to(tmp)): p.stat().st_size for p in written}
        digests = {str(p.relative_to(tmp)): file_digest(p) for p in written}
        manifest = Manifest(**{**snap.manifest.to_dict(), "files": files, "digests": digests})
        (tmp / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        os.replace(tmp, index_dir / name)
        pointer = index_dir / f".{CURRENT}.tmp-{os.getpid()}"
        with open(pointer, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer, index_dir / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Only now is the old generation unreferenced; in-memory snapshots never read it again.
    for old in _generations(index_dir):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    for stale in index_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in index_dir.glob(f".{CURRENT}.tmp-*"):  # a pointer a killed writer left behind
        stale.unlink(missing_ok=True)
    return index_dir / name


# --- reading -------------------------------------------------------------------------------


def exists(index_dir: Path | str) -> bool:
    return (Path(index_dir) / CURRENT).is_file()


def read_manifest(index_dir: Path | str) -> Manifest:
    folder = _current(Path(index_dir))
    try:
        return Manifest.from_dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexLoadError(
            f"The index at {index_dir} is damaged: {MANIFEST} cannot be read ({exc}). "
            + rebuild_hint(index_dir)
        ) from exc


def _current(index_dir: Path) -> Path:
    if not index_dir.is_dir():
        raise IndexLoadError(
            f"No index at {index_dir}: the folder does not exist. " + rebuild_hint(index_dir)
        )
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexLoadError(
            f"{index_dir} is not a transcript-qa index (no readable {CURRENT} file). "
            + rebuild_hint(index_dir)
        ) from exc
    folder = index_dir / name
    if not name.startswith("gen-") or not folder.is_dir():
        raise IndexLoadError(
            f"The index at {index_dir} is damaged: {CURRENT} names '{name}', which is missing. "
            + rebuild_hint(index_dir)
        )
    return folder


def load(index_dir: Path | str) -> Snapshot:
    """Read the current generation; any damage becomes an `IndexLoadError` that says how to rebuild."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    folder = _current(index_dir)
    if manifest.format_version != FORMAT_VERSION:
        raise IndexLoadError(
            f"The index at {index_dir} has format version {manifest.format_version}; this version of "
            f"transcript-qa reads version {FORMAT_VERSION}. " + rebuild_hint(index_dir)
        )
    for rel, size in manifest.files.items():
        path = folder / rel
        actual = path.stat().st_size if path.is_file() else None
        if actual != size:
            what = "missing" if actual is None else f"{actual} bytes, expected {size}"
            raise IndexLoadError(
                f"The index at {index_dir} is damaged: {rel} is {what}. " + rebuild_hint(index_dir)
            )
    current = "?"
    try:
        current = TRANSCRIPTS
        with open(folder / TRANSCRIPTS, encoding="utf-8") as fh:
            transcripts = {t.doc_id: t for t in map(transcript_from_dict, json.load(fh))}
        current = PASSAGES
        with open(folder / PASSAGES, encoding="utf-8") as fh:
            cols = json.load(fh)
        doc_ids = list(transcripts)
        passages = [
            Passage.of(transcripts[doc_ids[d]], u, s, e)
            for d, u, s, e in zip(
                cols["doc"], cols["turn"], cols["start"], cols["end"], strict=True
            )
        ]
        keys = list(cols["key"])
        current = VECTORS
        # Passage vectors are only read again by an update: map them instead of reading them.
        vectors = np.load(folder / VECTORS, allow_pickle=False, mmap_mode="r")
        if vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != len(passages):
            raise ValueError(f"shape {vectors.shape} {vectors.dtype} for {len(passages)} passages")
        if len(passages) and vectors.shape[1] != manifest.dim:
            raise ValueError(
                f"vectors have dimension {vectors.shape[1]}, manifest says {manifest.dim}"
            )
        current = DOC_VECTORS
        doc_vectors = np.load(folder / DOC_VECTORS, allow_pickle=False)
        doc_keys = list(cols["doc_key"])
        if (
            doc_vectors.ndim != 2
            or len(doc_vectors) != len(transcripts)
            or len(doc_keys) != len(transcripts)
        ):
            raise ValueError(f"shape {doc_vectors.shape} for {len(transcripts)} documents")
        search_vectors = None
        if (folder / SEARCH_VECTORS).exists():
            current = SEARCH_VECTORS
            search_vectors = np.load(folder / SEARCH_VECTORS, allow_pickle=False)
            if search_vectors.shape != vectors.shape:
                raise ValueError(f"shape {search_vectors.shape}, passage vectors {vectors.shape}")
        sentences = None
        if (folder / SENTENCE_VECTORS).exists():
            current = SENTENCE_VECTORS
            sentences = _load_sentences(folder, passages, manifest.dim)
        ann = None
        if (folder / ANN).exists():
            current = ANN
            ann = faiss.read_index(str(folder / ANN))
        current = BM25_DIR
        lexical = LexicalIndex.load(folder / BM25_DIR)
        if lexical.size != len(passages):
            raise ValueError(f"{lexical.size} BM25 rows for {len(passages)} passages")
    except IndexLoadError:
        raise
    except Exception as exc:  # any parse error of any file is the same story for the user
        raise IndexLoadError(
            f"The index at {index_dir} is damaged: {current} cannot be read ({type(exc).__name__}: "
            f"{exc}). " + rebuild_hint(index_dir)
        ) from exc
    return Snapshot(
        manifest=manifest,
        transcripts=transcripts,
        passages=passages,
        keys=keys,
        vectors=vectors,
        doc_keys=doc_keys,
        doc_vectors=doc_vectors,
        lexical=lexical,
        ann=ann,
        search_vectors=search_vectors,
        sentences=sentences,
        generation=folder.name,
    )


def _load_sentences(folder: Path, passages: list[Passage], dim: int) -> SentenceTable:
    """The sentence table, checked against the passages it belongs to (ValueError if not)."""
    # Mapped, not read: a question touches the sentences of a few passages only.
    vectors = np.load(folder / SENTENCE_VECTORS, allow_pickle=False, mmap_mode="r")
    spans = np.load(folder / SENTENCE_SPANS, allow_pickle=False)
    rows = np.load(folder / SENTENCE_ROWS, allow_pickle=False)
    if rows.shape != (len(passages) + 1,) or rows.dtype != np.int64:
        raise ValueError(f"sentence rows {rows.shape} {rows.dtype} for {len(passages)} passages")
    n = int(rows[-1]) if len(rows) else 0
    if rows[0] != 0 or np.any(np.diff(rows) < 0) or spans.shape != (n, 2):
        raise ValueError(f"sentence rows and spans {spans.shape} disagree")
    if vectors.dtype != np.float16 or vectors.shape != (n, dim if n else vectors.shape[1]):
        raise ValueError(f"sentence vectors {vectors.shape} {vectors.dtype} for {n} sentences")
    if n:
        owner = np.repeat(np.arange(len(passages)), np.diff(rows))
        starts = np.fromiter((p.start for p in passages), dtype=np.int64, count=len(passages))
        ends = np.fromiter((p.end for p in passages), dtype=np.int64, count=len(passages))
        if np.any(spans[:, 0] < starts[owner]) or np.any(spans[:, 1] > ends[owner]):
            raise ValueError("a sentence lies outside its passage")
        if np.any(spans[:, 1] <= spans[:, 0]):
            raise ValueError("an empty sentence span")
    return SentenceTable(rows=rows, spans=spans, vectors=vectors)
