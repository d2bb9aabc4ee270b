"""A small learned correction applied to question vectors before dense search.

all-MiniLM-L6-v2 learned from web text where a question and its answer share wording. A
question about talk ("What did the marketing expert think of the colours?") sits further
from the spoken turn that answers it than from a turn that merely repeats its words. A
low-rank residual map, q -> normalise(q + (q @ down) @ up), trained on QMSum train questions
against the turns of their gold spans (benchmarks/train_query_adapter.py), moves questions
toward answering turns. Only questions change: the index stays as it is, so switching the
adapter off (`SearchConfig(query_adapter=False)`) needs no re-indexing.

An adapter is tied to the model whose vectors it was trained on; other models get none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

ADAPTER_DIR = Path(__file__).resolve().parent / "adapters"


@dataclass(frozen=True)
class QueryAdapter:
    """q -> normalise(q + (q @ down) @ up); `about` records how it was trained."""

    down: np.ndarray  # float32 (dim x rank)
    up: np.ndarray  # float32 (rank x dim)
    model: str
    about: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.down.ndim != 2 or self.up.shape != self.down.shape[::-1]:
            raise ValueError(
                f"adapter shapes {self.down.shape} and {self.up.shape}: expected (dim x rank) "
                "and (rank x dim)"
            )

    @property
    def dim(self) -> int:
        return int(self.down.shape[0])

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Adapted, L2-normalised copies of one vector or a matrix of row vectors."""
        x = np.asarray(vectors, dtype=np.float32)
        y = x + (x @ self.down) @ self.up
        norm = np.linalg.norm(y, axis=-1, keepdims=True)
        return (y / np.where(norm > 0, norm, 1.0)).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            down=self.down.astype(np.float32),
            up=self.up.astype(np.float32),
            meta=np.asarray(json.dumps({"model": self.model, "about": self.about})),
        )

    @classmethod
    def load(cls, path: Path) -> QueryAdapter:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(data["down"], data["up"], meta["model"], meta.get("about", {}))


def fit(
    examples: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    rank: int = 32,
    epochs: int = 5,
    lr: float = 1e-3,
    tau: float = 0.05,
    weight_decay: float = 0.01,
    seed: int = 0,
    show_progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(down, up) trained on (question vector, candidate vectors, positive mask) examples.

    Multi-positive InfoNCE over each question's candidates (for a meeting question, every
    passage of its meeting) at temperature `tau`, plus `weight_decay` x |down @ up|^2 so the
    map stays near the identity; Adam, one question per step. `up` starts at zero: before
    the first step the adapter changes nothing.
    """
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    data = [
        (
            torch.tensor(q, dtype=torch.float32),
            torch.tensor(c, dtype=torch.float32),
            torch.tensor(m),
        )
        for q, c, m in examples
        if np.any(m)
    ]
    if not data:
        raise ValueError("no training example has a positive candidate")
    dim = data[0][0].shape[0]
    down = (torch.randn(dim, rank) * 0.01).requires_grad_()
    up = torch.zeros(rank, dim, requires_grad=True)
    opt = torch.optim.Adam([down, up], lr=lr)
    steps = tqdm(
        range(epochs), desc=f"Training (seed {seed})", unit="epoch", disable=not show_progress
    )
    for _ in steps:
        total = 0.0
        for i in torch.randperm(len(data)).tolist():
            q, candidates, positive = data[i]
            a = down @ up
            moved = q + q @ a
            scores = candidates @ (moved / moved.norm()) / tau
            loss = torch.logsumexp(scores, 0) - torch.logsumexp(scores[positive], 0)
            loss = loss + weight_decay * (a**2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        steps.set_postfix(loss=f"{total / len(data):.4f}")
    return down.detach().numpy(), up.detach().numpy()


def average(factors: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The mean of several adapters' maps, exactly: their factors stacked, `down` scaled."""
    down = np.concatenate([d for d, _ in factors], axis=1) / len(factors)
    up = np.concatenate([u for _, u in factors], axis=0)
    return down.astype(np.float32), up.astype(np.float32)


def adapter_path(model: str) -> Path:
    """Where the bundled adapter for `model` (a manifest model name) lives."""
    return ADAPTER_DIR / f"{model}.npz"


@lru_cache(maxsize=8)
def bundled_adapter(model: str, dim: int) -> QueryAdapter | None:
    """The adapter shipped for `model`, or None (no file, other model, other dimension)."""
    path = adapter_path(model) if "/" not in model and "\\" not in model else None
    if path is None or not path.is_file():
        return None
    adapter = QueryAdapter.load(path)
    if adapter.model != model or adapter.dim != dim:
        return None
    return adapter


__all__ = ["QueryAdapter", "adapter_path", "average", "bundled_adapter", "fit"]
