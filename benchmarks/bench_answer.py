"""Answer quality and latency of `ask()` on the development data; run by hand.

    .venv/bin/python benchmarks/bench_answer.py                 # everything available
    .venv/bin/python benchmarks/bench_answer.py --only friendsqa --tune

Datasets (from ../shared/datasets, never copied into the project):
- FriendsQA tune: each scene becomes a transcript (one turn per utterance), questions are
  asked within their scene; share whose first quote is from a gold utterance, and whose
  first quote contains a gold answer text.
- QMSum val: specific questions within their meeting; share whose first quote lies in a
  gold span (the gold spans are whole turns, so: in a gold turn).
- Kremlin: our own paraphrased questions (tests/data/kremlin_dev_questions.jsonl) over the
  whole Kremlin index: evidence in the top 5 retrieved passages, first quote on the evidence.
- Off-topic questions (tests/data/off_topic_questions.txt) on the Kremlin index: share abstained.
- Latency: `ask()` p50/p95 on the full Kremlin index.

`--tune` grid-searches the sentence-scoring weights on cached features and reports every
setting, so the defaults in `qa/answering.py` can be checked against the numbers.
Results go to benchmarks/results/answer.json (or --out).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqdm import tqdm  # noqa: E402

from qa.answering import (  # noqa: E402
    DEFAULT_SETTINGS,
    AnswerSettings,
    Candidate,
    _names_for,
    build_quotes,
    candidates,
    rank,
    retrieve,
    support,
)
from qa.evaluation.questions import EvalQuestion, contains_any, load_questions  # noqa: E402
from qa.query import understand  # noqa: E402

SHARED = Path(os.environ.get("TQA_SHARED", ROOT.parent / "shared")) / "datasets"
CACHE = Path(os.environ.get("TQA_CACHE", "/work/cache"))
DEV = ROOT / "tests" / "data" / "kremlin_dev_questions.jsonl"
OFF_TOPIC = ROOT / "tests" / "data" / "off_topic_questions.txt"


@dataclass
class Case:
    """One question with everything needed to re-score it under other weights."""

    q: EvalQuestion
    hits: list[Any]
    found: list[Candidate]
    query: Any


def open_or_build(name: str, corpus: Path | None, index_dir: Path) -> Any:
    from qa import TranscriptQA

    if (index_dir / "manifest.json").exists() or any(index_dir.glob("*")):
        try:
            return TranscriptQA.open(index_dir)
        except Exception as exc:  # a half-built or stale folder: rebuild
            print(f"{name}: cannot open {index_dir} ({exc}); rebuilding", file=sys.stderr)
    if corpus is None:
        raise SystemExit(f"{name}: no index at {index_dir} and no corpus to build it from")
    print(f"{name}: building {index_dir} from {corpus}", file=sys.stderr)
    return TranscriptQA.build(corpus, index_dir, show_progress=True)


def friendsqa_index(cache: Path) -> tuple[Any, list[EvalQuestion]]:
    from qa.evaluation.adapters import friendsqa_convert_data

    src = SHARED / "friendsqa" / "friendsqa_tune.json"
    questions, transcripts = friendsqa_convert_data(src)
    index_dir = cache / "friendsqa-tune-index"
    corpus = Path(tempfile.mkdtemp(prefix="friendsqa-"))  # in case the index must be (re)built
    for scene, record in transcripts.items():
        (corpus / f"{scene}.json").write_text(json.dumps(record), encoding="utf-8")
    return open_or_build("friendsqa", corpus, index_dir), questions


def qmsum_index(cache: Path, index_dir: Path | None = None) -> tuple[Any, list[EvalQuestion]]:
    from qa.evaluation.adapters import qmsum_questions

    src = SHARED / "qmsum" / "val"
    questions, _ = qmsum_questions(src, scope="within")
    return open_or_build("qmsum", src, index_dir or cache / "qmsum-val-index"), questions


def kremlin_index(cache: Path, index_dir: Path | None = None) -> Any:
    corpus = SHARED / "kremlin" / "transcripts"
    return open_or_build("kremlin", corpus, index_dir or cache / "kremlin-index")


def collect(
    qa: Any, questions: list[EvalQuestion], settings: AnswerSettings, name: str
) -> list[Case]:
    names = _names_for(qa)
    latest = qa.date_range()[1]
    cases = []
    for q in tqdm(questions, desc=f"{name}: retrieve + features", leave=False):
        query = understand(q.question, names, latest, None, None, None, None, q.doc)
        hits = retrieve(qa, query, settings)
        cases.append(Case(q, hits, candidates(qa, query, hits, settings), query))
    return cases


def first_quote(qa: Any, case: Case, settings: AnswerSettings) -> Any:
    quotes = build_quotes(qa, rank(list(case.found), settings), 3, settings)
    return quotes[0] if quotes else None


def evaluate(qa: Any, cases: list[Case], settings: AnswerSettings, answers: bool) -> dict[str, Any]:
    """First-quote metrics for one setting of the weights."""
    in_gold = contains = answered = 0
    for case in cases:
        quote = first_quote(qa, case, settings)
        if quote is None:
            continue
        answered += 1
        q = case.q
        if q.turns:
            in_gold += quote.doc_id == q.doc_id and quote.turn in q.turns
        elif q.evidence:
            in_gold += contains_any(quote.text, q.evidence)
        if answers and q.answers:
            contains += contains_any(quote.text, q.answers)
    n = len(cases)
    out = {
        "questions": n,
        "answered": round(answered / n, 4),
        "first_quote_in_gold": round(in_gold / n, 4),
    }
    if answers:
        out["first_quote_contains_answer"] = round(contains / n, 4)
    return out


def top_turn_accuracy(cases: list[Case], settings: AnswerSettings) -> float:
    """Cheap proxy for tuning: is the best-scored sentence in a gold turn (no quote building)?"""
    good = 0
    for case in cases:
        ranked = rank(list(case.found), settings)
        if ranked:
            p = ranked[0].hit.passage
            good += p.doc_id == case.q.doc_id and p.turn in case.q.turns
    return good / len(cases)


def kremlin_metrics(qa: Any, cases: list[Case], settings: AnswerSettings) -> dict[str, Any]:
    top5 = sum(
        any(
            h.passage.doc_id == c.q.doc_id and contains_any(h.passage.text, c.q.evidence)
            for h in c.hits[:5]
        )
        for c in cases
    )
    doc5 = sum(any(h.passage.doc_id == c.q.doc_id for h in c.hits[:5]) for c in cases)
    first = evaluate(qa, cases, settings, answers=False)
    first_evidence = sum(
        bool(quote) and contains_any(quote.text, c.q.evidence)
        for c in cases
        for quote in [first_quote(qa, c, settings)]
    )
    any_quote = 0
    for case in cases:
        quotes = build_quotes(qa, rank(list(case.found), settings), 3, settings)
        any_quote += any(contains_any(q.text, case.q.evidence) for q in quotes)
    n = len(cases)
    return {
        **first,
        "evidence_in_top5_passages": round(top5 / n, 4),
        "right_document_in_top5": round(doc5 / n, 4),
        "first_quote_contains_evidence": round(first_evidence / n, 4),
        "evidence_in_any_quote": round(any_quote / n, 4),
    }


def grid(base: AnswerSettings) -> list[AnswerSettings]:
    out = []
    for w_lex, w_pass, q_pen, w_reply in itertools.product(
        (0.0, 0.15, 0.3, 0.5), (0.0, 0.2, 0.35, 0.6), (0.0, 0.2, 0.4), (0.0, 0.3, 0.6, 0.9)
    ):
        out.append(
            replace(
                base, w_lexical=w_lex, w_passage=w_pass, question_penalty=q_pen, w_reply=w_reply
            )
        )
    return out


def best_support(found: list[Candidate], settings: AnswerSettings) -> float:
    return max((support(c, settings) for c in found), default=0.0)


def sweep(
    sets: dict[str, tuple[Any, list[Case]]], settings: AnswerSettings
) -> list[dict[str, Any]]:
    """Answered share of answerable questions vs abstained share of off-topic ones, per threshold."""
    off = [line.strip() for line in OFF_TOPIC.read_text().splitlines() if line.strip()]
    pos: dict[str, list[float]] = {}
    neg: list[float] = []
    for name, (qa, cases) in sets.items():
        pos[name] = [best_support(c.found, settings) for c in cases]
        names, latest = _names_for(qa), qa.date_range()[1]
        for question in off:
            query = understand(question, names, latest)
            neg.append(
                best_support(
                    candidates(qa, query, retrieve(qa, query, settings), settings), settings
                )
            )
    rows = []
    for t in [x / 100 for x in range(20, 81, 5)]:
        row: dict[str, Any] = {"threshold": t}
        for name, values in pos.items():
            row[f"{name}_answered"] = round(sum(v >= t for v in values) / len(values), 3)
        row["off_topic_abstained"] = round(sum(v < t for v in neg) / len(neg), 3)
        rows.append(row)
    return rows


def latency(qa: Any, questions: list[str], repeat: int = 3) -> dict[str, float]:
    qa.ask("warm-up question about the economy")
    times = []
    for _ in range(repeat):
        for question in questions:
            t0 = time.perf_counter()
            qa.ask(question)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "asks": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["friendsqa", "qmsum", "kremlin"], action="append")
    parser.add_argument("--tune", action="store_true", help="grid-search the scoring weights")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where indexes are kept/built")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "answer.json")
    parser.add_argument("--qmsum-index", type=Path, help="an existing QMSum val index")
    parser.add_argument("--kremlin-index", type=Path, help="an existing Kremlin index")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--limit", type=int, help="first N questions per dataset (quick runs)")
    args = parser.parse_args()
    only = set(args.only or ["friendsqa", "qmsum", "kremlin"])
    settings = DEFAULT_SETTINGS
    results: dict[str, Any] = {
        "command": "python benchmarks/bench_answer.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": asdict(settings),
    }
    sets: dict[str, tuple[Any, list[Case]]] = {}
    if "friendsqa" in only:
        qa, questions = friendsqa_index(args.cache)
        questions = questions[: args.limit]
        cases = collect(qa, questions, settings, "friendsqa")
        sets["friendsqa"] = (qa, cases)
        results["friendsqa"] = evaluate(qa, cases, settings, answers=True)
        print("friendsqa", results["friendsqa"])
    if "qmsum" in only:
        qa, questions = qmsum_index(args.cache, args.qmsum_index)
        questions = questions[: args.limit]
        cases = collect(qa, questions, settings, "qmsum")
        sets["qmsum"] = (qa, cases)
        results["qmsum_val_within"] = evaluate(qa, cases, settings, answers=False)
        print("qmsum", results["qmsum_val_within"])
    if "kremlin" in only:
        qa = kremlin_index(args.cache, args.kremlin_index)
        cases = collect(qa, load_questions(DEV), settings, "kremlin")
        sets["kremlin"] = (qa, cases)
        results["kremlin_dev"] = kremlin_metrics(qa, cases, settings)
        print("kremlin", results["kremlin_dev"])
        off = [line.strip() for line in OFF_TOPIC.read_text().splitlines() if line.strip()]
        abstained = sum(qa.ask(q).abstained for q in off)
        answered_dev = sum(not qa.ask(q.question).abstained for q in load_questions(DEV))
        results["kremlin_abstention"] = {
            "off_topic_questions": len(off),
            "off_topic_abstained": round(abstained / len(off), 4),
            "dev_questions_answered": round(answered_dev / len(cases), 4),
        }
        print("abstention", results["kremlin_abstention"])
        if not args.no_latency:
            results["kremlin_latency"] = latency(qa, [c.q.question for c in cases] + off)
            print("latency", results["kremlin_latency"])
    if args.tune:
        rows = []
        for s in grid(settings):
            row = {
                "w_reply": s.w_reply,
                "w_lexical": s.w_lexical,
                "w_passage": s.w_passage,
                "question_penalty": s.question_penalty,
            }
            for name, (_, cases) in sets.items():
                usable = [c for c in cases if c.q.turns]
                row[name] = round(top_turn_accuracy(usable, s), 4)
            row["mean"] = round(statistics.mean(row[n] for n in sets), 4)
            rows.append(row)
        rows.sort(key=lambda r: -r["mean"])
        results["tuning_top_sentence_in_gold_turn"] = rows
        for row in rows[:8]:
            print(row)
        results["abstention_sweep"] = sweep(sets, settings)
        for row in results["abstention_sweep"]:
            print(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
