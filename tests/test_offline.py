"""Nothing leaves the machine: an index build and a question make no network attempt.

The exported backends pull in ONNX Runtime and OpenVINO, which both phone home unless told not
to (OpenVINO's import sends a usage event, ONNX Runtime 1.31 resolves its events host). A child process builds an index of corpus/ on the
default backend, exporting the model into an empty cache first, then asks a question. Every
connection attempt is counted twice: by a Python audit hook (socket.connect, getaddrinfo)
and, where strace exists, at the system-call level, which also sees C++ code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import json, sys
    attempts = []

    def hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto"):
            attempts.append([event, repr(args)[:200]])

    sys.addaudithook(hook)
    from qa.service import TranscriptQA

    qa = TranscriptQA.build(sys.argv[1], sys.argv[2], show_progress=False)
    answer = qa.ask("What was agreed about the strike?")
    hits = qa.search("seawall", k=3)
    print(json.dumps({
        "attempts": attempts,
        "backend": qa.snapshot.manifest.backend,
        "quotes": len(answer.quotes),
        "hits": len(hits),
    }))
    """
)


def _run(cmd: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["TQA_MODEL_CACHE"] = str(tmp_path / "cache")  # the export happens inside the traced run
    env["PYTHONPATH"] = str(ROOT)
    for key in ("CI", "OPENVINO_TELEMETRY_OPT_OUT", "ORT_DISABLE_TELEMETRY"):  # no user opt-outs
        env.pop(key, None)
    env["HOME"] = str(tmp_path / "home")  # no consent file from an earlier opt-out either
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def _child(tmp_path: Path) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    return [sys.executable, str(script), str(ROOT / "corpus"), str(tmp_path / "index")]


def test_build_and_ask_make_no_connection_attempt(tmp_path: Path) -> None:
    strace = shutil.which("strace")
    trace = tmp_path / "trace"
    cmd = _child(tmp_path)
    if strace:
        cmd = [strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace), *cmd]
    done = _run(cmd, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["quotes"] > 0 and report["hits"] > 0  # it really built and answered
    assert report["attempts"] == []
    if strace:
        inet = [
            line
            for line in trace.read_text(encoding="utf-8", errors="replace").splitlines()
            if "AF_INET" in line  # AF_INET6 too; local AF_UNIX sockets (nscd) are no network
        ]
        assert inet == [], "\n".join(inet[:20])
