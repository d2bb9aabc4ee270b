"""Input limits: what a question, `k`, a filter or a transcript file may be, checked up front.

The chat and the CLI pass user input straight to `TranscriptQA`, so every value is checked
here once, with a `QueryError` that names the value and says what was expected, instead of
failing deep inside retrieval (or quietly working on a 100 MB "question").
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qa.errors import QueryError, TranscriptError

MAX_QUESTION_CHARS = 2_000
"""A question to `ask()`: a long paragraph is fine, a pasted document is not."""
MAX_QUERY_CHARS = 50_000
"""A text to `search()`. Larger than a question because follow-ups search with the earlier
questions' topic added (at most `MAX_HISTORY` of them); the encoder reads 256 tokens anyway."""
MAX_K = 100
MAX_FILTER_CHARS = 300
"""A speaker name, document id or title filter."""
MAX_FILTER_VALUES = 100
"""How many speakers or documents one filter may list."""
MAX_HISTORY = 20
"""Chat exchanges a follow-up looks back on. Older ones are dropped: understanding a question
walks the history, so an unbounded chat would get slower with every turn."""
MODES = ("bm25", "dense", "hybrid")
MAX_FILE_MB = 50
"""The largest transcript file read (override with the TQA_MAX_FILE_MB environment variable).
The largest real transcripts we have are ~0.3 MB; 50 MB is about 8 million words."""
MAX_UPLOAD_FILES = 200
"""Files one upload (`TranscriptQA.add_files`, the chat's "Add transcripts") takes; the rest
are listed as not added (override with TQA_MAX_UPLOAD_FILES)."""
MAX_UPLOADS_MB = 512
"""All uploaded source files an index keeps (`<index>/uploads/`) together, so uploads cannot
fill the disk (override with TQA_MAX_UPLOADS_MB). Files read in place by `tqa index` do not
count: they are the user's own files, not copies."""


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise QueryError(f"{name} must be text, got {type(value).__name__}")
    if not value.strip():
        raise QueryError(f"the {name} is empty: ask something about the transcripts")
    if len(value) > limit:
        raise QueryError(
            f"the {name} is {len(value):,} characters long; the limit is {limit:,} "
            f"(ask about one thing at a time)"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QueryError(
            f"the {name} contains a character that is not valid Unicode text "
            f"(at position {exc.start})"
        ) from None
    return value


def check_question(question: object) -> str:
    """A question for `ask()`: non-empty text of at most `MAX_QUESTION_CHARS`."""
    return _text(question, "question", MAX_QUESTION_CHARS)


def check_query(query: object) -> str:
    """A search text for `search()`: non-empty text of at most `MAX_QUERY_CHARS`."""
    return _text(query, "query", MAX_QUERY_CHARS)


def check_k(k: object, limit: int = MAX_K) -> int:
    """`k` (how many results) as a whole number in 1..limit."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise QueryError(f"k={k!r}: expected a whole number from 1 to {limit}")
    if not 1 <= k <= limit:
        raise QueryError(f"k={k}: expected a whole number from 1 to {limit}")
    return k


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise QueryError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
    return str(mode)


def check_date(value: object, name: str) -> dt.date | None:
    """A date filter: a `date`, a `datetime` or an ISO string (YYYY-MM-DD); None or "" for none."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise QueryError(
            f"{name}={value!r}: expected a date or a YYYY-MM-DD string, got {type(value).__name__}"
        )
    text = value.strip()
    if len(text) > 40:
        raise QueryError(f"{name}={text[:40]!r}…: expected a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name}={value!r} is not a date: expected YYYY-MM-DD") from None


def check_dates(since: object, until: object) -> tuple[dt.date | None, dt.date | None]:
    """Both date filters, and that the range is not empty."""
    start, end = check_date(since, "since"), check_date(until, "until")
    if start and end and start > end:
        raise QueryError(f"since={start} is after until={end}: no date is in that range")
    return start, end


def check_names(value: object, name: str) -> list[str] | None:
    """A speaker or document filter: one string or a list of them, each of sane length."""
    if value is None:
        return None
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = list(value)
        if len(items) > MAX_FILTER_VALUES:
            raise QueryError(
                f"{name}: {len(items)} values; at most {MAX_FILTER_VALUES} can be given"
            )
    else:
        raise QueryError(f"{name}={value!r}: expected text or a list of texts")
    for item in items:
        if not isinstance(item, str):
            raise QueryError(f"{name}: {item!r} is not text")
        if len(item) > MAX_FILTER_CHARS:
            raise QueryError(
                f"{name}: a value of {len(item):,} characters; the limit is {MAX_FILTER_CHARS}"
            )
    return [str(i) for i in items]


def check_search(
    query: object,
    k: object,
    speaker: object = None,
    since: object = None,
    until: object = None,
    doc: object = None,
    title: object = None,
    mode: object = "hybrid",
) -> None:
    """Every argument of `TranscriptQA.search`, or a `QueryError` about the first bad one."""
    check_query(query)
    check_k(k)
    check_mode(mode)
    check_dates(since, until)
    check_names(speaker, "speaker")
    check_names(doc, "doc")
    if title is not None:
        if not isinstance(title, str):
            raise QueryError(f"title={title!r}: expected text")
        check_names(title, "title")


def check_ask(
    question: object,
    history: Sequence[Any] | None,
    k: object,
    speaker: object = None,
    since: object = None,
    until: object = None,
    doc: object = None,
) -> list[Any] | None:
    """Every argument of `TranscriptQA.ask`; returns the history to use (the last `MAX_HISTORY`)."""
    check_question(question)
    if k is not None:  # None: the answerer's default
        check_k(k)
    check_dates(since, until)
    for value, name in ((speaker, "speaker"), (doc, "doc")):
        if value is not None and not isinstance(value, str):
            raise QueryError(f"{name}={value!r}: expected text")
        check_names(value, name)
    if history is None:
        return None
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise QueryError("history must be a list of (question, Answer) pairs, oldest first")
    recent = list(history[-MAX_HISTORY:])
    for item in recent:
        pair = isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2
        if not (pair or isinstance(item, Mapping)):
            raise QueryError(
                f"history item {item!r:.60}: expected a (question, Answer) pair or a "
                "{'question': ..., 'answer': ...} dict"
            )
    return recent


def max_file_bytes() -> int:
    """The file size limit in bytes (TQA_MAX_FILE_MB overrides `MAX_FILE_MB`)."""
    raw = os.environ.get("TQA_MAX_FILE_MB", "").strip()
    try:
        mb = float(raw) if raw else MAX_FILE_MB
    except ValueError:
        mb = MAX_FILE_MB
    return int(mb * 1024 * 1024)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def max_upload_files() -> int:
    """How many files one upload takes (TQA_MAX_UPLOAD_FILES overrides `MAX_UPLOAD_FILES`)."""
    return int(_env_number("TQA_MAX_UPLOAD_FILES", MAX_UPLOAD_FILES))


def max_uploads_bytes() -> int:
    """All stored uploads of one index together (TQA_MAX_UPLOADS_MB overrides `MAX_UPLOADS_MB`)."""
    return int(_env_number("TQA_MAX_UPLOADS_MB", MAX_UPLOADS_MB) * 1024 * 1024)


def megabytes(size: int) -> str:
    """A limit in MB as a person writes it: '50', '0.5'."""
    return f"{size / 1024 / 1024:,.1f}".removesuffix(".0")


def check_file_size(path: str | Path, size: int, limit: int | None = None) -> None:
    """Refuse a transcript file over the limit (`max_file_bytes()` unless given) before reading
    it (a clear reason, no memory blow-up)."""
    limit = max_file_bytes() if limit is None else limit
    if size > limit:
        raise TranscriptError(
            path,
            f"file is {size / 1024 / 1024:,.1f} MB, over the {megabytes(limit)} MB limit "
            f"for one transcript (split it, or raise TQA_MAX_FILE_MB)",
        )
