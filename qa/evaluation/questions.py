"""Test questions: the JSONL format, its loader, and how a passage is judged relevant.

One JSON object per line (blank lines and lines starting with ``#`` are ignored)::

    {"question": "What did Putin say about gas prices?",
     "doc_id": "54102", "turns": [3, [7, 9]],
     "speaker": "Vladimir Putin", "since": "2017-01-01", "until": "2017-12-31",
     "doc": "54102", "kind": "paraphrase", "id": "q17"}
    {"question": "And what about the margins?", "history": ["What did the CFO say about revenue?"],
     "doc_id": "q2-call", "turn": 7, "kind": "followup"}
    {"question": "What is the capital of France?", "abstain": true, "kind": "offtopic"}

Fields:

- ``question`` (required): the question text.
- Gold evidence, at least one of:
  - ``doc_id`` with ``turn`` (an int) or ``turns`` (a list of ints and/or inclusive
    ``[start, end]`` ranges): the turns of that document that answer the question;
  - ``evidence``: a string (or list of strings) that must appear in the retrieved
    passage's text;
  - ``answer``: a string (or list of acceptable strings) that answers the question.

  A question with none of these is *unanswerable*: the transcripts do not answer it.
  It is left out of the retrieval metrics; ``ask()`` should abstain on it (unless
  ``abstain`` below says otherwise).
- Optional search filters, passed to ``search()``/``ask()`` as given: ``speaker``,
  ``since``, ``until`` (ISO dates), ``doc`` (a document id).
- Optional ``kind`` (a free label; metrics are broken down by it) and ``id``
  (defaults to ``<file stem>:<line>``).
- Optional ``history``: a list of earlier questions (non-empty strings), oldest first, asked
  in the same chat before this one. The runner asks them first through ``ask()``, each with
  the chain before it, and then asks this question with
  ``history=[(question, answer), ...]``, so follow-ups ("What about the margins?") can be
  evaluated. History questions carry no filters of their own and are not scored; the
  optional filters above apply to this question only. ``search()`` has no history and sees
  this question alone.
- Optional ``abstain`` (``true``/``false``): whether the right response of ``ask()`` is to
  abstain. Defaults to ``not answerable``, so files without it keep their meaning. Giving it
  explicitly documents intent (``"abstain": true`` on off-topic and near-miss questions). It
  may disagree with the gold fields: ``false`` on a question without gold evidence scores
  only whether ``ask()`` answered; ``true`` on one with gold keeps it in the retrieval
  metrics but scores ``ask()`` only on abstaining. ``null`` is the default.

A retrieved passage is relevant when (first rule that applies): its ``(doc_id, turn)`` is
among the gold turns; else it contains one of the ``evidence`` strings; else it contains
one of the ``answer`` strings. "Contains" compares with whitespace runs collapsed to one
space and case folded, so line wrapping and capitalisation never decide a hit.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import TranscriptQAError

_KNOWN_FIELDS = frozenset(
    {
        "question",
        "id",
        "doc_id",
        "turn",
        "turns",
        "evidence",
        "answer",
        "speaker",
        "since",
        "until",
        "doc",
        "kind",
        "history",
        "abstain",
    }
)
_WS = re.compile(r"\s+")


class QuestionFileError(TranscriptQAError):
    """A test-question file is malformed; the message names the file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def normalise(text: str) -> str:
    """Collapse whitespace and fold case: the form every containment test compares."""
    return _WS.sub(" ", text).strip().casefold()


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One test question with its gold evidence and the filters to search with."""

    question: str
    id: str
    doc_id: str | None = None
    turns: frozenset[int] = frozenset()
    evidence: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    speaker: str | None = None
    since: str | None = None
    until: str | None = None
    doc: str | None = None
    kind: str = "all"
    # Earlier questions of the same chat, oldest first (asked through ask() before this one).
    history: tuple[str, ...] = ()
    # Whether ask() should abstain; None means "not answerable" (see `should_abstain`).
    abstain: bool | None = None

    @property
    def should_abstain(self) -> bool:
        """Whether the right response of ``ask()`` is to abstain: ``abstain`` if the file gave
        it, else ``not answerable``."""
        return (not self.answerable) if self.abstain is None else self.abstain

    @property
    def gold_units(self) -> frozenset[tuple[str, int]]:
        """Gold turns as ``(doc_id, turn)`` pairs; empty when no turns were given."""
        if self.doc_id is None:
            return frozenset()
        return frozenset((self.doc_id, t) for t in self.turns)

    @property
    def has_gold_turns(self) -> bool:
        return bool(self.turns)

    @property
    def answerable(self) -> bool:
        """False for questions with no gold evidence: the right response is to abstain."""
        return bool(self.turns or self.evidence or self.answers)

    def filters(self) -> dict[str, Any]:
        """The keyword filters for ``search()``/``ask()``, only those that are set."""
        out: dict[str, Any] = {}
        for name in ("speaker", "since", "until", "doc"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def is_relevant(self, doc_id: str, turn: int, text: str) -> bool:
        """Whether a passage (or quote) at ``doc_id``/``turn`` with ``text`` answers this question."""
        if self.turns:
            return doc_id == self.doc_id and turn in self.turns
        target = self.evidence or self.answers
        return contains_any(text, target)

    def answer_in(self, text: str, speaker: str | None = None) -> bool:
        """Whether ``text`` contains a gold answer; a speaker name counts for "who" answers."""
        if not self.answers:
            return False
        if contains_any(text, self.answers):
            return True
        return speaker is not None and contains_any(speaker, self.answers)


def contains_any(text: str, needles: Iterable[str]) -> bool:
    hay = normalise(text)
    return any(n and normalise(n) in hay for n in needles)


def _strings(value: Any, name: str, path: Path, line: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise QuestionFileError(
            path, f"'{name}' must be a non-empty string or a list of them", line
        )
    return tuple(value)


def _turns(value: Any, path: Path, line: int) -> frozenset[int]:
    """Parse ``turns``: ints and inclusive ``[start, end]`` ranges (ints or digit strings)."""
    if not isinstance(value, list) or not value:
        raise QuestionFileError(
            path, "'turns' must be a non-empty list of ints or [start, end] ranges", line
        )
    out: set[int] = set()
    for item in value:
        if isinstance(item, list):
            if len(item) != 2:
                raise QuestionFileError(
                    path, f"turn range {item!r} must be [start, end] (inclusive)", line
                )
            start, end = (_int(v, path, line) for v in item)
            if end < start:
                raise QuestionFileError(path, f"turn range {item!r} ends before it starts", line)
            out.update(range(start, end + 1))
        else:
            out.add(_int(item, path, line))
    return frozenset(out)


def _int(value: Any, path: Path, line: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise QuestionFileError(path, f"turn {value!r} is not a non-negative integer", line)
    try:
        number = int(value)
    except ValueError:
        raise QuestionFileError(
            path, f"turn {value!r} is not a non-negative integer", line
        ) from None
    if number < 0:
        raise QuestionFileError(path, f"turn {value!r} is not a non-negative integer", line)
    return number


def _history(value: Any, path: Path, line: int) -> tuple[str, ...]:
    """Parse ``history``: a list of earlier questions, oldest first (may be empty)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise QuestionFileError(
            path,
            "'history' must be a list of earlier questions (non-empty strings), oldest first",
            line,
        )
    return tuple(value)


def _abstain(value: Any, path: Path, line: int) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise QuestionFileError(path, f"'abstain' must be true or false, got {value!r}", line)


def _date(value: Any, name: str, path: Path, line: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise QuestionFileError(
        path, f"'{name}' must be an ISO date like 2017-03-24, got {value!r}", line
    )


def parse_question(record: Any, path: Path, line: int) -> EvalQuestion:
    """Validate one decoded JSON line; errors name the file, line and the field at fault."""
    if not isinstance(record, dict):
        raise QuestionFileError(path, "expected a JSON object with a 'question' field", line)
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QuestionFileError(path, "missing or empty 'question' (a string)", line)
    unknown = sorted(set(record) - _KNOWN_FIELDS)
    if unknown:
        raise QuestionFileError(
            path,
            f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(sorted(_KNOWN_FIELDS))}",
            line,
        )
    if "turn" in record and "turns" in record:
        raise QuestionFileError(path, "give 'turn' or 'turns', not both", line)
    turns: frozenset[int] = frozenset()
    if "turn" in record:
        turns = frozenset({_int(record["turn"], path, line)})
    elif "turns" in record:
        turns = _turns(record["turns"], path, line)
    doc_id = record.get("doc_id")
    if doc_id is not None and (not isinstance(doc_id, str) or not doc_id):
        raise QuestionFileError(path, "'doc_id' must be a non-empty string", line)
    if turns and doc_id is None:
        raise QuestionFileError(path, "'turn'/'turns' need the 'doc_id' they belong to", line)
    evidence = _strings(record["evidence"], "evidence", path, line) if "evidence" in record else ()
    answers = _strings(record["answer"], "answer", path, line) if "answer" in record else ()
    optional: dict[str, str | None] = {}
    for name in ("speaker", "doc", "kind", "id"):
        value = record.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise QuestionFileError(path, f"'{name}' must be a non-empty string", line)
        optional[name] = value
    return EvalQuestion(
        question=question,
        id=optional["id"] or f"{path.stem}:{line}",
        doc_id=doc_id,
        turns=turns,
        evidence=evidence,
        answers=answers,
        speaker=optional["speaker"],
        since=_date(record.get("since"), "since", path, line),
        until=_date(record.get("until"), "until", path, line),
        doc=optional["doc"],
        kind=optional["kind"] or "all",
        history=_history(record["history"], path, line) if "history" in record else (),
        abstain=_abstain(record.get("abstain"), path, line),
    )


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read a JSONL question file. Raises `QuestionFileError` naming the file and line."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionFileError(path, "no such question file") from None
    except UnicodeDecodeError as exc:
        raise QuestionFileError(path, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise QuestionFileError(path, f"cannot read: {exc.strerror}") from None
    questions: list[EvalQuestion] = []
    ids: set[str] = set()
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(
                path, f"invalid JSON ({exc.msg} at column {exc.colno})", number
            ) from None
        q = parse_question(record, path, number)
        if q.id in ids:
            raise QuestionFileError(path, f"duplicate question id {q.id!r}", number)
        ids.add(q.id)
        questions.append(q)
    if not questions:
        raise QuestionFileError(path, "no questions found (expected one JSON object per line)")
    return questions


def question_to_record(q: EvalQuestion) -> dict[str, Any]:
    """The JSONL record for a question (the inverse of `parse_question`); turns become ranges."""
    record: dict[str, Any] = {"id": q.id, "question": q.question}
    if q.doc_id is not None:
        record["doc_id"] = q.doc_id
    if q.turns:
        record["turns"] = turn_ranges(sorted(q.turns))
    if q.evidence:
        record["evidence"] = list(q.evidence) if len(q.evidence) > 1 else q.evidence[0]
    if q.answers:
        record["answer"] = list(q.answers) if len(q.answers) > 1 else q.answers[0]
    for name in ("speaker", "since", "until", "doc"):
        if getattr(q, name) is not None:
            record[name] = getattr(q, name)
    if q.kind != "all":
        record["kind"] = q.kind
    if q.history:
        record["history"] = list(q.history)
    if q.abstain is not None:
        record["abstain"] = q.abstain
    return record


def turn_ranges(turns: Sequence[int]) -> list[int | list[int]]:
    """Compress sorted turn indices into ints and inclusive ``[start, end]`` ranges."""
    out: list[int | list[int]] = []
    i = 0
    while i < len(turns):
        j = i
        while j + 1 < len(turns) and turns[j + 1] == turns[j] + 1:
            j += 1
        out.append(turns[i] if i == j else [turns[i], turns[j]])
        i = j + 1
    return out


def write_questions(questions: Iterable[EvalQuestion], path: str | Path) -> int:
    """Write questions as JSONL; returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for q in questions:
            fh.write(json.dumps(question_to_record(q), ensure_ascii=False) + "\n")
            count += 1
    return count
