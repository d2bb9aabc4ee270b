"""An indexer that SIGKILLs itself at a chosen database step of an update (PostgreSQL store).

    python tests/pg_crash_child.py URI CORPUS KILL_AT [DELAY_MS]

Every database step is counted: each statement a cursor executes, each row a `COPY` writes,
and the end of each transaction block (where the COMMIT is sent). At step KILL_AT the process
sends itself SIGKILL before that step happens; with DELAY_MS it lets the step start and dies
DELAY_MS later from a timer thread (at the COMMIT step: while the server commits, before or
after the answer arrives). KILL_AT 0 runs to the end and prints the JSON
``{"steps": N, "commit": C}``, C being the step of the COMMIT that ends the write.
Used by tests/test_postgres_crash.py (which forks `run` directly, so a kill costs no imports).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(kill_at: int, delay_ms: float = 0.0) -> dict[str, int]:
    """Count (and at `kill_at`, die at) every database step from now on; returns the live
    counters ("steps", and "commit": the step that committed a manifest write)."""
    import psycopg

    seen = {"steps": 0, "commit": 0, "wrote": 0}

    def step() -> None:
        seen["steps"] += 1
        if kill_at and seen["steps"] == kill_at:
            if delay_ms <= 0:
                _die()
            threading.Timer(delay_ms / 1000, _die).start()

    execute, write_row = psycopg.Cursor.execute, psycopg.Copy.write_row
    exit_ = psycopg.Transaction.__exit__

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        step()
        text = query.as_string(self) if hasattr(query, "as_string") else str(query)
        if text.lstrip().upper().startswith("INSERT INTO") and ".manifest" in text:
            seen["wrote"] = 1
        return execute(self, query, *args, **kwargs)

    def counted_write_row(self: Any, row: Any) -> Any:
        step()
        return write_row(self, row)

    def counted_exit(self: Any, *exc: Any) -> Any:
        step()
        if seen["wrote"] == 1:
            seen["commit"], seen["wrote"] = seen["steps"], 2
        return exit_(self, *exc)

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]
    psycopg.Copy.write_row = counted_write_row  # type: ignore[method-assign]
    psycopg.Transaction.__exit__ = counted_exit  # type: ignore[method-assign]
    return seen


def run(uri: str, corpus: str, kill_at: int, delay_ms: float = 0.0) -> dict[str, int]:
    """Open the index at `uri` and update it from `corpus`, dying at step `kill_at`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from qa.service import TranscriptQA

    qa = TranscriptQA.open(uri)
    seen = install(kill_at, delay_ms)
    qa.update(corpus, show_progress=False)
    return {"steps": seen["steps"], "commit": seen["commit"]}


def main(argv: list[str]) -> int:
    delay = float(argv[3]) if len(argv) > 3 else 0.0
    print(json.dumps(run(argv[0], argv[1], int(argv[2]), delay)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
