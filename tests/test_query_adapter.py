"""The query adapter: a learned map on question vectors, bundled for the default model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from embeddings.adapter import QueryAdapter, adapter_path, average, bundled_adapter, fit
from embeddings.encoder import DEFAULT_MODEL
from qa.retrieval import DEFAULT_SEARCH
from qa.service import TranscriptQA


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_adapter_output_is_normalised_and_survives_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    adapter = QueryAdapter(
        rng.normal(size=(8, 2)).astype(np.float32),
        rng.normal(size=(2, 8)).astype(np.float32),
        "toy",
        {"note": "test"},
    )
    q = _unit(rng.normal(size=8)).astype(np.float32)
    moved = adapter(q)
    assert moved.shape == (8,)
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-6)
    expected = q + (q @ adapter.down) @ adapter.up
    assert np.allclose(moved, expected / np.linalg.norm(expected), atol=1e-6)
    rows = adapter(np.stack([q, -q]))
    assert np.allclose(rows[0], moved, atol=1e-6)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)

    path = tmp_path / "toy.npz"
    adapter.save(path)
    back = QueryAdapter.load(path)
    assert back.model == "toy" and back.about == {"note": "test"}
    assert np.array_equal(back.down, adapter.down) and np.array_equal(back.up, adapter.up)

    with pytest.raises(ValueError, match="dim x rank"):
        QueryAdapter(np.zeros((8, 2)), np.zeros((8, 2)), "toy")


def test_an_adapter_ships_for_the_default_model_only() -> None:
    adapter = bundled_adapter(DEFAULT_MODEL, 384)
    assert adapter is not None and adapter_path(DEFAULT_MODEL).is_file()
    assert adapter.model == DEFAULT_MODEL and adapter.dim == 384
    assert "QMSum train" in str(adapter.about["trained_on"])
    # It is a correction, not a new space: a question stays close to where it was.
    rng = np.random.default_rng(1)
    q = _unit(rng.normal(size=(50, 384))).astype(np.float32)
    cos = np.sum(adapter(q) * q, axis=1)
    assert cos.min() > 0.5 and cos.max() < 1.0
    # A local model folder, or vectors of another size, get none.
    assert bundled_adapter("/models/other-model", 384) is None
    assert bundled_adapter(DEFAULT_MODEL, 768) is None
    assert bundled_adapter("no-such-model", 384) is None


def test_average_is_the_mean_of_the_maps() -> None:
    rng = np.random.default_rng(2)
    parts = [(rng.normal(size=(6, 2)), rng.normal(size=(2, 6))) for _ in range(3)]
    down, up = average(parts)
    assert down.shape == (6, 6) and up.shape == (6, 6)
    assert np.allclose(down @ up, sum(d @ u for d, u in parts) / 3, atol=1e-5)


def test_fit_learns_to_move_questions_toward_their_positives() -> None:
    # Each question's answer is its vector turned by a fixed rotation; the distractors lie
    # nearer the question itself. The adapter must learn the turn.
    rng = np.random.default_rng(3)
    dim = 16
    turn, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    examples = []
    for _ in range(190):
        q = _unit(rng.normal(size=dim))
        answer = _unit(q @ turn)
        distractors = _unit(q + 0.9 * rng.normal(size=(9, dim)) / np.sqrt(dim))
        candidates = np.vstack([answer, distractors]).astype(np.float32)
        examples.append((q.astype(np.float32), candidates, np.r_[True, np.zeros(9, dtype=bool)]))

    def answer_first(adapter: QueryAdapter | None) -> float:
        firsts = [
            int(np.argmax(c @ (adapter(q) if adapter else q)) == 0) for q, c, _ in examples[150:]
        ]
        return sum(firsts) / len(firsts)

    down, up = fit(examples[:150], rank=dim, epochs=40, lr=3e-2, weight_decay=0.0)
    learned = QueryAdapter(down, up, "toy")
    assert answer_first(None) < 0.2
    assert answer_first(learned) > 0.9


def test_search_adapts_the_question_but_nothing_else(small_index: Path) -> None:
    qa = TranscriptQA.open(small_index)
    plain = TranscriptQA.open(
        small_index, search_config=replace(DEFAULT_SEARCH, query_adapter=False)
    )
    assert qa._retriever.adapter is not None and plain._retriever.adapter is None
    query = "new concrete before the winter storms"
    raw = qa.encode([query])[0]
    adapted = qa._retriever.adapter(raw)
    vectors = qa._retriever.vectors
    rows = {(p.doc_id, p.start): i for i, p in enumerate(qa._retriever.passages)}

    hits = qa.search(query, k=5, mode="dense")
    for hit in hits:
        row = rows[(hit.passage.doc_id, hit.passage.start)]
        assert hit.dense_score == pytest.approx(float(vectors[row] @ adapted), abs=1e-5)
    for hit in plain.search(query, k=5, mode="dense"):
        row = rows[(hit.passage.doc_id, hit.passage.start)]
        assert hit.dense_score == pytest.approx(float(vectors[row] @ raw), abs=1e-5)
    # ask() hands the raw question vector in: it is adapted the same way as the text.
    by_vector = qa.search(query, k=5, mode="dense", query_vector=raw)
    assert [(h.passage.doc_id, h.passage.start) for h in by_vector] == [
        (h.passage.doc_id, h.passage.start) for h in hits
    ]
    assert [h.dense_score for h in by_vector] == pytest.approx([h.dense_score for h in hits])


def test_ask_reads_the_plain_and_the_adapted_ranking(corpus_qa: TranscriptQA) -> None:
    from qa import answering

    assert corpus_qa.adapts_questions
    question = "How much will the new flood barrier cost?"
    settings = answering.DEFAULT_SETTINGS
    query = answering.understand(
        question,
        answering._names_for(corpus_qa),
        corpus_qa.date_range()[1],
        None,
        None,
        None,
        None,
        None,
    )
    plain = corpus_qa.search(query.search_text, k=settings.search_k, adapt=False)
    adapted = corpus_qa.search(query.search_text, k=settings.search_k)
    assert [h.dense_score for h in plain] != [h.dense_score for h in adapted]
    read = answering.retrieve(corpus_qa, query, settings)
    key = lambda h: (h.passage.doc_id, h.passage.start)  # noqa: E731
    keys = [key(h) for h in read]
    assert len(keys) == len(set(keys)) == settings.search_k
    assert keys[0] == key(plain[0])
    assert key(adapted[0]) in keys[:2]
    # Plain first, then the adapted ranking's next unseen passage, and so on.
    assert keys == [key(h) for h in answering._interleave(plain, adapted)][: settings.search_k]


def test_fit_refuses_examples_without_a_positive() -> None:
    q = np.ones(4, dtype=np.float32) / 2
    with pytest.raises(ValueError, match="positive"):
        fit([(q, np.eye(4, dtype=np.float32), np.zeros(4, dtype=bool))], rank=2, epochs=1)
