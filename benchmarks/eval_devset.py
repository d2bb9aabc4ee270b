"""ask() on the dev set: tests/data/devset/ (five fictional transcripts) and its questions.

    .venv/bin/python benchmarks/eval_devset.py                       # index in /work/cache
    .venv/bin/python benchmarks/eval_devset.py --out benchmarks/results/devset.json
    .venv/bin/python benchmarks/eval_devset.py --index /tmp/devset-index --misses

The index of all the dev-set transcripts together is built in --index (default
$TQA_CACHE/devset-index, i.e. /work/cache/devset-index) or brought up to date:
`TranscriptQA.build` is incremental, so unchanged passages keep their vectors and a changed
file is re-embedded. The questions (tests/data/devset_questions.jsonl, format in
qa/evaluation/questions.py) go through the evaluation runner, follow-ups with their chat
history. Printed per kind and overall:

- first quote in gold: share of the answerable questions whose first quote is from a gold turn;
- answered: share of the questions that should be answered that got quotes;
- abstained: share of the questions that should be abstained on (off-topic, near miss) that
  were declined;
- hit@5 of the search modes asked for (default hybrid; search sees the question alone).

--out writes the runner's JSON (summaries, breakdown by kind, per-question rows) plus the
printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation.questions import load_questions  # noqa: E402
from qa.evaluation.runner import MODES, EvalRun, evaluate  # noqa: E402

CACHE = Path(os.environ.get("TQA_CACHE", "/work/cache"))
CORPUS = ROOT / "tests" / "data" / "devset"
QUESTIONS = ROOT / "tests" / "data" / "devset_questions.jsonl"
COLUMNS = (
    ("first_quote_in_gold", "first quote in gold", "n"),
    ("answered_rate", "answered", "n_should_answer"),
    ("abstained_rate", "abstained", "n_should_abstain"),
)


def open_index(corpus: Path, index_dir: Path, quiet: bool) -> Any:
    from qa import TranscriptQA

    qa = TranscriptQA.build(corpus, index_dir, show_progress=not quiet)
    s = qa.last_update_stats
    print(
        f"index {index_dir}: {len(qa.documents())} documents, {s.passages} passages "
        f"({s.embedded} embedded, {s.reused} reused{', rebuilt: ' + str(s.reason) if s.rebuilt else ''})",
        file=sys.stderr,
    )
    if s.skipped:
        raise SystemExit(f"files could not be read: {s.skipped}")
    return qa


def rows(run: EvalRun) -> list[dict[str, Any]]:
    """One row per kind, then "all": the ask() shares (with their n) and hit@5 per mode."""
    out = []
    for kind in [*run.kinds(), None]:
        ask = run.ask_summary(kind)
        search = run.summary(kind)
        row: dict[str, Any] = {
            "kind": kind or "all",
            "questions": sum(1 for a in run.asks if kind is None or a.kind == kind),
        }
        for key, _, n_key in COLUMNS:
            row[key] = ask.get(key)
            row[n_key] = int(ask.get(n_key) or 0)
        for mode in run.modes:
            row[f"{mode} hit@5"] = search[mode].get("hit@5") if search[mode].get("n") else None
        out.append(row)
    return out


def table(run: EvalRun) -> str:
    header = ["kind", "n", *(label for _, label, _ in COLUMNS), *(f"{m} hit@5" for m in run.modes)]
    lines = []
    for row in rows(run):
        cells = [row["kind"], str(row["questions"])]
        for key, _, n_key in COLUMNS:
            value = row[key]
            cells.append("–" if value is None else f"{value:.2f} ({row[n_key]})")
        for mode in run.modes:
            value = row[f"{mode} hit@5"]
            cells.append("–" if value is None else f"{value:.2f}")
        lines.append(cells)
    widths = [max(len(c) for c in col) for col in zip(header, *lines, strict=True)]
    fmt = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *lines]
    ]
    fmt.insert(1, "  ".join("-" * w for w in widths))
    fmt.insert(-1, fmt[1])
    return "\n".join(fmt)


def misses(run: EvalRun) -> list[str]:
    """The questions ask() got wrong, to read: wrong first quote, wrong abstention."""
    out = []
    for a in run.asks:
        if a.abstain_expected:
            if a.abstained:
                continue
            problem = "answered, should abstain"
        elif a.abstained:
            problem = "abstained, should answer"
        elif a.first_quote_in_gold == 0.0:
            problem = "first quote not in gold"
        else:
            continue
        quote = a.first_quote or {}
        where = f"{quote.get('doc_id')}#{quote.get('turn')}" if quote else ""
        text = " ".join(str(quote.get("text", "")).split())[:90]
        out.append(f"{a.id} [{a.kind}] {problem}: {where} {text}".rstrip())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=CACHE / "devset-index")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument(
        "--modes", default="hybrid", help=f"search modes, comma-separated: {', '.join(MODES)}"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--misses", action="store_true", help="list the questions ask() got wrong")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    questions = load_questions(args.questions)
    qa = open_index(args.corpus, args.index, args.quiet)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    run = evaluate(
        qa,
        questions,
        modes=modes,
        name="devset",
        show_progress=not args.quiet,
        config={"index": str(args.index), "questions": str(args.questions)},
    )
    for warning in run.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"devset: {len(questions)} questions over {len(qa.documents())} transcripts")
    print(table(run))
    wrong = misses(run)
    if args.misses:
        print("\nmisses:")
        print("\n".join(wrong) or "(none)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        data = {"table": rows(run), "misses": wrong, **run.to_dict()}
        args.out.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
