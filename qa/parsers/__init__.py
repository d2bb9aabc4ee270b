"""Pick a parser for a file by its extension, then by sniffing its first characters.

Each format module exposes `sniff(path, head) -> bool` and `parse(path, text) -> Transcript`.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from qa.errors import TranscriptError
from qa.parsers import jsonl, kremlin, plain, qmsum, subtitles
from qa.transcript import Transcript

# Extension → candidate parsers, most specific first. Sniffing decides among them.
BY_EXTENSION: dict[str, tuple[ModuleType, ...]] = {
    ".txt": (kremlin, subtitles, plain),
    ".text": (kremlin, subtitles, plain),
    ".vtt": (subtitles,),
    ".srt": (subtitles,),
    ".json": (qmsum, jsonl),
    ".jsonl": (jsonl,),
    ".ndjson": (jsonl,),
}
SUPPORTED_EXTENSIONS = tuple(BY_EXTENSION)
HEAD_CHARS = 4096


def choose(path: str | Path, text: str) -> ModuleType:
    """The parser for `path`; the last candidate is the fallback (its errors say what it expected)."""
    suffix = Path(path).suffix.lower()
    candidates = BY_EXTENSION.get(suffix)
    if candidates is None:
        raise TranscriptError(
            path,
            f"unsupported file type '{suffix or '(none)'}': expected one of {', '.join(SUPPORTED_EXTENSIONS)}",
        )
    # JSON keys can come in any order, so JSON formats sniff the whole document.
    head = text if suffix == ".json" else text[:HEAD_CHARS]
    for module in candidates:
        if module.sniff(path, head):
            return module
    return candidates[-1]


def parse_text(path: str | Path, text: str) -> Transcript:
    return choose(path, text).parse(path, text)


__all__ = ["BY_EXTENSION", "SUPPORTED_EXTENSIONS", "choose", "parse_text"]
