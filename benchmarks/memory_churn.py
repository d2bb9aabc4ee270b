"""The soak test's index churn without the server: where does a long-running process's memory go?

Builds an index of a copy of `corpus/` in a temporary folder, then for `--seconds` has a pool
of `--threads` worker threads (as Gradio runs handlers on AnyIO's thread pool) run a mix of
`add_files` (1-3 generated transcripts from `benchmarks/soak.py`), `remove` (each upload is
removed again, so the index stays small), `ask` and `search` through one `TranscriptQA`.
Every `--sample-every` seconds it records resident memory, glibc's `mallinfo2` (bytes in use
and free inside malloc's arenas) and the number of threads; at the end, with `--trim`, what
`malloc_trim(0)` gives back.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_churn.py --seconds 180
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_churn.py --seconds 180 --tune
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from soak import FORMATS, QUESTIONS, SEARCHES, good_file, marker  # noqa: E402
from soak_server import _libc, mallinfo, status  # noqa: E402


def sample(t0: float, done: int) -> dict[str, Any]:
    s = status()
    return {
        "t_s": round(time.monotonic() - t0, 1),
        "rss_mb": round(s["VmRSS"] / 1024, 1),
        "anon_mb": round(s["RssAnon"] / 1024, 1),
        "threads": s["Threads"],
        "ops": done,
        **(mallinfo() or {}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--threads", type=int, default=8, help="worker threads in the pool")
    parser.add_argument("--warmup", type=float, default=30)
    parser.add_argument("--sample-every", type=float, default=10)
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) at the end")
    parser.add_argument(
        "--trim-each", action="store_true", help="malloc_trim(0) after every add and remove"
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="ui.memory.tune_allocator() first, as `tqa serve` does",
    )
    parser.add_argument(
        "--writer",
        action="store_true",
        help="run each add and remove on a new thread that ends with it (ui.uploads.Writer)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from qa.service import TranscriptQA

    tuned = False
    if args.tune:
        from ui.memory import tune_allocator

        tuned = tune_allocator()

    work = Path(tempfile.mkdtemp(prefix="tqa-churn-"))
    shutil.copytree(ROOT / "corpus", work / "corpus")
    qa = TranscriptQA.build(work / "corpus", work / "index", show_progress=False)
    qa.warm_up()
    rng = random.Random(args.seed)
    lock = threading.Lock()
    mine: list[str] = []
    done = 0
    # --writer: each change on a thread of its own that ends with it, as the chat runs them.
    writer = None
    if args.writer:
        from ui.uploads import Writer

        writer = Writer()
    upload_dir = work / "incoming"
    upload_dir.mkdir()

    def add() -> None:
        files = []
        for _ in range(rng.randint(1, 3)):
            fmt = rng.choice(FORMATS)
            path = upload_dir / f"{rng.randrange(10**9)}.{fmt}"
            path.write_bytes(good_file(fmt, f"Churn {rng.randrange(99)}", marker(rng), rng))
            files.append((path, f"churn-{rng.randrange(12)}.{fmt}"))
        result = writer.run(qa.add_files, files) if writer else qa.add_files(files)
        for path, _ in files:
            path.unlink()
        with lock:
            mine.extend(result.added)
        if args.trim_each:
            _libc().malloc_trim(0)

    def remove() -> None:
        with lock:
            doc = mine.pop(0) if mine else None
        if doc:
            writer.run(qa.remove, doc) if writer else qa.remove(doc)
            if args.trim_each:
                _libc().malloc_trim(0)

    def op() -> None:
        nonlocal done
        roll = rng.random()
        if roll < 0.15:
            add()
        elif roll < 0.30 or len(mine) > 12:
            remove()
        elif roll < 0.70:
            qa.ask(rng.choice(QUESTIONS))
        else:
            qa.search(rng.choice(SEARCHES), k=10)
        with lock:
            done += 1

    t0 = time.monotonic()
    samples = [sample(t0, 0)]
    next_sample = args.sample_every
    with ThreadPoolExecutor(args.threads) as pool:
        pending: list[Any] = []
        while time.monotonic() - t0 < args.seconds:
            pending = [f for f in pending if not f.done()]
            while len(pending) < args.threads:
                pending.append(pool.submit(op))
            for f in [f for f in pending if f.done()]:
                f.result()
            if time.monotonic() - t0 >= next_sample:
                samples.append(sample(t0, done))
                s = samples[-1]
                print(
                    f"{s['t_s']:6.0f}s rss {s['rss_mb']:7.1f} MB  in use {s.get('in_use_mb')} "
                    f"free in arenas {s.get('free_in_arenas_mb')} arena {s.get('arena_mb')} "
                    f"threads {s['threads']} ops {done}",
                    flush=True,
                )
                next_sample += args.sample_every
            time.sleep(0.01)
        for f in pending:
            f.result()
    samples.append(sample(t0, done))
    report: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "env": {k: os.environ[k] for k in os.environ if k.startswith(("MALLOC_", "TQA_"))},
        "tuned_allocator": tuned,
        "threads": args.threads,
        "ops": done,
        "samples": samples,
    }
    after = [s for s in samples if s["t_s"] >= args.warmup]
    if after:
        report["rss_after_warmup_mb"], report["rss_end_mb"] = (
            after[0]["rss_mb"],
            after[-1]["rss_mb"],
        )
        report["in_use_after_warmup_mb"] = after[0].get("in_use_mb")
        report["in_use_end_mb"] = after[-1].get("in_use_mb")
    if args.trim:
        before = status()["VmRSS"]
        _libc().malloc_trim(0)
        report["malloc_trim_mb"] = [round(before / 1024, 1), round(status()["VmRSS"] / 1024, 1)]
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
