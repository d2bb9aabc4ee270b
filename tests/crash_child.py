"""A child process for crash-safety tests: index, and SIGKILL itself at a chosen point.

    python tests/crash_child.py build|update CORPUS INDEX KILL_AT

Every file-system step (opening a file for writing, fsync, rename/replace, mkdir, unlink,
rmdir, rmtree) is counted; at step KILL_AT the process sends itself SIGKILL, so that step and
everything after it never happens, exactly as if the power went out there. KILL_AT 0 runs to
the end and prints ``steps N`` (the dry run that tells the parent which points exist).
Used by tests/test_crash_safety.py and benchmarks/kill_test.py.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
import signal
import sys
from collections.abc import Callable
from typing import Any

_steps = 0


def _counted(fn: Callable[..., Any], kill_at: int, writes_only: bool = False) -> Callable[..., Any]:
    def step(*args: Any, **kwargs: Any) -> Any:
        global _steps
        if writes_only:
            mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
            if not any(c in str(mode) for c in "wax+"):
                return fn(*args, **kwargs)
        _steps += 1
        if kill_at and _steps >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)

    return step


def install(kill_at: int) -> None:
    """Count (and at `kill_at`, die at) every file-system step from now on."""
    builtins.open = io.open = _counted(builtins.open, kill_at, writes_only=True)  # type: ignore[assignment]
    for name in ("replace", "rename", "fsync", "mkdir", "unlink", "rmdir"):
        setattr(os, name, _counted(getattr(os, name), kill_at))
    shutil.rmtree = _counted(shutil.rmtree, kill_at)  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    mode, corpus, index, kill_at = argv[0], argv[1], argv[2], int(argv[3])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from qa.service import TranscriptQA

    if mode == "build":
        install(kill_at)
        TranscriptQA.build(corpus, index, show_progress=False)
    elif mode == "update":
        qa = TranscriptQA.open(index)
        install(kill_at)
        qa.update(corpus, show_progress=False)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected build or update")
    print(f"steps {_steps}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
