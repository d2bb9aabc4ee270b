"""Load test of the chat's API: N concurrent `gradio_client` users, each asking M questions.

Starts the app in-process on a free loopback port over an existing index (the Kremlin
index by default), or targets a running server with --url. Every user is its own
client (its own session), asks its questions one after another through `/ask`, and
checks each answer is well-formed (quotes verbatim at their offsets when the index is
local). Reports p50/p95/max latency, throughput and errors; writes JSON.

    .venv/bin/python benchmarks/load_chat.py --index /work/cache/kremlin-index
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What did the President say about inflation?",
    "How does Russia view cooperation with China on energy?",
    "What was said about the situation in Syria?",
    "What support is planned for families with children?",
    "What did Putin say about the Olympic Games in Sochi?",
    "How should the healthcare system be improved?",
    "What was said about gas supplies to Europe?",
    "What are the plans for developing the Arctic?",
    "What did the President say about corruption?",
    "How will the road construction programme be financed?",
    "What was discussed about agriculture and food imports?",
    "What did Putin say about the pension system?",
    "What was said about relations with the United States?",
    "How are small businesses going to be supported?",
    "What did he say about the Crimean bridge?",
    "What did the President say about the coronavirus vaccine?",
    "How is the digital economy going to develop?",
    "What did Putin say about sanctions?",
    "What are the priorities for education and schools?",
    "What did the President say about the Far East?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--index", default=os.environ.get("TQA_KREMLIN_INDEX", "/work/cache/kremlin-index")
    )
    parser.add_argument("--url", help="a running chat to test instead of starting one")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10, help="questions per user")
    parser.add_argument(
        "--questions-from",
        help="a JSONL file with a 'question' per line (default: built-in questions about the Kremlin archive)",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load_chat.json"))
    args = parser.parse_args()

    from gradio_client import Client

    questions = QUESTIONS
    if args.questions_from:
        lines = Path(args.questions_from).read_text(encoding="utf-8").splitlines()
        questions = [json.loads(line)["question"] for line in lines if line.strip()]

    qa = app = None
    url = args.url
    started = time.perf_counter()
    if url is None:
        from qa.service import TranscriptQA
        from ui.app import build_app, launch

        qa = TranscriptQA.open(args.index)
        qa.ask("warm-up: load the model")  # the first query loads the encoder; not a user's wait
        app = build_app(qa)
        _, url = launch(app, port=free_port(), block=False)
    print(f"chat at {url} ({time.perf_counter() - started:.1f}s to start)", flush=True)

    latencies: list[float] = []
    errors: list[str] = []
    bad: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.users)

    def user(n: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # a user who cannot even connect counts as failed questions
            with lock:
                errors.extend([f"user {n}: connect: {exc!r}"] * args.questions)
            barrier.abort()
            return
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=120)
        for i in range(args.questions):
            question = questions[(n + i * 7) % len(questions)]
            t0 = time.perf_counter()
            try:
                result = client.predict(question=question, api_name="/ask")
            except Exception as exc:
                with lock:
                    errors.append(f"user {n}, {question!r}: {exc!r}")
                continue
            elapsed = time.perf_counter() - t0
            problem = None
            if not isinstance(result, dict) or "quotes" not in result:
                problem = f"malformed result {str(result)[:80]}"
            elif qa is not None:
                for q in result["quotes"]:
                    if qa.transcript(q["doc_id"]).text[q["start"] : q["end"]] != q["text"]:
                        problem = f"quote not verbatim in {q['doc_id']}"
            with lock:
                latencies.append(elapsed)
                if problem:
                    bad.append(f"user {n}, {question!r}: {problem}")

    load_before = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(n,)) for n in range(args.users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if app is not None:
        app.close()

    total = args.users * args.questions
    report: dict[str, Any] = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "index": None if args.url else str(args.index),
        "index_size": None
        if qa is None
        else {"passages": len(qa), "documents": len(qa.documents())},
        "questions_file": args.questions_from,
        "users": args.users,
        "questions_per_user": args.questions,
        "requests": total,
        "answered": len(latencies),
        "errors": len(errors),
        "malformed_or_not_verbatim": len(bad),
        "latency_s": {
            "p50": round(percentile(latencies, 0.50), 3),
            "p95": round(percentile(latencies, 0.95), 3),
            "max": round(max(latencies), 3) if latencies else None,
            "mean": round(statistics.fmean(latencies), 3) if latencies else None,
        },
        "wall_s": round(wall, 2),
        "throughput_per_s": round(len(latencies) / wall, 2) if wall else None,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # The machine is shared: a high load average before the run inflates every figure.
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "error_samples": errors[:5],
        "bad_samples": bad[:5],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if not errors and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
