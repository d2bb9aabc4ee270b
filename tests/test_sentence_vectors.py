"""Sentence vectors pooled at index time: what the answerer scores instead of embedding sentences."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embeddings import store
from embeddings.encoder import Encoder
from qa.chunking import sentence_spans
from qa.errors import IndexLoadError
from qa.service import TranscriptQA

SENTENCE_FILES = (store.SENTENCE_VECTORS, store.SENTENCE_SPANS, store.SENTENCE_ROWS)


@pytest.fixture()
def fresh(tmp_path: Path, small_index: Path, fixtures_dir: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    shutil.copytree(fixtures_dir / "retrieval", corpus)
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    TranscriptQA.open(index).update(corpus, show_progress=False)
    return corpus, index


def _generation(index: Path) -> Path:
    return index / (index / store.CURRENT).read_text().strip()


def test_every_passage_stores_its_sentences_at_their_source_offsets(small_index: Path) -> None:
    qa = TranscriptQA.open(small_index)
    table = qa.snapshot.sentences
    assert table is not None
    assert len(table.rows) == len(qa.snapshot.passages) + 1
    for row, p in enumerate(qa.snapshot.passages):
        spans, vectors = table.of(row)
        assert [tuple(s) for s in spans.tolist()] == sentence_spans(p.text, offset=p.start)
        text = qa.transcript(p.doc_id).text
        for start, end in spans.tolist():
            assert text[start:end] == p.text[start - p.start : end - p.start]
        norms = np.linalg.norm(np.asarray(vectors, dtype=np.float32), axis=1)
        assert np.allclose(norms, 1.0, atol=2e-3)  # float16 storage


def test_a_question_picks_its_sentence_among_the_pooled_sentences_of_a_passage() -> None:
    encoder = Encoder()
    sentences = [
        "The harbour wall repairs will cost four million crowns.",
        "Our children learn to swim in the new public pool.",
        "Train tickets to the capital go up by ten percent in May.",
    ]
    text = "Anna Berg: " + " ".join(sentences)
    spans, start = [], len("Anna Berg: ")
    for s in sentences:
        spans.append((start, start + len(s)))
        start += len(s) + 1
    vectors, pooled = encoder.encode_with_spans([text], [spans])
    # One forward pass gives both: the passage vector is exactly what encode() returns.
    assert np.allclose(vectors, encoder.encode([text]), atol=1e-5)
    questions = encoder.encode(
        [
            "How much do the harbour repairs cost?",
            "Where do kids learn swimming?",
            "Will train fares rise?",
        ]
    )
    assert list((questions @ pooled[0].T).argmax(axis=1)) == [0, 1, 2]


def test_sentences_cut_off_by_the_model_length_are_embedded_alone() -> None:
    encoder = Encoder(max_seq_length=32)
    text = " ".join(f"Sentence {i} talks about topic number {i}." for i in range(30))
    spans = sentence_spans(text)
    _, pooled = encoder.encode_with_spans([text], [spans])
    last = spans[-1]
    alone = encoder.encode([text[last[0] : last[1]]])[0]
    assert np.allclose(pooled[0][-1], alone, atol=1e-5)
    assert not np.allclose(pooled[0][0], encoder.encode([text[slice(*spans[0])]])[0], atol=1e-3)


def test_update_reuses_the_sentence_vectors_of_unchanged_passages(fresh: tuple[Path, Path]) -> None:
    corpus, index = fresh
    qa = TranscriptQA.open(index)
    before = {
        (p.doc_id, p.start): np.asarray(qa.snapshot.sentences.of(i)[1]).copy()
        for i, p in enumerate(qa.snapshot.passages)
    }
    school = corpus / "school.txt"
    school.write_text(school.read_text().replace("two thirds of the cost", "half of the cost"))
    stats = qa.update(corpus, show_progress=False)
    assert stats.embedded == 1
    after = qa.snapshot
    changed = 0
    for i, p in enumerate(after.passages):
        vectors = np.asarray(after.sentences.of(i)[1])
        if "half of the cost" in p.text:
            changed += 1
            continue
        if p.doc_id != "school":
            assert np.array_equal(vectors, before[(p.doc_id, p.start)])
    assert changed == 1


def test_ask_reads_stored_sentence_vectors_instead_of_embedding_sentences(
    small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa = TranscriptQA.open(small_index)
    batches: list[list[str]] = []
    real = qa.encode

    def counting(texts: list[str]) -> np.ndarray:
        batches.append(list(texts))
        return real(texts)

    monkeypatch.setattr(qa, "encode", counting)
    monkeypatch.setattr(qa._retriever, "encode", counting)
    answer = qa.ask("How much will the harbour wall repairs cost?")
    assert not answer.abstained
    assert all(len(b) == 1 for b in batches), batches  # the question, never its sentences


def test_an_index_without_sentence_files_still_answers_and_an_update_adds_them(
    fresh: tuple[Path, Path],
) -> None:
    corpus, index = fresh
    gen = _generation(index)
    manifest = json.loads((gen / store.MANIFEST).read_text())
    for name in SENTENCE_FILES:
        (gen / name).unlink()
        del manifest["files"][name]
    (gen / store.MANIFEST).write_text(json.dumps(manifest))
    old = TranscriptQA.open(index)
    assert old.snapshot.sentences is None
    answer = old.ask("How much will the harbour wall repairs cost?")
    assert not answer.abstained and "harbour" in answer.quotes[0].title.lower()
    stats = old.update(corpus, show_progress=False)
    assert stats.embedded == len(old.snapshot.passages)
    assert TranscriptQA.open(index).snapshot.sentences is not None


def test_sentence_rows_that_disagree_with_the_passages_give_a_clear_error(
    fresh: tuple[Path, Path],
) -> None:
    _, index = fresh
    path = _generation(index) / store.SENTENCE_ROWS
    rows = np.load(path)
    rows[1] = rows[-1] + 5  # same size on disk, so only the check can tell
    np.save(path, rows)
    with pytest.raises(IndexLoadError, match=r"sentences\.npy.*[Rr]ebuild"):
        TranscriptQA.open(index)


def test_warm_up_loads_the_model_and_the_lookup_tables(small_index: Path) -> None:
    qa = TranscriptQA.open(small_index)
    assert not qa.encoder.loaded  # opening an index does not load the model
    qa.warm_up()
    assert qa.encoder.loaded
    assert qa._retriever._passage_rows._rows is not None
    assert qa._retriever.filters._names is not None
