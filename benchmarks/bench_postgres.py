"""The PostgreSQL store beside the folder store, on the same vectors (issue 14).

Each folder index is copied into the database as it is (`qa.stores.postgres.copy_index`, no
re-embedding), then both stores answer the same questions: top-10 overlap and identical
lists per mode, the retrieval metrics of `qa.evaluation.evaluate` for both, and search latency.

    python benchmarks/bench_postgres.py                       # a throwaway embedded server
    python benchmarks/bench_postgres.py --uri postgresql://me@db:5432/tqa
    python benchmarks/bench_postgres.py --sets corpus,kremlin --out benchmarks/results/postgres.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(os.environ.get("TQA_SHARED", ROOT.parent / "shared")) / "datasets"
CACHE = Path("/work/cache")
SETS = {
    "corpus": (CACHE / "corpus-index", ROOT / "corpus"),
    "kremlin": (CACHE / "kremlin-index", None),
    "qmsum-val": (CACHE / "qmsum-val-index", None),
    "friendsqa-tune": (CACHE / "friendsqa-tune-index", None),
}


def questions_for(name: str) -> list[Any]:
    from qa.evaluation.adapters import friendsqa_convert_data, qmsum_questions
    from qa.evaluation.questions import EvalQuestion, load_questions

    if name == "corpus":
        return load_questions(ROOT / "tests" / "data" / "corpus_questions.jsonl")
    if name == "kremlin":
        qs = load_questions(ROOT / "tests" / "data" / "kremlin_dev_questions.jsonl")
        off = (ROOT / "tests" / "data" / "off_topic_questions.txt").read_text().splitlines()
        return qs + [EvalQuestion(question=q, id=f"off{i}") for i, q in enumerate(off) if q]
    if name == "qmsum-val":
        return qmsum_questions(SHARED / "qmsum" / "val")[0]
    if name == "friendsqa-tune":
        return friendsqa_convert_data(SHARED / "friendsqa" / "friendsqa_tune.json")[0]
    raise SystemExit(f"unknown set {name}")


def filters(q: Any) -> dict[str, Any]:
    return {k: getattr(q, k) for k in ("speaker", "since", "until", "doc") if getattr(q, k)}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))] * 1000, 2) if xs else 0.0


def compare(name: str, folder_dir: Path, uri: str) -> dict[str, Any]:
    from qa.evaluation.runner import evaluate
    from qa.service import TranscriptQA
    from qa.stores import postgres

    started = time.perf_counter()
    n = postgres.copy_index(folder_dir, uri)
    copy_s = time.perf_counter() - started
    folder, pg = TranscriptQA.open(folder_dir), TranscriptQA.open(uri)
    qs = questions_for(name)
    out: dict[str, Any] = {"passages": n, "questions": len(qs), "copy_seconds": round(copy_s, 1)}
    for mode in ("hybrid", "dense", "bm25"):
        overlaps, same = [], 0
        for q in qs:
            a = [
                (h.passage.doc_id, h.passage.start)
                for h in folder.search(q.question, k=10, mode=mode, **filters(q))
            ]
            b = [
                (h.passage.doc_id, h.passage.start)
                for h in pg.search(q.question, k=10, mode=mode, **filters(q))
            ]
            # Both empty (BM25 with no known word) is full agreement.
            overlaps.append(len(set(a) & set(b)) / len(a) if a else float(not b))
            same += a == b
        out[f"{mode}_top10_overlap"] = round(statistics.mean(overlaps), 4)
        out[f"{mode}_identical_lists"] = f"{same}/{len(qs)}"
    for label, qa in (("folder", folder), ("postgres", pg)):
        times = []
        for q in qs[:200]:
            t = time.perf_counter()
            qa.search(q.question, k=10, **filters(q))
            times.append(time.perf_counter() - t)
        out[f"{label}_hybrid_ms_p50"] = pct(times, 0.5)
        out[f"{label}_hybrid_ms_p95"] = pct(times, 0.95)
        times = []
        for q in qs[:60]:
            t = time.perf_counter()
            qa.ask(q.question)
            times.append(time.perf_counter() - t)
        out[f"{label}_ask_ms_p50"] = pct(times, 0.5)
        run = evaluate(qa, qs, ask=False, name=f"{name}-{label}", show_progress=False)
        summary = run.summary()
        out[f"{label}_metrics"] = {
            mode: {k: (None if v is None else round(v, 4)) for k, v in m.items()}
            for mode, m in summary.items()
        }
    worst = 0.0
    for mode, m in out["folder_metrics"].items():
        for key, v in m.items():
            w = out["postgres_metrics"][mode].get(key)
            if v is not None and w is not None and "ms" not in key and "latency" not in key:
                worst = max(worst, abs(v - w))
    out["largest_metric_difference"] = round(worst, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--uri", help="a database to use (default: start a throwaway server)")
    ap.add_argument("--sets", default="corpus,kremlin,qmsum-val,friendsqa-tune")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "postgres.json"))
    args = ap.parse_args()
    server = None
    uri = args.uri
    if not uri:
        from test_postgres_store import start_server

        server = start_server()
        uri = server.uri
    results: dict[str, Any] = {"load_average_1min": round(os.getloadavg()[0], 2)}
    try:
        for name in args.sets.split(","):
            folder_dir = SETS[name][0]
            if not folder_dir.exists():
                print(f"skip {name}: no folder index at {folder_dir}", file=sys.stderr)
                continue
            sep = "&" if "?" in uri else "?"
            results[name] = compare(
                name, folder_dir, f"{uri}{sep}schema=bench_{name.replace('-', '_')}"
            )
            print(
                name,
                json.dumps({k: v for k, v in results[name].items() if "metrics" not in k}),
                flush=True,
            )
    finally:
        if server is not None:
            server.stop()
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
