"""`tqa serve` with memory probes, for finding where a soak test's memory goes.

Runs the `tqa` command line in this process (`python benchmarks/soak_server.py serve ...` is
`tqa serve ...`), and on SIGUSR1 writes one probe to `$TQA_PROBE_DIR/probe-N.json`:

- resident memory (anonymous / file-backed), glibc's `mallinfo2` (heap in use, free in arenas,
  mmapped), the number of threads;
- with `TQA_TRACEMALLOC=FRAMES`: the first probe starts tracemalloc (tracing from import on
  makes loading the model minutes slower), and every later one saves a snapshot next to it
  as `probe-N.tracemalloc`, holding only what was allocated since the first probe and is
  still alive: the growth (`compare` diffs two of them);
- Python objects by type (the 40 most numerous), Gradio's per-session state count, and how
  many distinct input shapes the exported encoder (OpenVINO, ONNX Runtime) has run.

`TQA_PROBE_WIDTH_STEP=N` pads the exported encoder's token width to a multiple of N instead of
`embeddings.backends.WIDTH_STEP` (an experiment: fewer distinct input shapes).

With `TQA_MALLOC_TRIM=1` a probe first calls glibc's `malloc_trim(0)` and records RSS before
and after: what trimming gives back is memory freed but held by the allocator, not a leak.

    python benchmarks/soak_server.py compare DIR/probe-1.tracemalloc DIR/probe-2.tracemalloc
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

FRAMES = int(os.environ.get("TQA_TRACEMALLOC", "0") or 0)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def mallinfo() -> dict[str, float] | None:
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _Mallinfo2
    m = libc.mallinfo2()
    mb = 1024 * 1024
    return {
        "arena_mb": round(m.arena / mb, 1),  # main + thread arenas, from brk/mmap
        "in_use_mb": round(m.uordblks / mb, 1),
        "free_in_arenas_mb": round(m.fordblks / mb, 1),
        "mmapped_mb": round(m.hblkhd / mb, 1),
    }


def status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "Threads"):
            out[key] = int(value.split()[0])
    return out


def anonymous_mappings() -> dict[str, Any]:
    """Anonymous memory by mapping size (/proc/self/smaps): malloc's mmapped blocks, its
    arenas (64 MiB heaps), thread stacks, and other libraries' own pools tell apart by size."""
    buckets: dict[str, list[float]] = {}
    size_kb = 0
    name = ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            size_kb, name = (hi - lo) // 1024, (head[5] if len(head) > 5 else "")
        elif head[0] == "Rss:" and (not name or name == "[heap]"):
            rss = int(head[1])
            if rss:
                key = "[heap]" if name else _bucket(size_kb)
                count_rss = buckets.setdefault(key, [0, 0.0])
                count_rss[0] += 1
                count_rss[1] += rss / 1024
    return {k: [int(v[0]), round(v[1], 1)] for k, v in sorted(buckets.items())}


def _bucket(size_kb: int) -> str:
    for limit in (132, 260, 516, 1028, 2052, 4100, 8196, 16388, 32772, 65540):
        if size_kb <= limit:
            return f"<={limit // 4 * 4} KiB"
    return ">64 MiB"


def gradio_sessions() -> list[dict[str, int]]:
    """Sessions held by each of Gradio's state holders (the app's, and any module default)."""
    from gradio.state_holder import StateHolder

    return [
        {"sessions": len(obj.session_data), "capacity": obj.capacity}
        for obj in gc.get_objects()
        if isinstance(obj, StateHolder)
    ]


def _describe(obj: Any) -> str:
    name = type(obj).__qualname__
    if isinstance(obj, dict):
        keys = [str(k)[:30] for k in list(obj)[:4]]
        return f"dict({len(obj)}: {', '.join(keys)})"
    if type(obj).__name__ == "frame":
        return (
            f"frame {obj.f_code.co_filename.rsplit('/', 2)[-1]}:{obj.f_lineno} {obj.f_code.co_name}"
        )
    if type(obj).__name__ == "cell":
        return "cell"
    return name


def live_snapshots(depth: int = 4) -> dict[str, Any]:
    """How many index snapshots and retrievers are alive (one of each is current), and for the
    others what holds them: chains of referrers, `depth` steps up."""
    from embeddings.store import Snapshot
    from qa.retrieval import Retriever

    objects = gc.get_objects()
    snaps = [o for o in objects if isinstance(o, Snapshot)]
    retrievers = [o for o in objects if isinstance(o, Retriever)]
    del objects
    current = {id(r.snapshot) for r in retrievers}
    chains = []
    for snap in snaps[:6]:
        chain, obj = [], snap
        for _ in range(depth):
            refs = [r for r in gc.get_referrers(obj) if r is not snaps and r is not chain]
            if not refs:
                break
            chain.append(" | ".join(sorted({_describe(r) for r in refs})[:4]))
            obj = refs[0]
        chains.append(chain)
        del refs
    return {
        "snapshots": len(snaps),
        "retrievers": len(retrievers),
        "generations": [getattr(s, "generation", None) for s in snaps],
        "current_ids": len(current),
        "referrers": chains,
    }


_count = 0
_lock = threading.Lock()
_shapes: dict[tuple[int, ...], float] = {}  # encoder input shape -> when first run


def record_shapes() -> None:
    """Note every input shape the exported encoder runs (OpenVINO and ONNX Runtime keep memory
    per shape), by wrapping the runner's session as it is made."""
    from embeddings import backends

    init = backends.ExportedRunner.__init__

    def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        session = self.session

        def run(feed: dict[str, Any]) -> Any:
            _shapes.setdefault(tuple(feed["input_ids"].shape), time.time())
            return session(feed)

        self.session = run

    backends.ExportedRunner.__init__ = wrapped_init  # type: ignore[method-assign]


def probe(*_: Any) -> None:
    threading.Thread(target=_probe, daemon=True).start()  # not inside the signal handler


def _probe() -> None:
    global _count
    with _lock:
        _count += 1
        n = _count
        folder = Path(os.environ.get("TQA_PROBE_DIR", "."))
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        gc.collect()
        record: dict[str, Any] = {"n": n, "time": time.time(), "status_kb": status()}
        record["mallinfo"] = mallinfo()
        if os.environ.get("TQA_MALLOC_TRIM"):
            libc = _libc()
            before = status()["VmRSS"]
            libc.malloc_trim(0)
            record["malloc_trim_kb"] = {"before": before, "after": status()["VmRSS"]}
            record["mallinfo_after_trim"] = mallinfo()
        if FRAMES and not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
        elif tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            record["tracemalloc_mb"] = {"current": round(current / 2**20, 1), "peak": peak / 2**20}
            tracemalloc.take_snapshot().dump(str(folder / f"probe-{n}.tracemalloc"))
        types = Counter(type(o).__qualname__ for o in gc.get_objects())
        record["objects"] = dict(types.most_common(40))
        record["gradio"] = gradio_sessions()
        record["anonymous_mappings"] = anonymous_mappings()
        record["snapshots"] = live_snapshots()
        record["encoder_shapes"] = len(_shapes)
        record["encoder_shapes_new_in_last_60s"] = sum(
            t > time.time() - 60 for t in list(_shapes.values())
        )
        record["threads"] = sorted(
            Counter(t.name.split("-")[0] for t in threading.enumerate()).items()
        )
        record["probe_s"] = round(time.perf_counter() - started, 2)
        (folder / f"probe-{n}.json").write_text(json.dumps(record, indent=1) + "\n")


def compare(a: str, b: str, top: int = 25) -> None:
    first, second = tracemalloc.Snapshot.load(a), tracemalloc.Snapshot.load(b)
    skip = [tracemalloc.Filter(False, tracemalloc.__file__)]
    first, second = first.filter_traces(skip), second.filter_traces(skip)
    for key in ("lineno", "traceback"):
        print(f"== growth by {key}")
        for stat in second.compare_to(first, key)[: top if key == "lineno" else 8]:
            print(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks  {stat}")
            if key == "traceback":
                for line in stat.traceback.format()[-30:]:
                    print("      " + line)


def main() -> None:
    if sys.argv[1:2] == ["compare"]:
        compare(sys.argv[2], sys.argv[3])
        return
    signal.signal(signal.SIGUSR1, probe)
    record_shapes()
    step = os.environ.get("TQA_PROBE_WIDTH_STEP")
    if step:  # an experiment: coarser token widths, so fewer input shapes (embeddings/backends)
        from embeddings import backends

        backends.WIDTH_STEP = int(step)
    from qa.cli import main as tqa

    sys.argv = ["tqa", *sys.argv[1:]]
    tqa()


if __name__ == "__main__":
    main()
