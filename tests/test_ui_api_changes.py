"""`/add` and `/remove` over HTTP (`gradio_client`), as the upload panel does them.

A real server on a free loopback port over a private copy of the small fixture index: files
sent to /add are checked and indexed (a bad one comes back with its reason, the good ones are
searchable at once, each kept under the index's uploads folder); /remove drops a document and
an upload's stored copy; a path on the server is never read as an upload.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from ports import free_port  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"


@pytest.fixture(scope="module")
def served(
    small_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    from qa.service import TranscriptQA
    from ui.app import build_app, launch

    index = tmp_path_factory.mktemp("api-changes") / "index"
    shutil.copytree(small_index, index)
    qa = TranscriptQA.open(index)
    app = build_app(qa)
    _, url = launch(app, port=free_port(), block=False)
    try:
        yield qa, gradio_client.Client(url, verbose=False)
    finally:
        app.close()


def test_add_indexes_good_files_and_reports_bad_ones(
    served: tuple[Any, Any], tmp_path: Path
) -> None:
    qa, client = served
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    out = client.predict(
        files=[handle_file(str(FIXTURES / "subtitles_voice.vtt")), handle_file(str(empty))],
        api_name="/add",
    )
    assert [a["doc_id"] for a in out["added"]] == ["subtitles_voice"]
    assert out["added"][0]["title"] == qa.transcript("subtitles_voice").title
    assert [s["name"] for s in out["skipped"]] == ["empty.txt"]
    assert "empty" in out["skipped"][0]["reason"]
    assert out["documents"] == 4 == len(qa.documents())
    # searchable now, and kept in the index's own folder under a name we made
    hits = client.predict(query="The new ferry starts on Monday", k=1, api_name="/search")
    assert hits["hits"][0]["doc_id"] == "subtitles_voice"
    stored = qa.transcript("subtitles_voice").source
    assert Path(stored).resolve().is_relative_to((qa.index_dir / "uploads").resolve())

    removed = client.predict(doc_id="subtitles_voice", api_name="/remove")
    assert removed == {
        "doc_id": "subtitles_voice",
        "removed": True,
        "stored_file_removed": True,
        "documents": 3,
    }
    assert not Path(stored).exists()
    assert "subtitles_voice" not in {d.doc_id for d in qa.documents()}
    again = client.predict(doc_id="subtitles_voice", api_name="/remove")
    assert again["removed"] is False and again["documents"] == 3


def test_remove_of_an_indexed_document_keeps_its_file(served: tuple[Any, Any]) -> None:
    qa, client = served
    doc = qa.documents()[0]
    source = Path(qa.transcript(doc.doc_id).source)
    try:
        out = client.predict(doc_id=doc.doc_id, api_name="/remove")
        assert out["removed"] is True and out["stored_file_removed"] is False
        assert source.is_file()  # not an upload: its file stays where it is
        assert doc.doc_id not in {d.doc_id for d in qa.documents()}
    finally:
        qa.update([source.parent], show_progress=False)  # put it back for the other tests
    assert doc.doc_id in {d.doc_id for d in qa.documents()}


def test_bad_requests_are_refused_with_a_message(served: tuple[Any, Any]) -> None:
    _, client = served
    with pytest.raises(Exception, match="doc_id must be"):
        client.predict(doc_id="", api_name="/remove")
    with pytest.raises(Exception, match="no files"):
        client.predict(files=[], api_name="/add")


def test_add_never_reads_a_server_path_the_client_names(
    served: tuple[Any, Any], tmp_path: Path
) -> None:
    """A file reference that is not an upload (a path on the server) is refused by Gradio."""
    import httpx

    qa, client = served
    secret = tmp_path / "secret.txt"
    secret.write_text("Ann Lee: the secret word is zqplover.\n", encoding="utf-8")
    before = len(qa.documents())
    body = {"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}]]}
    r = httpx.post(client.src.rstrip("/") + "/gradio_api/run/add", json=body, timeout=60)
    assert r.status_code != 200 or "error" in r.text.lower()
    assert len(qa.documents()) == before
    assert not qa.search("zqplover", k=1, mode="bm25")
