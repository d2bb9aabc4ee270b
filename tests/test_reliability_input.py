"""A messy corpus folder and a damaged index, end to end through `tqa` and the API.

The folder holds good transcripts next to every kind of bad file a user's folder has: empty,
binary, over the size limit, cp1251 / latin-1, truncated JSON, malformed WebVTT, an unknown
file type, duplicates (same content under two names, and the same name in two folders), a file
rewritten between the folder scan and its read, and one deleted in between. `tqa index` must
index the good ones, report each bad one with its reason, and exit with 3.

Then every file of the built index is damaged in turn (truncated, garbled, deleted): opening it
must give an `IndexLoadError` saying how to rebuild, and `tqa info` / `tqa search` one line
``error: …`` with exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import qa.ingest
from embeddings import store
from qa.cli import EXIT_SKIPPED, cli
from qa.errors import IndexLoadError
from qa.limits import max_file_bytes
from qa.service import TranscriptQA

GOOD = ["harbour.txt", "press.txt", "school.txt"]
CHANGED_TEXT = """Title: Changed while indexing
Date: 2024-01-02

Nora Quist: This is the version written while the indexer was running.
"""

# name -> (bytes or a callable making the file, regex the skip reason must match)
BAD: dict[str, tuple[Any, str]] = {
    "empty.txt": (b"", r"file is empty"),
    "blank.vtt": (b"  \n\n \t\n", r"file is empty"),
    "image.txt": (
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        r"not a transcript: looks like a PNG",
    ),
    "random.json": (bytes(range(7, 200)) * 3 + b"\x00\xff", r"binary file \(contains NUL bytes\)"),
    "cp1251.txt": (
        "Title: Встреча\n\nВладимир Путин: Добрый день.\n".encode("cp1251"),
        r"not UTF-8 text .*re-save the file as UTF-8",
    ),
    "latin1.srt": (
        "1\n00:00:01,000 --> 00:00:02,000\nJosé Müller: Grüß Gott, café.\n".encode("latin-1"),
        r"not UTF-8 text",
    ),
    "truncated.json": (
        json.dumps(
            {
                "title": "Cut short",
                "turns": [{"speaker": "Ann Lee", "text": "We lost the end of this file."}] * 5,
            }
        ).encode()[:-37],
        r"malformed JSON",
    ),
    "malformed.vtt": (
        b"WEBVTT\n\n00:00:xx.000 --> soon\n<v Ann Lee>No valid timing here.\n\nnot a cue either\n",
        r"malformed\.vtt:3: malformed cue timing '00:00:xx\.000 --> soon'",
    ),
    "notes.docx": (b"PK\x03\x04" + b"\x00" * 64, r"not a transcript file type \('\.docx'\)"),
    "huge.txt": ("sparse", r"over the \d+ MB limit for one transcript"),
    "vanishing.txt": (
        b"Ann Lee: I am deleted between the scan and the read.\n",
        r"cannot read file",
    ),
}


def _run(runner: CliRunner, *args: object) -> Any:
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> dict[str, Any]:
    """Build the messy folder once through `tqa index`; the race is staged by wrapping read_text."""
    root = tmp_path_factory.mktemp("messy")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in GOOD:
        shutil.copy(fixtures_dir / "retrieval" / name, corpus / name)
    shutil.copy(corpus / "harbour.txt", corpus / "harbour-copy.txt")  # same content, new name
    (corpus / "sub").mkdir()
    shutil.copy(corpus / "school.txt", corpus / "sub" / "school.txt")  # same name, other folder
    (corpus / "changing.txt").write_text("Ann Lee: the first version, never indexed.\n")
    for name, (data, _) in BAD.items():
        path = corpus / name
        if data == "sparse":  # over the size limit without writing a byte of it
            with open(path, "wb") as fh:
                fh.truncate(max_file_bytes() + 1)
        else:
            path.write_bytes(data)

    real_read = qa.ingest.read_text

    def racing_read(path: str | Path) -> str:
        path = Path(path)
        if path.name == "changing.txt":
            path.write_text(CHANGED_TEXT, encoding="utf-8")  # another program saves it now
        if path.name == "vanishing.txt":
            path.unlink()
        return real_read(path)

    index = root / "index"
    mp = pytest.MonkeyPatch()
    mp.setattr(qa.ingest, "read_text", racing_read)
    try:
        result = _run(CliRunner(), "--quiet", "index", corpus, "--index", index, "--json")
    finally:
        mp.undo()
    return {"corpus": corpus, "index": index, "result": result}


def test_index_exits_3_and_reports_every_bad_file(messy: dict[str, Any]) -> None:
    result = messy["result"]
    assert result.exit_code == EXIT_SKIPPED
    report = json.loads(result.stdout)
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(reasons) == set(BAD)
    for name, (_, pattern) in BAD.items():
        assert reasons[name].strip(), name
        assert _search(pattern, reasons[name]), f"{name}: {reasons[name]}"
    # stderr lists each of them for a human, and the count.
    for name in BAD:
        assert f"skipped {messy['corpus'] / name}" in result.stderr
    assert f"{len(BAD)} file(s) skipped" in result.stderr


def _search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_good_files_and_both_kinds_of_duplicate_are_indexed(messy: dict[str, Any]) -> None:
    qa = TranscriptQA.open(messy["index"])
    docs = {d.doc_id for d in qa.documents()}
    assert docs == {"harbour", "harbour-copy", "press", "school", "school-2", "changing"}
    # Duplicates are kept as distinct documents with identical text (dedup is not silent).
    assert qa.transcript("harbour").text == qa.transcript("harbour-copy").text
    assert qa.transcript("school").text == qa.transcript("school-2").text
    found = {h.passage.doc_id for h in qa.search("harbour wall concrete", k=10)}
    assert {"harbour", "harbour-copy"} <= found
    for p in qa.snapshot.passages:  # the verbatim invariant holds for the whole index
        assert qa.transcript(p.doc_id).text[p.start : p.end] == p.text


def test_a_file_rewritten_during_indexing_is_stored_as_read(messy: dict[str, Any]) -> None:
    """Text, passages and content hash all come from the one read: never a mix of versions."""
    qa = TranscriptQA.open(messy["index"])
    stored = qa.transcript("changing")
    assert stored.text == CHANGED_TEXT
    assert "first version" not in " ".join(p.text for p in qa.snapshot.passages)
    manifest = store.read_manifest(messy["index"])
    assert manifest.docs["changing"]["hash"] == store.transcript_hash(stored)
    assert qa.search("written while the indexer was running", k=1)[0].passage.doc_id == "changing"


def test_rerunning_after_the_race_sees_no_change(messy: dict[str, Any]) -> None:
    """The hash stored for the raced file is the hash of what is on disk now: nothing to redo."""
    result = _run(
        CliRunner(), "--quiet", "index", messy["corpus"], "--index", messy["index"], "--json"
    )
    report = json.loads(result.stdout)
    assert report["changed"] == 0 and report["added"] == 0 and report["embedded"] == 0
    assert result.exit_code == EXIT_SKIPPED  # the bad files are still there, and still reported


# --- a damaged index -----------------------------------------------------------------------


def _index_files(index: Path) -> list[str]:
    gen = index / (index / store.CURRENT).read_text().strip()
    files = [store.CURRENT] + [
        str(p.relative_to(index)) for p in sorted(gen.rglob("*")) if p.is_file()
    ]
    return files


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbled":  # same size, so only reading the content can tell
        path.write_bytes(bytes((b + 97) % 256 for b in data[:64]) + data[64:])
    elif how == "deleted":
        path.unlink()


@pytest.fixture(scope="module")
def damaged_copies(small_index: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    """One copy of the small index per (file, kind of damage)."""
    root = tmp_path_factory.mktemp("damaged")
    cases = []
    for rel in _index_files(small_index):
        for how in ("truncated", "garbled", "deleted"):
            index = root / f"{rel.replace('/', '_')}-{how}"
            shutil.copytree(small_index, index)
            _damage(index / rel, how)
            cases.append((rel, how, index))
    return cases


def test_every_index_file_is_covered(small_index: Path) -> None:
    files = _index_files(small_index)
    for kind in (store.CURRENT, store.MANIFEST, store.TRANSCRIPTS, store.PASSAGES, store.VECTORS):
        assert any(f.endswith(kind) for f in files), kind
    assert any(f"/{store.BM25_DIR}/" in f for f in files)


def test_any_damaged_index_file_gives_a_clear_error_with_the_rebuild_command(
    damaged_copies: list[tuple],
) -> None:
    failures = []
    for rel, how, index in damaged_copies:
        try:
            TranscriptQA.open(index)
        except IndexLoadError as exc:
            if "tqa index" not in str(exc) or str(index) not in str(exc):
                failures.append((rel, how, str(exc)))
        except Exception as exc:  # noqa: BLE001 - anything else is a traceback for the user
            failures.append((rel, how, repr(exc)))
        else:
            failures.append((rel, how, "opened without an error"))
    assert not failures, "\n".join(map(str, failures))


def test_cli_on_a_damaged_index_prints_one_line_and_exits_1(damaged_copies: list[tuple]) -> None:
    runner = CliRunner()
    for rel, how, index in (
        damaged_copies[:: max(1, len(damaged_copies) // 8)] + damaged_copies[-3:]
    ):
        for args in (["info"], ["search", "harbour wall"]):
            result = _run(runner, *args, "--index", index)
            assert result.exit_code == 1, (rel, how, args, result.output)
            assert result.stderr.startswith("error: "), (rel, how, result.stderr)
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
            assert "tqa index" in result.stderr
