"""Where the index lives when no one says: the one place every command agrees on.

`tqa index`, `tqa ask`, `tqa search`, `tqa info`, `tqa eval` and `tqa serve` (so `make run`)
all read and write the index given by `--index`, else `$TQA_INDEX`, else `.tqa-index` in the
current folder. `tqa serve --corpus X` builds or updates that same index from X, so `tqa info`
run where `make run` ran finds the chat's index.

An index location is a folder (a `Path`) or a `postgresql://…` URI (kept as the string it is:
a `Path` would fold its `//`), which selects the PostgreSQL store (`qa.stores`).
"""

from __future__ import annotations

import os
from pathlib import Path

from qa.stores import is_postgres, location_repr

DEFAULT_INDEX = ".tqa-index"
INDEX_ENV = "TQA_INDEX"

Location = Path | str
"""A folder (`Path`) or a `postgresql://` URI (`str`)."""


def as_location(given: str | os.PathLike[str]) -> Location:
    """A URI as a stripped string, anything else as a `Path`."""
    if isinstance(given, str) and is_postgres(given):
        return given.strip()
    return Path(given)


def default_index_dir() -> Location:
    """`$TQA_INDEX` if set (and not empty), else `.tqa-index` in the current folder."""
    return as_location(os.environ.get(INDEX_ENV, "").strip() or DEFAULT_INDEX)


def index_dir(given: str | os.PathLike[str] | None = None) -> Location:
    """The index to use: `given` when there is one, else `default_index_dir()`."""
    return as_location(given) if given not in (None, "") else default_index_dir()  # type: ignore[arg-type]


def describe(location: str | os.PathLike[str]) -> str:
    """The location for messages and JSON: a folder as given, a URI without its password."""
    return location_repr(location)


def exists(location: Location) -> bool:
    """Whether there is something to open: the folder exists, or the database schema holds
    an index (this connects; an unreachable server or a missing driver raises one line)."""
    if isinstance(location, str) and is_postgres(location):
        from qa.stores import postgres_index_exists

        return postgres_index_exists(location)
    return Path(location).exists()
