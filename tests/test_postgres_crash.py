"""SIGKILL the indexer mid-update, 20 times, against a real PostgreSQL: old or new, never a mix.

The indexer is a forked child (`tests/pg_crash_child.py`'s `run`, forked from this process so
a kill costs no imports and no model load) that counts its database steps (statements, `COPY`
rows, transaction ends) and dies by SIGKILL at a chosen one: nothing after it runs. The update
is a real mix of changes: one document removed, one changed, one added, two unchanged, and no
passage needs a new embedding (the changed and the added document take a kept document's
text, whose vectors are reused), so no process here loads the model after the first build.

Each trial starts from a copy of the old database (`CREATE DATABASE … TEMPLATE`), kills the
child, and compares what the database holds with the old and the new state: document ids,
content hashes, the stored transcripts, passage counts (the documents' and the rows'), every
passage's offsets, BM25's totals, search results, and every hit verbatim at its offsets. Then
a re-run of the same update must finish (the killed writer's lock went with its connection)
and reach the new state.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import Server, running_server

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "fixtures" / "retrieval"
EXTRA = ROOT / "corpus" / "2023-09-27_winter_shield_vaccine_launch.txt"
TQA = Path(sys.executable).with_name("tqa")
KILLS = 20
QUERIES = ["harbour wall concrete", "free school lunches", "rail tunnel ticket prices", "vaccine"]


@pytest.fixture(scope="module")
def pg() -> Iterator[Server]:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork() for the killed children")
    yield from running_server("the Postgres crash test")


def _admin(pg: Server, *statements: str) -> None:
    import psycopg

    with psycopg.connect(pg.uri, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def _db_uri(pg: Server, name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{pg.port}/{name}?schema=tqa"


def signature(uri: str) -> tuple[Any, ...]:
    """Everything a reader can observe of the index, after checking it is consistent."""
    from qa.stores.postgres import Database, PostgresQA

    db = Database(uri)
    conn = db.connect()
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                db.q(
                    "SELECT d.doc_id, d.hash, d.n_passages, md5(d.transcript), "
                    "(SELECT count(*) FROM {s}.passages p WHERE p.doc_id = d.doc_id) "
                    "FROM {s}.documents d ORDER BY d.doc_id"
                )
            )
            docs = tuple(cur.fetchall())
            cur.execute(db.q("SELECT n_passages, total_len FROM {s}.manifest"))
            totals = cur.fetchone()
            light = db.light(cur)
    finally:
        conn.close()
    for doc_id, _, n_passages, _, rows in docs:
        assert n_passages == rows, f"{doc_id}: manifest says {n_passages} passages, {rows} rows"
    qa = PostgresQA(uri, light, None)  # type: ignore[arg-type]  # BM25 only: no model
    try:
        assert qa.verify() > 0  # postings, totals and offsets agree with each other
        passages = tuple((p.doc_id, p.turn, p.start, p.end) for p in light.passages)
        for p in light.passages:
            turn = light.transcripts[p.doc_id].turns[p.turn]
            assert turn.start <= p.start < p.end <= turn.end
        results = []
        for query in QUERIES:
            hits = qa.search(query, k=5, mode="bm25")
            for h in hits:
                text = light.transcripts[h.passage.doc_id].text
                assert text[h.passage.start : h.passage.end] == h.passage.text
            results.append(tuple((h.passage.doc_id, h.passage.start) for h in hits))
    finally:
        reader = getattr(qa.db._local, "conn", None)
        if reader is not None:
            reader.close()
    return docs, totals, passages, tuple(results)


def _child(uri: str, corpus: str, kill_at: int, delay_ms: float, out: Any) -> None:
    from pg_crash_child import run

    try:
        out.send(run(uri, corpus, kill_at, delay_ms))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.send({"error": repr(exc)})
    os._exit(0)


def run_child(uri: str, corpus: Path, kill_at: int, delay_ms: float = 0.0) -> tuple[int, Any]:
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(uri, str(corpus), kill_at, delay_ms, send))
    proc.start()
    send.close()
    proc.join(timeout=120)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f"the indexer hung (kill_at {kill_at}): a lock left by a killed writer?")
    try:
        got = receive.recv() if receive.poll() else None
    except EOFError:  # killed before it could say anything
        got = None
    receive.close()
    assert proc.exitcode is not None
    return proc.exitcode, got


@pytest.fixture(scope="module")
def prepared(pg: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(corpus in its new state, URI of the old state's database, the template)."""
    corpus = tmp_path_factory.mktemp("pg-crash") / "corpus"
    shutil.copytree(SMALL, corpus)
    shutil.copy(EXTRA, corpus / "vaccine.txt")
    _admin(pg, "DROP DATABASE IF EXISTS pristine WITH (FORCE)", "CREATE DATABASE pristine")
    pristine = _db_uri(pg, "pristine")
    # Built by `tqa index` in its own process: this one never loads the model (it forks).
    built = subprocess.run(
        [str(TQA), "-q", "index", str(corpus), "--index", pristine],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    assert built.returncode == 0, built.stderr[-2000:]
    # The new state: vaccine removed, press changed (now the school debate's text), school
    # copied under a new name; harbour and school unchanged.
    (corpus / "vaccine.txt").unlink()
    shutil.copy(corpus / "school.txt", corpus / "press.txt")
    shutil.copy(corpus / "school.txt", corpus / "school-again.txt")
    return corpus, pristine


def _fresh_trial(pg: Server) -> str:
    _admin(
        pg,
        "DROP DATABASE IF EXISTS trial WITH (FORCE)",
        "CREATE DATABASE trial TEMPLATE pristine STRATEGY FILE_COPY",
    )
    return _db_uri(pg, "trial")


def test_killed_updates_leave_the_old_or_the_new_state(
    pg: Server, prepared: tuple[Path, str]
) -> None:
    corpus, pristine = prepared
    old = signature(pristine)
    assert {d[0] for d in old[0]} == {"harbour", "press", "school", "vaccine"}

    # Dry run: how many steps the update takes, where it commits, and the new state.
    uri = _fresh_trial(pg)
    code, dry = run_child(uri, corpus, 0)
    assert code == 0 and "error" not in dry, dry
    steps, commit = dry["steps"], dry["commit"]
    assert 30 < commit < steps, dry  # reads, deletes, COPY rows, the manifest, then COMMIT
    new = signature(uri)
    assert {d[0] for d in new[0]} == {"harbour", "press", "school", "school-again"}
    changed = {d[0]: d[1] for d in old[0]}["press"] != {d[0]: d[1] for d in new[0]}["press"]
    assert changed and new != old

    seed = random.randrange(10**6)
    rng = random.Random(seed)
    strata = KILLS - 4
    # Kill points: one in each of `strata` equal slices before the COMMIT (reads, deletes,
    # COPY rows, the manifest row), the COMMIT itself (before it is sent, and 1 and 3 ms
    # after: the server may or may not have committed), and the first step after it.
    plan = [
        (rng.randint(1 + (commit - 1) * i // strata, max(1, (commit - 1) * (i + 1) // strata)), 0)
        for i in range(strata)
    ]
    plan += [(commit, 0.0), (commit, 1.0), (commit, 3.0), (commit + 1, 0.0)]
    outcomes = []
    for kill_at, delay in plan:
        uri = _fresh_trial(pg)
        code, got = run_child(uri, corpus, kill_at, delay)
        where = f"seed {seed}: kill at step {kill_at} (+{delay} ms) of {steps}, commit {commit}"
        if code == 0:  # a delayed kill at the COMMIT can come after the child finished
            assert delay > 0, (where, got)
        else:
            assert code == -signal.SIGKILL, (where, code, got)
        state = signature(uri)
        assert state in (old, new), where
        outcome = "new" if state == new else "old"
        if kill_at < commit or (kill_at == commit and delay == 0):
            assert outcome == "old", where  # the COMMIT was never sent
        if kill_at > commit:
            assert outcome == "new", where  # it was committed before the kill
        outcomes.append(outcome)
        # Recovery: the same update run again finishes and reaches the new state.
        code, got = run_child(uri, corpus, 0)
        assert code == 0 and "error" not in got, (where, got)
        assert signature(uri) == new, where
    assert len(outcomes) == KILLS and "old" in outcomes and "new" in outcomes
    print(json.dumps({"seed": seed, "steps": steps, "commit": commit, "outcomes": outcomes}))
    _admin(pg, "DROP DATABASE IF EXISTS trial WITH (FORCE)")
