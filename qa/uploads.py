"""Transcripts added to an open index (the chat's "Add transcripts", `TranscriptQA.add_files`).

An upload is checked like any file `tqa index` reads (`qa.ingest`: size before reading, UTF-8,
not empty, not binary, a format that parses) and then copied, under a name made here, into the
index's own folder::

    <index>/uploads/2025-02-03_podcast.vtt

so the index keeps its source text: `TranscriptQA.build` (`tqa index`, a rebuild after a model
change, a damaged index rebuilt by `tqa serve`) reads that folder along with the corpus, and
`update(corpus)` never drops an upload (its file is not under the corpus). `remove()` of an
uploaded document deletes its copy as well, after the index without it is written.

Names: the upload's own name is only a hint. Its last path component is kept with every
character but letters, digits, `-`, `_` and `.` replaced, leading dots dropped and the length
capped; the extension must be a supported one; a stem any document or stored upload already
has gets `-2`, `-3`, …. So nothing is ever written outside `<index>/uploads/`, never over
another file, and a name like `2025-02-03_podcast.vtt` still gives its date and title.

Limits (`qa.limits`, the same settings the CLI reads): `TQA_MAX_FILE_MB` per file,
`TQA_MAX_UPLOAD_FILES` files per upload, `TQA_MAX_UPLOADS_MB` for all stored uploads.
Files are read one at a time, so memory holds one file's bytes (and the parsed text the
index keeps anyway).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from qa import limits
from qa.errors import TranscriptError
from qa.ingest import Skipped, decode, unify_speakers
from qa.parsers import SUPPORTED_EXTENSIONS, parse_text
from qa.transcript import Transcript

log = logging.getLogger(__name__)

UPLOADS = "uploads"
"""The folder inside an index that keeps uploaded source files."""
MAX_STEM_CHARS = 80
_PARKED = ".removed-"  # an upload being removed: hidden, so no scan reads it
_INCOMING = ".incoming-"  # an upload being written

Progress = Callable[[float, str], None]
"""`progress(fraction done, what is happening)`."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to add: where its bytes are now, and the name its owner gave it (a hint)."""

    path: Path
    name: str


def as_uploads(files: Iterable[str | os.PathLike[str] | tuple[Any, str]]) -> list[Upload]:
    """`add_files`' argument as uploads: a path goes by its file name, a (path, name) pair by
    the name (a browser upload's temporary file and the name it came with)."""
    return [
        Upload(Path(f[0]), str(f[1])) if isinstance(f, tuple) else Upload(Path(f), Path(f).name)
        for f in files
    ]


@dataclass(slots=True)
class AddResult:
    """What `TranscriptQA.add_files` did: the documents added (doc ids, in upload order), the
    files left out with their reasons (`Skipped.path` is the upload's name as given, cleaned
    for display), and the index update (None when nothing was added)."""

    added: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    stats: Any = None


@dataclass(slots=True)
class Batch:
    """Checked uploads already copied into the uploads folder, not yet in the index."""

    transcripts: dict[str, Transcript] = field(default_factory=dict)
    hashes: dict[str, str | None] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def discard(self) -> None:
        """Delete the copies (the index update failed: the folder must match the index)."""
        for path in self.written:
            path.unlink(missing_ok=True)


def uploads_dir(index_dir: str | os.PathLike[str]) -> Path:
    return Path(index_dir).resolve() / UPLOADS


def is_upload(source: str | None, index_dir: str | os.PathLike[str]) -> bool:
    """Whether a transcript's source file is one of the index's stored uploads."""
    if not source:
        return False
    return Path(source).resolve().parent == uploads_dir(index_dir)


def display_name(name: object) -> str:
    """The upload's name as it may be shown: its last path component, printable, at most 120
    characters (the UI escapes it as well)."""
    text = str(name or "")
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(c if c.isprintable() else "?" for c in text).strip()
    if len(text) > 120:
        text = text[:100] + "…" + text[-19:]
    return text or "(no name)"


def safe_name(name: object) -> tuple[str, str]:
    """(stem, extension) for storing an upload called `name`: see the module docstring.

    The extension is the lower-cased last suffix ('' when there is none; the caller accepts
    only supported ones). The stem is never empty, never starts with a dot and holds only
    letters, digits, '-', '_' and '.'.
    """
    base = unicodedata.normalize("NFKC", str(name or "").replace("\x00", ""))
    base = re.split(r"[\\/]", base)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = "." + ext.lower() if ext else ""
    clean = re.sub(r"[^\w.\-]", "_", stem, flags=re.UNICODE)
    clean = re.sub(r"_{2,}", "_", clean).strip("._- ")
    clean = clean[:MAX_STEM_CHARS].rstrip("._- ")
    return clean or "transcript", ext


def _taken_stems(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.stem.casefold() for p in folder.iterdir()}


def _unique_stem(stem: str, taken: set[str], reserve: bool = True) -> str:
    """`stem`, or `stem-2`, `stem-3`, … : the first not in `taken` (compared case-folded, as
    on a case-insensitive file system); added to `taken` when `reserve`."""
    candidate, n = stem, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem}-{n}"
    if reserve:
        taken.add(candidate.casefold())
    return candidate


def _reason(exc: TranscriptError) -> str:
    """A `TranscriptError`'s reason without the (server-side) path it names."""
    return f"line {exc.line}: {exc.reason}" if exc.line is not None else exc.reason


def stored_bytes(index_dir: str | os.PathLike[str]) -> int:
    folder = uploads_dir(index_dir)
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _folder(index_dir: str | os.PathLike[str]) -> Path:
    folder = uploads_dir(index_dir)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise TranscriptError(folder, "is not a plain folder; refusing to store uploads there")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{_INCOMING}*"):  # left by a writer that was killed
        stale.unlink(missing_ok=True)
    return folder


class Shelf(Protocol):
    """Where an index keeps its uploads' source text: a folder (`FolderShelf`) or a database
    table (`qa.stores.postgres`)."""

    def taken(self) -> set[str]:
        """Stems of the stored uploads, case-folded."""
        ...

    def used_bytes(self) -> int: ...

    # What the uploads' paths are under: an upload stored as `name` goes by `folder / name`
    # (its stem is the document's id).
    folder: Path

    def put(self, target: Path, data: bytes) -> None: ...


class FolderShelf:
    """`<index>/uploads/`: each upload a file, written before the index that holds it."""

    def __init__(self, index_dir: str | os.PathLike[str]) -> None:
        self.index_dir = index_dir
        self.folder = _folder(index_dir)

    def taken(self) -> set[str]:
        return _taken_stems(self.folder)

    def used_bytes(self) -> int:
        return stored_bytes(self.index_dir)

    def put(self, target: Path, data: bytes) -> None:
        _write(self.folder, target, data)


def store(
    index_dir: str | os.PathLike[str],
    files: Sequence[Upload],
    existing: Mapping[str, Transcript],
    file_hashes: Mapping[str, str | None],
    progress: Progress | None = None,
) -> Batch:
    """Check `files` and copy the good ones into the uploads folder (call with the index's
    writer lock held). `existing`: the index's transcripts by doc id (their ids are taken);
    `file_hashes`: their files' content hashes (a file with the same bytes is a duplicate)."""
    return store_on(FolderShelf(index_dir), files, existing, file_hashes, progress)


def store_on(
    shelf: Shelf,
    files: Sequence[Upload],
    existing: Mapping[str, Transcript],
    file_hashes: Mapping[str, str | None],
    progress: Progress | None = None,
) -> Batch:
    """`store`, keeping the good files on `shelf`."""
    batch = Batch()
    taken = shelf.taken() | {d.casefold() for d in existing}
    titles = {d: t.title for d, t in existing.items()}
    known = {h: d for d, h in file_hashes.items() if h}
    size_limit, count_limit = limits.max_file_bytes(), limits.max_upload_files()
    budget = limits.max_uploads_bytes() - shelf.used_bytes()
    for n, upload in enumerate(files):
        shown = display_name(upload.name)
        if progress is not None:
            progress(n / max(len(files), 1), f"Checking {shown}")
        if n >= count_limit:
            batch.skipped.append(refusal(upload.name, 0, "count"))
            continue
        try:
            stem, ext = safe_name(upload.name)
            if ext not in SUPPORTED_EXTENSIONS:
                raise TranscriptError(
                    shown,
                    f"not a transcript file type ('{display_name(ext) if ext else 'no extension'}'); "
                    f"expected {', '.join(SUPPORTED_EXTENSIONS)}",
                )
            path = Path(upload.path)
            if not path.is_file():
                raise TranscriptError(shown, "cannot read file: not a file")
            limits.check_file_size(shown, path.stat().st_size)  # before reading it
            with path.open("rb") as fh:  # at most the limit, even if the file grows meanwhile
                data = fh.read(size_limit + 1)
            limits.check_file_size(shown, len(data))
            text = decode(shown, data)
            stored = text.encode("utf-8")  # UTF-8 with \n line ends: reads back as `text`
            raw = digest(data)
            del data
            for seen in (raw, digest(stored)):
                if seen in known:
                    title = titles.get(known[seen], known[seen])
                    raise TranscriptError(shown, f"already in the index, as “{title}”")
            if len(stored) > budget:
                raise TranscriptError(shown, refusal(shown, 0, "total").reason)
            target = shelf.folder / (_unique_stem(stem, taken, reserve=False) + ext)
            if target.parent != shelf.folder or target.name.startswith("."):
                raise TranscriptError(shown, "cannot be stored under a safe name")  # never
            transcript = parse_text(target, text)  # the stem is its doc id
        except TranscriptError as exc:
            batch.skipped.append(Skipped(shown, _reason(exc)))
            continue
        except OSError as exc:
            batch.skipped.append(Skipped(shown, f"cannot read file: {exc.strerror or exc}"))
            continue
        except Exception as exc:  # a parser bug must not lose the rest of the upload
            log.exception("parsing upload %r failed", shown)
            batch.skipped.append(
                Skipped(shown, f"could not be read as a transcript ({type(exc).__name__})")
            )
            continue
        try:
            shelf.put(target, stored)
        except OSError as exc:
            batch.skipped.append(Skipped(shown, f"could not be stored: {exc.strerror or exc}"))
            continue
        taken.add(target.stem.casefold())
        transcript.source = str(target)
        batch.written.append(target)
        batch.transcripts[transcript.doc_id] = transcript
        batch.hashes[transcript.doc_id] = known_digest = digest(stored)
        known[known_digest] = transcript.doc_id
        titles[transcript.doc_id] = transcript.title
        budget -= len(stored)
    unify_speakers(list(batch.transcripts.values()))
    for s in batch.skipped:
        log.warning("Upload %s not added: %s", s.path, s.reason)
    return batch


def refusal(
    name: object,
    size: object,
    why: object,
    size_limit: int | None = None,
    count_limit: int | None = None,
) -> Skipped:
    """The reason for a file the page kept from uploading at all (`ui.uploads`: over the size
    limit, past the file count, past the uploads limit), worded as `store` words it. The
    limits are the page's (by default those `qa.limits` gives now)."""
    shown = display_name(name)
    if why == "count":
        limit = limits.max_upload_files() if count_limit is None else count_limit
        return Skipped(
            shown,
            f"not added: one upload takes at most {limit:,} files "
            f"(add the rest in another upload, or raise TQA_MAX_UPLOAD_FILES)",
        )
    if why == "total":
        return Skipped(
            shown,
            f"not added: the stored uploads would exceed the "
            f"{limits.megabytes(limits.max_uploads_bytes())} MB limit (remove some "
            f"uploaded documents, or raise TQA_MAX_UPLOADS_MB)",
        )
    try:
        number = int(size) if isinstance(size, (int, float)) else 0
        limits.check_file_size(shown, number, size_limit)
    except TranscriptError as exc:
        return Skipped(shown, _reason(exc))
    return Skipped(shown, "not added: over the size limit for one transcript")


def digest(data: bytes) -> str:
    """The content hash `qa.indexing` records per file (blake2b, 16 bytes)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _write(folder: Path, target: Path, data: bytes) -> None:
    """Write `data` to `target` via a hidden temporary file, fsynced; never replaces a file."""
    tmp = folder / f"{_INCOMING}{uuid.uuid4().hex}"
    try:
        with tmp.open("xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            raise FileExistsError(target)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- removing ----------------------------------------------------------------------------------


def park(index_dir: str | os.PathLike[str], source: str | None) -> tuple[Path, Path] | None:
    """Hide an uploaded document's stored file while the index without it is written
    ((hidden path, original path)); None when `source` is not a stored upload."""
    if not is_upload(source, index_dir):
        return None
    original = Path(str(source)).resolve()
    if not original.is_file():
        return None
    hidden = original.with_name(f"{_PARKED}{uuid.uuid4().hex}-{original.name}")
    os.replace(original, hidden)
    return hidden, original


def unpark(parked: tuple[Path, Path] | None) -> None:
    """Put a parked file back (the index update failed)."""
    if parked is not None and parked[0].exists():
        os.replace(parked[0], parked[1])


def discard(parked: tuple[Path, Path] | None) -> None:
    if parked is not None:
        parked[0].unlink(missing_ok=True)
        _fsync_dir(parked[0].parent)


# -- rebuilding --------------------------------------------------------------------------------


def folder_to_scan(
    index_dir: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]
) -> Path | None:
    """The uploads folder, for a build of `roots` into `index_dir` to read as well; None when
    it holds no transcript or one of `roots` already contains it."""
    folder = uploads_dir(index_dir)
    if not folder.is_dir():
        return None
    for root in roots:
        r = Path(root).resolve()
        if folder == r or r in folder.parents:
            return None
    if not any(p.is_file() and not p.name.startswith(".") for p in folder.iterdir()):
        return None
    return folder


def rename_clashes(
    incoming: dict[str, Transcript],
    hashes: dict[str, str | None],
    uploads: Mapping[str, Transcript],
    taken: Iterable[str] = (),
) -> dict[str, Transcript]:
    """`incoming` with every document whose id an upload has renamed `<id>-2`, `-3`, … (and
    its entry in `hashes` moved): a corpus file added after an upload of the same name must
    not replace it. The transcripts are copied, never changed in place (snapshots share them)."""
    clashes = [d for d in incoming if d in uploads]
    if not clashes:
        return incoming
    used = {d.casefold() for d in [*incoming, *uploads, *taken]}
    out = dict(incoming)
    for doc_id in clashes:
        new_id = _unique_stem(doc_id, used)
        log.warning(
            "Document %s is also an uploaded document's id; indexing it as %s", doc_id, new_id
        )
        out[new_id] = replace(out.pop(doc_id), doc_id=new_id)
        if doc_id in hashes:
            hashes[new_id] = hashes.pop(doc_id)
    return out
