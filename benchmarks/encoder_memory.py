"""What the exported encoder keeps in memory, per input shape and per thread.

Three measurements of resident memory (with `tqa serve`'s allocator setting, `ui.memory`):

1. `shapes`: a batch of 32 passages at each of several widths, each on a thread that then
   ends: what stays after the thread is gone is kept by the compiled model, per shape.
2. `repeat`: the same shapes again, on the main thread: a shape already run costs nothing more.
3. `threads`: one batch shape on 1..N threads that stay alive: what each thread's own infer
   request holds, and what comes back when they end;
4. `random`: `--random N` batches of random sizes (1-32 texts) and widths (5-256 tokens), as a
   server embeds questions and uploads: resident memory every N/6 batches. A runtime that
   keeps something per input shape grows here until every shape it can see has been seen.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/encoder_memory.py --backend openvino-bf16
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from soak_server import mallinfo, status  # noqa: E402


def rss() -> float:
    return round(status()["VmRSS"] / 1024, 1)


def text(tokens: int) -> str:
    return "harbour " * max(1, tokens - 2)  # one token a word with this tokenizer, plus two


def on_thread(fn: Any, hold: threading.Event | None = None) -> threading.Thread:
    done = threading.Event()

    def run() -> None:
        fn()
        done.set()
        if hold is not None:
            hold.wait()

    t = threading.Thread(target=run)
    t.start()
    done.wait()
    if hold is None:
        t.join()
    return t


def random_shapes(enc: Any, batches: int, seed: int) -> list[tuple[int, float]]:
    """(batches run, resident MB) every batches/6 random-shape batches."""
    rng = random.Random(seed)
    out: list[tuple[int, float]] = [(0, rss())]
    every = max(1, batches // 6)
    for i in range(1, batches + 1):
        rows = rng.choice((1, 1, 1, 2, 3, 5, 8, 13, 21, 32))
        enc.encode([text(rng.randint(5, 256)) for _ in range(rows)])
        if i % every == 0:
            out.append((i, rss()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="openvino-bf16")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--widths", default="144,176,208,240")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--random", type=int, default=900, help="random-shape batches (0: none)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--onnx-mem-pattern",
        action="store_true",
        help="ONNX Runtime's per-shape memory patterns on, as before (embeddings.backends)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from ui.memory import tune_allocator

    tune_allocator()
    from embeddings import backends
    from embeddings.encoder import Encoder

    backends.ORT_MEM_PATTERN = args.onnx_mem_pattern

    enc = Encoder(None, backend=args.backend)
    enc.encode(["warm up"])
    widths = [int(w) for w in args.widths.split(",")]
    report: dict[str, Any] = {
        "backend": enc.backend,
        "onnx_mem_pattern": args.onnx_mem_pattern,
        "rows": args.rows,
        "start_mb": rss(),
    }
    shapes = []
    for width in widths:
        before = rss()
        on_thread(lambda w=width: enc.encode([text(w)] * args.rows))
        shapes.append({"width": width, "kept_after_thread_ended_mb": round(rss() - before, 1)})
    report["shapes"] = shapes
    before = rss()
    for width in widths:
        enc.encode([text(width)] * args.rows)
    report["repeat_same_shapes_mb"] = round(rss() - before, 1)
    hold = threading.Event()
    threads, alive = [], []
    for _ in range(args.threads):
        before = rss()
        t = on_thread(lambda: enc.encode([text(widths[-1])] * args.rows), hold)
        threads.append(t)
        alive.append(round(rss() - before, 1))
    report["each_thread_alive_mb"] = alive
    before = rss()
    hold.set()
    for t in threads:
        t.join()
    report["freed_when_they_ended_mb"] = round(before - rss(), 1)
    report["random_shapes_mb"] = random_shapes(enc, args.random, args.seed)
    report["end_mb"] = rss()
    report["mallinfo_end"] = mallinfo()
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
