"""Concurrent load: many threads calling `search()` and `ask()` while `update()` keeps
changing the index, on the bundled corpus.

Two corpus states A and B differ by a changed, a removed and an added document. Every result
a thread gets must be exactly what the same call returns on A or on B (computed beforehand,
one call at a time): a mix, or any exception, is a failure. Reports the calls served, the
updates completed meanwhile and the latency of calls while updates were running.

Run by hand:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/concurrent_load.py --threads 8 --seconds 120

Writes the "concurrency" section of benchmarks/results/reliability.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from qa.service import TranscriptQA  # noqa: E402

# TQA_RESULTS: write elsewhere, e.g. back into the checkout when running from a frozen copy
# (`git archive HEAD | tar -x -C /tmp/frozen`), so code edits during a long run cannot mix in.
RESULTS = Path(os.environ.get("TQA_RESULTS", ROOT / "benchmarks" / "results" / "reliability.json"))
SEARCHES = [
    "flood defence budget",
    "vaccine uptake among older residents",
    "transit strike pay offer",
    "port expansion jobs",
    "school meals funding",
    "satellite launch date",
]
QUESTIONS = [
    "What did the mayor promise about flood defences?",
    "How was the transit strike settled?",
    "Who pays for the school meals?",
]


def key_search(qa: TranscriptQA, query: str) -> tuple:
    return tuple((h.passage.doc_id, h.passage.start, h.passage.end) for h in qa.search(query, k=10))


def key_ask(qa: TranscriptQA, question: str) -> tuple:
    answer = qa.ask(question)
    return answer.abstained, tuple((q.doc_id, q.start, q.end, q.text) for q in answer.quotes)


def state(qa: TranscriptQA) -> dict[tuple[str, str], tuple]:
    out = {("search", q): key_search(qa, q) for q in SEARCHES}
    out.update({("ask", q): key_ask(qa, q) for q in QUESTIONS})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    files = sorted(p for p in (ROOT / "corpus").iterdir() if p.suffix != ".md")
    extra = ROOT / "tests" / "fixtures" / "retrieval" / "school.txt"
    with tempfile.TemporaryDirectory(prefix="tqa-load-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for f in files:
            shutil.copy(f, corpus / f.name)
        originals = {f.name: f.read_text(encoding="utf-8") for f in files}
        removed, changed = files[0].name, files[1].name

        def to_a() -> None:
            for name, text in originals.items():
                (corpus / name).write_text(text, encoding="utf-8")
            (corpus / "extra.txt").unlink(missing_ok=True)

        def to_b() -> None:
            (corpus / removed).unlink()
            text = originals[changed].replace(" the ", " this ")
            (corpus / changed).write_text(text, encoding="utf-8")
            shutil.copy(extra, corpus / "extra.txt")

        qa = TranscriptQA.build(corpus, Path(tmp) / "index", show_progress=False)
        expected_a = state(qa)
        to_b()
        qa.update(corpus, show_progress=False)
        expected_b = state(qa)
        to_a()
        qa.update(corpus, show_progress=False)
        differing = sum(expected_a[k] != expected_b[k] for k in expected_a)

        stop = threading.Event()
        lock = threading.Lock()
        calls: list[tuple[str, float, bool]] = []  # kind, seconds, during an update
        errors: list[str] = []
        mixed: list[str] = []
        updating = threading.Event()
        keys = list(expected_a)

        def worker(offset: int) -> None:
            i = offset
            while not stop.is_set():
                kind, text = keys[i % len(keys)]
                i += 1
                during = updating.is_set()
                began = time.perf_counter()
                try:
                    got = key_search(qa, text) if kind == "search" else key_ask(qa, text)
                except Exception as exc:  # noqa: BLE001 - every exception is a failure
                    with lock:
                        errors.append(f"{kind} {text!r}: {type(exc).__name__}: {exc}")
                    continue
                seconds = time.perf_counter() - began
                with lock:
                    calls.append((kind, seconds, during or updating.is_set()))
                    if got not in (expected_a[(kind, text)], expected_b[(kind, text)]):
                        mixed.append(f"{kind} {text!r}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        updates = 0
        update_seconds = []
        while time.perf_counter() - began < args.seconds:
            (to_b if updates % 2 == 0 else to_a)()
            updating.set()
            t0 = time.perf_counter()
            qa.update(corpus, show_progress=False)
            update_seconds.append(time.perf_counter() - t0)
            updating.clear()
            updates += 1
        stop.set()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began

    def pct(kind: str, during: bool | None, q: float) -> float | None:
        xs = [s for k, s, d in calls if k == kind and (during is None or d == during)]
        return round(float(np.percentile(xs, q)) * 1000, 1) if xs else None

    section = {
        "command": (
            "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/concurrent_load.py "
            f"--threads {args.threads} --seconds {args.seconds:g}"
        ),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),  # the machine is shared
        "seconds": round(wall, 1),
        "updates_completed": updates,
        "update_seconds_p50": round(float(np.median(update_seconds)), 2)
        if update_seconds
        else None,
        "search_calls": sum(1 for k, _, _ in calls if k == "search"),
        "ask_calls": sum(1 for k, _, _ in calls if k == "ask"),
        "calls_during_an_update": sum(1 for _, _, d in calls if d),
        "results_differing_between_states": f"{differing} of {len(expected_a)} calls",
        "mixed_results": len(mixed),
        "exceptions": len(errors),
        "first_errors": errors[:5],
        "latency_ms": {
            "search_p50": pct("search", None, 50),
            "search_p95": pct("search", None, 95),
            "search_p95_during_update": pct("search", True, 95),
            "ask_p50": pct("ask", None, 50),
            "ask_p95": pct("ask", None, 95),
            "ask_p95_during_update": pct("ask", True, 95),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(
        Path(tempfile.gettempdir()) / "tqa-reliability.lock", "w"
    ) as lock:  # the benchmarks may run side by side
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["concurrency"] = section
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(section, indent=2))
    sys.exit(1 if mixed or errors else 0)


if __name__ == "__main__":
    main()
