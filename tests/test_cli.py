"""The `tqa` command line through click's CliRunner: help, exit codes, human and JSON output."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from qa.cli import EXIT_SKIPPED, cli
from qa.service import TranscriptQA


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def run(runner, *args, env=None):
    return runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def test_help_lists_commands_and_examples(runner):
    result = run(runner, "--help")
    assert result.exit_code == 0
    for command in ("index", "search", "ask", "serve", "eval", "convert", "info"):
        assert command in result.output
    assert "tqa index corpus/" in result.output
    for command in ("index", "search", "ask", "serve", "eval", "convert", "info"):
        sub = run(runner, command, "--help")
        assert sub.exit_code == 0 and "Usage:" in sub.output


def test_usage_errors_exit_2(runner, small_index):
    assert run(runner, "search").exit_code == 2  # missing QUERY
    bad_mode = run(runner, "search", "x", "--mode", "fuzzy", "--index", small_index)
    assert bad_mode.exit_code == 2 and "fuzzy" in bad_mode.output
    assert run(runner, "search", "x", "--k", "0", "--index", small_index).exit_code == 2
    assert run(runner, "convert", "squad", "a", "b").exit_code == 2
    assert (
        run(runner, "eval", "q.jsonl", "--modes", "bm25,magic", "--index", small_index).exit_code
        == 2
    )


def test_user_errors_are_one_line_and_exit_1(runner, small_index, tmp_path):
    missing = run(runner, "search", "x", "--index", tmp_path / "nowhere")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: ") and "tqa index" in missing.stderr
    assert missing.stderr.count("\n") == 1
    bad_date = run(runner, "search", "x", "--since", "yesterday-ish", "--index", small_index)
    assert bad_date.exit_code == 1 and bad_date.stderr.startswith("error: ")
    assert "Traceback" not in bad_date.output
    questions = tmp_path / "qs.jsonl"
    questions.write_text('{"question": "ok", "answer": "a"}\n{"question": 5}\n')
    bad_file = run(runner, "eval", questions, "--index", small_index, "--no-ask")
    assert bad_file.exit_code == 1
    assert (
        bad_file.stderr.strip() == f"error: {questions}:2: missing or empty 'question' (a string)"
    )


def test_search_json_is_verbatim_and_filtered(runner, small_index):
    result = run(
        runner, "search", "concrete repairs cost", "--k", "10", "--json", "--index", small_index
    )
    assert result.exit_code == 0
    hits = json.loads(result.stdout)
    assert 3 <= len(hits) <= 10
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    qa = TranscriptQA.open(small_index)
    for h in hits:
        source = qa.transcript(h["doc_id"]).text
        assert source[h["start"] : h["end"]] == h["text"]
    assert "two million crowns" in " ".join(h["text"] for h in hits)
    only = run(
        runner, "search", "prices", "--speaker", "Lena Falk", "--json", "--index", small_index
    )
    assert {h["speaker"] for h in json.loads(only.stdout)} == {"Lena Falk"}
    human = run(runner, "search", "rail tunnel open", "--k", "1", "--index", small_index)
    assert human.exit_code == 0 and human.stdout.startswith(" 1. Lena Falk")


def test_ask_json_quotes_come_from_the_source(runner, small_index):
    result = run(runner, "ask", "When will the rail tunnel open?", "--json", "--index", small_index)
    assert result.exit_code == 0
    answer = json.loads(result.stdout)
    assert answer["question"] == "When will the rail tunnel open?"
    qa = TranscriptQA.open(small_index)
    assert answer["quotes"], answer
    for q in answer["quotes"]:
        assert qa.transcript(q["doc_id"]).text[q["start"] : q["end"]] == q["text"]
    assert "October" in answer["quotes"][0]["text"]


def test_info_json_counts_the_index(runner, small_index, fixtures_dir):
    result = run(runner, "info", "--json", "--docs", "--index", small_index)
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    n_files = len(list((fixtures_dir / "retrieval").iterdir()))
    assert info["documents"] == len(info["document_list"]) == n_files
    assert info["passages"] == sum(d["passages"] for d in info["document_list"])
    assert info["model"] == "all-MiniLM-L6-v2"
    assert info["query_adapter"] is True  # the bundled model ships one
    assert info["first_date"] <= info["last_date"]
    assert info["size_bytes"] > 0
    assert "Lena Falk" in info["top_speakers"]


def test_index_reports_skipped_files_with_exit_3(runner, fixtures_dir, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(fixtures_dir / "retrieval" / "press.txt", corpus)
    (corpus / "empty.txt").write_text("")
    index = tmp_path / "index"
    result = run(runner, "--quiet", "index", corpus, "--index", index, "--json")
    assert result.exit_code == EXIT_SKIPPED == 3
    report = json.loads(result.stdout)
    assert report["documents"] == 1 and report["added"] == 1
    assert [s["path"] for s in report["skipped"]] == [str(corpus / "empty.txt")]
    assert "skipped" in result.stderr and "empty.txt" in result.stderr
    # The good file is indexed and searchable; a re-run with nothing changed embeds nothing.
    (corpus / "empty.txt").unlink()
    again = run(runner, "--quiet", "index", corpus, "--index", index, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["embedded"] == 0


def test_default_index_comes_from_env(runner, small_index, tmp_path):
    result = run(runner, "info", "--json", env={"TQA_INDEX": str(small_index)})
    assert result.exit_code == 0 and json.loads(result.stdout)["index"] == str(small_index)


def test_convert_qmsum_and_friendsqa(runner, fixtures_dir, tmp_path):
    out = tmp_path / "q.jsonl"
    result = run(
        runner, "convert", "qmsum", fixtures_dir / "eval" / "qmsum", out, "--scope", "within"
    )
    assert result.exit_code == 0 and "wrote 3 questions from 2 documents" in result.stdout
    assert len(out.read_text().splitlines()) == 3
    fqa = tmp_path / "f.jsonl"
    result = run(
        runner, "convert", "friendsqa", fixtures_dir / "eval" / "friendsqa_mini.json", fqa, "--json"
    )
    data = json.loads(result.stdout)
    assert data["questions"] == 4 and data["transcripts_dir"] == str(tmp_path / "f_transcripts")
    assert len(list((tmp_path / "f_transcripts").glob("*.json"))) == 2


def test_eval_on_a_small_index_writes_reports(runner, small_index, tmp_path):
    questions = tmp_path / "small.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {
                    "question": "What do the concrete repairs cost?",
                    "evidence": "two million crowns",
                    "kind": "cost",
                },
                {
                    "question": "When does the rail tunnel open?",
                    "answer": "October",
                    "kind": "when",
                },
                {
                    "question": "Will ticket prices rise?",
                    "evidence": "prices stay frozen",
                    "kind": "cost",
                },
            ]
        )
        + "\n"
    )
    out = tmp_path / "out"
    result = run(runner, "-q", "eval", questions, "--index", small_index, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["summary"]) == {"bm25", "dense", "hybrid"}
    # Three easy questions over three tiny documents: everything is found in the top 5.
    assert report["summary"]["hybrid"]["hit@5"] == 1.0
    assert report["ask"]["n"] == 3
    assert set(report["by_kind"]) == {"cost", "when"}
    for suffix in ("json", "md", "png"):
        assert (out / f"small.{suffix}").stat().st_size > 0
    assert (out / "small.png").read_bytes()[:4] == b"\x89PNG"
    assert "| hit@1 |" in (out / "small.md").read_text()


def test_compare_two_chunk_sizes_with_bootstrap_intervals(
    runner, small_index, fixtures_dir, tmp_path
):
    small_chunks = tmp_path / "small-chunks"
    built = run(
        runner,
        "-q",
        "index",
        fixtures_dir / "retrieval",
        "--index",
        small_chunks,
        "--max-words",
        "8",
        "--json",
    )
    assert built.exit_code == 0
    default_passages = json.loads(run(runner, "info", "--json", "--index", small_index).stdout)[
        "passages"
    ]
    assert json.loads(built.stdout)["passages"] > default_passages  # smaller windows, more passages
    questions = tmp_path / "cmp.jsonl"
    questions.write_text(
        '{"question": "What do the concrete repairs cost?", "evidence": "two million crowns"}\n'
        '{"question": "Will ticket prices rise?", "evidence": "prices stay frozen"}\n'
    )
    out = tmp_path / "out"
    args = ["-q", "eval", questions, "--index", small_index, "--compare-index", small_chunks]
    result = run(runner, *args, "--modes", "bm25,hybrid", "--no-ask", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    diffs = json.loads(result.stdout)["comparison"]["differences"]
    assert {d["mode"] for d in diffs} == {"bm25", "hybrid"}
    for d in diffs:
        assert d["n"] == 2
        assert d["diff"] == pytest.approx(d["b"] - d["a"])
        assert d["low"] <= d["diff"] <= d["high"]
    assert (out / "cmp-vs-cmp-B.md").read_text().startswith("# Comparison")
