"""Compare two configurations on the same questions with paired bootstrap intervals.

Both runs answer the same questions, so the per-question difference (B minus A) is what
varies; resampling questions (not runs) gives a confidence interval for the mean
difference that accounts for how hard each question is. An interval that excludes 0 means
the difference is unlikely to be resampling noise on this question set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from qa.evaluation.runner import EvalRun


@dataclass(frozen=True, slots=True)
class Difference:
    """Mean of B minus A over paired questions, with a bootstrap confidence interval."""

    mode: str  # a search mode, or "ask"
    metric: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    n: int

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean of b - a, low, high): a percentile bootstrap over paired questions."""
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("a and b must be equally long, non-empty 1-d arrays")
    diffs = b.astype(float) - a.astype(float)
    mean = float(diffs.mean())
    if np.ptp(diffs) == 0:  # every question moved by the same amount: no spread to resample
        return mean, mean, mean
    res = stats.bootstrap(
        (diffs,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _paired(
    a_rows: dict[str, float | None], b_rows: dict[str, float | None]
) -> tuple[np.ndarray, np.ndarray]:
    ids = [i for i in a_rows if i in b_rows and a_rows[i] is not None and b_rows[i] is not None]
    return (
        np.array([a_rows[i] for i in ids], dtype=float),
        np.array([b_rows[i] for i in ids], dtype=float),
    )


def compare_runs(
    a: EvalRun, b: EvalRun, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> list[Difference]:
    """Differences for every metric of every mode both runs have, plus ask() metrics."""
    out: list[Difference] = []

    def add(
        mode: str, metric: str, ra: dict[str, float | None], rb: dict[str, float | None]
    ) -> None:
        xa, xb = _paired(ra, rb)
        if len(xa) == 0:
            return
        diff, low, high = paired_bootstrap(xa, xb, confidence, n_resamples, seed)
        out.append(
            Difference(mode, metric, float(xa.mean()), float(xb.mean()), diff, low, high, len(xa))
        )

    for mode in a.modes:
        if mode not in b.rankings:
            continue
        for metric in a.metric_names():
            add(
                mode,
                metric,
                {r.id: r.metrics.get(metric) for r in a.rankings[mode]},
                {r.id: r.metrics.get(metric) for r in b.rankings[mode]},
            )
    if a.asks and b.asks:
        for metric in ("first_quote_in_gold", "answer_in_first_quote", "answer_in_quotes"):
            add(
                "ask",
                metric,
                {r.id: getattr(r, metric) for r in a.asks},
                {r.id: getattr(r, metric) for r in b.asks},
            )
        # Answering where it should and declining where it should, judged per question.
        add(
            "ask",
            "answered_rate",
            {r.id: float(not r.abstained) for r in a.asks if not r.abstain_expected},
            {r.id: float(not r.abstained) for r in b.asks if not r.abstain_expected},
        )
        add(
            "ask",
            "abstained_rate",
            {r.id: float(r.abstained) for r in a.asks if r.abstain_expected},
            {r.id: float(r.abstained) for r in b.asks if r.abstain_expected},
        )
    return out


def comparison_to_dict(
    a: EvalRun, b: EvalRun, diffs: list[Difference], confidence: float = 0.95
) -> dict[str, Any]:
    return {
        "a": {"name": a.name, "config": a.config},
        "b": {"name": b.name, "config": b.config},
        "confidence": confidence,
        "differences": [
            {
                "mode": d.mode,
                "metric": d.metric,
                "a": d.a,
                "b": d.b,
                "diff": d.diff,
                "low": d.low,
                "high": d.high,
                "n": d.n,
                "significant": d.significant,
            }
            for d in diffs
        ],
    }
