"""Soak test of the chat server: `tqa serve` for a long while under mixed asks, searches and uploads.

Starts `tqa serve` as a subprocess on a copy of the bundled corpus (in a temporary folder with
its own index folder and Gradio upload folder, on a free 127.0.0.1 port), then for `--minutes`
runs 2-4 concurrent client threads (the number changes every minute) that each mix:

- /ask through `gradio_client` or plain HTTP (`POST /gradio_api/run/ask`), new questions and
  follow-ups with the conversation's history, sometimes with speaker or date filters;
- /search the same two ways, for the corpus and for phrases only an uploaded file contains
  (an upload must be searchable when it returns);
- uploads as the browser sends them (`POST /gradio_api/upload`, then the upload panel's event on
  the queue) of 1-3 small generated transcripts in every supported format (`Speaker: text`,
  WebVTT, SRT, JSON, JSONL), often with one bad file (empty, binary, not UTF-8, malformed
  VTT/SRT/JSON, unsupported type, a duplicate) that must be listed with its reason, and now
  and then a file over the size limit, which `/upload` must refuse (HTTP 413) and the page's
  "kept back" event must report;
- removals through the document list's Remove event, so each client keeps at most
  `--keep-uploads` uploaded documents and reuses a bounded set of file names: the run
  measures steady state, not growth by design;
- a few bad requests (k out of range, an empty question, a bad date) that must be refused.

Every few seconds it samples the server's resident memory (psutil when installed, else
/proc/PID/status), its threads and open files, and the size of its index and upload folders.
An error is an HTTP error, an exception, a result of the wrong shape, a quote that is not
verbatim, an upload not searchable, a bad file not reported (or reported without a reason), a
bad request accepted, or a traceback in the server's log; an expected "not added" report is
not one. Writes benchmarks/results/soak.json; exit status 0 when memory at the end is within
10% of its level after warm-up and there were 0 errors.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/soak.py --minutes 30
    .venv/bin/python benchmarks/soak.py --minutes 2     # a quick check
    # where memory goes: the server through benchmarks/soak_server.py, a probe a minute
    .venv/bin/python benchmarks/soak.py --minutes 6 --warmup 60 --probe /tmp/probes --probe-every 60
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from html import unescape
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "soak.json"
TQA = Path(sys.executable).with_name("tqa")

FILE_LIMIT_MB = 1.0
"""TQA_MAX_FILE_MB for the server: the CLI's own setting, low so an over-limit file is cheap to
make (the bundled transcripts are ~10 KB)."""

QUESTIONS = [
    "How was the transit strike settled?",
    "What did the mayor promise about flood defences?",
    "Who pays for the school meals?",
    "What did Nadia Voss say about breaks for drivers?",
    "How much does the tidal defence programme cost?",
    "Why was the flood defence budget revised?",
    "When will free school meals start?",
    "What will the Kestrel satellite observe?",
    "How many jobs will the port expansion create?",
    "What did the health committee find about the vaccine programme?",
    "Who gets the Winter Shield vaccine first?",
    "What did Elena Marsh say about public transport fares?",
    "What was agreed about the Eastquay port?",
    "What did journalists ask at the annual news conference?",
    "What is the boiling point of tungsten?",  # off-topic: an abstention is a right answer
    "Who won the football cup in 1998?",
]
FOLLOW_UPS = [
    "What else did they say about it?",
    "Who disagreed with that?",
    "When was that?",
    "And what about the cost?",
    "Why?",
]
SEARCHES = [
    "flood defence budget",
    "vaccine uptake among older residents",
    "transit strike pay offer",
    "port expansion jobs",
    "school meals funding",
    "satellite launch date",
    "harbour wall",
    "drivers breaks",
]
SPEAKERS = ["Elena Marsh", "Nadia Voss", "Gideon Pell", "Agnes Whitlow"]
DATES = [("2023", ""), ("", "2023-12-31"), ("June 2023", "2024"), ("2024-01", "")]
WORDS = ["ferry", "bridge", "library", "garden", "budget", "tram", "harbour", "school"]
WORDS += ["clinic", "river", "market", "museum", "tunnel", "station", "park", "archive"]
NAMES = ["Ann Lee", "Bo Sun", "Rui Fontes", "Ivo Brandt", "Sara Quinn", "Dev Patel"]
FORMATS = ["txt", "vtt", "srt", "json", "jsonl"]
BAD_KINDS = [
    "empty",
    "binary",
    "not_utf8",
    "bad_vtt",
    "bad_srt",
    "bad_json",
    "unsupported",
    "duplicate",
]


# ---------------------------------------------------------------- small helpers


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:2d}:{seconds % 60:02d}"


def folder_stats(path: Path) -> tuple[int, int]:
    """(files, bytes) under `path`; (0, 0) when it is not there."""
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                size += (Path(dirpath) / name).stat().st_size
                files += 1
    return files, size


class Memory:
    """The server's memory: psutil when the venv has it, else /proc/PID/status."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            import psutil

            self.process: Any = psutil.Process(pid)
            self.source = f"psutil {psutil.__version__}"
        except ImportError:
            self.process = None
            self.source = f"/proc/{pid}/status VmRSS"

    def _status(self) -> dict[str, int]:
        out = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                    number = value.split()[0]
                    out[key] = int(number)
        return out

    def sample(self) -> dict[str, Any]:
        status = self._status()
        if self.process is not None:
            rss_kb = self.process.memory_info().rss // 1024
        else:
            rss_kb = status.get("VmRSS", 0)
        try:
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            fds = None
        return {
            "rss_mb": round(rss_kb / 1024, 1),
            "anon_mb": round(status.get("RssAnon", 0) / 1024, 1),
            "file_mb": round(status.get("RssFile", 0) / 1024, 1),
            "peak_mb": round(status.get("VmHWM", 0) / 1024, 1),
            "threads": status.get("Threads"),
            "fds": fds,
        }


# ---------------------------------------------------------------- generated transcripts


def marker(rng: random.Random) -> str:
    """A made-up word no other transcript has, to find the upload by."""
    return "zq" + "".join(rng.choice("bcdfghklmnprstvwxz") for _ in range(7))


def good_file(fmt: str, title: str, mark: str, rng: random.Random) -> bytes:
    """A small valid transcript in `fmt` whose second turn says `mark`."""
    a, b = rng.sample(NAMES, 2)
    topic, other = rng.sample(WORDS, 2)
    lines = [
        (a, f"Welcome. Today we discuss the new {topic} for the district."),
        (b, f"Thank you. The {topic} plan is called {mark} and it opens in spring."),
        (a, f"What will the {other} cost the city?"),
        (b, f"About {rng.randint(2, 90)} million, over {rng.randint(2, 9)} years."),
    ]
    lines += [
        (rng.choice((a, b)), f"Point {i}: the {rng.choice(WORDS)} needs {rng.choice(WORDS)}.")
        for i in range(rng.randint(1, 12))
    ]
    if fmt == "txt":
        head = f"Title: {title}\nDate: 2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}\n\n"
        return (head + "".join(f"{s}: {t}\n" for s, t in lines)).encode()
    if fmt in ("vtt", "srt"):
        cues = []
        for i, (s, t) in enumerate(lines):
            start, end = 4 * i + 1, 4 * i + 4
            if fmt == "vtt":
                cues.append(f"00:00:{start:02d}.000 --> 00:00:{end:02d}.000\n<v {s}>{t}\n")
            else:
                cues.append(f"{i + 1}\n00:00:{start:02d},000 --> 00:00:{end:02d},500\n{s}: {t}\n")
        if fmt == "vtt":
            return ("WEBVTT\n\nNOTE\nTitle: " + title + "\n\n" + "\n".join(cues)).encode()
        return "\n".join(cues).encode()
    turns = [
        {"speaker": s, "text": t, "start": 4.0 * i, "end": 4.0 * i + 3.5}
        for i, (s, t) in enumerate(lines)
    ]
    if fmt == "json":
        doc = {"title": title, "date": "2025-03-04", "turns": turns}
        return json.dumps(doc, indent=1).encode()
    # JSONL: the metadata, then one turn a line
    meta = json.dumps({"title": title, "date": "2025-05-06"}) + "\n"
    return (meta + "".join(json.dumps(t) + "\n" for t in turns)).encode()


def bad_file(kind: str, stem: str, rng: random.Random, duplicate_of: bytes) -> tuple[str, bytes]:
    """A file that must not go in, and its name."""
    if kind == "empty":
        return f"{stem}.txt", b""
    if kind == "binary":
        return f"{stem}.txt", b"Ann Lee: hello\n\x00\x01\x02" + rng.randbytes(200)
    if kind == "not_utf8":
        return f"{stem}.txt", "Анна Ли: Привет, это не UTF-8.\n".encode("cp1251")
    if kind == "bad_vtt":
        return f"{stem}.vtt", b"WEBVTT\n\n00:00:01.000 -> 00:00:04.000\n<v Ann>Broken arrow.\n"
    if kind == "bad_srt":
        return f"{stem}.srt", b"1\n00:00:01,000 --> banana\nAnn Lee: Broken time.\n"
    if kind == "bad_json":
        return f"{stem}.json", b'{"title": "Broken", "turns": [{"speaker": "A", "text": "ok"'
    if kind == "unsupported":
        return f"{stem}.docx", b"PK\x03\x04" + rng.randbytes(100)
    return f"{stem}.txt", duplicate_of  # "duplicate": the same bytes as a file already in


# ---------------------------------------------------------------- the server


class Server:
    def __init__(
        self,
        work: Path,
        port: int,
        log_path: Path,
        backend: str | None,
        probe_dir: Path | None = None,
        server_env: dict[str, str] | None = None,
    ) -> None:
        self.corpus, self.index, self.gradio_tmp = work / "corpus", work / "index", work / "gtmp"
        shutil.copytree(ROOT / "corpus", self.corpus)
        self.gradio_tmp.mkdir()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(self.gradio_tmp),
            "TQA_MAX_FILE_MB": str(FILE_LIMIT_MB),
            "TOKENIZERS_PARALLELISM": "false",
        }
        env.pop("TQA_INDEX", None)
        env.update(server_env or {})
        if backend:
            env["TQA_BACKEND"] = backend
        # --probe: the same server through benchmarks/soak_server.py, which answers SIGUSR1
        # with a memory probe (tracemalloc, mallinfo, objects by type, Gradio sessions).
        launcher = [str(TQA)]
        if probe_dir is not None:
            env["TQA_PROBE_DIR"] = str(probe_dir)
            launcher = [sys.executable, str(ROOT / "benchmarks" / "soak_server.py")]
        self.command = [
            *launcher,
            "serve",
            "--corpus",
            str(self.corpus),
            "--index",
            str(self.index),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command, cwd=work, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, http: Any, timeout: float) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tqa serve exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(Exception):
                if http.get(self.url + "/config", timeout=5).status_code == 200:
                    return time.perf_counter() - t0
            time.sleep(0.5)
        raise RuntimeError(f"tqa serve did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._log.close()
        return self.proc.returncode


def find_events(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The upload panel's private events, as the page calls them: name -> (fn_index, trigger id)."""
    elem = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    wanted = {
        ("tqa-upload", "upload"): "upload",
        ("tqa-doclist", "remove_row"): "remove",
        ("tqa-upload-report", "refused"): "refused",
    }
    found = {}
    for fn_index, dep in enumerate(config["dependencies"]):
        for target, event in dep.get("targets", []):
            name = wanted.get((elem.get(target), event))
            if name:
                found[name] = (dep.get("id", fn_index), target)
    missing = set(wanted.values()) - set(found)
    if missing:
        raise RuntimeError(f"the page has no {', '.join(sorted(missing))} event: not this app?")
    return found


# ---------------------------------------------------------------- the run


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.error_samples: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()  # what the uploads did

    def done(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.latency[kind].append(seconds)

    def error(self, kind: str, what: str, t: float) -> None:
        with self.lock:
            self.errors[kind] += 1
            if len(self.error_samples) < 50:
                self.error_samples.append({"t_s": round(t, 1), "kind": kind, "error": what[:600]})

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n


class ShapeError(Exception):
    """A result that is not what the API documents (or not verbatim)."""


API_PARAMS: dict[str, dict[str, Any]] = {  # as README.md documents them, in order
    "ask": {"question": "", "speaker": "", "since": "", "until": "", "doc": "", "history": None},
    "search": {"query": "", "k": 10, "speaker": "", "since": "", "until": "", "doc": ""},
}
QUOTE_KEYS = {"text", "speaker", "title", "date", "doc_id", "turn", "start", "end", "score"}
QUOTE_KEYS |= {"time_start_s", "time_end_s", "url"}


def check_citation(item: Any, texts: dict[str, str], where: str) -> None:
    if not isinstance(item, dict) or not item.keys() >= QUOTE_KEYS:
        missing = QUOTE_KEYS - set(item) if isinstance(item, dict) else "all"
        raise ShapeError(f"{where}: citation without {missing}: {str(item)[:120]}")
    if not isinstance(item["text"], str) or not item["text"]:
        raise ShapeError(f"{where}: empty text")
    start, end = item["start"], item["end"]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
        raise ShapeError(f"{where}: bad offsets {start!r}:{end!r}")
    for key in ("time_start_s", "time_end_s"):
        if item[key] is not None and not isinstance(item[key], (int, float)):
            raise ShapeError(f"{where}: {key}={item[key]!r}")
    text = texts.get(item["doc_id"])
    if text is not None and text[start:end] != item["text"]:
        raise ShapeError(f"{where}: quote not verbatim at {item['doc_id']} {start}:{end}")


def check_ask(result: Any, texts: dict[str, str]) -> None:
    if not isinstance(result, dict) or not {"question", "abstained", "quotes", "closest"} <= set(
        result
    ):
        raise ShapeError(f"/ask: not an answer: {str(result)[:200]}")
    if not isinstance(result["abstained"], bool) or not isinstance(result["quotes"], list):
        raise ShapeError(f"/ask: abstained/quotes of the wrong type: {str(result)[:200]}")
    if not result["abstained"] and not result["quotes"]:
        raise ShapeError("/ask: not abstained but no quotes")
    for q in result["quotes"]:
        check_citation(q, texts, "/ask")


def check_search(result: Any, k: int, texts: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(result, dict) or not isinstance(result.get("hits"), list):
        raise ShapeError(f"/search: not a result: {str(result)[:200]}")
    if len(result["hits"]) > k:
        raise ShapeError(f"/search: {len(result['hits'])} hits for k={k}")
    for h in result["hits"]:
        check_citation(h, texts, "/search")
    return result["hits"]


class Worker:
    """One client: its own gradio_client session, its own page session for the upload panel,
    and the uploaded documents it owns (it removes only those)."""

    def __init__(self, n: int, run: Run) -> None:
        import httpx
        from gradio_client import Client

        self.n, self.run = n, run
        self.rng = random.Random(run.args.seed * 1000 + n)
        self.client = Client(run.server.url, verbose=False)
        self.http = httpx.Client(base_url=run.server.url, timeout=httpx.Timeout(120.0))
        self.session = uuid.uuid4().hex[:11]
        self.history: list[dict[str, Any]] = []
        self.prefix = f"soak-w{n}-"
        self.mine: dict[str, str] = {}  # doc_id -> its marker word, oldest first
        self.listed: list[str] = []  # the document list this page session was last shown
        self.slot = 0
        self.sources: dict[str, bytes] = {}  # doc_id -> the bytes uploaded, for duplicates

    # -- transport

    def call_api(self, api: str, kwargs: dict[str, Any]) -> Any:
        """Call /ask or /search through gradio_client (3 in 4) or plain HTTP, which takes the
        parameters in order (every one up to the last given, so the defaults fill the gaps)."""
        if self.rng.random() < 0.75:
            return self.client.predict(**kwargs, api_name=f"/{api}")
        params = list(API_PARAMS[api].items())
        last = max(i for i, (name, _) in enumerate(params) if name in kwargs)
        data = [kwargs.get(name, default) for name, default in params[: last + 1]]
        r = self.http.post(f"/gradio_api/run/{api}", json={"data": data})
        if r.status_code == 400:
            raise Refused(r.json().get("error", r.text))
        r.raise_for_status()
        return r.json()["data"][0]

    def page_event(
        self, name: str, data: list[Any], event_data: Any = None
    ) -> list[Any]:  # the browser's way: the queue, then the session's event stream
        fn_index, trigger = self.run.events[name]
        body = {
            "data": data,
            "fn_index": fn_index,
            "session_hash": self.session,
            "trigger_id": trigger,
            "event_data": event_data,
        }
        r = self.http.post("/gradio_api/queue/join", json=body)
        r.raise_for_status()
        event_id = r.json()["event_id"]
        with self.http.stream(
            "GET", "/gradio_api/queue/data", params={"session_hash": self.session}
        ) as stream:
            stream.raise_for_status()
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    continue
                if msg.get("msg") == "process_completed":
                    output = msg.get("output") or {}
                    if not msg.get("success", False):
                        raise RuntimeError(f"{name}: event failed: {str(output)[:300]}")
                    return list(output.get("data") or [])
                if msg.get("msg") in ("unexpected_error", "close_stream"):
                    raise RuntimeError(f"{name}: stream ended: {str(msg)[:300]}")
        raise RuntimeError(f"{name}: the event stream ended without a result")

    # -- operations

    def op_ask(self) -> str:
        follow = bool(self.history) and len(self.history) < 4 and self.rng.random() < 0.4
        if follow:
            question = self.rng.choice(FOLLOW_UPS)
            kwargs: dict[str, Any] = {"question": question, "history": list(self.history)}
        else:
            self.history = []
            question = self.rng.choice(QUESTIONS)
            kwargs = {"question": question}
            roll = self.rng.random()
            if roll < 0.15:
                kwargs["speaker"] = self.rng.choice(SPEAKERS)
            elif roll < 0.3:
                kwargs["since"], kwargs["until"] = self.rng.choice(DATES)
        result = self.call_api("ask", kwargs)
        check_ask(result, self.run.texts)
        self.history.append({"question": question, "answer": result})
        return "ask_followup" if follow else "ask"

    def op_search(self) -> str:
        k = self.rng.randint(3, 10)
        own = self.mine and self.rng.random() < 0.3
        if own:
            doc_id, mark = self.rng.choice(list(self.mine.items()))
            query = f"the plan called {mark}"
        else:
            query = self.rng.choice(SEARCHES)
        kwargs: dict[str, Any] = {"query": query, "k": k}
        if not own and self.rng.random() < 0.2:
            kwargs["speaker"] = self.rng.choice(SPEAKERS)
        hits = check_search(self.call_api("search", kwargs), k, self.run.texts)
        if own and not any(h["doc_id"] == doc_id for h in hits):
            raise ShapeError(f"/search {query!r}: uploaded {doc_id} not among {k} hits")
        return "search_upload" if own else "search"

    def op_refused(self) -> str:
        """A bad request: must be refused with a message, not answered and not a crash."""
        from gradio_client.exceptions import AppError

        api, kwargs = self.rng.choice(
            [
                ("search", {"query": "harbour", "k": 5000}),
                ("ask", {"question": "   "}),
                ("ask", {"question": "budget", "since": "the day after never"}),
                ("ask", {"question": "x" * 2500}),
            ]
        )
        try:
            result = self.call_api(api, kwargs)
        except (AppError, Refused) as exc:
            if not str(exc).strip():
                raise ShapeError(f"/{api} refused without a message") from None
            return "bad_request"
        raise ShapeError(f"/{api} accepted a bad request {str(kwargs)[:80]}: {str(result)[:100]}")

    def op_upload(self) -> str:
        rng = self.rng
        files: list[tuple[str, bytes]] = []
        marks: dict[str, str] = {}
        sources: dict[str, bytes] = {}
        for _ in range(0 if self.run.args.bad_only else rng.randint(1, 3)):
            fmt = rng.choice(FORMATS)
            self.slot = (self.slot + 1) % (3 * self.run.args.keep_uploads + 3)
            stem = f"{self.prefix}{self.slot:02d}"
            if stem in self.mine or stem in marks:
                continue  # still in: its name would become stem-2
            mark = marker(rng)
            data = good_file(fmt, f"Soak {self.n}.{self.slot} {rng.choice(WORDS)}", mark, rng)
            files.append((f"{stem}.{fmt}", data))
            marks[stem], sources[stem] = mark, data
            self.run.stats.count(f"good_{fmt}")
        bad: dict[str, str] = {}
        if rng.random() < 0.5 or not files:
            # a duplicate: the bytes of a document of ours that is in the index now
            kind = rng.choice(BAD_KINDS if self.sources else BAD_KINDS[:-1])
            original = self.sources[rng.choice(list(self.sources))] if self.sources else b""
            name, data = bad_file(kind, f"{self.prefix}bad-{kind}", rng, original)
            files.append((name, data))
            bad[name] = kind
            self.run.stats.count(f"bad_{kind}")
        rng.shuffle(files)
        r = self.http.post(
            "/gradio_api/upload",
            files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        )
        r.raise_for_status()
        paths = r.json()
        if not isinstance(paths, list) or len(paths) != len(files):
            raise ShapeError(f"/gradio_api/upload returned {str(paths)[:200]}")
        if self.run.args.transfer_only:
            return "upload_transfer"  # Gradio's upload route alone: nothing is indexed
        value = [
            {"path": p, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
            for p, (name, _) in zip(paths, files, strict=True)
        ]
        out = self.page_event("upload", [value, None, None, None])
        report, docs = self.read_panel(out, "upload")
        if marks and f"Added {len(marks)} transcript" not in report:
            raise ShapeError(f"upload of {sorted(marks)}: report {report[:300]!r}")
        for stem in marks:
            if stem not in docs:
                raise ShapeError(f"upload: {stem} is not in the document list afterwards")
        for name, kind in bad.items():
            reason = re.search(re.escape(name) + r"</span>: ([^<]+)</li>", report)
            if not reason or not reason.group(1).strip():
                raise ShapeError(f"upload: bad file {name} ({kind}) not reported: {report[:300]!r}")
            if Path(name).stem in docs:
                raise ShapeError(f"upload: bad file {name} ({kind}) went in")
            self.run.stats.count("bad_reported")
        self.mine.update(marks)
        self.sources.update(sources)
        self.run.stats.count("documents_added", len(marks))
        return "upload"

    def op_oversize(self) -> str:
        """A file over TQA_MAX_FILE_MB: /upload refuses it (the page never sends it: its guard
        keeps it back and reports it through the "refused" event, done here as the page does)."""
        size = int(FILE_LIMIT_MB * 1024 * 1024) + 100_000
        line = b"Ann Lee: " + b"word " * 20 + b"\n"
        data = line * (size // len(line) + 1)
        name = f"{self.prefix}huge.txt"
        r = self.http.post(
            "/gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))]
        )
        if r.status_code != 413:
            raise ShapeError(f"/gradio_api/upload took a {len(data):,}-byte file: {r.status_code}")
        out = self.page_event(
            "refused", [None], {"files": [{"name": name, "size": len(data), "why": "size"}]}
        )
        report = unescape(str(out[0]) if out else "")
        if name not in report or "limit" not in report:
            raise ShapeError(f"refused: {name} not reported: {report[:300]!r}")
        self.run.stats.count("oversize_reported")
        return "oversize"

    def op_remove(self) -> str:
        doc_id = next(iter(self.mine))
        if doc_id not in self.listed:
            raise ShapeError(f"remove: {doc_id} is not in this page's document list")
        out = self.page_event("remove", [None, None, None], {"row": self.listed.index(doc_id)})
        report, docs = self.read_panel(out, "remove")
        if "Removed" not in report or doc_id in docs:
            raise ShapeError(f"remove {doc_id}: report {report[:300]!r}")
        del self.mine[doc_id]
        self.sources.pop(doc_id, None)
        self.run.stats.count("documents_removed")
        return "remove"

    def read_panel(self, out: list[Any], what: str) -> tuple[str, list[str]]:
        """The panel's report (unescaped) and the document ids in list order (the document
        picker's choices are in the list's order, so row i is `listed[i]`)."""
        if len(out) < 5 or not isinstance(out[4], dict) or "choices" not in out[4]:
            raise ShapeError(f"{what}: outputs of the wrong shape: {str(out)[:300]}")
        docs = [value for _, value in out[4]["choices"]]
        self.listed = docs
        return unescape(str(out[0])), docs

    # -- the loop

    def pick(self) -> Any:
        if len(self.mine) > self.run.args.keep_uploads:
            return self.op_remove
        roll = self.rng.random()
        writes = not self.run.args.no_writes
        for weight, op in (
            (0.44, self.op_ask),
            (0.30, self.op_search),
            (0.13, self.op_upload if writes else self.op_ask),
            (0.06, self.op_remove if self.mine and writes else self.op_search),
            (0.05, self.op_refused),
            (0.02, self.op_oversize if writes else self.op_refused),
        ):
            if roll < weight:
                return op
            roll -= weight
        return self.op_ask

    def loop(self) -> None:
        run = self.run
        while time.monotonic() < run.deadline:
            if self.n >= run.active:
                time.sleep(0.5)
                continue
            op = self.pick()
            t0 = time.perf_counter()
            try:
                kind = op()
            except Exception as exc:  # noqa: BLE001 (every failure is counted and sampled)
                name = op.__name__.removeprefix("op_")
                label = "wrong_shape" if isinstance(exc, ShapeError) else type(exc).__name__
                run.stats.error(f"{name}: {label}", f"{exc!r}"[:600], run.elapsed())
                if not isinstance(exc, ShapeError):
                    self.history = []
                continue
            run.stats.done(kind, time.perf_counter() - t0)
            time.sleep(self.rng.uniform(0.05, run.args.think))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.http.close()
        with contextlib.suppress(Exception):
            self.client.close()


class Refused(Exception):
    """A 400 from plain HTTP: the server refused the request with a message."""


class Run:
    def __init__(self, args: argparse.Namespace, server: Server, texts: dict[str, str]) -> None:
        self.args, self.server, self.texts = args, server, texts
        self.stats = Stats()
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.minutes * 60
        self.active = args.min_clients
        self.events: dict[str, tuple[int, int]] = {}
        self.backend = "?"

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def level(self) -> int:
        """Clients active now: min..max and back, one step a minute (2, 3, 4, 3, 2, ...)."""
        lo, hi = self.args.min_clients, self.args.max_clients
        cycle = list(range(lo, hi + 1)) + list(range(hi - 1, lo, -1))
        return cycle[int(self.elapsed() // 60) % len(cycle)]


def server_log_problems(path: Path) -> dict[str, Any]:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = text.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    errors = [line for line in lines if re.search(r"\bERROR\b|Exception in ", line)]
    return {
        "lines": len(lines),
        "tracebacks": len(tracebacks),
        "error_lines": len(errors),
        "not_added_warnings": sum("not added" in line for line in lines),
        "bad_request_lines": sum(
            "refused" in line.lower() or "bad" in line.lower() for line in lines
        ),
        "first_traceback": "\n".join(lines[tracebacks[0] : tracebacks[0] + 40])
        if tracebacks
        else None,
        "error_samples": errors[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--min-clients", type=int, default=2, help="fewest concurrent clients")
    parser.add_argument("--max-clients", type=int, default=4, help="most concurrent clients")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of warm-up (default: 10%% of the run, at most 3 minutes)",
    )
    parser.add_argument(
        "--keep-uploads",
        type=int,
        default=4,
        help="uploaded documents each client keeps at most before removing its oldest",
    )
    parser.add_argument(
        "--think", type=float, default=0.4, help="longest pause between a client's requests (s)"
    )
    parser.add_argument(
        "--backend",
        help="TQA_BACKEND for the server (default: the project's own choice, `auto`)",
    )
    parser.add_argument(
        "--probe",
        type=Path,
        help="run the server through benchmarks/soak_server.py and take a memory probe into "
        "this folder at the end of warm-up, every --probe-every s after it, and at the end",
    )
    parser.add_argument("--probe-every", type=float, default=0, help="seconds between probes")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the server only (repeatable)",
    )
    parser.add_argument(
        "--no-writes",
        action="store_true",
        help="asks, searches and bad requests only: no uploads or removals (where memory goes)",
    )
    parser.add_argument(
        "--transfer-only",
        action="store_true",
        help="uploads stop after Gradio's upload route: no indexing, no removals (where memory goes)",
    )
    parser.add_argument(
        "--bad-only",
        action="store_true",
        help="uploads hold only bad files: the upload panel's events run, nothing is indexed",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if not 1 <= args.min_clients <= args.max_clients:
        parser.error("need 1 <= --min-clients <= --max-clients")
    run_s = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(180.0, 0.1 * run_s)

    import httpx

    work = Path(tempfile.mkdtemp(prefix="tqa-soak-"))
    port = args.port or free_port()
    print(
        f"soak: {args.minutes:g} min, {args.min_clients}-{args.max_clients} clients, "
        f"work folder {work}",
        flush=True,
    )
    load_before = [round(x, 2) for x in os.getloadavg()]
    server_env = dict(item.split("=", 1) for item in args.server_env)
    server = Server(work, port, work / "server.log", args.backend, args.probe, server_env)
    memory = Memory(server.proc.pid)
    samples: list[dict[str, Any]] = []
    workers: list[Worker] = []
    run: Run | None = None
    try:
        startup = server.wait_ready(httpx, timeout=600)
        config = httpx.get(server.url + "/config", timeout=30).json()
        startup_sample = memory.sample()
        print(
            f"server {server.url} up in {startup:.1f}s, pid {server.proc.pid}, "
            f"rss {startup_sample['rss_mb']:.0f} MB ({memory.source})",
            flush=True,
        )

        from qa.service import TranscriptQA

        corpus_qa = TranscriptQA.open(server.index)  # only to check quotes are verbatim
        texts = {d.doc_id: corpus_qa.transcript(d.doc_id).text for d in corpus_qa.documents()}
        backend = corpus_qa.snapshot.manifest.backend
        del corpus_qa

        run = Run(args, server, texts)
        run.backend = backend
        run.events = find_events(config)
        workers = [Worker(n, run) for n in range(args.max_clients)]
        run.t0 = time.monotonic()
        run.deadline = run.t0 + run_s
        threads = [threading.Thread(target=w.loop, daemon=True) for w in workers]
        for t in threads:
            t.start()
        next_sample = 0.0
        next_probe = warmup if args.probe is not None else float("inf")
        while True:
            now = run.elapsed()
            run.active = run.level()
            if now >= next_probe and now < run_s:
                server.proc.send_signal(signal.SIGUSR1)
                next_probe = now + args.probe_every if args.probe_every > 0 else float("inf")
            if now >= next_sample or now >= run_s:
                index_files, index_bytes = folder_stats(server.index)
                upload_files, _ = folder_stats(server.index / "uploads")
                tmp_files, tmp_bytes = folder_stats(server.gradio_tmp)
                with run.stats.lock:
                    requests = sum(run.stats.requests.values())
                    errors = sum(run.stats.errors.values())
                sample = {
                    "t_s": round(now, 1),
                    **memory.sample(),
                    "index_mb": round(index_bytes / 1e6, 2),
                    "index_files": index_files,
                    "stored_uploads": upload_files,
                    "gradio_tmp_files": tmp_files,
                    "gradio_tmp_kb": round(tmp_bytes / 1024, 1),
                    "clients": run.active,
                    "requests": requests,
                    "errors": errors,
                }
                samples.append(sample)
                print(
                    f"[{clock(now)}/{clock(run_s)}] rss {sample['rss_mb']:7.1f} MB  "
                    f"clients {run.active}  requests {requests:6d}  errors {errors}  "
                    f"uploads stored {upload_files}  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                next_sample += args.sample_every
            if now >= run_s:
                break
            if server.proc.poll() is not None:
                run.stats.error("server", f"exited with {server.proc.returncode}", now)
                break
            time.sleep(min(0.5, max(0.05, next_sample - now)))
        for t in threads:
            t.join(timeout=180)
        stuck = sum(t.is_alive() for t in threads)
        if stuck:
            run.stats.error(
                "client", f"{stuck} client thread(s) still busy 180 s after the end", run.elapsed()
            )
        final = memory.sample()
        if args.probe is not None and server.proc.poll() is None:
            before = len(list(args.probe.glob("probe-*.json")))
            server.proc.send_signal(signal.SIGUSR1)
            for _ in range(600):  # the last probe, before the server stops
                if len(list(args.probe.glob("probe-*.json"))) > before:
                    break
                time.sleep(0.5)
    finally:
        for w in workers:
            w.close()
        returncode = server.stop()
    log = server_log_problems(server.log_path)
    if log["tracebacks"] and run is not None:
        run.stats.error("server", f"{log['tracebacks']} traceback(s) in the server log", run_s)
    assert run is not None
    report = summarise(
        args,
        server,
        run,
        samples,
        final,
        startup,
        startup_sample,
        memory,
        warmup,
        log,
        returncode,
        load_before,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    m, p = report["memory"], report["pass"]
    print(
        f"\nRSS after warm-up {m['rss_after_warmup_mb']} MB, at the end {m['rss_at_end_mb']} MB "
        f"({m['change_pct']:+.1f}%); requests {report['requests_total']}, errors "
        f"{report['errors']['total']}: {'PASS' if p['passed'] else 'FAIL'} -> {args.out}",
        flush=True,
    )
    if not args.keep_temp:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0 if report["pass"]["passed"] else 1


def window(samples: list[dict[str, Any]], lo: float, hi: float) -> list[float]:
    return [s["rss_mb"] for s in samples if lo <= s["t_s"] <= hi]


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares MB per minute."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] / 60 for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def summarise(
    args: argparse.Namespace,
    server: Server,
    run: Run,
    samples: list[dict[str, Any]],
    final: dict[str, Any],
    startup: float,
    startup_sample: dict[str, Any],
    memory: Memory,
    warmup: float,
    log: dict[str, Any],
    returncode: int | None,
    load_before: list[float],
) -> dict[str, Any]:
    run_s = args.minutes * 60
    span = max(args.sample_every * 6, 30.0)  # median over ~30 s, so one GC blip does not decide
    at_warmup = window(samples, warmup - span, warmup) or [samples[0]["rss_mb"]]
    at_end = window(samples, run_s - span, run_s + 60) or [samples[-1]["rss_mb"]]
    base, end = statistics.median(at_warmup), statistics.median(at_end)
    change = (end - base) / base * 100 if base else float("nan")
    after = [(s["t_s"], s["rss_mb"]) for s in samples if s["t_s"] >= warmup]
    stats = run.stats
    latency = {
        kind: {
            "n": len(values),
            "p50_s": round(percentile(values, 0.5) or 0, 3),
            "p95_s": round(percentile(values, 0.95) or 0, 3),
            "max_s": round(max(values), 3),
        }
        for kind, values in sorted(stats.latency.items())
    }
    errors_total = sum(stats.errors.values())
    memory_ok = abs(change) <= 10.0
    first, last = samples[0], samples[-1]
    return {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {
            "minutes": args.minutes,
            "clients": f"{args.min_clients}-{args.max_clients}, one step a minute",
            "sample_every_s": args.sample_every,
            "warmup_s": warmup,
            "keep_uploads_per_client": args.keep_uploads,
            "think_s": [0.05, args.think],
            "seed": args.seed,
            "server": " ".join(["tqa", *server.command[1:]]),
            "server_env": {
                "TQA_MAX_FILE_MB": FILE_LIMIT_MB,
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "GRADIO_TEMP_DIR": "<work>/gtmp",
                **dict(item.split("=", 1) for item in args.server_env),
            },
            "corpus": "corpus/ (copied), index built by the server at start",
            "encoder_backend": run.backend,
            "memory_source": memory.source,
            "mix": "ask 44% (40% of them follow-ups when a conversation is open, 30% filtered), "
            "search 30% (30% for an upload's phrase), upload 13% (1-3 good files, a bad one "
            "half the time), remove 6% (and whenever a client holds more than "
            f"{args.keep_uploads}), bad request 5%, over-size file 2%; 3 in 4 /ask and /search "
            "calls through gradio_client, the rest plain HTTP",
            "no_writes": bool(args.no_writes),  # uploads and removals asked/searched instead
            "transfer_only": bool(args.transfer_only),  # uploads stop after /gradio_api/upload
            "bad_only": bool(args.bad_only),  # uploads of bad files only: nothing indexed
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "server": {
            "startup_s": round(startup, 1),
            "rss_at_start_mb": startup_sample["rss_mb"],
            "exit_code_after_sigint": returncode,
            "log": {k: v for k, v in log.items() if v},
        },
        "requests_total": sum(stats.requests.values()),
        "requests": dict(sorted(stats.requests.items())),
        "throughput_per_s": round(sum(stats.requests.values()) / run_s, 2),
        "latency": latency,
        "uploads": dict(sorted(stats.counts.items())),
        "errors": {
            "total": errors_total,
            "by_kind": dict(sorted(stats.errors.items())),
            "samples": stats.error_samples,
        },
        "memory": {
            "rss_after_warmup_mb": round(base, 1),
            "rss_at_end_mb": round(end, 1),
            "change_pct": round(change, 2),
            "how": f"medians of the samples in the {span:.0f} s before {warmup:.0f} s and in "
            "the last one of the run",
            "rss_min_after_warmup_mb": min(y for _, y in after) if after else None,
            "rss_max_after_warmup_mb": max(y for _, y in after) if after else None,
            "slope_after_warmup_mb_per_min": None if (s := slope(after)) is None else round(s, 3),
            "peak_rss_mb": final.get("peak_mb"),
            "threads_first_last": [first["threads"], last["threads"]],
            "open_files_first_last": [first["fds"], last["fds"]],
        },
        "grew_by_design": {
            "note": "Bounded here on purpose: each client keeps at most "
            f"{args.keep_uploads} uploads and reuses {3 * args.keep_uploads + 3} file names, "
            "so doc ids repeat and the chat's title table (which only grows: an earlier answer "
            "may still cite a removed document) stays small; sessions are one per client "
            "(gradio_client) plus one page session per client for the upload panel; each "
            "upload or removal writes a new index generation and deletes the previous one.",
            "stored_uploads_first_last": [first["stored_uploads"], last["stored_uploads"]],
            "index_mb_first_last": [first["index_mb"], last["index_mb"]],
            "gradio_tmp_files_first_last": [first["gradio_tmp_files"], last["gradio_tmp_files"]],
            "documents_added": stats.counts.get("documents_added", 0),
            "documents_removed": stats.counts.get("documents_removed", 0),
        },
        "pass": {
            "memory_within_10pct_of_warmup": memory_ok,
            "zero_errors": errors_total == 0,
            "passed": memory_ok and errors_total == 0,
        },
        "samples": samples,
    }


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        sys.exit(2)
