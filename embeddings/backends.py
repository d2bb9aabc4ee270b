"""Where the transformer runs: torch, ONNX Runtime or OpenVINO, all from the same local weights.

Embedding is the cost of indexing and of every question. PyTorch eager mode is the slowest of
the three on a laptop CPU (benchmarks/bench_encoder.py: results/encoder_backends.json), and
importing it costs seconds on every cold CLI call. The exported backends tokenise with
`tokenizers` (the same tokenizer.json the model ships), run the graph from `embeddings.export`,
and mean-pool in numpy exactly as the model's sentence-transformers pipeline does, so the
query path imports no torch at all.

A backend name is what an index records: vectors from different backends never share an
index, and `auto` is resolved on the machine before it is recorded (OpenVINO runs bf16 only
where the CPU has it).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.errors import ModelNotAvailableError

TORCH = "torch"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
OPENVINO_F32 = "openvino-f32"
OPENVINO_BF16 = "openvino-bf16"
AUTO = "auto"
ENV = "TQA_BACKEND"  # the default where no backend is asked for
NAMES = (TORCH, ONNX, ONNX_INT8, OPENVINO_F32, OPENVINO_BF16)
# What `auto` picks, best first, among those this machine can run. Int8 is never picked: it
# moved retrieval by more than the quality budget (benchmarks/results/encoder_backends.json).
PREFERENCE = (OPENVINO_BF16, OPENVINO_F32, ONNX, TORCH)

_PACKAGES = {
    ONNX: "onnxruntime",
    ONNX_INT8: "onnxruntime",
    OPENVINO_F32: "openvino",
    OPENVINO_BF16: "openvino",
}
_ALIASES = {"onnxruntime": ONNX, "ort": ONNX, "openvino": AUTO, "ov": AUTO, "default": AUTO}


class Runner(Protocol):
    """A loaded model on one backend."""

    dim: int

    def embed(
        self, texts: list[str], *, threads: int | None, tokens: bool
    ) -> tuple[np.ndarray, list[np.ndarray] | None, list[np.ndarray] | None]:
        """(L2-normalised sentence vectors, token vectors per text, token offsets per text).

        Token vectors and offsets cover the tokens the model read ([CLS] and [SEP] included,
        padding not); they are None unless `tokens`. `threads=None` means all cores.
        """
        ...


def asked(name: str | None) -> str | None:
    """The backend asked for: `name`, else `$TQA_BACKEND`, else None (nothing asked)."""
    return name or os.environ.get(ENV) or None


def normalise(name: str | None) -> str:
    """A backend name as the user may type it, checked; `auto` is kept for `resolve`.
    Nothing asked (see `asked`): `auto`."""
    key = (asked(name) or AUTO).strip().lower()
    key = _ALIASES.get(key, key)
    if key != AUTO and key not in NAMES:
        raise ValueError(
            f"unknown encoder backend '{name}': expected one of {', '.join((AUTO, *NAMES))}"
        )
    return key


def resolve(name: str | None) -> str:
    """The concrete backend for `name` on this machine (`auto`: the first runnable one)."""
    key = normalise(name)
    if key == AUTO:
        return next(b for b in PREFERENCE if runnable(b))
    reason = why_not(key)
    if reason:
        raise ModelNotAvailableError(f"encoder backend '{key}' cannot run here: {reason}")
    return key


def runnable(name: str) -> bool:
    return why_not(name) is None


@cache
def why_not(name: str) -> str | None:
    """None if `name` runs here, else one line saying what is missing."""
    if name == TORCH:
        return None
    package = _PACKAGES[name]
    try:
        __import__(package)
    except ImportError:
        return f"{package} is not installed (pip install {package})"
    if name == OPENVINO_BF16 and "BF16" not in _openvino_capabilities():
        return "this CPU has no bf16 support (use openvino-f32)"
    return None


def load(name: str, model_dir: Path, max_seq_length: int, threads: int | None) -> Runner:
    """A runner for a concrete backend, loaded once per process (exported backends: once per
    thread count, which their sessions fix; torch takes `threads` per call instead)."""
    return _load(name, model_dir.resolve(), max_seq_length, None if name == TORCH else threads)


_LOCK = threading.Lock()


@cache
def _load_cached(name: str, model_dir: Path, max_seq_length: int, threads: int | None) -> Runner:
    if name == TORCH:
        return TorchRunner(model_dir, max_seq_length)
    from embeddings import export

    graph = export.onnx_path(model_dir, int8=name == ONNX_INT8)
    if name in (ONNX, ONNX_INT8):
        return ExportedRunner(model_dir, max_seq_length, _onnx_session(graph, threads))
    session = _openvino_session(graph, threads, bf16=name == OPENVINO_BF16)
    return ExportedRunner(model_dir, max_seq_length, session, bounded_shapes=True)


def _load(name: str, model_dir: Path, max_seq_length: int, threads: int | None) -> Runner:
    with _LOCK:  # two threads asking at once must not export or compile twice
        return _load_cached(name, model_dir, max_seq_length, threads)


# --- torch ---------------------------------------------------------------------------------


class TorchRunner:
    """sentence-transformers in eager PyTorch: the reference the others are measured against."""

    def __init__(self, model_dir: Path, max_seq_length: int) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every open
        self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.model.max_seq_length = max_seq_length
        self.max_seq_length = max_seq_length
        self.dim = int(self.model.get_embedding_dimension() or 0)
        self._lock = threading.Lock()  # torch inference from several threads is not documented

    def embed(
        self, texts: list[str], *, threads: int | None, tokens: bool
    ) -> tuple[np.ndarray, list[np.ndarray] | None, list[np.ndarray] | None]:
        import torch

        with self._lock:
            before = torch.get_num_threads()
            if threads:
                torch.set_num_threads(threads)
            try:
                result = self.model.encode(
                    texts,
                    batch_size=len(texts),
                    show_progress_bar=False,
                    convert_to_numpy=not tokens,
                    normalize_embeddings=True,
                    output_value=None if tokens else "sentence_embedding",
                )
            finally:
                if threads:
                    torch.set_num_threads(before)
        if not tokens:
            return np.asarray(result, dtype=np.float32), None, None
        vecs = np.stack([r["sentence_embedding"].float().numpy() for r in result])
        token_vecs = [
            r["token_embeddings"][: int(r["attention_mask"].sum())].float().numpy() for r in result
        ]
        offsets = self.model.tokenizer(
            texts, return_offsets_mapping=True, truncation=True, max_length=self.max_seq_length
        )["offset_mapping"]
        return vecs, token_vecs, [np.asarray(o) for o in offsets]


# --- ONNX Runtime and OpenVINO -------------------------------------------------------------


Session = Callable[[dict[str, np.ndarray]], np.ndarray]


WIDTH_STEP = 16  # token widths an OpenVINO runner pads to (see ExportedRunner)


class ExportedRunner:
    """The exported graph behind `tokenizers` and numpy mean pooling (no torch)."""

    def __init__(
        self, model_dir: Path, max_seq_length: int, session: Session, bounded_shapes: bool = False
    ) -> None:
        from tokenizers import Tokenizer

        # OpenVINO keeps compiled kernels for every input shape it has run and never frees
        # them (0.4-0.8 MB each; 2026.4 refuses CPU_RUNTIME_CACHE_CAPACITY): a server that
        # embeds uploads grew 16 MB a minute (benchmarks/soak.py). Padding the batch to a
        # power of two and the width to a multiple of WIDTH_STEP bounds the shapes it sees.
        self.bounded_shapes = bounded_shapes
        self.max_seq_length = max_seq_length
        path = model_dir / "tokenizer.json"
        if not path.is_file():
            raise ModelNotAvailableError(f"{model_dir} has no tokenizer.json for this backend")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.no_padding()
        self.session = session
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.dim = int(config["hidden_size"])
        self._check_pooling(model_dir)

    @staticmethod
    def _check_pooling(model_dir: Path) -> None:
        pooling = model_dir / "1_Pooling" / "config.json"
        if pooling.is_file():
            config = json.loads(pooling.read_text(encoding="utf-8"))
            if not config.get("pooling_mode_mean_tokens", False):
                raise ModelNotAvailableError(
                    f"{model_dir} does not mean-pool; only the torch backend runs it"
                )

    def embed(
        self, texts: list[str], *, threads: int | None, tokens: bool
    ) -> tuple[np.ndarray, list[np.ndarray] | None, list[np.ndarray] | None]:
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        width, rows = max(len(e.ids) for e in encodings), len(texts)
        if self.bounded_shapes:
            width = max(width, min(-(-width // WIDTH_STEP) * WIDTH_STEP, self.max_seq_length))
            rows = 1 << (rows - 1).bit_length()
        ids = np.zeros((rows, width), dtype=np.int64)
        mask = np.zeros((rows, width), dtype=np.int64)
        mask[len(texts) :, 0] = 1  # padding rows attend to one token: no row is all masked
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        hidden = self.session(
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        ).astype(np.float32, copy=False)[: len(texts)]
        mask = mask[: len(texts)]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vecs = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        if not tokens:
            return vecs, None, None
        lengths = mask.sum(axis=1)
        token_vecs = [hidden[i, : lengths[i]].copy() for i in range(len(texts))]
        offsets = [np.asarray(e.offsets, dtype=np.int64) for e in encodings]
        return vecs, token_vecs, offsets


def _onnx_session(graph: Path, threads: int | None) -> Session:
    import onnxruntime as ort

    ort.disable_telemetry_events()  # a no-op on Linux builds; explicit for the others
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: one per core
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, feed)[0]

    return run


def _openvino_session(graph: Path, threads: int | None, *, bf16: bool) -> Session:
    core = _openvino_core()
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(core.read_model(str(graph)), "CPU", config)
    local = threading.local()  # one infer request per thread: requests are not shareable

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(local, "request", None)
        if request is None:
            request = local.request = compiled.create_infer_request()
        return np.array(request.infer(feed)[0])

    return run


@lru_cache(maxsize=1)
def _openvino_core() -> Any:
    # Only OpenVINO's converter tools (openvino.tools.ovc) send telemetry, and they are never
    # imported here: the graph comes from our own ONNX export. tests/test_offline.py traces it.
    import openvino as ov

    from embeddings.export import cache_root

    core = ov.Core()
    # Compiled graphs are cached too: a cold CLI call then loads one instead of compiling.
    folder = cache_root() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home only costs compiling each time
        return core
    core.set_property({"CACHE_DIR": str(folder)})
    return core


def _openvino_capabilities() -> list[str]:
    try:
        return list(_openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # noqa: BLE001 - an odd CPU plugin means "no bf16", not a crash
        return []
