"""A learned sentence scorer: which sentence of the retrieved passages answers the question.

The hand-set weights of `qa.answering.rank` add up a few similarities. They cannot learn
that a "when" question wants a sentence with a date in it, that the first sentences of a
reply matter more than its fourth, or how far behind the best passage a passage's retrieval
score is. A logistic regression over the hand-set score and those features, trained on
transcripts we do not measure on (`training/train_sentence_scorer.py`), can. It corrects the
hand-set score rather than replacing its similarities: fitted on raw similarities it learnt
dataset quirks (a negative weight on the cosine). Its weights are a small JSON file in the
repository (`qa/models/sentence_scorer.json`); without it the hand-set score alone ranks.

It only reorders passages whose hand-set score is within `AnswerSettings.learned_margin` of
the best: on its own it trusts the retrieval rank over what a sentence says (the top passage,
"There are people who want those jobs.", over the sentence about drivers' breaks that was
asked for).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qa.answering import Candidate

MODEL_PATH = Path(__file__).resolve().parent / "models" / "sentence_scorer.json"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_MONTHS = _words(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    "saturday sunday spring summer autumn fall winter quarter week weeks month months year years "
    "day days today tomorrow yesterday tonight morning evening night o'clock"
)
_DATE = re.compile(
    r"\b(?:1[89]\d\d|20\d\d|\d{1,2}(?:st|nd|rd|th)|(?:" + "|".join(_MONTHS) + r")|"
    r"\d{1,2}[:.]\d\d|\d{1,2}\s?(?:am|pm)|next|last|ago|until|since|by)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = _words(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty sixty seventy eighty ninety hundred thousand million billion trillion percent half "
    "third quarter dozen"
)
_NUMBER = re.compile(r"\d|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_PROPER = re.compile(r"(?<=[a-z,;:]\s)[A-Z][a-z]+")  # a capitalised word inside a sentence
_REASON = re.compile(r"\b(?:because|since|so that|due to|reason|why|as a result)\b", re.I)

_WHEN = re.compile(
    r"^\W*(?:(?:and|so|but)\s+)?(?:when|what time|what date|how long|how soon|since when|until when|by when|what year|which year)\b",
    re.I,
)
_AMOUNT = re.compile(
    r"\b(?:how (?:much|many|big|large|high|low|far|fast|often|old)|what (?:percentage|share|proportion|number|amount|price|cost|rate|figure))\b",
    re.I,
)
_WHO = re.compile(
    r"^\W*(?:(?:and|so|but)\s+)?(?:who|whom|whose|which (?:company|person|councillor|customer|minister|country|firm))\b",
    re.I,
)
_WHY = re.compile(r"^\W*(?:(?:and|so|but)\s+)?(?:why|how come|what (?:was|is) the reason)\b", re.I)
_YESNO = re.compile(
    r"^\W*(?:(?:and|so|but)\s+)?(?:is|are|was|were|will|would|can|could|do|does|did|has|have|should)\b",
    re.I,
)

FEATURES: tuple[str, ...] = (
    "hand",  # the hand-set score of `qa.answering.rank` (similarities, rank, penalties)
    "hit_share",  # the passage's fused retrieval score over the best passage's
    "log_words",
    "turn_first",  # the first sentence of its turn
    "turn_position",  # 1, 1/2, 1/3 … by its place in the turn
    "turn_asks",  # its turn ends with a question
    "turn_short",  # its turn has fewer than 8 words
    "when_date",  # a "when" question and a sentence with a date or time word
    "when_no_date",
    "amount_number",  # a "how much / how many" question and a sentence with a number
    "amount_no_number",
    "who_name",  # a "who" question and a sentence naming someone
    "why_reason",  # a "why" question and a sentence giving a reason
    "yesno_first",  # a yes/no question and the first sentence of a reply
)


@dataclass(frozen=True, slots=True)
class QuestionKind:
    when: bool
    amount: bool
    who: bool
    why: bool
    yesno: bool


@lru_cache(maxsize=256)
def question_kind(question: str) -> QuestionKind:
    return QuestionKind(
        when=bool(_WHEN.search(question)),
        amount=bool(_AMOUNT.search(question)),
        who=bool(_WHO.search(question)),
        why=bool(_WHY.search(question)),
        yesno=bool(_YESNO.search(question)),
    )


def feature_matrix(question: str, found: Sequence[Candidate], hand: Sequence[float]) -> np.ndarray:
    """One row of `FEATURES` per candidate (with its `candidates()` features and its
    hand-set score in `hand`)."""
    if not found:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    kind = question_kind(question)
    best_hit = max(c.hit.score for c in found)
    rows = []
    for c, score in zip(found, hand, strict=True):
        has_date = bool(_DATE.search(c.text))
        has_number = bool(_NUMBER.search(c.text))
        rows.append(
            (
                score,
                c.hit.score / best_hit if best_hit > 0 else 0.0,
                math.log1p(c.words) / 4.0,
                float(c.turn_position == 0),
                1.0 / (1 + c.turn_position),
                float(c.turn_asks),
                float(c.turn_words < 8),
                float(kind.when and has_date),
                float(kind.when and not has_date),
                float(kind.amount and has_number),
                float(kind.amount and not has_number),
                float(kind.who and bool(_PROPER.search(c.text))),
                float(kind.why and bool(_REASON.search(c.text))),
                float(kind.yesno and c.turn_position == 0),
            )
        )
    return np.asarray(rows, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class SentenceScorer:
    """Logistic regression weights over `FEATURES`: score = w·x + b (a logit)."""

    weights: np.ndarray
    bias: float
    features: tuple[str, ...]

    def scores(
        self, question: str, found: Sequence[Candidate], hand: Sequence[float]
    ) -> np.ndarray:
        return feature_matrix(question, found, hand) @ self.weights + self.bias

    def save(self, path: Path, provenance: dict[str, object]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "features": list(self.features),
            "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6),
            "provenance": provenance,
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def load(path: Path = MODEL_PATH) -> SentenceScorer | None:
    """The scorer in `path`, or None when there is none or it was made for other features."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if tuple(data.get("features", ())) != FEATURES:
        return None  # trained on another feature set: the hand-set weights are safer
    return SentenceScorer(
        np.asarray(data["weights"], dtype=np.float32), float(data["bias"]), FEATURES
    )


@lru_cache(maxsize=1)
def bundled() -> SentenceScorer | None:
    return load(MODEL_PATH)
