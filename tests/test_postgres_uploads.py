"""Uploads on a PostgreSQL index (`PostgresQA.add_files`): the chat's "Add transcripts" against a
real server. The files' text goes into the schema's `uploads` table in the transaction that
indexes them, so another server on the same database sees them, a rebuild from the corpus
keeps them, `update(corpus)` never drops them, and removing one deletes its stored text. Bad
files are listed with their reasons as on a folder index. Skips, with the reason, where the
embedded server cannot run (tests/pg_server.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pg_server import run_sql

FIXTURES = Path(__file__).resolve().parent / "fixtures"
INGEST = FIXTURES / "ingest"
RETRIEVAL = FIXTURES / "retrieval"


@pytest.fixture(autouse=True)
def _default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TQA_MAX_FILE_MB", "TQA_MAX_UPLOAD_FILES", "TQA_MAX_UPLOADS_MB"):
        monkeypatch.delenv(name, raising=False)


def _stored(uri: str) -> list[str]:
    return [str(r[0]) for r in run_sql(uri, "SELECT name FROM {s}.uploads ORDER BY name")]


@pytest.fixture
def built(uri: str, tmp_path: Path) -> tuple[Any, Path]:
    """(an index of a private copy of the retrieval fixtures on a fresh schema, that copy)."""
    from qa.service import TranscriptQA

    corpus = tmp_path / "corpus"
    shutil.copytree(RETRIEVAL, corpus)
    return TranscriptQA.build(corpus, uri, show_progress=False), corpus


def test_uploads_go_into_the_database_and_every_server_has_them(
    built: tuple[Any, Path], uri: str, tmp_path: Path
) -> None:
    from qa.service import TranscriptQA

    qa, _ = built
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.txt").write_bytes(b"")
    result = qa.add_files(
        [INGEST / "subtitles_voice.vtt", INGEST / "plain_basic.txt", inbox / "empty.txt"]
    )
    assert result.added == ["subtitles_voice", "plain_basic"]
    assert [(s.path, s.reason) for s in result.skipped] == [
        ("empty.txt", "file is empty: expected a transcript")
    ]
    assert _stored(uri) == ["plain_basic.txt", "subtitles_voice.vtt"]
    docs = {d.doc_id: d for d in qa.documents()}
    assert docs["subtitles_voice"].uploaded and not docs["harbour"].uploaded
    hit = qa.search("The new ferry starts on Monday", k=1)[0]
    assert hit.passage.doc_id == "subtitles_voice"
    t = qa.transcript(hit.passage.doc_id)
    assert t.text[hit.passage.start : hit.passage.end] == hit.passage.text

    other = TranscriptQA.open(uri)  # another server on the same database
    assert {d.doc_id for d in other.documents()} == set(docs)
    assert other.ask("When does the new ferry start?").quotes[0].doc_id == "subtitles_voice"

    again = qa.add_files([(INGEST / "plain_basic.txt", "renamed.txt")])
    assert again.added == [] and again.stats is None
    assert "already in the index" in again.skipped[0].reason


def test_rebuilds_and_updates_keep_uploads_and_removal_deletes_them(
    built: tuple[Any, Path], uri: str
) -> None:
    from qa.service import TranscriptQA

    qa, corpus = built
    qa.add_files([INGEST / "subtitles_voice.vtt", INGEST / "plain_basic.txt"])
    everything = {d.doc_id for d in qa.documents()}

    stats = qa.update(corpus, show_progress=False)  # what `tqa serve --corpus` does
    assert stats.docs_removed == 0 and {d.doc_id for d in qa.documents()} == everything
    rebuilt = TranscriptQA.build(corpus, uri, show_progress=False)  # `tqa index corpus/`
    assert rebuilt.last_update_stats.docs_removed == 0
    assert {d.doc_id for d in rebuilt.documents()} == everything

    # A corpus file that later gets an upload's name is renamed, and the upload stays.
    (corpus / "plain_basic.txt").write_text(
        "Title: Corpus twin\n\nBo Sun: Different words here.\n", encoding="utf-8"
    )
    stats = rebuilt.update(corpus, show_progress=False)
    assert stats.docs_added == 1 and stats.docs_removed == 0
    assert rebuilt.transcript("plain_basic").title == "Budget hearing of the Parks Committee"
    assert rebuilt.transcript("plain_basic-2").title == "Corpus twin"
    stable = TranscriptQA.build(corpus, uri, show_progress=False)
    assert stable.last_update_stats.written is False  # nothing renamed twice

    # The index tables lost (dropped by hand): a build from the corpus brings the uploads back.
    run_sql(uri, "DROP TABLE {s}.sentences, {s}.postings, {s}.passages, {s}.documents")
    run_sql(uri, "DROP TABLE {s}.manifest")
    fresh = TranscriptQA.build(corpus, uri, show_progress=False)
    assert {d.doc_id for d in fresh.documents()} == everything | {"plain_basic-2"}

    assert fresh.remove("subtitles_voice") is True
    assert _stored(uri) == ["plain_basic.txt"]
    assert all(h.passage.doc_id != "subtitles_voice" for h in fresh.search("ferry", k=5))
    assert fresh.remove("harbour") is True  # a corpus document: its file is not ours
    assert (corpus / "harbour.txt").exists() and _stored(uri) == ["plain_basic.txt"]


def test_the_stored_uploads_limit_counts_what_the_database_holds(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.service import TranscriptQA

    qa = TranscriptQA.build(RETRIEVAL, uri, show_progress=False)
    files = []
    for i in range(4):
        files.append(tmp_path / f"t{i}.txt")
        files[-1].write_text(f"Ann Lee: Item number {i} of the list.\n", encoding="utf-8")
    assert qa.add_files(files[:2]).added == ["t0", "t1"]
    used = sum(int(r[0]) for r in run_sql(uri, "SELECT octet_length(body) FROM {s}.uploads"))
    assert used == sum(f.stat().st_size for f in files[:2])
    monkeypatch.setenv("TQA_MAX_UPLOADS_MB", str((used + 10) / 1024 / 1024))
    refused = qa.add_files(files[2:])
    assert refused.added == [] and all("TQA_MAX_UPLOADS_MB" in s.reason for s in refused.skipped)
    assert qa.remove("t0")  # removing one frees the room again
    assert qa.add_files(files[2:3]).added == ["t2"]
