"""Retrieval and ask() quality per encoder backend, side by side in one report.

    .venv/bin/python benchmarks/bench_backend_quality.py
    .venv/bin/python benchmarks/bench_backend_quality.py --backends torch openvino-bf16 \
        --only kremlin --only qmsum

Each backend gets its own indexes (built once, cached under `--cache/<backend>`; torch uses
`--cache` itself, where the other benchmarks keep theirs), and every set of
benchmarks/bench_rerank.py is asked of each with today's answer settings: first quote in
gold, answered, abstained, search hit@1 / hit@5. The budget (issue 15): every metric within
-.005 of torch fp32. Writes benchmarks/results/encoder_quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_rerank  # noqa: E402

from embeddings import backends  # noqa: E402
from qa.answering import AnswerSettings  # noqa: E402

SETS = ("corpus", "devset", "friendsqa", "qmsum", "kremlin")
METRICS = ("first_quote_in_gold", "answered", "abstained", "search_hit@1", "search_hit@5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=[backends.TORCH, backends.OPENVINO_BF16])
    parser.add_argument("--only", action="append", choices=SETS)
    parser.add_argument("--cache", type=Path, default=bench_rerank.CACHE)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/encoder_quality.json"
    )
    args = parser.parse_args()

    report: dict = {"backends": args.backends, "sets": {}}
    for name in args.only or SETS:
        report["sets"][name] = {}
        for backend in args.backends:
            os.environ[backends.ENV] = backend  # what a new index is built with
            cache = args.cache if backend == backends.TORCH else args.cache / backend
            cache.mkdir(parents=True, exist_ok=True)
            qa, questions = bench_rerank.load_set(name, cache)
            if qa.snapshot.manifest.backend != backend:
                raise SystemExit(
                    f"{name}: the index in {cache} is {qa.snapshot.manifest.backend}, not "
                    f"{backend}; delete it or pass another --cache"
                )
            row = bench_rerank.run(qa, questions, AnswerSettings(), f"{name}/{backend}")
            row.pop("misses", None)
            report["sets"][name][backend] = row
            print(name, backend, {k: row.get(k) for k in (*METRICS, "ask_p50_ms")}, flush=True)
    ref = backends.TORCH
    worst = 0.0
    print("\n| set | metric | " + " | ".join(args.backends) + " |")
    print("|---|---|" + "---|" * len(args.backends))
    for name, rows in report["sets"].items():
        for metric in METRICS:
            values = [rows[b].get(metric) for b in args.backends]
            if all(v is None for v in values):
                continue
            if ref in rows and rows[ref].get(metric) is not None:
                for b in args.backends:
                    if rows[b].get(metric) is not None:
                        worst = min(worst, rows[b][metric] - rows[ref][metric])
            cells = " | ".join("-" if v is None else f"{v:.3f}" for v in values)
            print(f"| {name} | {metric} | {cells} |")
    report["worst_difference_to_torch"] = round(worst, 4)
    print(f"\nworst difference to torch: {worst:+.4f} (budget -0.005)")
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
