"""Keep a long-running server's memory from creeping up: glibc's allocator, set once at start.

Every upload or removal builds a whole new index snapshot (vectors, sentence table, BM25) on
one of Gradio's worker threads and frees the old one; every question allocates score arrays
over all passages. Those are large blocks (hundreds of KB). glibc serves a block above its
mmap threshold (128 KiB at start) with its own mmap and gives it back on free, but after the
first such free it raises the threshold to that block's size (up to 32 MiB), so from then on
these blocks are cut from the threads' malloc arenas. Freed there, they leave holes in the
middle of an arena that `free` cannot return to the system: resident memory grew while the
bytes actually in use stayed flat (`benchmarks/memory_churn.py`; README, soak test).

`tune_allocator()` fixes the threshold at 128 KiB (`mallopt(M_MMAP_THRESHOLD)`, which also
turns the dynamic adjustment off), so large blocks stay mmapped and go back to the system when
freed. It is a no-op where the C library is not glibc, and when `MALLOC_MMAP_THRESHOLD_` is set
in the environment (glibc has then applied the user's own value).

The small objects of a snapshot (passages, BM25 postings, dicts) still come from the arenas,
and an index swap frees a whole snapshot of them at once: `trim()` (`malloc_trim(0)`) hands the
free pages inside the arenas back, and the upload panel's writer calls it after every change
(`ui.uploads.Writer`), a few milliseconds each.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, now kept


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC: ctypes.CDLL | None = None


def trim() -> bool:
    """Give free pages inside malloc's arenas back to the system (glibc only)."""
    global _LIBC
    if _LIBC is None:
        _LIBC = _glibc()
    if _LIBC is None or not hasattr(_LIBC, "malloc_trim"):
        return False
    _LIBC.malloc_trim(0)
    return True


def tune_allocator(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes; True when it was set here."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold)))
    if not ok:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) failed; memory may grow over time", threshold)
    return ok
