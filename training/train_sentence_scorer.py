"""Train the answerer's sentence scorer (`qa/sentence_scoring.py`) and write its weights.

    .venv/bin/python training/train_sentence_scorer.py            # writes qa/models/sentence_scorer.json
    .venv/bin/python training/train_sentence_scorer.py --dry-run  # measure only

Training questions, none of them measured anywhere (training/splits.py):
- FriendsQA tune, the training half of the scenes, asked within their scene;
- QMSum train, the specific questions, asked within their meeting (needs an index of
  QMSum train: `tqa index ../shared/datasets/qmsum/train --index <cache>/qmsum-train-index`);
- Kremlin, the training four fifths of the events: a turn that ends in a question, asked
  within its event; the answer is the other speaker's reply that follows it.

For each question the answerer's own pipeline (retrieval, the replies that follow the best
passages, `candidates()`) gives the sentences and their features; a sentence is positive
when it lies in a gold turn. A logistic regression (class-balanced, seed fixed) learns the
weights; the group-wise top-1 accuracy on a fifth of the documents held out of the fit,
next to the hand-set weights' top-1 on the same questions, is printed and kept in the
file's provenance. The weights file is a few hundred bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from qa.answering import (  # noqa: E402
    DEFAULT_SETTINGS,
    _names_for,
    _with_replies,
    candidates,
    rank,
    retrieve,
)
from qa.evaluation.questions import EvalQuestion  # noqa: E402
from qa.query import understand  # noqa: E402
from qa.sentence_scoring import FEATURES, MODEL_PATH, SentenceScorer, feature_matrix  # noqa: E402
from training.splits import _bucket, friendsqa_held_out, kremlin_held_out  # noqa: E402

SEED = 13
# Kremlin questions are asked word for word in their event: the question turn itself is
# left out of the candidates, as a user's paraphrase would not find it first.
EXCLUDE: dict[str, tuple[str, int, int]] = {}
CACHE = Path(os.environ.get("TQA_CACHE", "/work/cache"))
SHARED = Path(os.environ.get("TQA_SHARED", ROOT.parent / "shared")) / "datasets"


def friendsqa_set(cache: Path) -> tuple[Any, list[EvalQuestion]]:
    import bench_answer

    qa, questions = bench_answer.friendsqa_index(cache)
    return qa, [q for q in questions if not friendsqa_held_out(q.doc_id or "")]


def qmsum_set(cache: Path) -> tuple[Any, list[EvalQuestion]] | None:
    import bench_answer

    from qa.evaluation.adapters import qmsum_questions

    index = cache / "qmsum-train-index"
    if not any(index.glob("*")):
        print(f"qmsum: no index at {index}; skipped", file=sys.stderr)
        return None
    questions, _ = qmsum_questions(SHARED / "qmsum" / "train", scope="within")
    return bench_answer.open_or_build("qmsum-train", None, index), questions


def kremlin_set(cache: Path, limit: int, rng: random.Random) -> tuple[Any, list[EvalQuestion]]:
    import bench_answer

    from training.train_reranker import _asked

    qa = bench_answer.kremlin_index(cache)
    out: list[EvalQuestion] = []
    for d in qa.documents():
        if kremlin_held_out(d.doc_id):
            continue
        t = qa.transcript(d.doc_id)
        for i in range(len(t.turns) - 1):
            turn, reply = t.turns[i], t.turns[i + 1]
            if reply.speaker == turn.speaker or reply.speaker is None:
                continue
            if len(reply.text.split()) < 12:
                continue
            asked = _asked(turn.text)
            if asked:
                question = EvalQuestion(
                    asked,
                    f"{d.doc_id}:{i}",
                    doc_id=d.doc_id,
                    turns=frozenset({i + 1}),
                    doc=d.doc_id,
                )
                out.append(question)
                EXCLUDE[question.id] = (d.doc_id, turn.start, turn.end)
    rng.shuffle(out)
    return qa, out[:limit]


def groups_for(
    qa: Any, questions: list[EvalQuestion], name: str
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(document, features, labels, hand-set scores) per question with a positive."""
    settings = DEFAULT_SETTINGS
    names = _names_for(qa)
    latest = qa.date_range()[1]
    out = []
    for q in tqdm(questions, desc=f"{name}: candidates", leave=False):
        doc = q.doc or q.doc_id
        query = understand(q.question, names, latest, None, None, None, None, doc)
        if q.id in EXCLUDE:
            query = replace(query, exclude_spans=(EXCLUDE[q.id],))
        hits = retrieve(qa, query, settings)
        pool = _with_replies(qa, hits[: settings.rerank_passages], query.speaker)
        found = rank(
            candidates(qa, query, pool, replace(settings, read_passages=len(pool))), settings
        )
        # As in `rerank_candidates`: each passage is read through its best sentence by the
        # hand-set scores (its focus), and the scorer ranks those.
        focus: dict[tuple[str, int], Any] = {}
        for c in found:
            focus.setdefault((c.hit.passage.doc_id, c.hit.passage.start), c)
        found = list(focus.values())
        if len(found) < 2:
            continue
        labels = np.array(
            [c.hit.passage.doc_id == q.doc_id and c.hit.passage.turn in q.turns for c in found],
            dtype=np.int8,
        )
        if not labels.any() or labels.all():
            continue  # nothing to choose between
        hand = np.array([c.score for c in found], dtype=np.float32)
        out.append((f"{name}:{q.doc_id}", feature_matrix(q.question, found, hand), labels, hand))
    return out


def top1(groups: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], scorer: Any) -> float:
    good = 0
    for _, x, y, hand in groups:
        scores = hand if scorer is None else x @ scorer[0] + scorer[1]
        good += bool(y[int(np.argmax(scores))])
    return good / len(groups) if groups else 0.0


def fit(groups: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([g[1] for g in groups])
    y = np.concatenate([g[2] for g in groups])
    # Each question weighs the same, whatever its number of candidates; inside it, the
    # positives weigh as much as the negatives.
    # Each set weighs the same too, so that the biggest does not decide alone.
    per_set: dict[str, int] = {}
    for g in groups:
        per_set[g[0].split(":")[0]] = per_set.get(g[0].split(":")[0], 0) + 1
    w = np.concatenate(
        [
            np.where(g[2] == 1, 0.5 / g[2].sum(), 0.5 / (len(g[2]) - g[2].sum()))
            * len(groups)
            / (len(per_set) * per_set[g[0].split(":")[0]])
            for g in groups
        ]
    )
    model = LogisticRegression(C=c, max_iter=2000, random_state=SEED)
    model.fit(x, y, sample_weight=w)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--kremlin", type=int, default=700, help="Kremlin questions (at most)")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--groups", type=Path, help="cache the extracted groups in this .npz")
    ap.add_argument("--sets", action="append", help="train on these sets only (repeatable)")
    ap.add_argument("--dry-run", action="store_true", help="measure, do not write the weights")
    args = ap.parse_args(argv)
    rng = random.Random(SEED)
    t0 = time.time()
    groups: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    if args.groups and args.groups.exists():
        data = np.load(args.groups, allow_pickle=True)
        groups = list(data["groups"])
    else:
        sets = [
            friendsqa_set(args.cache),
            qmsum_set(args.cache),
            kremlin_set(args.cache, args.kremlin, rng),
        ]
        for name, got in zip(("friendsqa", "qmsum", "kremlin"), sets, strict=True):
            if got is None:
                continue
            qa, questions = got
            made = groups_for(qa, questions, name)
            print(f"{name}: {len(made)} questions with a choice", file=sys.stderr)
            groups.extend(made)
        if args.groups:
            np.savez(args.groups, groups=np.array(groups, dtype=object))
    if args.sets:
        groups = [g for g in groups if g[0].split(":")[0] in args.sets]
    held = [g for g in groups if _bucket(g[0], 5) == 0]
    train = [g for g in groups if _bucket(g[0], 5) != 0]
    report: dict[str, Any] = {"questions": len(groups), "seed": SEED}
    by_set = sorted({g[0].split(":")[0] for g in groups})
    best_c, best_top1 = 1.0, -1.0
    for c in (0.1, 1.0, 10.0):
        scorer = fit(train, c)
        score = top1(held, scorer)
        print(f"C={c}: held-out top-1 {score:.3f}", file=sys.stderr)
        if score > best_top1:
            best_c, best_top1 = c, score
    scorer = fit(train, best_c)
    for name in by_set:
        part = [g for g in held if g[0].startswith(name + ":")]
        report[name] = {
            "held_out_questions": len(part),
            "top1_hand_set": round(top1(part, None), 3),
            "top1_learned": round(top1(part, scorer), 3),
        }
    report["all"] = {
        "held_out_questions": len(held),
        "top1_hand_set": round(top1(held, None), 3),
        "top1_learned": round(best_top1, 3),
        "C": best_c,
    }
    print(json.dumps(report, indent=1))
    final = fit(groups, best_c)  # every training question for the weights that ship
    for f, w in sorted(zip(FEATURES, final[0], strict=True), key=lambda t: -abs(t[1])):
        print(f"  {f:18s} {w:+.3f}", file=sys.stderr)
    report["seconds"] = round(time.time() - t0)
    if not args.dry_run:
        SentenceScorer(final[0], final[1], FEATURES).save(
            args.out, {"script": "training/train_sentence_scorer.py", **report}
        )
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
