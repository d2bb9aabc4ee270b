"""Evaluation on test questions: the question format, metrics, runner, reports, adapters.

See `qa.evaluation.questions` for the JSONL format and `qa.evaluation.metrics` for how
rankings are scored. The heavy parts (the index, matplotlib) load only when used.
"""

from __future__ import annotations

from qa.evaluation.questions import EvalQuestion, QuestionFileError, load_questions

__all__ = ["EvalQuestion", "QuestionFileError", "load_questions"]
