"""One index in one place, and clean failures (issue 13, items 7 and 8).

- every command (`tqa index/ask/search/info/serve`, `ui.app.open_or_build`) finds the index at
  `--index`, else `$TQA_INDEX`, else `.tqa-index` here; `tqa serve --corpus X` builds it there,
  `tqa info` then finds it, `tqa serve` alone serves it or says in one line what to run;
- a busy port is one `error: port N is in use; try --port M` line, exit 1, before any loading;
- bad `/ask` and `/search` input is one line in the server log and a 400 with a JSON error;
- `-q` after the command; skipped files reported once;
- `--aliases FILE` for `tqa index`, `tqa serve` and `tqa eval --corpus`, kept in the index;
- `--since/--until` and the chat's date fields read dates as questions do, `until` to the end.

Tests that start a server run `tqa serve` in a subprocess on a free port, with timeouts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from ports import free_port

from qa import locations
from qa.cli import cli
from qa.errors import QueryError
from qa.query import parse_date_bound

TQA = str(Path(sys.executable).parent / "tqa")
START_TIMEOUT = 240  # seconds for a server to build a 3-file index, load the model and listen


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixtures_dir: Path) -> Path:
    """A fresh working folder with `corpus/` (the three retrieval fixtures), no $TQA_INDEX."""
    monkeypatch.delenv("TQA_INDEX", raising=False)
    shutil.copytree(fixtures_dir / "retrieval", tmp_path / "corpus")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(runner: CliRunner, *args: object):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "TQA_INDEX"}
    out.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", GRADIO_ANALYTICS_ENABLED="False")
    return out


@contextmanager
def tqa_serve(cwd: Path, *args: object) -> Iterator[tuple[str, Path]]:
    """`tqa serve ARGS --port FREE` in `cwd` until it answers HTTP; yields (url, stderr file)."""
    port = free_port()
    out, err = cwd / f"serve-{port}.out", cwd / f"serve-{port}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [TQA, "serve", *map(str, args), "--port", str(port)],
            cwd=cwd,
            env=env(),
            stdout=stdout,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, f"tqa serve exited {proc.returncode}: {err.read_text()}"
            assert time.monotonic() < deadline, f"no server after {START_TIMEOUT} s"
            try:
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield url, err
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


# ---------------------------------------------------------------- 7. one index, one place


def test_the_default_index_is_tqa_index_here_unless_tqa_index_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TQA_INDEX", raising=False)
    assert locations.default_index_dir() == Path(".tqa-index")
    assert locations.index_dir(None) == locations.index_dir("") == Path(".tqa-index")
    assert locations.index_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("TQA_INDEX", str(tmp_path / "elsewhere"))
    assert locations.index_dir() == tmp_path / "elsewhere"
    assert locations.index_dir(tmp_path / "given") == tmp_path / "given"  # --index wins


def test_index_ask_search_info_and_the_chat_agree_on_the_index(
    runner: CliRunner, here: Path
) -> None:
    from ui.app import open_or_build

    built = run(runner, "-q", "index", "corpus", "--json")
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["index"] == ".tqa-index"
    assert (here / ".tqa-index").is_dir()
    info = json.loads(run(runner, "info", "--json").stdout)
    assert info["index"] == ".tqa-index" and info["documents"] == 3
    hits = json.loads(run(runner, "search", "rail tunnel", "--json").stdout)
    assert hits and hits[0]["speaker"] == "Lena Falk"
    answer = json.loads(run(runner, "ask", "When will the rail tunnel open?", "--json").stdout)
    assert answer["quotes"]
    # The chat's loader opens that same folder (with or without the corpus) and rebuilds nothing.
    qa = open_or_build("corpus", None, show_progress=False)
    assert qa.index_dir == Path(".tqa-index") and qa.last_update_stats.embedded == 0
    assert open_or_build(None, None, show_progress=False).index_dir == Path(".tqa-index")


def test_serve_without_an_index_says_in_one_line_what_to_run(runner: CliRunner, here: Path) -> None:
    result = run(runner, "serve")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: .tqa-index: no index here; run `tqa serve --corpus corpus` "
        "(or `tqa index corpus`) first\n"
    )
    shutil.rmtree(here / "corpus")
    result = run(runner, "serve")
    assert result.exit_code == 1 and "`tqa serve --corpus FOLDER`" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_make_run_then_info_then_serve_alone(here: Path) -> None:
    """`make run` is `tqa serve --corpus corpus`: `tqa info` in the same folder finds its
    index, and `tqa serve` with no arguments serves it (and refuses bad API input cleanly)."""
    with tqa_serve(here, "--corpus", "corpus", "-q"):
        pass
    info = subprocess.run(
        [TQA, "info", "--json"], cwd=here, env=env(), capture_output=True, text=True, timeout=120
    )
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["index"] == ".tqa-index"
    assert json.loads(info.stdout)["documents"] == 3
    assert not (here / ".index").exists()  # the chat's old per-corpus place
    with tqa_serve(here) as (url, stderr):
        api = url + "/gradio_api/run/search"
        good = httpx.post(api, json={"data": ["rail tunnel"]}, timeout=60)  # defaults filled in
        assert good.status_code == 200
        assert good.json()["data"][0]["hits"][0]["speaker"] == "Lena Falk"
        for body, status, message in [
            (
                {"data": ["rail", 5, "", "yesterday-ish"]},
                400,
                "since='yesterday-ish' is not a date",
            ),
            ({"data": ["rail", "many"]}, 400, "k='many'"),
            ({"data": ["rail", 5, {"x": 1}]}, 400, "speaker must be text"),
            ({"data": "rail"}, 400, '{"data": [query, k, speaker, since, until, doc]}'),
            ({"data": list(range(7))}, 400, "takes at most 6"),
        ]:
            response = httpx.post(api, json=body, timeout=60)
            assert response.status_code == status, (body, response.text)
            assert message in response.json()["error"], (body, response.json())
        broken = httpx.post(api, content=b"{not json", timeout=60)
        assert broken.status_code == 400 and "not JSON" in broken.json()["error"]
        ask = httpx.post(
            url + "/gradio_api/run/ask", json={"data": ["budget", "", "", "", "", {"a": 1}]}
        )
        assert ask.status_code == 400 and "history items" in ask.json()["error"]
        time.sleep(0.5)
        log = stderr.read_text()
    assert "Traceback" not in log, log
    refused = [line for line in log.splitlines() if "bad request" in line]
    assert len(refused) == 7, log  # one line per refused request
    assert all(
        line.startswith(("/search: bad request: ", "/ask: bad request: ")) for line in refused
    )


# ---------------------------------------------------------------- 8. a busy port


def test_a_busy_port_is_one_line_and_exit_1_before_loading_anything(
    small_index: Path, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [TQA, "serve", "--index", str(small_index), "--port", str(port)],
            cwd=tmp_path,
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        seconds = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    prefix = f"error: port {port} is in use; try --port "
    assert lines[0].startswith(prefix), lines
    suggested = int(lines[0][len(prefix) :])
    assert suggested > port
    with socket.socket() as s:  # the suggestion is a port one can listen on
        s.bind(("127.0.0.1", suggested))
    assert seconds < 30  # checked before the index, the model or Gradio load


def test_check_port_names_the_next_free_port() -> None:
    from ui.ports import PortInUseError, check_port, port_free

    with socket.socket() as a:
        a.bind(("127.0.0.1", 0))
        a.listen()
        port = a.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        with pytest.raises(PortInUseError, match=rf"^port {port} is in use; try --port \d+$"):
            check_port("127.0.0.1", port)
    check_port("127.0.0.1", free_port())  # free: no error


# ---------------------------------------------------------------- 8. bad API input


def test_bad_request_logs_one_line_and_raises_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ui.api import BAD_REQUEST, bad_request

    with caplog.at_level(logging.WARNING, logger="ui.api"):
        error = bad_request("search", QueryError("since='x' is\nnot a date"))
    assert error.print_exception is False and error.title == BAD_REQUEST
    assert [r.getMessage() for r in caplog.records] == [
        "/search: bad request: since='x' is not a date"
    ]


def test_request_data_defaults_missing_values_and_refuses_bad_bodies() -> None:
    from ui.api import request_data

    assert request_data("search", b'{"data": ["pay deal"]}') == ["pay deal", 10, "", "", "", ""]
    assert request_data("ask", b'{"data": ["q", "Mia Holm"]}') == [
        "q",
        "Mia Holm",
        "",
        "",
        "",
        None,
    ]
    for body, message in [
        (b"", "not JSON"),
        (b"[1]", "a list of values"),
        (b'{"data": {}}', "a list of values"),
        (b'{"data": []}', "at least the question"),
        (b'{"data": [1, 2, 3, 4, 5, 6, 7]}', "at most 6"),
    ]:
        with pytest.raises(ValueError, match=message):
            request_data("ask", body)


# ---------------------------------------------------------------- 8. -q, skipped files once


def test_quiet_after_the_command_and_skipped_files_reported_once(here: Path) -> None:
    (here / "corpus" / "empty.txt").write_text("")
    (here / "corpus" / "utf16.txt").write_bytes("Anna: hej".encode("utf-16"))
    result = subprocess.run(
        [TQA, "index", "corpus", "-q"],
        cwd=here,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith(".tqa-index: 3 documents")
    assert result.stderr.splitlines() == [
        f"skipped {Path('corpus') / 'empty.txt'}: file is empty: expected a transcript",
        f"skipped {Path('corpus') / 'utf16.txt'}: file is UTF-16 encoded: expected UTF-8 text "
        "(re-save it as UTF-8)",
        "2 file(s) skipped",
    ]  # once each, and no progress bars: -q after the command is --quiet


def test_quiet_is_accepted_after_every_command(runner: CliRunner, small_index: Path) -> None:
    for args in (
        ["search", "rail", "--index", small_index, "-q"],
        ["ask", "When will the tunnel open?", "--index", small_index, "--quiet"],
        ["info", "--index", small_index, "-q"],
    ):
        result = run(runner, *args)
        assert result.exit_code == 0, (args, result.output)
    for command in ("index", "search", "ask", "serve", "eval", "convert", "info"):
        assert "--quiet" in run(runner, command, "--help").output


# ---------------------------------------------------------------- 8. --aliases


def test_aliases_file_names_speakers_and_stays_with_the_index(
    runner: CliRunner, here: Path
) -> None:
    aliases = here / "aliases.json"
    aliases.write_text(json.dumps({"Minister Lena Falk": ["Lena Falk", "L. Falk"]}))
    built = run(runner, "-q", "index", "corpus", "--aliases", aliases)
    assert built.exit_code == 0, built.output
    info = json.loads(run(runner, "info", "--json").stdout)
    assert "Minister Lena Falk" in info["top_speakers"] and "Lena Falk" not in info["top_speakers"]
    assert info["aliases"] == {"Minister Lena Falk": ["Lena Falk", "L. Falk"]}
    assert "aliases    1 people" in run(runner, "info").stdout
    # A name only the alias file knows finds the person.
    hits = json.loads(run(runner, "search", "prices", "--speaker", "L. Falk", "--json").stdout)
    assert hits and {h["speaker"] for h in hits} == {"Minister Lena Falk"}
    # A later `tqa index` without --aliases keeps the index's table (and re-embeds nothing).
    again = json.loads(run(runner, "-q", "index", "corpus", "--json").stdout)
    assert again["embedded"] == 0 and again["changed"] == 0
    assert "Minister Lena Falk" in json.loads(run(runner, "info", "--json").stdout)["top_speakers"]
    # The chat's loader takes one too (`tqa serve --aliases FILE`), without a corpus.
    from ui.app import open_or_build

    other = here / "other.toml"
    other.write_text('"Karl Vik" = ["Councillor Vik"]\n"Falk" = ["Lena Falk"]\n')
    qa = open_or_build(None, None, show_progress=False, aliases=other)
    assert "Falk" in qa.speakers() and "Minister Lena Falk" not in qa.speakers()
    assert qa.resolve_speaker("Councillor Vik") == "Karl Vik"
    # A broken alias file is one line, exit 1.
    broken = here / "broken.json"
    broken.write_text("{nope")
    result = run(runner, "index", "corpus", "--aliases", broken)
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert "alias file is not valid JSON" in result.stderr and result.stderr.count("\n") == 1


def test_aliases_is_an_option_of_index_serve_and_eval(runner: CliRunner) -> None:
    for command in ("index", "serve", "eval"):
        assert "--aliases" in run(runner, command, "--help").output


# ---------------------------------------------------------------- 8. dates as questions take them


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("June 2024", dt.date(2024, 6, 1), dt.date(2024, 6, 30)),
        ("june 2024", dt.date(2024, 6, 1), dt.date(2024, 6, 30)),
        ("2024-06", dt.date(2024, 6, 1), dt.date(2024, 6, 30)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2024", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        ("2024-06-03", dt.date(2024, 6, 3), dt.date(2024, 6, 3)),
        ("3 June 2024", dt.date(2024, 6, 3), dt.date(2024, 6, 3)),
        ("June 3, 2024", dt.date(2024, 6, 3), dt.date(2024, 6, 3)),
        ("", None, None),
    ],
)
def test_date_fields_read_dates_as_questions_do(
    text: str, since: dt.date | None, until: dt.date | None
) -> None:
    from ui.app import parse_date

    assert parse_date_bound(text) == since and parse_date_bound(text, end=True) == until
    assert parse_date(text) == since and parse_date(text, end=True) == until  # the chat's fields


@pytest.mark.parametrize("text", ["yesterday", "June", "2024-13", "2024-02-30", "12", "x" * 60])
def test_date_fields_refuse_what_is_not_a_date(text: str) -> None:
    from ui.app import parse_date

    with pytest.raises(QueryError, match="is not a date"):
        parse_date_bound(text, name="--since")
    with pytest.raises(QueryError, match="is not a date"):
        parse_date(text)


def test_cli_since_until_take_months_and_words(runner: CliRunner, small_index: Path) -> None:
    def docs(*args: object) -> set[str]:
        result = run(runner, "search", "the", "--k", "20", "--json", "--index", small_index, *args)
        assert result.exit_code == 0, result.output
        return {h["date"] for h in json.loads(result.stdout)}

    # The fixtures are dated 2021-03-04, 2022-09-12 and 2023-05-20.
    assert docs("--since", "May 2023", "--until", "May 2023") == {"2023-05-20"}
    assert docs("--until", "2023-05") == {"2021-03-04", "2022-09-12", "2023-05-20"}  # to May 31
    assert docs("--until", "2023-05-19") == {"2021-03-04", "2022-09-12"}
    assert docs("--since", "2022", "--until", "2022") == {"2022-09-12"}
    bad = run(runner, "search", "x", "--since", "June", "--index", small_index)
    assert bad.exit_code == 1 and bad.stderr.startswith("error: --since='June' is not a date")
    reversed_range = run(
        runner, "search", "x", "--since", "2023", "--until", "2022", "--index", small_index
    )
    assert reversed_range.exit_code == 1 and "is after --until" in reversed_range.stderr
