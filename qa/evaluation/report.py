"""Render an evaluation: a terminal table, JSON, a Markdown report and a PNG of hit@k curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qa.evaluation.compare import Difference, comparison_to_dict
from qa.evaluation.runner import EvalRun

ASK_METRICS = (
    ("n", "answerable questions"),
    ("first_quote_in_gold", "first quote in gold evidence"),
    ("answer_in_first_quote", "answer in first quote"),
    ("answer_in_quotes", "answer in any quote"),
    ("answered_rate", "answered (should answer)"),
    ("n_should_abstain", "should-abstain questions"),
    ("abstained_rate", "abstained (should abstain)"),
    ("p50_ms", "latency p50 (ms)"),
    ("p95_ms", "latency p95 (ms)"),
)


def _fmt(value: float | None, metric: str = "") -> str:
    if value is None:
        return "–"
    if metric.endswith("_ms"):
        return f"{value:.1f}"
    if metric == "n" or metric.startswith("n_"):
        return f"{int(value)}"
    return f"{value:.3f}"


def _grid(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def search_table(run: EvalRun, kind: str | None = None, markdown: bool = False) -> str:
    """Metrics down, modes across: the side-by-side view."""
    summary = run.summary(kind)
    metrics = [*run.metric_names(), "p50_ms", "p95_ms"]
    header = ["metric", *run.modes]
    rows = [
        [name, *(_fmt(summary[mode].get(name), name) for mode in run.modes)] for name in metrics
    ]
    return _grid(header, rows, markdown)


def ask_table(run: EvalRun, markdown: bool = False) -> str:
    kinds = run.kinds() if len(run.kinds()) > 1 else []
    header = ["ask()", "all", *kinds]
    summaries = [run.ask_summary(), *(run.ask_summary(k) for k in kinds)]
    rows = [[label, *(_fmt(s.get(key), key) for s in summaries)] for key, label in ASK_METRICS]
    return _grid(header, rows, markdown)


def kind_table(run: EvalRun, markdown: bool = False) -> str:
    """hit@5 and MRR@10 per kind and mode: where each mode wins or loses."""
    header = [
        "kind",
        "n",
        *(f"{mode} hit@5" for mode in run.modes),
        *(f"{mode} mrr@10" for mode in run.modes),
    ]
    rows = []
    for kind in run.kinds():
        s = run.summary(kind)
        if not s or not s[run.modes[0]].get("n"):
            continue  # unanswerable questions are not ranked
        first = s[run.modes[0]]
        rows.append(
            [
                kind,
                _fmt(first.get("n"), "n"),
                *(_fmt(s[mode].get("hit@5")) for mode in run.modes),
                *(_fmt(s[mode].get("mrr@10")) for mode in run.modes),
            ]
        )
    return _grid(header, rows, markdown)


def _count(run: EvalRun) -> str:
    ranked = max((len(rs) for rs in run.rankings.values()), default=0)
    extra = run.n_questions - ranked
    return f"{run.n_questions} questions" + (f" ({extra} unanswerable)" if extra else "")


def format_table(run: EvalRun) -> str:
    """The terminal report."""
    parts = [f"{run.name}: {_count(run)}, k={run.k}", "", search_table(run)]
    if len(run.kinds()) > 1:
        parts += ["", kind_table(run)]
    if run.asks:
        parts += ["", ask_table(run)]
    parts += [f"warning: {w}" for w in run.warnings]
    return "\n".join(parts)


def to_markdown(run: EvalRun) -> str:
    config = ", ".join(f"{k}: `{v}`" for k, v in run.config.items())
    parts = [
        f"# Evaluation: {run.name}",
        "",
        f"{_count(run)}, k={run.k}. {config}",
        "",
        "## Retrieval (turn level, repeated turns counted once)",
        "",
        search_table(run, markdown=True),
    ]
    if len(run.kinds()) > 1:
        parts += ["", "## By kind", "", kind_table(run, markdown=True)]
    if run.asks:
        parts += ["", "## ask()", "", ask_table(run, markdown=True)]
    if run.warnings:
        parts += ["", "## Warnings", "", *(f"- {w}" for w in run.warnings)]
    return "\n".join(parts) + "\n"


def plot_hit_curves(run: EvalRun, path: str | Path) -> Path:
    """hit@k for k = 1..depth, one line per mode; one panel per kind when there are 2-3
    kinds (e.g. QMSum within-meeting vs pooled, which should not be averaged together)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    kinds = run.ranked_kinds()
    panels: list[str | None] = list(kinds) if 2 <= len(kinds) <= 3 else [None]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 4), dpi=120, sharey=True, squeeze=False
    )
    try:
        for ax, kind in zip(axes[0], panels, strict=True):
            for mode, curve in run.curves(kind).items():
                ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=mode)
            rows = [r for r in next(iter(run.rankings.values()), []) if kind in (None, r.kind)]
            ax.set_title(f"{run.name}{f' · {kind}' if kind else ''} ({len(rows)} questions)")
            ax.set_xlabel("k (passages read)")
            ax.set_ylim(0, 1)
            ax.set_xlim(1, run.depth)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="lower right")
        axes[0][0].set_ylabel("hit@k (share of questions)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def write_report(run: EvalRun, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<name>.json``, ``<name>.md`` and ``<name>.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / _safe(run.name)
    paths = {
        "json": stem.with_suffix(".json"),
        "markdown": stem.with_suffix(".md"),
        "chart": stem.with_suffix(".png"),
    }
    # Compact: per-question rows make this large; the Markdown report is the readable one.
    paths["json"].write_text(json.dumps(run.to_dict(), default=str) + "\n", "utf-8")
    paths["markdown"].write_text(to_markdown(run), "utf-8")
    plot_hit_curves(run, paths["chart"])
    return paths


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "eval"


def comparison_table(
    diffs: list[Difference], markdown: bool = False, confidence: float = 0.95
) -> str:
    header = ["mode", "metric", "A", "B", "B-A", f"{confidence:.0%} CI", ""]
    rows = [
        [
            d.mode,
            d.metric,
            _fmt(d.a, d.metric),
            _fmt(d.b, d.metric),
            f"{d.diff:+.3f}",
            f"[{d.low:+.3f}, {d.high:+.3f}]",
            "*" if d.significant else "",
        ]
        for d in diffs
    ]
    return _grid(header, rows, markdown)


def write_comparison(
    a: EvalRun, b: EvalRun, diffs: list[Difference], out_dir: str | Path, confidence: float = 0.95
) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{_safe(a.name)}-vs-{_safe(b.name)}"
    data: dict[str, Any] = comparison_to_dict(a, b, diffs, confidence)
    paths = {"json": stem.with_suffix(".json"), "markdown": stem.with_suffix(".md")}
    paths["json"].write_text(json.dumps(data, indent=1, default=str) + "\n", "utf-8")
    paths["markdown"].write_text(
        f"# Comparison: {b.name} (B) vs {a.name} (A)\n\n"
        f"- A: `{a.name}`, index `{a.config.get('index')}`, model `{a.config.get('model')}`\n"
        f"- B: `{b.name}`, index `{b.config.get('index')}`, model `{b.config.get('model')}`\n\n"
        f"Paired bootstrap over questions, {confidence:.0%} interval; * = interval excludes 0.\n\n"
        + comparison_table(diffs, markdown=True, confidence=confidence)
        + "\n",
        "utf-8",
    )
    return paths
