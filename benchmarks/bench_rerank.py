"""The reranker measured: ask() and search() with and without it, side by side in one run.

    .venv/bin/python benchmarks/bench_rerank.py                      # every set available
    .venv/bin/python benchmarks/bench_rerank.py --only corpus --only devset
    .venv/bin/python benchmarks/bench_rerank.py --calibrate          # the abstention threshold

Sets (none of them trained on; see training/splits.py):
- `corpus`: tests/data/corpus_questions.jsonl over corpus/;
- `devset`: tests/data/devset_questions.jsonl over tests/data/devset/ (chat history, abstain);
- `checkset`: tests/data/checkset_questions.jsonl over tests/data/checkset/: four more
  transcripts (one per format but SRT) and 48 questions of the dev set's kinds, written on
  2026-12-03 by someone who did not run the system on them, to measure what the rules tuned on
  the dev set do on transcripts they were not tuned on;
- `friendsqa`: FriendsQA tune, the held-out half of the scenes, asked within their scene;
- `qmsum`: QMSum val specific questions within their meeting;
- `kremlin`: tests/data/kremlin_dev_questions.jsonl over the whole Kremlin index, and the
  off-topic questions (tests/data/off_topic_questions.txt), which should abstain.

Per set and variant: first quote in gold (answerable questions), answered (answerable),
abstained (should-abstain), search hit@1 / hit@5 of the plain and the reranked search, and
ask() p50/p95. `--calibrate` instead prints how answerable questions and questions asked of
the wrong document (FriendsQA *training* scenes and Kremlin *training* events: a question
asked within another scene/event) fall on each side of a range of thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tqdm import tqdm  # noqa: E402

from qa.answering import (  # noqa: E402
    AnswerSettings,
    _best_support,
    _names_for,
    _ranked,
    _reranker_for,
)
from qa.evaluation.questions import EvalQuestion, contains_any, load_questions  # noqa: E402
from qa.query import understand  # noqa: E402
from training.splits import friendsqa_held_out  # noqa: E402

CACHE = Path(os.environ.get("TQA_CACHE", "/work/cache"))
DATA = ROOT / "tests" / "data"
OFF_TOPIC = DATA / "off_topic_questions.txt"


def _typed(default: Any, text: str) -> Any:
    """A --variant value as the setting's type ("False" is false)."""
    if isinstance(default, bool):
        if text.lower() not in {"true", "false", "1", "0"}:
            raise SystemExit(f"expected true or false, got {text!r}")
        return text.lower() in {"true", "1"}
    return type(default)(text)


def load_set(name: str, cache: Path) -> tuple[Any, list[EvalQuestion]]:
    import bench_answer

    if name == "corpus":
        qa = bench_answer.open_or_build("corpus", ROOT / "corpus", cache / "corpus-index")
        qa.update([ROOT / "corpus"], show_progress=False)
        return qa, load_questions(DATA / "corpus_questions.jsonl")
    if name == "devset":
        qa = bench_answer.open_or_build("devset", DATA / "devset", cache / "devset-index")
        qa.update([DATA / "devset"], show_progress=False)
        return qa, load_questions(DATA / "devset_questions.jsonl")
    if name == "checkset":
        folder = DATA / "checkset"
        qa = bench_answer.open_or_build("checkset", folder, cache / "checkset-index")
        qa.update([folder], show_progress=False)
        return qa, load_questions(DATA / "checkset_questions.jsonl")
    if name == "friendsqa":
        qa, questions = bench_answer.friendsqa_index(cache)
        return qa, [q for q in questions if friendsqa_held_out(q.doc_id or "")]
    if name == "qmsum":
        return bench_answer.qmsum_index(cache)
    if name == "kremlin":
        qa = bench_answer.kremlin_index(cache)
        questions = load_questions(DATA / "kremlin_dev_questions.jsonl")
        off = [line.strip() for line in OFF_TOPIC.read_text().splitlines() if line.strip()]
        questions += [EvalQuestion(q, f"off{i}", kind="offtopic") for i, q in enumerate(off)]
        return qa, questions
    raise SystemExit(f"unknown set {name}")


def _in_gold(q: EvalQuestion, doc_id: str, turn: int, text: str) -> bool:
    if q.turns:
        return doc_id == q.doc_id and turn in q.turns
    if q.evidence:
        return (q.doc_id is None or doc_id == q.doc_id) and contains_any(text, q.evidence)
    return contains_any(text, q.answers)


def _should_abstain(q: EvalQuestion) -> bool:
    return q.should_abstain


def _ask(qa: Any, q: EvalQuestion) -> Any:
    history: list[Any] = []
    for earlier in q.history:
        history.append((earlier, qa.ask(earlier, history=list(history))))
    return qa.ask(q.question, history=history or None, **q.filters())


def run(qa: Any, questions: list[EvalQuestion], settings: AnswerSettings, name: str) -> dict:
    qa.answer_settings = settings
    gold = answered = abstained = n_ans = n_abs = 0
    hit1 = hit5 = n_search = 0
    times: list[float] = []
    misses: list[dict[str, Any]] = []
    rerank_search = settings.rerank and settings.w_rerank > 0 and qa.reranker is not None
    for q in tqdm(questions, desc=f"{name} rerank={settings.rerank}", leave=False):
        t0 = time.perf_counter()
        a = _ask(qa, q)
        times.append((time.perf_counter() - t0) * 1000)
        if _should_abstain(q):
            n_abs += 1
            abstained += a.abstained
            if not a.abstained:
                misses.append({"id": q.id, "q": q.question, "quoted": a.quotes[0].text[:120]})
            continue
        n_ans += 1
        answered += not a.abstained
        first = a.quotes[0] if a.quotes else None
        good = bool(first) and _in_gold(q, first.doc_id, first.turn, first.text)
        gold += good
        if not good:
            misses.append(
                {
                    "id": q.id,
                    "q": q.question,
                    "quoted": first.text[:120] if first else None,
                    "speaker": first.speaker if first else None,
                }
            )
        if q.history:
            continue
        n_search += 1
        hits = qa.search(q.question, k=5, rerank=rerank_search, **q.filters())
        ok = [_in_gold(q, h.passage.doc_id, h.passage.turn, h.passage.text) for h in hits]
        hit1 += bool(ok[:1] and ok[0])
        hit5 += any(ok)
    times.sort()
    out = {
        "answerable": n_ans,
        "first_quote_in_gold": round(gold / n_ans, 3) if n_ans else None,
        "answered": round(answered / n_ans, 3) if n_ans else None,
        "should_abstain": n_abs,
        "abstained": round(abstained / n_abs, 3) if n_abs else None,
        "search_hit@1": round(hit1 / n_search, 3) if n_search else None,
        "search_hit@5": round(hit5 / n_search, 3) if n_search else None,
        "ask_p50_ms": round(statistics.median(times), 1),
        "ask_p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "misses": misses,
    }
    return out


def best_logit(qa: Any, question: str, doc: str | None) -> float:
    """The best reranker logit `ask()` would see, or -99 when the sentence scores alone
    already abstain (the two tests of `qa.answering._supported`)."""
    settings = qa.answer_settings
    query = understand(question, _names_for(qa), qa.date_range()[1], doc=doc)
    ranked = _ranked(qa, query, settings, _reranker_for(qa, settings)).ranked
    if _best_support(ranked, settings) < settings.threshold:
        return -99.0
    return max((c.rerank for c in ranked if c.rerank is not None), default=-99.0)


def calibrate(cache: Path, per_set: int, seed: int) -> dict[str, Any]:
    """Answerable vs asked-of-the-wrong-document logits on data the reranker trained on."""
    import bench_answer

    from training.splits import kremlin_held_out

    rng = random.Random(seed)
    qa, questions = bench_answer.friendsqa_index(cache)
    train = [q for q in questions if not friendsqa_held_out(q.doc_id or "")]
    scenes = sorted({q.doc_id for q in train if q.doc_id})
    pos, neg = [], []
    for q in tqdm(rng.sample(train, min(per_set, len(train))), desc="friendsqa", leave=False):
        other = rng.choice([s for s in scenes if s != q.doc_id])
        pos.append(best_logit(qa, q.question, q.doc_id))
        neg.append(best_logit(qa, q.question, other))
    kremlin = bench_answer.kremlin_index(cache)
    events = [d.doc_id for d in kremlin.documents() if not kremlin_held_out(d.doc_id)]
    from training.train_reranker import _asked

    asked = []
    for doc in events:
        t = kremlin.transcript(doc)
        for i in range(len(t.turns) - 1):
            if t.turns[i + 1].speaker != t.turns[i].speaker:
                text = _asked(t.turns[i].text)
                if text:
                    asked.append((text, doc))
    for text, doc in tqdm(rng.sample(asked, min(per_set, len(asked))), desc="kremlin", leave=False):
        pos.append(best_logit(kremlin, text, doc))
        neg.append(best_logit(kremlin, text, rng.choice([e for e in events if e != doc])))
    rows = []
    for t in [x / 2 for x in range(-8, 9)]:
        answered = sum(v >= t for v in pos) / len(pos)
        abstained = sum(v < t for v in neg) / len(neg)
        rows.append(
            {
                "threshold": t,
                "answerable_answered": round(answered, 3),
                "wrong_document_abstained": round(abstained, 3),
                "balanced": round((answered + abstained) / 2, 3),
            }
        )
    return {"answerable": len(pos), "wrong_document": len(neg), "sweep": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sets = ["corpus", "devset", "checkset", "friendsqa", "qmsum", "kremlin"]
    parser.add_argument("--only", choices=sets, action="append")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--limit", type=int, help="first N questions per set (quick runs)")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--per-set", type=int, default=300)
    parser.add_argument("--no-baseline", action="store_true", help="only the reranked variant")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="another setting to run, e.g. 'w_rerank=0.4,rerank_threshold=-1' (AnswerSettings)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "rerank.json")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "command": "python benchmarks/bench_rerank.py " + " ".join(sys.argv[1:])
    }
    if args.calibrate:
        results["calibration"] = cal = calibrate(args.cache, args.per_set, 13)
        for row in cal["sweep"]:
            print(row)
        out = args.out.with_name("rerank_calibration.json")
        out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {out}")
        return
    base = AnswerSettings()
    variants = [("reranked", base)]
    if not args.no_baseline:
        variants.insert(0, ("without reranker", replace(base, rerank=False)))
    for text in args.variant:
        changes = dict(item.split("=", 1) for item in text.split(","))
        typed = {k: _typed(getattr(base, k), v) for k, v in changes.items()}
        variants.append((text, replace(base, **typed)))
    for name in args.only or sets:
        qa, questions = load_set(name, args.cache)
        questions = questions[: args.limit] if args.limit else questions
        qa.warm_up()
        results[name] = {}
        for label, settings in variants:
            row = run(qa, questions, settings, name)
            results[name][label] = row
            if name in ("friendsqa", "qmsum", "kremlin"):  # their text stays in ../shared
                row["misses"] = [m["id"] for m in row["misses"]]
            shown = {k: v for k, v in row.items() if k != "misses"}
            print(f"{name:9} {label:30} {shown}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
