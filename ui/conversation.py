"""The chat's conversation: what it holds, how it is kept in the browser, how it is shared.

- `Exchange`: one question and what the chat showed for it.
- `to_store` / `from_store`: the conversation as plain JSON for the browser's storage
  (`gr.BrowserState`, i.e. localStorage), so it survives a page reload. What comes back
  from the browser is untrusted: it is rebuilt through `ui.api.answer_from_dict` (links
  checked, times validated), capped in size and count, and anything malformed is dropped.
  Quotes keep their verbatim text and offsets; the source view still only reads documents
  that are in the index.
- `exchange_markdown` / `conversation_markdown`: one answer (the chat's "Copy" button) or the
  whole conversation (the Markdown download) with full citations: who, role, event, date,
  place, the time in the recording and the link, as `qa.rendering` writes them for the CLI.
  Everything from a transcript or the user is Markdown-escaped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from qa import limits
from qa.rendering import answer_to_markdown, escape_markdown
from qa.results import Answer

STORE_VERSION = 1
MAX_STORED = 50
"""Exchanges kept in the browser (the newest); older ones are dropped from storage."""
MAX_STORED_CHARS = 200_000
"""One stored exchange's JSON larger than this is not kept (nor taken back)."""
MAX_SHOWN_QUESTION = 3000
"""A refused, oversized question is stored by its start and size, as the chat shows it."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One question and what the chat showed for it (an answer, or a message instead)."""

    question: str
    answer: Answer | None = None
    message: str | None = None  # shown instead of an answer (refusal, bad filter, error)
    pending: bool = False  # waiting for its answer
    claimed: bool = False  # a worker is computing the answer


def shorten(text: str, limit: int = MAX_SHOWN_QUESTION) -> str:
    """A refused, oversized question is echoed by its start and size, not in full."""
    return text if len(text) <= limit else f"{text[:300]}… ({len(text):,} characters)"


# ---------------------------------------------------------------- browser storage


def to_store(exchanges: Sequence[Exchange]) -> dict[str, Any]:
    """The finished exchanges (the newest `MAX_STORED`) as JSON-ready data."""
    from ui.api import answer_to_dict

    items: list[dict[str, Any]] = []
    for ex in exchanges:
        if ex.pending:
            continue
        item: dict[str, Any] = {"question": shorten(ex.question)}
        if ex.answer is not None:
            item["answer"] = answer_to_dict(ex.answer)
            # Not part of the /ask JSON (yet): kept beside it, one per quote.
            item["support"] = [q.support for q in ex.answer.quotes]
        else:
            item["message"] = ex.message or ""
        if len(json.dumps(item, ensure_ascii=False)) <= MAX_STORED_CHARS:
            items.append(item)
    return {"v": STORE_VERSION, "exchanges": items[-MAX_STORED:]}


def from_store(value: Any) -> list[Exchange]:
    """Exchanges back from what the browser kept; malformed or oversized items are skipped."""
    from ui.api import answer_from_dict

    if not isinstance(value, dict) or value.get("v") != STORE_VERSION:
        return []
    items = value.get("exchanges")
    if not isinstance(items, list):
        return []
    out: list[Exchange] = []
    for item in items[-MAX_STORED:]:
        try:
            if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                continue
            if len(json.dumps(item, ensure_ascii=False)) > MAX_STORED_CHARS:
                continue
            question = shorten(item["question"])
            if isinstance(item.get("answer"), dict):
                if len(question) > limits.MAX_QUESTION_CHARS:
                    continue  # no answered question is this long; follow-ups would refuse it
                answer = answer_from_dict(item["answer"])
                answer.quotes = _with_support(answer, item.get("support"))
                out.append(Exchange(question=question, answer=answer))
            elif isinstance(item.get("message"), str):
                out.append(Exchange(question=question, message=item["message"][:2000]))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            continue
    return out


def _with_support(answer: Answer, support: Any) -> list[Any]:
    if not isinstance(support, list) or len(support) != len(answer.quotes):
        return answer.quotes
    return [
        replace(q, support=float(s)) if isinstance(s, int | float) and 0 <= s <= 10 else q
        for q, s in zip(answer.quotes, support, strict=True)
    ]


# ---------------------------------------------------------------- Markdown


def _one_line(text: str) -> str:
    return " ".join(text.split())


def exchange_body_markdown(ex: Exchange) -> str:
    """What the chat answered, in Markdown: the quotes with their full citations, or the
    abstention with the closest passages, or the message shown instead of an answer."""
    if ex.answer is not None:
        return answer_to_markdown(ex.answer)
    if ex.message is not None:
        return f"*{escape_markdown(_one_line(ex.message))}*"
    return "*(no answer yet)*"


def exchange_markdown(ex: Exchange) -> str:
    """One question and its answer, as the chat's "Copy" button copies it."""
    return f"**Question:** {escape_markdown(_one_line(shorten(ex.question)))}\n\n{exchange_body_markdown(ex)}"


def conversation_markdown(
    exchanges: Sequence[Exchange],
    title: str = "Transcript QA",
    about: str = "",
    when: dt.datetime | None = None,
) -> str:
    """The whole conversation as a Markdown document: a heading, when it was exported and
    what was searched (`about`, plain text), then each question as a numbered section."""
    when = when or dt.datetime.now().astimezone()
    stamp = f"{when.day} {when:%B %Y, %H:%M}"
    lines = [
        f"# {escape_markdown(_one_line(title))}: conversation",
        "",
        f"Exported {escape_markdown(stamp)}."
        + (f" Searched: {escape_markdown(_one_line(about))}." if about else ""),
    ]
    done = [ex for ex in exchanges if not ex.pending]
    if not done:
        lines += ["", "*No questions yet.*"]
    for n, ex in enumerate(done, 1):
        lines += [
            "",
            f"## {n}. {escape_markdown(_one_line(shorten(ex.question)))}",
            "",
            exchange_body_markdown(ex),
        ]
    return "\n".join(lines) + "\n"
