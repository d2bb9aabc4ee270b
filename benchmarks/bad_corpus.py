"""Bad input at scale: a folder of many bad files of every kind (and a 200 MB one) next to
the good corpus, indexed by a real `tqa index` while another program keeps rewriting some of
the files; then the fuzz tests with many more examples.

Checks and counts:
- every bad file is reported with the reason expected for its kind, and `tqa index` exits 3;
- every good file and every duplicate is indexed (distinct doc ids), passages verbatim;
- files rewritten in place during indexing are stored as one version (or a prefix of one, when
  the read caught a half-written file), with a content hash that matches the stored text;
- the 200 MB file is refused by size before it is read (and, with the limit raised, what
  reading it would cost: time and peak memory of `load_transcript` alone);
- `tests/test_fuzz.py` with TQA_FUZZ_EXAMPLES examples per test.

Everything is generated in a temporary folder and deleted afterwards. Run by hand:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bad_corpus.py --per-kind 10 --fuzz-examples 1000

Writes the "bad_corpus" and "fuzz" sections of benchmarks/results/reliability.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from embeddings import store  # noqa: E402
from qa.service import TranscriptQA  # noqa: E402

# TQA_RESULTS: write elsewhere, e.g. back into the checkout when running from a frozen copy
# (`git archive HEAD | tar -x -C /tmp/frozen`), so code edits during a long run cannot mix in.
RESULTS = Path(os.environ.get("TQA_RESULTS", ROOT / "benchmarks" / "results" / "reliability.json"))
HUGE_MB = 200


def _words(rng: random.Random, n: int) -> str:
    vocab = [
        "the",
        "harbour",
        "council",
        "budget",
        "wall",
        "ferry",
        "school",
        "vaccine",
        "strike",
        "port",
        "tunnel",
        "we",
        "will",
        "agreed",
    ]
    return " ".join(rng.choice(vocab) for _ in range(n)).capitalize() + "."


def _json_transcript(rng: random.Random) -> str:
    turns = [{"speaker": f"Speaker {i % 3}", "text": _words(rng, 12)} for i in range(8)]
    return json.dumps({"title": "A meeting", "date": "2024-01-01", "turns": turns})


# kind -> (file name suffix, maker(rng) -> bytes, regex the skip reason must match)
KINDS = {
    "empty": (".txt", lambda r: b"", r"file is empty"),
    "whitespace": (".vtt", lambda r: b" \n\t\n" * r.randint(1, 50), r"file is empty"),
    "binary": (".txt", lambda r: r.randbytes(2000) + b"\x00", r"binary file|not UTF-8|looks like"),
    "png": (".txt", lambda r: b"\x89PNG\r\n\x1a\n" + r.randbytes(500), r"looks like a PNG image"),
    "pdf": (".json", lambda r: b"%PDF-1.7\n" + r.randbytes(500), r"looks like a PDF document"),
    "cp1251": (
        ".txt",
        lambda r: f"Владимир Путин: {_words(r, 5)} Спасибо, коллеги.\n".encode("cp1251"),
        r"not UTF-8 text",
    ),
    "latin1": (
        ".srt",
        lambda r: f"1\n00:00:01,000 --> 00:00:02,000\nJosé Müller: {_words(r, 5)} Grüße.\n".encode(
            "latin-1"
        ),
        r"not UTF-8 text",
    ),
    "utf16": (".txt", lambda r: f"Ann Lee: {_words(r, 8)}\n".encode("utf-16"), r"UTF-16"),
    "truncated_json": (
        ".json",
        lambda r: _json_transcript(r).encode()[: -r.randint(2, 200)],
        r"malformed JSON|expected",
    ),
    "truncated_jsonl": (
        ".jsonl",
        lambda r: (
            "\n".join(json.dumps({"speaker": "Ann Lee", "text": _words(r, 6)}) for _ in range(5))
        ).encode()[: -r.randint(2, 30)],
        r"malformed JSON|line \d+|expected",
    ),
    "malformed_vtt": (
        ".vtt",
        lambda r: (
            f"WEBVTT\n\n00:00:{r.randint(60, 99)}.000 --> later\n<v Ann>{_words(r, 5)}\n".encode()
        ),
        r"malformed cue timing|expected",
    ),
    "malformed_srt": (
        ".srt",
        lambda r: f"1\n00:00:01,000 --> 00:00:0x,000\nAnn Lee: {_words(r, 5)}\n".encode(),
        r"expected|malformed|no ",
    ),
    "unknown_type": (
        ".docx",
        lambda r: b"PK\x03\x04" + r.randbytes(300),
        r"not a transcript file type",
    ),
}


def build_folder(folder: Path, per_kind: int, rng: random.Random) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for kind, (suffix, make, _) in KINDS.items():
        for i in range(per_kind):
            path = folder / "bad" / f"{kind}-{i}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(make(rng))
            files[kind].append(path)
    good = sorted(p for p in (ROOT / "corpus").iterdir() if p.suffix != ".md")
    files["good"] = []
    for p in good:
        shutil.copy(p, folder / p.name)
        files["good"].append(folder / p.name)
    files["duplicate_content"] = []  # same content, new name
    files["duplicate_name"] = []  # same name, another folder
    for p in good[:5]:
        copy = folder / f"copy-of-{p.name}"
        shutil.copy(p, copy)
        files["duplicate_content"].append(copy)
        (folder / "again").mkdir(exist_ok=True)
        shutil.copy(p, folder / "again" / p.name)
        files["duplicate_name"].append(folder / "again" / p.name)
    return files


def make_huge(path: Path, mb: int, rng: random.Random) -> None:
    """A real (not sparse) plain transcript of `mb` megabytes, written in chunks."""
    speakers = [f"Speaker {c}" for c in "ABCDEFGH"]
    block = "".join(f"{rng.choice(speakers)}: {_words(rng, 40)}\n" for _ in range(2000)).encode()
    with open(path, "wb") as fh:
        fh.write(b"Title: A very long hearing\nDate: 2024-01-01\n\n")
        while fh.tell() < mb * 1024 * 1024:
            fh.write(block)


class Rewriter(threading.Thread):
    """Another program saving files in place (truncate + write, not atomic) while we index."""

    def __init__(self, paths: list[Path], versions: list[str]) -> None:
        super().__init__(daemon=True)
        self.paths, self.versions = paths, versions
        self.stop = threading.Event()
        self.writes = 0

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            for path in self.paths:
                with open(path, "w", encoding="utf-8") as fh:
                    text = self.versions[i % len(self.versions)]
                    half = len(text) // 2
                    fh.write(text[:half])
                    fh.flush()
                    time.sleep(0.001)
                    fh.write(text[half:])
                self.writes += 1
            i += 1
            time.sleep(0.005)


def rewrite_versions(rng: random.Random) -> list[str]:
    return [
        f"Title: Draft {n}\nDate: 2024-02-0{n + 1}\n\nNora Quist: {_words(rng, 30)}\nOle Dahl: {_words(rng, 30)}\n"
        for n in range(3)
    ]


def huge_read_cost(path: Path) -> dict:
    """Time and peak memory of `load_transcript` on the huge file with the size limit raised."""
    code = (
        "import resource, sys, time\n"
        "from qa.ingest import load_transcript\n"
        "t = time.perf_counter()\n"
        "tr = load_transcript(sys.argv[1])\n"
        "print(time.perf_counter() - t, len(tr.turns),"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    env = {**os.environ, "TQA_MAX_FILE_MB": str(HUGE_MB * 2)}
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        return {"load_transcript": "did not finish in 900 s"}
    if out.returncode != 0:
        return {"load_transcript": f"failed: {out.stderr.strip().splitlines()[-1:]}"}
    seconds, turns, rss_kb = out.stdout.split()
    return {
        "load_transcript_seconds": round(float(seconds), 1),
        "turns": int(turns),
        "peak_rss_mb": round(int(rss_kb) / 1024),
    }


def run_bad_corpus(per_kind: int, seed: int) -> dict:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="tqa-bad-") as tmp:
        root = Path(tmp)
        folder = root / "corpus"
        folder.mkdir()
        files = build_folder(folder, per_kind, rng)
        huge = folder / "bad" / "huge.txt"
        began = time.perf_counter()
        make_huge(huge, HUGE_MB, rng)
        huge_seconds = time.perf_counter() - began
        versions = rewrite_versions(rng)
        raced = [folder / f"being-edited-{i}.txt" for i in range(3)]
        for p in raced:
            p.write_text(versions[0], encoding="utf-8")
        index = root / "index"
        rewriter = Rewriter(raced, versions)
        rewriter.start()
        began = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "qa.cli",
                "--quiet",
                "index",
                str(folder),
                "--index",
                str(index),
                "--json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        index_seconds = time.perf_counter() - began
        rewriter.stop.set()
        rewriter.join()
        report = json.loads(proc.stdout)
        reasons = {s["path"]: s["reason"] for s in report["skipped"]}

        handled: dict[str, dict] = {}
        problems: list[str] = []
        for kind, (_, _, pattern) in KINDS.items():
            ok = 0
            for path in files[kind]:
                reason = reasons.get(str(path))
                if reason is not None and re.search(pattern, reason):
                    ok += 1
                else:
                    problems.append(f"{kind}: {path.name}: {reason!r}")
            handled[kind] = {"files": len(files[kind]), "reported_with_reason": ok}
        huge_reason = reasons.get(str(huge), "")
        handled["huge_200mb"] = {
            "files": 1,
            "reported_with_reason": int("over the" in huge_reason and "MB limit" in huge_reason),
            "reason": huge_reason,
        }

        qa = TranscriptQA.open(index)
        docs = {d.doc_id for d in qa.documents()}
        manifest = store.read_manifest(index)
        for p in qa.snapshot.passages:
            if qa.transcript(p.doc_id).text[p.start : p.end] != p.text:
                problems.append(f"passage not verbatim: {p.doc_id}")
        for kind in ("good", "duplicate_content", "duplicate_name"):
            handled[kind] = {"files": len(files[kind])}
        expected_docs = (
            len(files["good"]) + len(files["duplicate_content"]) + len(files["duplicate_name"])
        )
        raced_ok = raced_skipped = 0
        for p in raced:
            doc_id = p.stem
            if doc_id not in docs:  # caught empty or half-written: fine if reported
                reason = reasons.get(str(p), "")
                raced_skipped += int(bool(reason))
                if not reason:
                    problems.append(f"raced file {p.name} neither indexed nor reported")
                continue
            stored = qa.transcript(doc_id)
            one_version = any(v == stored.text or v.startswith(stored.text) for v in versions)
            hash_ok = manifest.docs[doc_id]["hash"] == store.transcript_hash(stored)
            raced_ok += int(one_version and hash_ok)
            if not (one_version and hash_ok):
                problems.append(f"raced file {p.name}: one_version={one_version} hash_ok={hash_ok}")
        indexed_ok = len(docs) == expected_docs + len(raced) - raced_skipped
        if not indexed_ok:
            problems.append(f"{len(docs)} documents indexed, expected {expected_docs} + raced")
        huge_cost = huge_read_cost(huge)

    bad_files = sum(len(files[k]) for k in KINDS) + 1
    return {
        "command": f"HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bad_corpus.py --per-kind {per_kind} --seed {seed}",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "exit_code": proc.returncode,
        "exit_code_says_skipped": proc.returncode == 3,
        "bad_files": bad_files,
        "bad_files_reported_with_reason": sum(
            v["reported_with_reason"] for k, v in handled.items() if "reported_with_reason" in v
        ),
        "documents_indexed": len(docs),
        "documents_expected": expected_docs + len(raced) - raced_skipped,
        "good_and_duplicates_indexed": indexed_ok,
        "by_kind": handled,
        "rewritten_during_indexing": {
            "files": len(raced),
            "rewrites_while_indexing": rewriter.writes,
            "stored_as_one_version_with_matching_hash": raced_ok,
            "caught_mid_write_and_reported": raced_skipped,
        },
        "index_seconds": round(index_seconds, 1),
        "huge_file": {"size_mb": HUGE_MB, "write_seconds": round(huge_seconds, 1), **huge_cost},
        "problems": problems,
    }


def run_fuzz(examples: int) -> dict:
    env = {**os.environ, "TQA_FUZZ_EXAMPLES": str(examples)}
    began = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_fuzz.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    # "- 1000 passing, 0 failing, and 3 invalid test cases" (per test and phase)
    passing = sum(int(n) for n in re.findall(r"(\d+) passing", proc.stdout))
    failing = sum(int(n) for n in re.findall(r"(\d+) failing", proc.stdout))
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    return {
        "command": f"TQA_FUZZ_EXAMPLES={examples} HF_HUB_OFFLINE=1 .venv/bin/pytest tests/test_fuzz.py --hypothesis-show-statistics",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "max_examples_per_test": examples,
        "examples_run": passing + failing,
        "failing_examples": failing,
        "pytest": summary,
        "passed": proc.returncode == 0,
        "seconds": round(time.perf_counter() - began, 1),
    }


def write_section(name: str, data: dict) -> None:
    """Merge one section into the results file (locked: the benchmarks may run side by side)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / "tqa-reliability.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[name] = data
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-kind", type=int, default=10, help="bad files of each kind")
    parser.add_argument("--fuzz-examples", type=int, default=1000, help="0 skips the fuzz run")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--huge-mb", type=int, default=200, help="size of the huge file")
    args = parser.parse_args()
    global HUGE_MB
    HUGE_MB = args.huge_mb
    section = run_bad_corpus(args.per_kind, args.seed)
    write_section("bad_corpus", section)
    print(json.dumps({k: v for k, v in section.items() if k != "by_kind"}, indent=2))
    failed = bool(section["problems"]) or not section["exit_code_says_skipped"]
    if args.fuzz_examples:
        fuzz = run_fuzz(args.fuzz_examples)
        write_section("fuzz", fuzz)
        print(json.dumps(fuzz, indent=2))
        failed = failed or not fuzz["passed"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
