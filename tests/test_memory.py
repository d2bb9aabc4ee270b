"""`ui.memory.tune_allocator`: large blocks stay mmapped after the first one is freed.

glibc raises its mmap threshold to the size of the first mmapped block a program frees, so a
second block of that size comes out of a malloc arena (where freeing it later can leave a hole
that stays resident). Each case runs in a fresh interpreter: the setting is process-wide.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

CHILD = r"""
import ctypes, json, sys
sys.path.insert(0, sys.argv[1])
from ui.memory import tune_allocator

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
tuned = tune_allocator() if sys.argv[2] == "tune" else False
size = 600 * 1024  # the size of an index's sentence-vector table after a few uploads
mapped = []
for _ in range(3):
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    mapped.append(libc.mallinfo2().hblkhd - before >= size)
    libc.free(block)
print(json.dumps({"tuned": tuned, "mapped": mapped}))
"""


def run_child(mode: str, **env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), mode],
        capture_output=True,
        text=True,
        check=True,
        env={**environ, **env},
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_untuned_glibc_moves_large_blocks_into_the_arena() -> None:
    # The behaviour the fix is for: the first block is mmapped, the next ones are not.
    assert run_child("plain") == {"tuned": False, "mapped": [True, False, False]}


def test_tuned_allocator_keeps_large_blocks_mmapped() -> None:
    assert run_child("tune") == {"tuned": True, "mapped": [True, True, True]}


def test_a_threshold_from_the_environment_is_left_alone() -> None:
    # glibc applied the user's own MALLOC_MMAP_THRESHOLD_ (here 1 MiB: the block is not mmapped)
    result = run_child("tune", MALLOC_MMAP_THRESHOLD_=str(1024 * 1024))
    assert result == {"tuned": False, "mapped": [False, False, False]}


TRIM_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ui.memory import trim

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

base = rss_mb()
blocks = [bytes(2000) for _ in range(100_000)]  # ~200 MB of malloc'd blocks (over pymalloc's 512 B)
kept = blocks[::64]  # one in 64 stays: the pages between are free, but not at the heap's top
del blocks
held = rss_mb()
trimmed = trim()
after = rss_mb()
print(json.dumps({"trimmed": trimmed, "held": held - base, "after": after - base}))
"""


def test_trim_hands_back_free_pages_between_live_blocks() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", TRIM_CHILD, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
        timeout=60,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["trimmed"] is True
    assert result["held"] > 150  # freed, but still resident: free() alone cannot return it
    assert result["after"] < result["held"] / 3
