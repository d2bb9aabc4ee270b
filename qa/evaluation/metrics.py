"""Ranking metrics as pure functions over one question's ranking.

A ranking is the list of retrieved passages, best first. Each passage is reduced to a
*unit* (its ``(doc_id, turn)``) and a relevance flag. Metrics are at turn level: several
passages of one long turn are one unit, so before scoring, every repeat of a unit already
seen higher in the ranking is marked not relevant (it keeps its rank position, because a
reader still has to read past it). Without this, one relevant turn split into three passages
would score like three relevant turns.

- hit@k: 1 if any of the first k passages is relevant, else 0.
- recall@k: share of the gold turns found among the first k passages (defined only when
  the gold turns are known).
- MRR@10: 1/rank of the first relevant passage within the first 10, else 0.
- nDCG@k: binary gains, log2 discount, over the de-duplicated relevance; the ideal ranking
  puts ``n_relevant`` relevant units first (``n_relevant`` = number of gold turns, or, for
  questions judged by evidence text, the number of distinct relevant turns retrieved in the
  first k, at least 1, so the score stays within [0, 1]).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence

import numpy as np


def dedupe(units: Sequence[Hashable], relevant: Sequence[bool]) -> list[bool]:
    """Relevance with every repeat of an already-seen unit set to False (positions kept)."""
    if len(units) != len(relevant):
        raise ValueError("units and relevant must have the same length")
    seen: set[Hashable] = set()
    out: list[bool] = []
    for unit, rel in zip(units, relevant, strict=True):
        out.append(bool(rel) and unit not in seen)
        seen.add(unit)
    return out


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    _check_k(k)
    return 1.0 if any(relevant[:k]) else 0.0


def recall_at_k(units: Sequence[Hashable], gold: Iterable[Hashable], k: int) -> float | None:
    """Share of gold units among the first k; None when there is no gold set."""
    _check_k(k)
    gold_set = set(gold)
    if not gold_set:
        return None
    return len(gold_set.intersection(units[:k])) / len(gold_set)


def reciprocal_rank(relevant: Sequence[bool], k: int = 10) -> float:
    _check_k(k)
    for rank, rel in enumerate(relevant[:k], start=1):
        if rel:
            return 1.0 / rank
    return 0.0


def dcg(relevant: Sequence[bool], k: int) -> float:
    return sum(1.0 / math.log2(rank + 1) for rank, rel in enumerate(relevant[:k], start=1) if rel)


def ndcg_at_k(relevant: Sequence[bool], k: int, n_relevant: int | None = None) -> float:
    """nDCG@k with binary gains. ``relevant`` must already be de-duplicated (see `dedupe`).

    ``n_relevant`` is how many relevant units exist; None means "as many as were retrieved
    in the first k, at least 1" (for questions judged by text, whose gold set is unknown).
    """
    _check_k(k)
    if n_relevant is None:
        n_relevant = max(1, sum(1 for r in relevant[:k] if r))
    if n_relevant < 1:
        raise ValueError("n_relevant must be at least 1")
    ideal = dcg([True] * min(n_relevant, k), k)
    return dcg(relevant, k) / ideal


def hit_curve(relevant: Sequence[bool], k: int) -> list[float]:
    """hit@1 .. hit@k for one ranking (for the hit@k chart)."""
    _check_k(k)
    out: list[float] = []
    found = 0.0
    for i in range(k):
        if i < len(relevant) and relevant[i]:
            found = 1.0
        out.append(found)
    return out


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when none is defined."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100, linear interpolation); None for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))
