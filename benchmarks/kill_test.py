"""Crash safety, the heavy variant: SIGKILL the indexer many times, then open what is left.

Two kinds of kill, each checked the same way: the index folder must open and be exactly the
previous complete state or the new one (same documents, passages, BM25 and dense results),
and re-running the command must finish. Anything else counts as a failure.

1. injected: `tests/crash_child.py` dies at file-system step N (open-for-write, fsync, rename,
   mkdir, unlink, rmtree…) for EVERY N of a rebuild and of an update (changes that need no
   new embeddings, so every step is the writing of the index);
2. timed: the parent SIGKILLs a real `tqa index` process at a random moment of a first build
   and of an update that embeds new and changed documents (parsing, embedding, writing).

Run by hand (the two parts can run side by side; results are merged):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/kill_test.py --timed 0
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/kill_test.py --skip-injected --timed 8

Writes the "kill_test" section of benchmarks/results/reliability.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.errors import IndexLoadError  # noqa: E402
from qa.service import TranscriptQA  # noqa: E402

# TQA_RESULTS: write elsewhere, e.g. back into the checkout when running from a frozen copy
# (`git archive HEAD | tar -x -C /tmp/frozen`), so code edits during a long run cannot mix in.
RESULTS = Path(os.environ.get("TQA_RESULTS", ROOT / "benchmarks" / "results" / "reliability.json"))
CHILD = ROOT / "tests" / "crash_child.py"
QUERIES = ["harbour wall concrete", "free school lunches", "vaccine supply", "strike mediation"]
NO_INDEX = "no index"


def signature(index: Path) -> object:
    """What a user can observe; NO_INDEX when there is no index yet (the state before a first build)."""
    try:
        qa = TranscriptQA.open(index)
    except IndexLoadError as exc:
        if "does not exist" in str(exc) or "not a transcript-qa index" in str(exc):
            return NO_INDEX
        raise
    docs = tuple(sorted(d.doc_id for d in qa.documents()))
    passages = tuple((p.doc_id, p.start, p.end) for p in qa.snapshot.passages)
    for p in qa.snapshot.passages:
        if qa.transcript(p.doc_id).text[p.start : p.end] != p.text:
            raise AssertionError(f"passage not verbatim: {p.doc_id} {p.start}:{p.end}")
    results = tuple(
        tuple((h.passage.doc_id, h.passage.start) for h in qa.search(q, k=3, mode=mode))
        for q in QUERIES
        for mode in ("bm25", "dense")
    )
    return docs, passages, results


class Workdir:
    """A corpus + index in a fixed folder (sources are absolute paths), restorable from a copy."""

    def __init__(self, root: Path) -> None:
        self.work, self.pristine = root / "work", root / "pristine"

    def save(self) -> None:
        shutil.rmtree(self.pristine, ignore_errors=True)
        shutil.copytree(self.work, self.pristine)

    def restore(self) -> tuple[Path, Path]:
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.copytree(self.pristine, self.work)
        return self.work / "corpus", self.work / "index"


def check(
    outcomes: Counter, failures: list, label: str, index: Path, old: object, new: object
) -> None:
    try:
        state = signature(index)
    except Exception as exc:  # noqa: BLE001 - a damaged index is exactly what we look for
        failures.append(f"{label}: {type(exc).__name__}: {exc}")
        outcomes["failed"] += 1
        return
    if state == old:
        outcomes["old"] += 1
    elif state == new:
        outcomes["new"] += 1
    else:
        failures.append(f"{label}: neither the old nor the new state")
        outcomes["failed"] += 1


def injected(root: Path, mode: str, stride: int = 1, first: int = 1) -> dict:
    """Kill at every file-system step of a rebuild or an update that needs no embedding."""
    wd = Workdir(root / f"injected-{mode}")
    shutil.copytree(ROOT / "tests" / "fixtures" / "retrieval", wd.work / "corpus")
    TranscriptQA.build(wd.work / "corpus", wd.work / "index", show_progress=False)
    wd.save()

    def change(corpus: Path) -> None:
        if mode == "build":
            (corpus / "school.txt").unlink()
            shutil.copy(corpus / "harbour.txt", corpus / "harbour-renamed.txt")
        else:
            (corpus / "press.txt").unlink()
            shutil.copy(corpus / "school.txt", corpus / "school-again.txt")

    def child(corpus: Path, index: Path, kill_at: int) -> subprocess.CompletedProcess:
        args = [sys.executable, str(CHILD), mode, str(corpus), str(index), str(kill_at)]
        return subprocess.run(args, capture_output=True, text=True, timeout=600)

    corpus, index = wd.restore()
    old = signature(index)
    change(corpus)
    dry = child(corpus, index, 0)
    if dry.returncode != 0:
        raise SystemExit(dry.stderr)
    steps = int(dry.stdout.split()[-1])
    new = signature(index)
    outcomes: Counter = Counter()
    failures: list[str] = []
    points = range(first, steps + 1, stride)
    for kill_at in points:
        corpus, index = wd.restore()
        change(corpus)
        proc = child(corpus, index, kill_at)
        if proc.returncode != -signal.SIGKILL:
            failures.append(f"step {kill_at}: child exited {proc.returncode}, not killed")
            continue
        check(outcomes, failures, f"{mode} step {kill_at}", index, old, new)
        # Re-running recovers.
        if mode == "build":
            TranscriptQA.build(corpus, index, show_progress=False)
        else:
            TranscriptQA.open(index).update(corpus, show_progress=False)
        if signature(index) != new:
            failures.append(f"{mode} step {kill_at}: re-running did not reach the new state")
        print(f"  injected {mode}: step {kill_at}/{steps} {dict(outcomes)}", flush=True)
    return {
        "steps": steps,
        "stride": stride,
        "first_step": first,
        "kills": len(points),
        **dict(outcomes),
        "failures": failures,
    }


def timed(root: Path, mode: str, kills: int, rng: random.Random) -> dict:
    """SIGKILL a real `tqa index` at a random moment of a first build or an embedding update."""
    wd = Workdir(root / f"timed-{mode}")
    files = sorted(p for p in (ROOT / "corpus").iterdir() if p.suffix != ".md")
    (wd.work / "corpus").mkdir(parents=True)
    first, later = files[:6], files[6:]
    for f in first:
        shutil.copy(f, wd.work / "corpus" / f.name)
    if mode == "update":
        TranscriptQA.build(wd.work / "corpus", wd.work / "index", show_progress=False)
    wd.save()

    def change(corpus: Path) -> None:
        if mode == "update":
            for f in later:  # new documents to embed
                shutil.copy(f, corpus / f.name)
            (corpus / first[0].name).unlink()  # one removed
            changed = corpus / first[1].name  # one changed
            changed.write_text(
                changed.read_text(encoding="utf-8").replace(" the ", " this "), encoding="utf-8"
            )

    def start(corpus: Path, index: Path) -> subprocess.Popen:
        args = [
            sys.executable,
            "-m",
            "qa.cli",
            "--quiet",
            "index",
            str(corpus),
            "--index",
            str(index),
        ]
        return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    corpus, index = wd.restore()
    old = signature(index)
    change(corpus)
    began = time.perf_counter()
    proc = start(corpus, index)
    _, err = proc.communicate(timeout=1800)
    duration = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(err.decode())
    new = signature(index)
    outcomes: Counter = Counter()
    failures: list[str] = []
    finished = 0
    delays = []
    for n in range(kills):
        corpus, index = wd.restore()
        change(corpus)
        delay = rng.uniform(0.2, duration)
        delays.append(round(delay, 2))
        proc = start(corpus, index)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            finished += 1  # it completed before the kill: still checked below
        check(outcomes, failures, f"{mode} kill {n} at {delay:.2f}s", index, old, new)
        print(
            f"  timed {mode}: kill {n + 1}/{kills} at {delay:.1f}s of {duration:.1f}s {dict(outcomes)}",
            flush=True,
        )
    return {
        "dry_run_seconds": round(duration, 1),
        "kills": kills,
        "finished_before_kill": finished,
        **dict(outcomes),
        "failures": failures,
        "delays_seconds": delays,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timed", type=int, default=20, help="timed kills per scenario (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-injected", action="store_true")
    parser.add_argument("--stride", type=int, default=1, help="injected: kill at every Nth step")
    parser.add_argument("--modes", default="build,update", help="scenarios to run")
    parser.add_argument("--first", type=int, default=1, help="injected: first step to kill at")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    modes = [m for m in args.modes.split(",") if m]
    started = time.perf_counter()
    runs: dict = {}
    with tempfile.TemporaryDirectory(prefix="tqa-kill-") as tmp:
        root = Path(tmp)
        if not args.skip_injected:
            for mode in modes:
                print(f"injected kills during a {mode}", flush=True)
                name = f"injected_{mode}" + (f"_from_step_{args.first}" if args.first > 1 else "")
                runs[name] = injected(root, mode, args.stride, args.first)
        for mode in modes if args.timed else ():
            print(
                f"timed kills during a {'first build' if mode == 'build' else 'update'}", flush=True
            )
            runs[f"timed_{mode}"] = timed(root, mode, args.timed, rng)
    command = "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/kill_test.py " + " ".join(sys.argv[1:])
    for run in runs.values():
        run["command"] = command
        run["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        run["seconds"] = round(time.perf_counter() - started, 1)
    # Merge with runs recorded before (the injected and timed parts may run as separate processes).
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / "tqa-reliability.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        section = {k: v for k, v in results.get("kill_test", {}).items() if isinstance(v, dict)}
        section.update(runs)
        parts = list(section.values())
        section["total_kills"] = sum(p["kills"] for p in parts)
        section["total_failures"] = sum(len(p["failures"]) for p in parts)
        section["survived"] = section["total_kills"] - section["total_failures"]
        results["kill_test"] = section
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in section.items() if not isinstance(v, dict)}, indent=2))
    if any(run["failures"] for run in runs.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
