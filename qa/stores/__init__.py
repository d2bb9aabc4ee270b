"""Where an index can live besides a folder (issue 14).

A location that is a `postgresql://` (or `postgres://`) URI selects the PostgreSQL + pgvector
store in `qa.stores.postgres`; anything else is a folder (`embeddings.store`). This module
imports nothing heavy, so the folder path never loads a database driver.
"""

from __future__ import annotations

import os
from typing import Any

from qa.errors import IndexLoadError

SCHEMES = ("postgresql://", "postgres://")
INSTALL_HINT = "pip install 'transcript-qa[postgres]'"


def is_postgres(location: Any) -> bool:
    """True for a `postgresql://…` URI (a str; a Path can never be one: it folds the //)."""
    return isinstance(location, str) and location.strip().lower().startswith(SCHEMES)


def require_postgres() -> None:
    """Fail in one line naming the extra when psycopg (3) or pgvector is not installed."""
    try:
        import pgvector.psycopg  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "psycopg"
        raise IndexLoadError(
            f"A postgresql:// index needs the PostgreSQL extra ({missing} is not installed): "
            f"{INSTALL_HINT}"
        ) from None


def postgres_class() -> Any:
    """`qa.stores.postgres.PostgresQA`, after checking the extra is installed."""
    require_postgres()
    from qa.stores.postgres import PostgresQA

    return PostgresQA


def location_repr(location: str | os.PathLike[str]) -> str:
    """A location for messages: a URI without its password."""
    text = str(location)
    if not is_postgres(text):
        return text
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(text)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def postgres_index_exists(uri: str) -> bool:
    """Whether the schema of `uri` holds an index (a manifest table). Connects; fails in one
    line when the extra is missing or the server cannot be reached."""
    require_postgres()
    from qa.stores.postgres import index_exists

    return index_exists(uri)
