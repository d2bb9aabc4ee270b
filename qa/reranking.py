"""A reranker reads the question and a candidate passage together and rescores it.

Retrieval embeds questions and passages apart, so it cannot tell a reply from the question it
answers, nor a passage that says what was asked from one that only shares its words. A
cross-encoder reads both at once. No pretrained one can be installed here; the one we trained
from the bundled all-MiniLM-L6-v2 weights (`training/train_reranker.py`) ranked worse than the
answerer's sentence scores, so none ships (benchmarks/results/rerank_training.md). The
answerer's reranking stage runs its rules without a model and reads one only when
`AnswerSettings.w_rerank > 0` and `AnswerSettings.reranker` names a folder holding one.

What the model reads for a passage (`pair_text`): the end of the previous speaker's turn,
then the passage labelled with its speaker, cut to a window around the sentence the answerer
likes best. The previous turn is what a reply answers: "How much will Sunday opening cost?" /
"About 85,000 euros" is found through the question.

The shape follows the `rerankers` library: a small `Reranker` with one job, `rank(question,
documents) -> list[Result]`, and backends registered by name.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.chunking import sentence_spans
from qa.transcript import Passage, Transcript

RERANKER_DIR = Path(__file__).resolve().parent.parent / "embeddings" / "rerankers"
DEFAULT_RERANKER = "minilm-l4-transcripts"
PREVIOUS_WORDS = 20  # of the previous speaker's turn: enough for the question it replies to
WINDOW_WORDS = 64  # of the passage: the focus sentence and its neighbours


@dataclass(frozen=True, slots=True)
class Document:
    """What a reranker scores: the text it reads and the caller's handle on it."""

    text: str
    id: int = 0


@dataclass(frozen=True, slots=True)
class Result:
    """A document with its reranker score (a logit: > 0 means "answers", < 0 "does not")."""

    document: Document
    score: float
    rank: int


class Reranker(Protocol):
    """Scores (question, document) pairs; higher is a better answer."""

    name: str

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray: ...


def rank(reranker: Reranker, question: str, documents: Sequence[Document]) -> list[Result]:
    """The documents best first, with their scores."""
    if not documents:
        return []
    scores = reranker.scores(question, [d.text for d in documents])
    order = np.argsort(-scores, kind="stable")
    return [
        Result(documents[int(i)], float(scores[int(i)]), r) for r, i in enumerate(order, start=1)
    ]


# ---------------------------------------------------------------- what the model reads


def _label(transcript: Transcript, turn: int) -> str:
    t = transcript.turns[turn]
    return t.index_label or t.role or ""


def pair_text(
    transcript: Transcript,
    passage: Passage,
    focus: tuple[int, int] | None = None,
    previous_words: int = PREVIOUS_WORDS,
    window_words: int = WINDOW_WORDS,
) -> str:
    """The text the reranker reads for `passage` (training and answering use this one function).

    `focus`: source offsets of the sentence to centre the window on (default: the passage's
    start). The previous turn is included only when another speaker said it.
    """
    parts: list[str] = []
    turn = transcript.turns[passage.turn]
    if passage.turn > 0 and previous_words > 0:
        prev = transcript.turns[passage.turn - 1]
        if prev.speaker != turn.speaker or prev.speaker is None:
            words = prev.text.split()[-previous_words:]
            if words:
                label = _label(transcript, passage.turn - 1)
                parts.append(f"{label}: {' '.join(words)}" if label else " ".join(words))
    window = _window(passage, focus, window_words)
    label = _label(transcript, passage.turn)
    parts.append(f"{label}: {window}" if label else window)
    return "\n".join(parts)


def _window(passage: Passage, focus: tuple[int, int] | None, budget: int) -> str:
    """Whole sentences of the passage around `focus`, at most `budget` words (the focus
    sentence alone, cut, if it is longer)."""
    text = passage.text
    if len(text.split()) <= budget:
        return text
    spans = sentence_spans(text, offset=passage.start)
    if not spans:
        return " ".join(text.split()[:budget])
    at = 0
    if focus is not None:
        at = next((i for i, (s, e) in enumerate(spans) if s <= focus[0] < e), 0)
    counts = [len(text[s - passage.start : e - passage.start].split()) for s, e in spans]
    lo = hi = at
    used = counts[at]
    while True:  # grow forward first (an answer continues), then back
        if hi + 1 < len(spans) and used + counts[hi + 1] <= budget:
            hi += 1
            used += counts[hi]
        elif lo > 0 and used + counts[lo - 1] <= budget:
            lo -= 1
            used += counts[lo]
        else:
            break
    chunk = text[spans[lo][0] - passage.start : spans[hi][1] - passage.start]
    return " ".join(chunk.split()[:budget])


# ---------------------------------------------------------------- the cross-encoder


class CrossEncoderReranker:
    """A sequence-classification transformer over (question, text), one logit per pair.

    Loaded from a local folder (config.json + model.safetensors, stored as float16) with the
    tokenizer of the bundled all-MiniLM-L6-v2 package; run in float32 on the CPU.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        max_length: int | None = None,
        quantize: bool | None = None,
    ) -> None:
        self.folder = Path(folder)
        about = json.loads((self.folder / "reranker.json").read_text(encoding="utf-8"))
        self.about: dict[str, Any] = about
        self.name = str(about.get("name", self.folder.name))
        self.max_length = int(max_length or about.get("max_length", 192))
        # Linear layers in int8 at load time (torch dynamic quantization): faster on a CPU,
        # and measured to rank alike (README, "Reranker").
        self.quantize = bool(about.get("quantize", False) if quantize is None else quantize)
        self.batch_size = 32
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    # The transformers class the folder's weights load as (a one-logit head here).
    _auto_class = "AutoModelForSequenceClassification"

    def _load(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        import transformers
        from transformers.utils import logging as hf_logging

        from embeddings.encoder import resolve_model

        hf_logging.disable_progress_bar()

        tokenizer = transformers.AutoTokenizer.from_pretrained(str(resolve_model(None)[1]))
        auto = getattr(transformers, self._auto_class)
        model = auto.from_pretrained(str(self.folder), dtype=torch.float32)
        model.eval()
        if self.quantize:
            model = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        self._tokenizer, self._model = tokenizer, model

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                self._load()

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        self.warm_up()
        import torch

        out: list[np.ndarray] = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = list(texts[i : i + self.batch_size])
                enc = self._tokenizer(
                    [question] * len(batch),
                    batch,
                    padding=True,
                    truncation="only_second",
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = self._model(**enc).logits
                out.append(logits[:, 0].float().numpy())
        return np.concatenate(out).astype(np.float32)


def mean_pooled(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> Any:
    """Unit-length mean-pooled token vectors, as all-MiniLM-L6-v2 pools them (a torch
    tensor; training reads it with gradients, answering under `inference_mode`)."""
    import torch

    enc = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    out = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


class BiEncoderReranker(CrossEncoderReranker):
    """A sentence encoder fine-tuned on questions and the replies that answer them
    (`training/train_answer_encoder.py`); the score is the cosine of the question's vector
    and the text's (mean-pooled, as all-MiniLM-L6-v2 is).

    Unlike the index's encoder, it has learnt that a reply answers, and a second question
    that shares the words does not. It reads the same `pair_text` as the cross-encoder.
    """

    _auto_class = "AutoModel"  # the encoder alone: its token vectors are pooled

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        self.warm_up()
        import torch

        with torch.inference_mode():
            q = mean_pooled(self._model, self._tokenizer, [question], 64)[0]
            rows = [
                mean_pooled(
                    self._model,
                    self._tokenizer,
                    list(texts[i : i + self.batch_size]),
                    self.max_length,
                )
                for i in range(0, len(texts), self.batch_size)
            ]
        return (torch.cat(rows) @ q).float().numpy()


# ---------------------------------------------------------------- registry

_BACKENDS: dict[str, Callable[[Path], Reranker]] = {
    "cross-encoder": CrossEncoderReranker,
    "bi-encoder": BiEncoderReranker,
}


def register(kind: str, factory: Callable[[Path], Reranker]) -> None:
    """Make another kind of reranker loadable by `load()` (its folder's reranker.json `kind`)."""
    _BACKENDS[kind] = factory


def available() -> list[str]:
    """Names of the rerankers bundled in `embeddings/rerankers/` (none today)."""
    if not RERANKER_DIR.is_dir():
        return []
    return sorted(p.name for p in RERANKER_DIR.iterdir() if (p / "reranker.json").exists())


def load(name_or_folder: str | os.PathLike[str] = DEFAULT_RERANKER) -> Reranker:
    """A bundled reranker by name, or one in a local folder."""
    folder = Path(name_or_folder)
    if not (folder / "reranker.json").exists():
        folder = RERANKER_DIR / str(name_or_folder)
    if not (folder / "reranker.json").exists():
        raise FileNotFoundError(
            f"no reranker {str(name_or_folder)!r}: expected a folder with reranker.json "
            f"(bundled: {', '.join(available()) or 'none'})"
        )
    about = json.loads((folder / "reranker.json").read_text(encoding="utf-8"))
    kind = about.get("kind", "cross-encoder")
    if kind not in _BACKENDS:
        raise ValueError(f"{folder}: unknown reranker kind {kind!r}")
    return _BACKENDS[kind](folder)


@lru_cache(maxsize=4)
def bundled(name: str = DEFAULT_RERANKER) -> Reranker | None:
    """The bundled reranker (one per process), or None when its weights are not there."""
    try:
        return load(name)
    except FileNotFoundError:
        return None


__all__ = [
    "DEFAULT_RERANKER",
    "BiEncoderReranker",
    "CrossEncoderReranker",
    "Document",
    "Reranker",
    "Result",
    "available",
    "bundled",
    "load",
    "mean_pooled",
    "pair_text",
    "rank",
    "register",
]
