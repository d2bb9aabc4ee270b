"""Where the transformer runs: torch, ONNX Runtime or OpenVINO, all from the same local weights.

Embedding is the cost of indexing and of every question. PyTorch eager mode is the slowest of
the three on a laptop CPU (benchmarks/bench_encoder.py: results/encoder_backends.json), and
importing it costs seconds on every cold CLI call. The exported backends tokenise with
`tokenizers` (the same tokenizer.json the model ships), run the graph from `embeddings.export`,
and mean-pool in numpy exactly as the model's sentence-transformers pipeline does, so the
query path imports no torch at all.

A backend name is what an index records: vectors from different backends never share an
index, and `auto` is resolved on the machine before it is recorded. Which exported backend is
fastest depends on the CPU more than any flag says: on one Xeon OpenVINO bf16 ran 2.4x faster
than ONNX Runtime, on another with the same avx512_bf16 flag 2x slower. So `auto` times them
once on this machine (`probe`, a few seconds) and keeps the answer in the model cache.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings.quiet import import_runtime
from qa.errors import ModelNotAvailableError

log = logging.getLogger(__name__)

TORCH = "torch"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
OPENVINO_F32 = "openvino-f32"
OPENVINO_BF16 = "openvino-bf16"
AUTO = "auto"
ENV = "TQA_BACKEND"  # the default where no backend is asked for
NAMES = (TORCH, ONNX, ONNX_INT8, OPENVINO_F32, OPENVINO_BF16)
# What `auto` chooses among, in the order that breaks a tie. Int8 is never chosen: it moved
# retrieval by more than the quality budget (benchmarks/results/encoder_backends.json). Torch is
# the last resort, not a candidate: as fast as ONNX Runtime at best, but every cold CLI call
# would import it (seconds) and a question costs twice as much.
PREFERENCE = (OPENVINO_BF16, OPENVINO_F32, ONNX, TORCH)
PROBE_FILE = "auto-backend.json"  # in embeddings.export.cache_root()
PROBE_TIE = 0.05  # a later candidate must be this much faster to beat an earlier one

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


def resolve(name: str | None, model_dir: Path | None = None) -> str:
    """The concrete backend for `name` on this machine (`auto`: the fastest candidate here,
    timed once on `model_dir`, default the bundled model; see `probe`)."""
    key = normalise(name)
    if key == AUTO:
        return _auto(model_dir)
    reason = why_not(key)
    if reason:
        raise ModelNotAvailableError(f"encoder backend '{key}' cannot run here: {reason}")
    return key


def runnable(name: str) -> bool:
    return why_not(name) is None


# --- auto: the fastest candidate, timed on this machine -------------------------------------


def candidates() -> list[str]:
    """The exported backends `auto` chooses among on this machine (empty: torch it is)."""
    return [b for b in PREFERENCE if b != TORCH and runnable(b)]


def machine_key(model_dir: Path) -> dict[str, Any]:
    """What a timing depends on: the CPU, the cores we may use, the runtimes and the weights.
    A recorded choice is reused only while all of these are the same."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:  # the first processor's lines are enough
                if not line.strip():
                    break
                field, _, value = line.partition(":")
                info.setdefault(field.strip(), value.strip())
    except OSError:
        pass
    cpu = " ".join(
        filter(None, (info.get("model name") or platform.processor(), info.get("model")))
    )
    flags = info.get("flags", "")
    versions: dict[str, str | None] = {}
    for package in sorted(set(_PACKAGES.values())):
        try:
            versions[package] = import_runtime(package).__version__
        except Exception:  # noqa: BLE001 - absent or odd: it is not a candidate then
            versions[package] = None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "flags": hashlib.sha256(flags.encode()).hexdigest()[:16],
        "cores": cores,
        "runtimes": versions,
        "model": _weights_id(model_dir),
        "candidates": candidates(),
    }


def _weights_id(model_dir: Path) -> str:
    """The weights' content hash, so that two checkouts (two virtualenvs holding the same
    model package) share one timing instead of each re-timing over the other's record; the
    folder itself where the weights cannot be read."""
    from embeddings import export

    try:
        return f"weights:{export.model_digest(model_dir)}"
    except (OSError, ModelNotAvailableError):
        return str(model_dir)


def recorded_choice(model_dir: Path | None = None) -> dict[str, Any] | None:
    """The probe's record for this machine, if one was kept (never runs the probe)."""
    from embeddings import export

    model_dir = _model_dir(model_dir)
    try:
        record = json.loads((export.cache_root() / PROBE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != machine_key(model_dir):
        return None
    return record if record.get("choice") in record["key"]["candidates"] else None


def probe(model_dir: Path | None = None, *, rounds: int = 3) -> dict[str, Any]:
    """Time every candidate on the same passage-sized batch, round by round (so a busy moment
    hurts all of them alike), keep each one's best round, and choose the fastest; an earlier
    candidate keeps its place unless a later one is PROBE_TIE faster. Costs a few seconds
    (OpenVINO compiles its graph once per precision) and is recorded in the model cache."""
    from embeddings import export
    from embeddings.encoder import DEFAULT_BATCH_SIZE, DEFAULT_MAX_SEQ_LENGTH

    model_dir = _model_dir(model_dir)
    names = candidates()
    texts = _probe_texts(DEFAULT_BATCH_SIZE)
    speed: dict[str, float] = {}
    for name in names:  # load (export, compile) and warm up outside the timing
        load(name, model_dir, DEFAULT_MAX_SEQ_LENGTH, None).embed(texts, threads=None, tokens=True)
    for _ in range(rounds):
        for name in names:
            runner = load(name, model_dir, DEFAULT_MAX_SEQ_LENGTH, None)
            start = time.perf_counter()
            runner.embed(texts, threads=None, tokens=True)
            rate = len(texts) / max(time.perf_counter() - start, 1e-9)
            speed[name] = max(speed.get(name, 0.0), rate)
    choice = names[0]
    for name in names[1:]:
        if speed[name] > speed[choice] * (1 + PROBE_TIE):
            choice = name
    # Let every runtime's compiled graph go: a server that timed three backends at start
    # kept all three loaded (~430 MB more than one, benchmarks/soak.py). The chosen one loads
    # again on first use, from the compiled-graph cache.
    _load_cached.cache_clear()
    gc.collect()
    record = {
        "key": machine_key(model_dir),
        "choice": choice,
        "passages_per_s": {n: round(v, 1) for n, v in speed.items()},
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    folder = export.cache_root()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{PROBE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(tmp, folder / PROBE_FILE)
    except OSError:  # a read-only cache only costs probing again next time
        pass
    return record


def _probe_texts(n: int) -> list[str]:
    """Passage-like texts of 60-120 words (the chunker's range) that differ from each other."""
    words = _PROBE_WORDS.split()
    return [
        " ".join(words[(i * 7 + j) % len(words)] for j in range(60 + (i * 13) % 61))
        for i in range(n)
    ]


_PROBE_WORDS = (
    "the minister said that regional budgets for schools hospitals and roads will grow "
    "next year while the committee asked how the new plan would be paid for and when "
    "the first results could be expected by people living in smaller towns"
)
_AUTO_LOCK = threading.Lock()


def _auto(model_dir: Path | None) -> str:
    names = candidates()
    if not names:
        return TORCH
    if len(names) == 1:
        return names[0]
    with _AUTO_LOCK:  # one probe per process, however many threads ask at once
        record = recorded_choice(model_dir)
        if record is None:
            log.info("Timing the encoder backends on this machine (once): %s", ", ".join(names))
            record = probe(model_dir)
        return str(record["choice"])


def _model_dir(model_dir: Path | None) -> Path:
    if model_dir is not None:
        return Path(model_dir).resolve()
    from embeddings.encoder import resolve_model

    return resolve_model(None)[1].resolve()


@cache
def why_not(name: str) -> str | None:
    """None if `name` runs here, else one line saying what is missing."""
    if name == TORCH:
        return None
    package = _PACKAGES[name]
    try:
        import_runtime(package)
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


# ONNX Runtime plans and keeps a memory pattern for every input shape a session runs. With the
# batch sizes and token widths of questions and uploads, which vary without end, the process
# kept growing (`benchmarks/encoder_memory.py --backend onnx`: 684 MB at the end with the
# patterns, 511 MB without, flat after the first 150 random shapes, at the same speed).
ORT_MEM_PATTERN = False


def _onnx_session(graph: Path, threads: int | None) -> Session:
    ort = import_runtime("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: one per core
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.enable_mem_pattern = ORT_MEM_PATTERN
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, feed)[0]

    return run


def _openvino_session(graph: Path, threads: int | None, *, bf16: bool) -> Session:
    core = _openvino_core()
    # Unpinned threads: on a 2-core machine with anything else running, a thread pinned to
    # the busy core waits for it (measured on a batch of 32 passages, another process busy:
    # f32 42 vs 35 passages/s, bf16 25 vs 22).
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
        "ENABLE_CPU_PINNING": False,
    }
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
    ov = import_runtime("openvino")

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
