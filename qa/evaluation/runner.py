"""Run test questions through ``search()`` in several modes, and through ``ask()``.

All modes see the same questions with the same filters in one run, so their numbers are
directly comparable. Per-question results are kept (not only means) because the comparison
mode needs them for paired bootstrap intervals and because a person tuning the system wants
to read the misses.

A question with a ``history`` is asked as the last turn of a chat: its earlier questions go
through ``ask()`` first, oldest first, each with the chain before it, and the question is then
asked with ``history=[(question, answer), ...]``. Only the last ask is scored and timed; the
answers of a chain are computed once per run and shared by questions with the same start.
``search()`` sees the question alone. Abstention is judged against
`EvalQuestion.should_abstain` (the file's ``abstain``, else "not answerable").
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from qa.errors import TranscriptQAError
from qa.evaluation import metrics as m
from qa.evaluation.questions import EvalQuestion, contains_any, normalise
from qa.results import Answer, DocumentInfo, Hit, Quote

MODES: tuple[str, ...] = ("bm25", "dense", "hybrid")
# Metric cut-offs that are always reported; --k adds its own.
CUTOFFS: tuple[int, ...] = (1, 5, 10)
RANK_DEPTH = 10  # MRR@10 and nDCG@10 need at least ten results


class EvaluationError(TranscriptQAError):
    """A question could not be run (e.g. a filter the index rejects); names the question."""


class Searchable(Protocol):
    """What the runner needs from `qa.service.TranscriptQA`."""

    def search(self, query: str, k: int = 10, **kwargs: Any) -> list[Hit]: ...

    def ask(self, question: str, **kwargs: Any) -> Answer: ...

    def documents(self) -> list[DocumentInfo]: ...


@dataclass(slots=True)
class RankingResult:
    """One question searched in one mode."""

    id: str
    kind: str
    mode: str
    metrics: dict[str, float | None]
    curve: list[float]  # hit@1..hit@depth
    first_relevant_rank: int | None
    latency_ms: float
    top: list[tuple[str, int]]  # (doc_id, turn) of the first few hits, for reading misses


@dataclass(slots=True)
class AskResult:
    """One question answered by ``ask()``."""

    id: str
    kind: str
    abstained: bool
    answerable: bool
    first_quote_in_gold: float | None  # 1.0 / 0.0; None for unanswerable questions
    answer_in_first_quote: float | None  # None when the question has no answer text
    answer_in_quotes: float | None
    latency_ms: float
    first_quote: dict[str, Any] | None
    should_abstain: bool | None = None  # None: not recorded, i.e. ``not answerable``
    n_history: int = 0  # earlier questions of the chat asked before this one

    @property
    def abstain_expected(self) -> bool:
        return (not self.answerable) if self.should_abstain is None else self.should_abstain


@dataclass(slots=True)
class EvalRun:
    """Everything one evaluation produced; `summary()` and friends aggregate it."""

    name: str
    n_questions: int
    k: int
    depth: int
    modes: list[str]
    rankings: dict[str, list[RankingResult]]
    asks: list[AskResult] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def cutoffs(self) -> list[int]:
        return sorted({c for c in (*CUTOFFS, self.k) if c <= self.depth})

    def metric_names(self) -> list[str]:
        names = [f"hit@{c}" for c in self.cutoffs]
        names += [f"recall@{self.k}", "mrr@10", "ndcg@10"]
        return names

    def kinds(self) -> list[str]:
        seen = {r.kind for rs in self.rankings.values() for r in rs}
        seen.update(a.kind for a in self.asks)
        return sorted(seen)

    def summary(self, kind: str | None = None) -> dict[str, dict[str, float | None]]:
        """Mean metrics (and latency p50/p95) per mode, optionally for one ``kind`` only."""
        out: dict[str, dict[str, float | None]] = {}
        for mode, results in self.rankings.items():
            rows = [r for r in results if kind is None or r.kind == kind]
            agg: dict[str, float | None] = {
                name: m.mean(r.metrics.get(name) for r in rows) for name in self.metric_names()
            }
            agg["n"] = float(len(rows))
            agg["p50_ms"] = m.percentile([r.latency_ms for r in rows], 50)
            agg["p95_ms"] = m.percentile([r.latency_ms for r in rows], 95)
            out[mode] = agg
        return out

    def ask_summary(self, kind: str | None = None) -> dict[str, float | None]:
        """ask() metrics, split by whether the question should be answered or abstained on.

        ``n`` and the quote metrics cover the questions that should be answered and have gold
        evidence (an abstention there is a miss). ``answered_rate`` is the share of the
        questions that should be answered that got quotes; ``abstained_rate`` the share of
        those that should be abstained on (``n_should_abstain``) that were declined.
        ``abstention_rate``, ``n_unanswerable`` and ``unanswerable_abstained`` are the older
        names of ``1 - answered_rate``, ``n_should_abstain`` and ``abstained_rate``, kept for
        existing reports and scripts.
        """
        every = [a for a in self.asks if kind is None or a.kind == kind]
        if not every:
            return {}
        answer = [a for a in every if not a.abstain_expected]
        abstain = [a for a in every if a.abstain_expected]
        rows = [a for a in answer if a.answerable]
        declined = [1.0 if a.abstained else 0.0 for a in abstain]
        answered = [0.0 if a.abstained else 1.0 for a in answer]
        return {
            "n": float(len(rows)),
            "first_quote_in_gold": m.mean(a.first_quote_in_gold for a in rows),
            "answer_in_first_quote": m.mean(a.answer_in_first_quote for a in rows),
            "answer_in_quotes": m.mean(a.answer_in_quotes for a in rows),
            "n_should_answer": float(len(answer)),
            "answered_rate": m.mean(answered),
            "n_should_abstain": float(len(abstain)),
            "abstained_rate": m.mean(declined),
            "abstention_rate": m.mean(1.0 - x for x in answered),
            "n_unanswerable": float(len(abstain)),
            "unanswerable_abstained": m.mean(declined),
            "p50_ms": m.percentile([a.latency_ms for a in every], 50),
            "p95_ms": m.percentile([a.latency_ms for a in every], 95),
        }

    def curves(self, kind: str | None = None) -> dict[str, list[float]]:
        """Mean hit@1..hit@depth per mode (the chart's lines), optionally for one kind."""
        out: dict[str, list[float]] = {}
        for mode, results in self.rankings.items():
            rows = [r for r in results if kind is None or r.kind == kind]
            if rows:
                out[mode] = [sum(r.curve[i] for r in rows) / len(rows) for i in range(self.depth)]
        return out

    def ranked_kinds(self) -> list[str]:
        """Kinds that have ranked questions (unanswerable ones have none)."""
        return sorted({r.kind for rs in self.rankings.values() for r in rs})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: configuration, summaries, breakdown by kind, per-question rows."""
        kinds = self.kinds()
        return {
            "name": self.name,
            "n_questions": self.n_questions,
            "k": self.k,
            "modes": self.modes,
            "config": self.config,
            "warnings": self.warnings,
            "summary": self.summary(),
            "ask": self.ask_summary(),
            "by_kind": {
                kind: {"search": self.summary(kind), "ask": self.ask_summary(kind)}
                for kind in kinds
            }
            if len(kinds) > 1
            else {},
            "hit_curves": self.curves(),
            "questions": {
                # Per-question rows without the hit curve (it is hit@1..depth, derivable).
                "search": {
                    mode: [{k: v for k, v in asdict(r).items() if k != "curve"} for r in rs]
                    for mode, rs in self.rankings.items()
                },
                "ask": [asdict(a) for a in self.asks],
            },
        }


def judge(question: EvalQuestion, hits: Sequence[Hit]) -> tuple[list[tuple[str, int]], list[bool]]:
    """Units and de-duplicated relevance of a ranking (see `qa.evaluation.metrics`)."""
    units = [(h.passage.doc_id, h.passage.turn) for h in hits]
    raw = [question.is_relevant(h.passage.doc_id, h.passage.turn, h.passage.text) for h in hits]
    return units, m.dedupe(units, raw)


def score_ranking(
    question: EvalQuestion, hits: Sequence[Hit], k: int, depth: int
) -> tuple[dict[str, float | None], list[float], int | None]:
    """All ranking metrics of one question: (metrics, hit curve, rank of first relevant)."""
    units, rel = judge(question, hits)
    cutoffs = sorted({c for c in (*CUTOFFS, k) if c <= depth})
    scores: dict[str, float | None] = {f"hit@{c}": m.hit_at_k(rel, c) for c in cutoffs}
    scores[f"recall@{k}"] = m.recall_at_k(units, question.gold_units, k)
    scores["mrr@10"] = m.reciprocal_rank(rel, 10)
    n_rel = len(question.gold_units) if question.has_gold_turns else None
    scores["ndcg@10"] = m.ndcg_at_k(rel, 10, n_rel)
    first = next((i + 1 for i, r in enumerate(rel) if r), None)
    return scores, m.hit_curve(rel, depth), first


def score_answer(question: EvalQuestion, answer: Answer, latency_ms: float) -> AskResult:
    """The ask() metrics of one question; on a question that should be answered an abstention
    counts as a miss. Questions that should be abstained on, or have no gold to judge quotes
    by, get no quote metrics (None): only whether ``ask()`` abstained counts."""
    if question.should_abstain or not question.answerable:
        return AskResult(
            id=question.id,
            kind=question.kind,
            abstained=answer.abstained,
            answerable=question.answerable,
            first_quote_in_gold=None,
            answer_in_first_quote=None,
            answer_in_quotes=None,
            latency_ms=latency_ms,
            first_quote=_quote_record(answer.quotes[0]) if answer.quotes else None,
            should_abstain=question.should_abstain,
            n_history=len(question.history),
        )
    quotes = [] if answer.abstained else list(answer.quotes)
    first = quotes[0] if quotes else None
    in_gold = 0.0
    if first is not None:
        if question.has_gold_turns:
            in_gold = float((first.doc_id, first.turn) in question.gold_units)
        elif question.evidence:
            # The quote lies inside the evidence, or the evidence inside the quote.
            quote = normalise(first.text)
            in_gold = float(
                contains_any(first.text, question.evidence)
                or any(quote in normalise(e) for e in question.evidence)
            )
        else:
            in_gold = float(question.answer_in(first.text, first.speaker))
    has_answer = bool(question.answers)
    return AskResult(
        id=question.id,
        kind=question.kind,
        abstained=answer.abstained,
        answerable=True,
        first_quote_in_gold=in_gold,
        answer_in_first_quote=(
            float(first is not None and question.answer_in(first.text, first.speaker))
            if has_answer
            else None
        ),
        answer_in_quotes=(
            float(any(question.answer_in(q.text, q.speaker) for q in quotes))
            if has_answer
            else None
        ),
        latency_ms=latency_ms,
        first_quote=_quote_record(first) if first is not None else None,
        should_abstain=False,
        n_history=len(question.history),
    )


def _quote_record(quote: Quote) -> dict[str, Any]:
    return {
        "doc_id": quote.doc_id,
        "turn": quote.turn,
        "speaker": quote.speaker,
        "text": quote.text,
    }


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - start) * 1000.0


def _call(question: EvalQuestion, fn: Callable[[], Any]) -> tuple[Any, float]:
    try:
        return _timed(fn)
    except TranscriptQAError as exc:
        raise EvaluationError(f"question {question.id!r}: {exc}") from exc


ChainCache = dict[tuple[str, ...], Answer]


def chat_history(
    qa: Searchable, question: EvalQuestion, cache: ChainCache | None = None
) -> list[tuple[str, Answer]]:
    """Ask ``question.history`` through ``ask()``, oldest first, each with the pairs before it;
    returns the ``[(question, answer), ...]`` chain to ask ``question`` with.

    ``cache`` maps a chain of questions to the answer of its last one, so questions that
    share the start of a chat ask it once per run.
    """
    cache = {} if cache is None else cache
    pairs: list[tuple[str, Answer]] = []
    for i, earlier in enumerate(question.history):
        key = question.history[: i + 1]
        answer = cache.get(key)
        if answer is None:
            prior = list(pairs)
            answer, _ = _call(
                question,
                lambda e=earlier, h=prior: qa.ask(e, history=h) if h else qa.ask(e),
            )
            cache[key] = answer
        pairs.append((earlier, answer))
    return pairs


def evaluate(
    qa: Searchable,
    questions: Sequence[EvalQuestion],
    modes: Sequence[str] = MODES,
    k: int = 10,
    ask: bool = True,
    name: str = "eval",
    show_progress: bool = True,
    config: dict[str, Any] | None = None,
) -> EvalRun:
    """Search every question in every mode (and ask it, if ``ask``), and score the results."""
    if k < 1:
        raise EvaluationError(f"k must be at least 1, got {k}")
    bad = [mode for mode in modes if mode not in MODES]
    if bad or not modes:
        raise EvaluationError(
            f"unknown mode(s) {', '.join(bad) or '(none)'}; choose from {', '.join(MODES)}"
        )
    depth = max(k, RANK_DEPTH)
    answerable = [q for q in questions if q.answerable]
    run = EvalRun(
        name=name,
        n_questions=len(questions),
        k=k,
        depth=depth,
        modes=list(modes),
        rankings={mode: [] for mode in modes},
        config={
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            # Latencies depend on what else the machine runs; record it next to them.
            "load_average_1min": round(os.getloadavg()[0], 2)
            if hasattr(os, "getloadavg")
            else None,
            "cpus": os.cpu_count(),
            **(config or {}),
        },
    )
    run.warnings.extend(_missing_documents(qa, questions))
    if questions:  # warm-up: load the model and caches outside the timed calls
        for mode in modes:
            qa.search(questions[0].question, k=depth, mode=mode)
    total = len(answerable) * len(modes) + (len(questions) if ask else 0)
    chains: ChainCache = {}
    with tqdm(total=total, desc=f"eval {name}", unit="call", disable=not show_progress) as bar:
        for q in questions:
            filters = q.filters()
            # Unanswerable questions have nothing to rank; they only test ask()'s abstention.
            for mode in modes if q.answerable else ():
                hits, ms = _call(
                    q, lambda q=q, f=filters, mo=mode: qa.search(q.question, k=depth, mode=mo, **f)
                )
                scores, curve, first = score_ranking(q, hits, k, depth)
                run.rankings[mode].append(
                    RankingResult(
                        id=q.id,
                        kind=q.kind,
                        mode=mode,
                        metrics=scores,
                        curve=curve,
                        first_relevant_rank=first,
                        latency_ms=ms,
                        top=[(h.passage.doc_id, h.passage.turn) for h in hits[:5]],
                    )
                )
                bar.update()
            if ask:
                if q.history:
                    pairs = chat_history(qa, q, chains)
                    filters = {**filters, "history": pairs}
                answer, ms = _call(q, lambda q=q, f=filters: qa.ask(q.question, **f))
                run.asks.append(score_answer(q, answer, ms))
                bar.update()
    return run


def _missing_documents(qa: Searchable, questions: Sequence[EvalQuestion]) -> list[str]:
    """Warn about gold documents or doc filters the index does not hold: those questions can't hit."""
    known = {d.doc_id for d in qa.documents()}
    missing = sorted(
        {
            name
            for q in questions
            for name in (q.doc_id, q.doc)
            if name is not None and name not in known
        }
    )
    if not missing:
        return []
    shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
    return [f"{len(missing)} document id(s) named by questions are not in the index: {shown}"]
