"""Files → `Transcript`s: reading bytes safely, choosing a parser, walking a corpus folder.

Encoding policy: transcripts must be UTF-8 (a BOM is fine). Other encodings are rejected with
an error naming the file and line, rather than guessed: a wrong guess (cp1251 vs latin-1) would
silently corrupt the verbatim quotes this tool exists to give. Line endings are normalised to
`\\n`, so offsets are the same on every platform.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.errors import TranscriptError
from qa.limits import check_file_size
from qa.parsers import SUPPORTED_EXTENSIONS, parse_text
from qa.parsers._common import renormalise
from qa.speakers import AliasSpec, as_alias_table, unify_corpus_names
from qa.transcript import Transcript

# Magic numbers of common non-text files, for a clear "not a transcript" reason.
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x1f\x8b": "a gzip archive",
    b"ID3": "an MP3 file",
    b"RIFF": "a RIFF (WAV/AVI/WebP) file",
    b"OggS": "an Ogg file",
    b"\x7fELF": "an executable",
}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file left out of a corpus, and why (the error message names file and line)."""

    path: str
    reason: str


@dataclass(slots=True)
class CorpusLoad:
    transcripts: list[Transcript] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# Raised whenever the same bytes parse into other turns, speakers or roles. An index records
# it per document and re-reads files parsed by older rules (their vectors are reused when the
# indexed text is the same). 2: generic labels ("Question") are no longer speakers. 3: a title
# or date the file lacks comes from its name (2025-02-03_podcast.vtt); links (URL:, "url",
# WebVTT NOTE) and subtitle cue spans are kept. 4: "Novelist Nadia Fairweather" beside "Nadia
# Fairweather" is split there; "Audience member Leo Brannigan" is Leo Brannigan; a role ends
# before "Dr", "Mr" (Chief Executive Dr Owen Mardell: Chief Executive); subtitles: ">>" and
# dialogue dashes start new voices, captions naming no one are indexed.
PARSER_VERSION = 4


def read_text(path: str | Path) -> str:
    """Decode a transcript file, or raise `TranscriptError` saying what is wrong with it."""
    path = Path(path)
    try:
        check_file_size(path, path.stat().st_size)  # before reading: a 10 GB log must not load
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return decode(path, data)


def decode(path: str | Path, data: bytes) -> str:
    if not data.strip():
        raise TranscriptError(path, "file is empty: expected a transcript")
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            raise TranscriptError(path, f"not a transcript: looks like {kind}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TranscriptError(
            path, "file is UTF-16 encoded: expected UTF-8 text (re-save it as UTF-8)"
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise TranscriptError(path, "binary file (contains NUL bytes): expected UTF-8 text", line)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TranscriptError(
            path,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): re-save the file as UTF-8",
            line,
        ) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise TranscriptError(path, "file is empty: expected a transcript")
    return text


def load_transcript(path: str | Path, aliases: AliasSpec = None) -> Transcript:
    """Parse one transcript file (format chosen by extension and content)."""
    table = as_alias_table(aliases)
    path = Path(path)
    if path.is_dir():
        raise TranscriptError(path, "is a folder: use load_corpus() for folders")
    transcript = parse_text(path, read_text(path))
    if table:
        renormalise(transcript, table)
        unify_speakers([transcript], table)
    return transcript


def iter_files(root: Path) -> Iterator[Path]:
    """Files under `root`, recursively, in a stable order; hidden files and folders are ignored."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def load_corpus(
    path: str | Path, aliases: AliasSpec = None, show_progress: bool = False
) -> CorpusLoad:
    """Parse every transcript under `path` (a folder, walked recursively, or a single file).

    Bad files are reported in `.skipped` with the reason and the rest goes on. Doc ids are file
    stems; a clash gets a `-2`, `-3`, … suffix in walk order. Speaker names are then unified
    across the corpus.
    """
    root = Path(path)
    if not root.exists():
        raise TranscriptError(root, "no such file or folder")
    table = as_alias_table(aliases)
    files = [root] if root.is_file() else list(iter_files(root))
    result = CorpusLoad()
    seen: Counter[str] = Counter()
    iterator: Iterable[Path] = files
    if show_progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="Parsing transcripts", unit="file")
    for file in iterator:
        if file.suffix.lower() not in SUPPORTED_EXTENSIONS:
            result.skipped.append(
                Skipped(
                    str(file),
                    f"not a transcript file type ('{file.suffix or file.name}'); expected {', '.join(SUPPORTED_EXTENSIONS)}",
                )
            )
            continue
        try:
            transcript = parse_text(file, read_text(file))
        except TranscriptError as exc:
            result.skipped.append(Skipped(str(file), str(exc)))
            continue
        if table:
            renormalise(transcript, table)
        seen[transcript.doc_id] += 1
        if seen[transcript.doc_id] > 1:
            new_id = f"{transcript.doc_id}-{seen[transcript.doc_id]}"
            while new_id in seen:
                seen[transcript.doc_id] += 1
                new_id = f"{transcript.doc_id}-{seen[transcript.doc_id]}"
            seen[new_id] += 1
            transcript.doc_id = new_id
        result.transcripts.append(transcript)
    unify_speakers(result.transcripts, table)
    return result


_LABELLED_WEIGHT = 1000


def unify_speakers(transcripts: list[Transcript], aliases: AliasSpec = None) -> None:
    """One canonical name per person across `transcripts`, in place.

    `load_corpus` does this for the files it reads; call it again on the union when
    transcripts were loaded in several batches (e.g. an incremental index update).
    See `qa.speakers.unify_corpus_names` for the rules.
    """
    table = as_alias_table(aliases)
    names: Counter[str] = Counter()
    for tr in transcripts:
        for t in tr.turns:
            if t.speaker:
                # A name a questioner gave themselves ("Question: Elena Lovén, …") joins the
                # same person's labelled turns but never respells them: labels outweigh it.
                names[t.speaker] += 1 if t.index_label != t.speaker else _LABELLED_WEIGHT
    mapping = unify_corpus_names(names, table)
    for tr in transcripts:
        if any(t.speaker and mapping.get(t.speaker, t.speaker) != t.speaker for t in tr.turns):
            tr.turns = [
                replace(t, speaker=mapping.get(t.speaker, t.speaker)) if t.speaker else t
                for t in tr.turns
            ]
