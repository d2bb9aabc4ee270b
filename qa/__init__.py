"""transcript-qa: answer questions about speech transcripts with verbatim, cited quotes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa.chunking import chunk
from qa.errors import (
    IndexLoadError,
    ModelNotAvailableError,
    QueryError,
    TranscriptError,
    TranscriptQAError,
)
from qa.ingest import CorpusLoad, Skipped, load_corpus, load_transcript
from qa.results import Answer, DocumentInfo, Hit, Quote
from qa.transcript import Cue, Passage, Transcript, Turn

if TYPE_CHECKING:
    from qa.service import TranscriptQA

__all__ = [
    "Answer",
    "CorpusLoad",
    "Cue",
    "DocumentInfo",
    "Hit",
    "IndexLoadError",
    "ModelNotAvailableError",
    "Passage",
    "QueryError",
    "Quote",
    "Skipped",
    "Transcript",
    "TranscriptError",
    "TranscriptQA",
    "TranscriptQAError",
    "Turn",
    "chunk",
    "load_corpus",
    "load_transcript",
]


def __getattr__(name: str) -> Any:
    # The facade pulls in torch and FAISS: import it only when asked for.
    if name == "TranscriptQA":
        from qa.service import TranscriptQA

        return TranscriptQA
    raise AttributeError(name)
