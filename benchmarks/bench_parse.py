"""Parsing and chunking speed on the development corpora, and the Kremlin figures; run by hand.

    .venv/bin/python benchmarks/bench_parse.py            # Kremlin + QMSum from ../shared
    .venv/bin/python benchmarks/bench_parse.py --repeat 5

Reports, per corpus: files, turns, passages, best-of-N wall time to parse (`load_corpus`) and
to chunk, plus for Kremlin the share of body paragraphs with a speaker and the top speakers.
The machine load at the time is recorded: these runs share two cores with other work.
Results go to benchmarks/results/parse.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import chunk, load_corpus  # noqa: E402

SHARED = Path(os.environ.get("TQA_SHARED", ROOT.parent / "shared")) / "datasets"


def measure(path: Path, repeat: int) -> dict[str, object]:
    parse_times, chunk_times = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = load_corpus(path)
        parse_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        passages = [p for t in result.transcripts for p in chunk(t)]
        chunk_times.append(time.perf_counter() - t0)
    turns = [turn for t in result.transcripts for turn in t.turns]
    paragraphs = [
        turn.speaker is not None for turn in turns for line in turn.text.split("\n") if line.strip()
    ]
    speakers = Counter(turn.speaker for turn in turns if turn.speaker)
    return {
        "path": str(path),
        "files": len(result.transcripts),
        "skipped": len(result.skipped),
        "turns": len(turns),
        "turns_with_speaker": sum(1 for t in turns if t.speaker),
        "paragraphs": len(paragraphs),
        "paragraph_speaker_share": round(sum(paragraphs) / max(1, len(paragraphs)), 4),
        "distinct_speakers": len(speakers),
        "top_speakers": speakers.most_common(5),
        "passages": len(passages),
        "parse_seconds_best": round(min(parse_times), 3),
        "chunk_seconds_best": round(min(chunk_times), 3),
        "files_per_second": round(len(result.transcripts) / min(parse_times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "parse.json")
    args = parser.parse_args()
    report: dict[str, object] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "repeat": args.repeat,
    }
    for name, path in (
        ("kremlin", SHARED / "kremlin" / "transcripts"),
        ("qmsum", SHARED / "qmsum"),
    ):
        if path.exists():
            report[name] = measure(path, args.repeat)
            print(name, json.dumps(report[name], ensure_ascii=False))
        else:
            print(f"{name}: {path} not found, skipped")
    report["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
