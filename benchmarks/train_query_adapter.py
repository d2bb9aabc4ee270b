"""Train the bundled query adapter (embeddings/adapters/<model>.npz) on QMSum train.

    .venv/bin/python benchmarks/train_query_adapter.py                # train, write the adapter
    .venv/bin/python benchmarks/train_query_adapter.py --holdout 0.37 # measure on held-out meetings

Data: every specific query of ../shared/datasets/qmsum/train (1,095 over 162 meetings). Its
positives are the passages of the turns inside its `relevant_text_span`s that have at least
`--min-words` content words (a gold "Mm." teaches nothing); every other passage of its meeting
is a negative. Passages are represented by the vectors retrieval searches (passage, previous
turn and header composed as `qa.context.compose_vectors` does), so the adapter learns the
space it is used in.

Model: q -> normalise(q + (q @ down) @ up), rank `--rank`, trained with a multi-positive
InfoNCE loss (temperature `--tau`) over the meeting's passages plus `--weight-decay` x the
squared norm of (down @ up), Adam, one question per step. Several seeds are trained and
averaged exactly (their factors are stacked), which steadies the result.

The index of the training meetings is built (or updated) in `--index`, outside the repository.
With `--holdout F`, a fraction F of the meetings (chosen by seed) is left out of training and
the within-meeting bm25/dense/hybrid hit@1 / hit@5 / MRR@10 on their queries is printed with
and without the adapter; nothing is written. The settings were chosen that way (102 meetings
trained, 60 held out), then the adapter was trained on all 162; QMSum val and FriendsQA were
only measured afterwards (benchmarks/results/query_adapter.md).
"""

from __future__ import annotations

import argparse
import inspect
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tune_qmsum import evaluate, load_queries, table  # noqa: E402

from embeddings import store  # noqa: E402
from embeddings.adapter import QueryAdapter, adapter_path, average, fit  # noqa: E402
from embeddings.encoder import Encoder  # noqa: E402
from qa.retrieval import Retriever, SearchConfig, content_word_count  # noqa: E402
from qa.service import TranscriptQA  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "qmsum" / "train"
DEFAULT_INDEX = Path(os.environ.get("TQA_EVAL_WORK", "/tmp/tqa-eval")) / "qmsum-train-index"


def meeting_examples(
    retriever: Retriever, queries: list[tuple[str, str, set[int]]], min_words: int, encoder: Encoder
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(meeting, question vector, its meeting's search vectors, positive mask) per query."""
    rows: dict[str, list[int]] = {}
    for i, p in enumerate(retriever.passages):
        rows.setdefault(p.doc_id, []).append(i)
    tokenize = retriever.snapshot.lexical.tokenizer
    words = np.asarray([content_word_count(tokenize, p.text) for p in retriever.passages])
    turn = np.asarray([p.turn for p in retriever.passages])
    vectors = encoder.encode([q for _, q, _ in queries], show_progress=True)
    out = []
    for (doc, _, gold), qv in zip(queries, vectors, strict=True):
        ids = np.asarray(rows.get(doc, []), dtype=np.int64)
        if not len(ids):
            continue
        positive = np.isin(turn[ids], list(gold)) & (words[ids] >= min_words)
        if positive.any():
            out.append((doc, qv, retriever.vectors[ids], positive))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="QMSum JSON folder")
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="work index (built here)")
    # The shipped settings are fit()'s defaults: one place says what they are.
    default = {k: v.default for k, v in inspect.signature(fit).parameters.items()}
    ap.add_argument("--rank", type=int, default=default["rank"])
    ap.add_argument("--epochs", type=int, default=default["epochs"])
    ap.add_argument("--lr", type=float, default=default["lr"])
    ap.add_argument("--tau", type=float, default=default["tau"])
    ap.add_argument("--weight-decay", type=float, default=default["weight_decay"])
    ap.add_argument("--min-words", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--holdout", type=float, default=0.0, help="fraction of meetings held out")
    ap.add_argument("--out", type=Path, default=None, help="adapter file (default: bundled)")
    args = ap.parse_args()

    started = time.perf_counter()
    if store.exists(args.index):
        TranscriptQA.open(args.index).update([args.data])
    else:
        TranscriptQA.build(args.data, args.index)
    snap = store.load(args.index)
    encoder = Encoder(snap.manifest.model)
    plain = Retriever(snap, encoder.encode, SearchConfig(query_adapter=False))
    queries = [q for q in load_queries(args.data) if q[0] in snap.transcripts]
    meetings = sorted({doc for doc, _, _ in queries})
    held: set[str] = set()
    if args.holdout:
        held = set(random.Random(0).sample(meetings, round(args.holdout * len(meetings))))
    train_queries = [q for q in queries if q[0] not in held]
    data = meeting_examples(plain, train_queries, args.min_words, encoder)
    print(f"{len(data)} training questions from {len(meetings) - len(held)} meetings", flush=True)
    settings = {
        "rank": args.rank,
        "epochs": args.epochs,
        "lr": args.lr,
        "tau": args.tau,
        "weight_decay": args.weight_decay,
    }
    triples = [(q, p, m) for _, q, p, m in data]
    factors = [fit(triples, seed=s, show_progress=True, **settings) for s in range(args.seeds)]
    down, up = average(factors)
    about = {
        "trained_on": f"QMSum train specific queries ({len(data)} questions, "
        f"{len(meetings) - len(held)} meetings), Zhong et al. 2021, MIT licence",
        "script": "benchmarks/train_query_adapter.py",
        "seeds": args.seeds,
        "min_words": args.min_words,
        **settings,
    }
    adapter = QueryAdapter(down, up, snap.manifest.model, about)
    if held:
        test = [q for q in queries if q[0] in held]
        print(f"\nheld out: {len(test)} questions from {len(held)} meetings (within meeting)")
        adapted = Retriever(snap, encoder.encode, SearchConfig(query_adapter=False))
        adapted.adapter = adapter
        rows = [
            (name, evaluate(r, test, scopes=("within",)))
            for name, r in (("without", plain), ("with adapter", adapted))
        ]
        print(table(rows))
    else:
        out = args.out or adapter_path(snap.manifest.model)
        out.parent.mkdir(parents=True, exist_ok=True)
        adapter.save(out)
        print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
