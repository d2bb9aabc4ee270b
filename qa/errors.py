"""Errors a user can act on. Every message names the file (and line) and what was expected."""

from __future__ import annotations

from pathlib import Path


class TranscriptQAError(Exception):
    """Base class for every error this package raises on purpose."""


class TranscriptError(TranscriptQAError):
    """A transcript file could not be read as any supported format."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class IndexLoadError(TranscriptQAError):
    """An index folder is missing, damaged or from an incompatible version."""


class ModelNotAvailableError(TranscriptQAError):
    """An embedding model would need a network download, which is never attempted."""


class QueryError(TranscriptQAError, ValueError):
    """A question, k or filter value is out of range."""
