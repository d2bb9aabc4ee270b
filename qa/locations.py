"""Where the index lives when no one says: the one place every command agrees on.

`tqa index`, `tqa ask`, `tqa search`, `tqa info`, `tqa eval` and `tqa serve` (so `make run`)
all read and write the index folder given by `--index`, else `$TQA_INDEX`, else `.tqa-index`
in the current folder. `tqa serve --corpus X` builds or updates that same folder from X, so
`tqa info` run where `make run` ran finds the chat's index.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_INDEX = ".tqa-index"
INDEX_ENV = "TQA_INDEX"


def default_index_dir() -> Path:
    """`$TQA_INDEX` if set (and not empty), else `.tqa-index` in the current folder."""
    return Path(os.environ.get(INDEX_ENV, "").strip() or DEFAULT_INDEX)


def index_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The index folder to use: `given` when there is one, else `default_index_dir()`."""
    return Path(given) if given not in (None, "") else default_index_dir()
