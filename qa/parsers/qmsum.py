"""QMSum meeting JSON: `{"meeting_transcripts": [{"speaker", "content"}, …], …}`.

One turn per `meeting_transcripts` entry, in order and never merged, so `Turn.index` is the
entry index that QMSum's gold `relevant_text_span` pairs refer to. The text is a plain
rendering, one `Speaker: content` line per entry; a turn's offsets cover the content part.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qa.errors import TranscriptError
from qa.parsers._common import (
    RawTurn,
    build_turns,
    doc_id_for,
    fallback_title_date,
    render_turns,
)
from qa.transcript import Transcript

FORMAT = "qmsum"


def sniff(path: str | Path, head: str) -> bool:
    return head.lstrip().startswith("{") and '"meeting_transcripts"' in head


def load_json(path: str | Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = (
            "; one object per line is JSON Lines: name the file .jsonl"
            if exc.msg == "Extra data"
            else ""
        )
        raise TranscriptError(
            path, f"malformed JSON: {exc.msg} (column {exc.colno}){hint}", exc.lineno
        ) from exc
    except RecursionError as exc:
        raise TranscriptError(path, "malformed JSON: nested too deeply") from exc


def parse(path: str | Path, text: str) -> Transcript:
    data = load_json(path, text)
    return from_data(path, data)


def from_data(path: str | Path, data: Any) -> Transcript:
    entries = data.get("meeting_transcripts") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise TranscriptError(
            path, 'expected QMSum JSON: an object with a "meeting_transcripts" list'
        )
    items: list[tuple[str | None, str]] = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
            raise TranscriptError(
                path, f'meeting_transcripts[{n}]: expected {{"speaker": str, "content": str}}'
            )
        speaker = entry.get("speaker")
        speaker = " ".join(str(speaker).split()) if speaker not in (None, "") else None
        items.append((speaker, " ".join(entry["content"].split("\n"))))
    if not any(body.strip() for _, body in items):
        raise TranscriptError(
            path, "meeting_transcripts holds no speech (no entries, or every content is empty)"
        )
    text, spans = render_turns(items)
    raw = [RawTurn(label, s, e) for (label, _), (s, e) in zip(items, spans, strict=True)]
    given = data.get("title") if isinstance(data.get("title"), str) else None
    title, date = fallback_title_date(path, given, None)
    return Transcript(
        doc_id=doc_id_for(path),
        title=title,
        turns=build_turns(text, raw, split=False),
        text=text,
        date=date,
        topics=[
            t["topic"]
            for t in _list(data.get("topic_list"))
            if isinstance(t, dict) and isinstance(t.get("topic"), str)
        ],
        source=str(path),
        format=FORMAT,
    )


def _list(value: Any) -> list[Any]:
    """Optional list fields of the wrong type are ignored, not a crash (fuzzing found one)."""
    return value if isinstance(value, list) else []
