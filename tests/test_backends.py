"""Encoder backends: the exported ones agree with torch, and an index never mixes them."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import backends, export
from embeddings.encoder import Encoder
from qa.chunking import chunk, sentence_spans
from qa.errors import ModelNotAvailableError
from qa.indexing import spans_in_embedded_text
from qa.ingest import iter_files, load_transcript
from qa.retrieval import embed_text
from qa.service import TranscriptQA

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = [b for b in backends.NAMES if b != backends.TORCH]


def _passages(corpus: Path, n: int = 48) -> tuple[list[str], list[list[tuple[int, int]]]]:
    texts, spans = [], []
    for f in iter_files(corpus):
        for p in chunk(load_transcript(f)):
            text = embed_text(p)
            texts.append(text)
            spans.append(spans_in_embedded_text(text, p, sentence_spans(p.text)))
    step = max(1, len(texts) // n)
    return texts[::step][:n], spans[::step][:n]


@pytest.fixture(scope="module")
def reference(corpus_dir: Path) -> dict:
    texts, spans = _passages(corpus_dir)
    torch = Encoder(backend=backends.TORCH)
    vectors, sentences = torch.encode_with_spans(texts, spans)
    return {"texts": texts, "spans": spans, "vectors": vectors, "sentences": sentences}


@pytest.mark.parametrize("name", EXPORTED)
def test_exported_backends_agree_with_torch(name: str, reference: dict) -> None:
    if not backends.runnable(name):
        pytest.skip(f"{name}: {backends.why_not(name)}")
    encoder = Encoder(backend=name)
    vectors, sentences = encoder.encode_with_spans(reference["texts"], reference["spans"])
    cos = (vectors * reference["vectors"]).sum(axis=1)
    scos = np.concatenate(
        [(a * b).sum(axis=1) for a, b in zip(sentences, reference["sentences"], strict=True)]
    )
    # int8 is measured, not promised to match (it is never the default).
    floor = 0.85 if name == backends.ONNX_INT8 else 0.99
    assert cos.min() >= floor, (name, float(cos.min()))
    assert scos.min() >= floor, (name, float(scos.min()))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("name", [b for b in EXPORTED if b != backends.ONNX_INT8])
def test_padding_does_not_change_a_vector(name: str) -> None:
    """A short text batched with a long one (so padded) embeds as it does alone."""
    if not backends.runnable(name):
        pytest.skip(f"{name}: {backends.why_not(name)}")
    encoder = Encoder(backend=name)
    short = "The strike is over."
    long = " ".join(["The council met again on Tuesday to discuss the harbour budget."] * 12)
    alone = encoder.encode([short])[0]
    batched = encoder.encode([long, short])[1]
    assert float(alone @ batched) > 0.999


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(ValueError, match="openvino-bf16"):
        Encoder(backend="tensorflow")


def test_auto_picks_a_backend_this_machine_runs() -> None:
    chosen = backends.resolve(backends.AUTO)
    assert chosen in backends.NAMES and backends.runnable(chosen)
    assert chosen != backends.ONNX_INT8  # int8 moved retrieval too much to be a default


def test_missing_runtime_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    backends.why_not.cache_clear()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails like an absent package
    try:
        with pytest.raises(ModelNotAvailableError, match="pip install onnxruntime"):
            Encoder(backend="onnx")
    finally:
        backends.why_not.cache_clear()


def test_export_is_cached_under_the_weights_hash(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TQA_MODEL_CACHE", str(tmp_path))
    model_dir = Encoder().path
    first = export.onnx_path(model_dir)
    assert export.model_digest(model_dir) in first.parent.name
    stamp = first.stat().st_mtime_ns
    again = export.onnx_path(model_dir)
    assert again == first and again.stat().st_mtime_ns == stamp  # not exported twice
    memo = json.loads((tmp_path / "digests.json").read_text(encoding="utf-8"))
    assert list(memo.values()) == [export.model_digest(model_dir)]


@pytest.fixture(scope="module")
def torch_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("torch-index") / "index"
    TranscriptQA.build(
        ROOT / "tests" / "fixtures" / "retrieval", path, show_progress=False, backend=backends.TORCH
    )
    return path


def test_the_manifest_records_the_backend_and_a_change_re_embeds(
    torch_index: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = next((b for b in (backends.ONNX, backends.OPENVINO_F32) if backends.runnable(b)), None)
    if other is None:
        pytest.skip("no exported backend runs here")
    index = tmp_path / "index"
    shutil.copytree(torch_index, index)
    corpus = ROOT / "tests" / "fixtures" / "retrieval"
    assert TranscriptQA.open(index).snapshot.manifest.backend == backends.TORCH
    # No backend asked for: the index keeps its own, so nothing is embedded.
    same = TranscriptQA.build(corpus, index, show_progress=False)
    assert same.snapshot.manifest.backend == backends.TORCH
    assert same.last_update_stats.embedded == 0
    with caplog.at_level(logging.WARNING):
        moved = TranscriptQA.build(corpus, index, show_progress=False, backend=other)
    stats = moved.last_update_stats
    assert stats.rebuilt and "backend changed (torch -> " in (stats.reason or "")
    assert stats.embedded == stats.passages > 0  # every vector comes from the new backend
    assert TranscriptQA.open(index).snapshot.manifest.backend == other
    assert "backend changed" in caplog.text


def test_an_index_whose_backend_cannot_run_here_falls_back_and_re_embeds_on_update(
    torch_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    shutil.copytree(torch_index, index)
    real = backends.why_not
    # This machine "loses" torch: questions go to auto, and the next update re-embeds.
    monkeypatch.setattr(backends, "why_not", lambda n: "gone" if n == backends.TORCH else real(n))
    monkeypatch.setattr(
        backends, "PREFERENCE", tuple(b for b in backends.PREFERENCE if b != "torch")
    )
    if not any(backends.runnable(b) for b in backends.PREFERENCE):
        pytest.skip("no exported backend runs here")
    qa = TranscriptQA.open(index)
    assert qa.encoder.backend != backends.TORCH
    stats = qa.update(ROOT / "tests" / "fixtures" / "retrieval", show_progress=False)
    assert stats.embedded == stats.passages > 0
    assert TranscriptQA.open(index).snapshot.manifest.backend == qa.encoder.backend


def test_a_question_on_an_exported_backend_imports_no_torch(tmp_path: Path) -> None:
    name = backends.resolve(backends.AUTO)
    if name == backends.TORCH:
        pytest.skip("no exported backend runs here")
    index = tmp_path / "index"
    TranscriptQA.build(ROOT / "tests" / "fixtures" / "retrieval", index, show_progress=False)
    code = (
        "import sys\n"
        "from qa.service import TranscriptQA\n"
        f"qa = TranscriptQA.open({str(index)!r})\n"
        "assert qa.search('harbour budget', k=3)\n"
        "assert qa.ask('What was said about the harbour budget?').quotes is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'sentence_transformers')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_openvino_runners_see_few_input_shapes_and_the_same_vectors() -> None:
    """OpenVINO keeps kernels for every shape it runs (a server grew 16 MB a minute): its
    runner pads the batch to a power of two and the width to a multiple of WIDTH_STEP, and
    the padding changes no vector."""
    from embeddings.backends import WIDTH_STEP, ExportedRunner

    seen: list[tuple[int, int]] = []

    def session(feed: dict[str, np.ndarray]) -> np.ndarray:
        seen.append(feed["input_ids"].shape)
        ids = feed["input_ids"].astype(np.float32)
        return np.stack([ids + 1.0, np.sqrt(ids + 1.0), np.ones_like(ids)], axis=2)

    model = Encoder().path
    bounded = ExportedRunner(model, 256, session, bounded_shapes=True)
    plain = ExportedRunner(model, 256, session)
    rng = np.random.default_rng(3)
    words = [
        "water",
        "ban",
        "reservoir",
        "pipe",
        "cost",
        "bill",
        "summer",
        "the",
        "a",
        "of",
        "to",
        "and",
    ]
    for _ in range(40):
        texts = [
            " ".join(rng.choice(words, int(rng.integers(1, 60))))
            for _ in range(int(rng.integers(1, 33)))
        ]
        seen.clear()
        got, tokens, offsets = bounded.embed(texts, threads=None, tokens=True)
        rows, width = seen[0]
        assert rows & (rows - 1) == 0 and rows >= len(texts)
        assert width % WIDTH_STEP == 0 or width == 256
        want, want_tokens, _ = plain.embed(texts, threads=None, tokens=True)
        assert got.shape == want.shape == (len(texts), 3)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert tokens is not None and want_tokens is not None and offsets is not None
        assert [t.shape for t in tokens] == [t.shape for t in want_tokens]
    shapes = set()
    for n in range(1, 33):
        for length in range(1, 120, 7):
            seen.clear()
            bounded.embed([" ".join(["water"] * length)] * n, threads=None, tokens=False)
            shapes.add(seen[0])
    assert len(shapes) <= 6 * 8  # 1, 2, 4, 8, 16, 32 rows × widths up to 128


class _TimedRunner:
    """A stand-in runner that takes `seconds` per batch, to test the choice without a model."""

    dim = 4

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def embed(self, texts: list[str], *, threads: int | None, tokens: bool):  # noqa: ANN201
        import time

        self.calls += 1
        time.sleep(self.seconds)
        return np.zeros((len(texts), 4), dtype=np.float32), None, None


def _fake_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seconds: dict[str, float]):
    monkeypatch.setenv("TQA_MODEL_CACHE", str(tmp_path))
    runners = {name: _TimedRunner(s) for name, s in seconds.items()}
    monkeypatch.setattr(backends, "candidates", lambda: list(seconds))
    monkeypatch.setattr(backends, "load", lambda name, *a, **k: runners[name])
    return runners


def test_auto_times_the_candidates_and_keeps_the_fastest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runners = _fake_machine(
        monkeypatch, tmp_path, {"openvino-bf16": 0.06, "openvino-f32": 0.03, "onnx": 0.02}
    )
    assert backends.resolve("auto") == "onnx"
    record = json.loads((tmp_path / backends.PROBE_FILE).read_text(encoding="utf-8"))
    assert record["choice"] == "onnx"
    assert record["passages_per_s"]["onnx"] > record["passages_per_s"]["openvino-bf16"]
    # Recorded: the next process (and this one) asks the file, not the clock.
    calls = {name: r.calls for name, r in runners.items()}
    assert backends.resolve(None) == "onnx"
    assert {name: r.calls for name, r in runners.items()} == calls


def test_a_tie_goes_to_the_earlier_candidate(tmp_path: Path, monkeypatch) -> None:
    _fake_machine(monkeypatch, tmp_path, {"openvino-bf16": 0.030, "onnx": 0.0295})
    assert backends.resolve("auto") == "openvino-bf16"  # 2% faster is within PROBE_TIE


def test_a_record_from_another_machine_is_timed_again(tmp_path: Path, monkeypatch) -> None:
    runners = _fake_machine(monkeypatch, tmp_path, {"openvino-bf16": 0.01, "onnx": 0.03})
    (tmp_path / backends.PROBE_FILE).write_text(
        json.dumps({"key": {"cpu": "some other CPU"}, "choice": "onnx"}), encoding="utf-8"
    )
    assert backends.resolve("auto") == "openvino-bf16"
    assert runners["onnx"].calls > 0
    assert backends.recorded_choice()["choice"] == "openvino-bf16"


def test_one_candidate_needs_no_timing(tmp_path: Path, monkeypatch) -> None:
    runners = _fake_machine(monkeypatch, tmp_path, {"onnx": 0.01})
    assert backends.resolve("auto") == "onnx"
    assert runners["onnx"].calls == 0 and not (tmp_path / backends.PROBE_FILE).exists()


def test_the_probe_lets_every_runtime_it_timed_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that timed three backends at start kept all three loaded (1,192 MB against
    746 MB with the choice alone): after the probe no runner it made is alive, and the
    chosen one loads again when it is used."""
    import functools
    import gc
    import weakref

    monkeypatch.setenv("TQA_MODEL_CACHE", str(tmp_path))
    made: list[weakref.ref] = []

    @functools.cache
    def fake_load(name: str, model_dir: Path, max_seq_length: int, threads: int | None):  # noqa: ANN202
        runner = _TimedRunner(0.01 if name == "onnx" else 0.03)
        made.append(weakref.ref(runner))
        return runner

    monkeypatch.setattr(backends, "_load_cached", fake_load)
    monkeypatch.setattr(backends, "candidates", lambda: ["openvino-bf16", "onnx"])
    assert backends.resolve("auto") == "onnx"
    gc.collect()
    assert len(made) == 2 and all(ref() is None for ref in made)


def test_two_checkouts_of_the_same_weights_share_one_timing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record is keyed by the weights' hash, not their folder: a second virtualenv with
    the same model package does not time the machine again (and over the first's record)."""
    monkeypatch.setenv("TQA_MODEL_CACHE", str(tmp_path / "cache"))
    first, second = tmp_path / "venv-a" / "model", tmp_path / "venv-b" / "model"
    for folder in (first, second):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"the same weights")
        (folder / "config.json").write_text("{}", encoding="utf-8")
    assert backends.machine_key(first) == backends.machine_key(second)
    (second / "model.safetensors").write_bytes(b"other weights")
    assert backends.machine_key(first) != backends.machine_key(second)
