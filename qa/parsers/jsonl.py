"""Our JSON / JSONL transcript schema.

JSON — one object:

    {
      "title": "City Council debate on school meals",     # optional; default: file name
      "date": "2023-11-08",                                # optional; ISO or any English date;
                                                           #   default: a date the file name starts with
      "url": "https://example.org/council/2023-11-08",     # optional; the recording or page
                                                           #   citations link to (http/https only)
      "time": "18:00", "place": "City Hall",               # optional
      "lead": "One-paragraph summary",                     # optional
      "topics": ["Education"], "geography": [], "persons": [],   # optional lists of strings
      "speakers": {"Agnes Whitlow": "Speaker of the Council"},    # optional: name → role
      "turns": [                                           # required, non-empty
        {"speaker": "Agnes Whitlow", "text": "Order, order.",     # text required
         "role": "Speaker of the Council",                 # optional, overrides "speakers"
         "start": 4.0, "end": 27.2}                        # optional, seconds
      ]
    }

JSONL — one JSON object per line: either a first metadata line (any of the keys above except
"turns") followed by one turn per line, or turns only. A line is a turn when it has "text".

Other tools' exports load too: the turns may be called "utterances" or "segments", a turn's
speaker "name" (or a diarisation number: 0 is "Speaker 0") and its text "content", and times
may be clocks ("00:12:31.5") as well as seconds.

A missing title or date comes from the file name (`2023-11-08_school_meals.json` → 8 November
2023, "School meals"); a "url" that is not an absolute http(s) URL is ignored (no link).

`Transcript.text` is a plain rendering, one `Speaker: text` line per turn (escapes decoded), so
offsets and quotes never contain JSON syntax. A turn's "speaker" may be null for narration.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from qa.errors import TranscriptError
from qa.links import safe_url
from qa.parsers._common import (
    RawTurn,
    build_turns,
    clock_seconds,
    doc_id_for,
    fallback_title_date,
    parse_date,
    render_turns,
)
from qa.parsers.qmsum import load_json
from qa.transcript import Transcript

FORMAT = "json"


def sniff(path: str | Path, head: str) -> bool:
    s = head.lstrip()
    return s.startswith(("{", "[")) and '"meeting_transcripts"' not in head


def _str_list(path: str | Path, meta: dict[str, Any], key: str) -> list[str]:
    value = meta.get(key, [])
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TranscriptError(path, f'"{key}" must be a list of strings')
    return value


def _opt_str(path: str | Path, meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise TranscriptError(path, f'"{key}" must be a string')
    return str(value).strip() or None


# Other tools' names for the same fields (AssemblyAI's "utterances", Whisper's "segments",
# "name" and "content"): read as ours, so their exports load as they are.
TURN_LISTS = ("turns", "utterances", "segments")
SPEAKER_KEYS = ("speaker", "name", "speaker_name")
TEXT_KEYS = ("text", "content", "transcript")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$")


def _first(turn: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((turn[k] for k in keys if k in turn), None)


def _number(
    path: str | Path, turn: dict[str, Any], key: str, where: str, line: int | None
) -> float | None:
    value = turn.get(key)
    if value is None:
        return None
    if isinstance(value, str) and (clock := _CLOCK.match(value.strip())):
        return clock_seconds(*clock.groups())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranscriptError(
            path, f'{where}: "{key}" must be seconds (a number) or a clock ("00:12:31")', line
        )
    return float(value)


def parse(path: str | Path, text: str) -> Transcript:
    if Path(path).suffix.lower() in (".jsonl", ".ndjson"):
        meta, turns, lines = _read_jsonl(path, text)
    else:
        data = load_json(path, text)
        if isinstance(data, list):
            meta, turns = {}, data
        elif isinstance(data, dict):
            meta, turns = data, _first(data, TURN_LISTS)
        else:
            raise TranscriptError(path, 'expected a JSON object with a "turns" list')
        lines = None
    return from_data(path, meta, turns, lines)


def _read_jsonl(path: str | Path, text: str) -> tuple[dict[str, Any], list[Any], list[int]]:
    meta: dict[str, Any] = {}
    turns: list[Any] = []
    lines: list[int] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TranscriptError(
                path, f"malformed JSON line: {exc.msg} (column {exc.colno})", number
            ) from exc
        except RecursionError as exc:
            raise TranscriptError(path, "malformed JSON line: nested too deeply", number) from exc
        if not isinstance(obj, dict):
            raise TranscriptError(path, "expected one JSON object per line", number)
        if any(k in obj for k in TEXT_KEYS):
            turns.append(obj)
            lines.append(number)
        elif not turns and not meta:
            meta = obj
        else:
            raise TranscriptError(
                path,
                'expected a turn object with "text" (metadata goes on the first line only)',
                number,
            )
    return meta, turns, lines


def from_data(
    path: str | Path, meta: dict[str, Any], turns: Any, lines: list[int] | None = None
) -> Transcript:
    if not isinstance(turns, list) or not turns:
        raise TranscriptError(
            path, 'expected a non-empty "turns" list of {"speaker", "text"} objects'
        )
    roles = meta.get("speakers") or {}
    if not isinstance(roles, dict):
        roles = {}  # a plain list of speaker names carries no roles
    items: list[tuple[str | None, str]] = []
    times: list[tuple[float | None, float | None]] = []
    explicit_roles: list[str | None] = []
    for n, turn in enumerate(turns):
        line = lines[n] if lines else None
        where = f"turn {n + 1}"
        if not isinstance(turn, dict):
            raise TranscriptError(path, f'{where}: expected an object {{"speaker", "text"}}', line)
        body = _first(turn, TEXT_KEYS)
        if not isinstance(body, str):
            raise TranscriptError(path, f'{where}: "text" must be a string', line)
        speaker = _first(turn, SPEAKER_KEYS)
        if isinstance(speaker, int) and not isinstance(speaker, bool):
            speaker = f"Speaker {speaker}"  # diarisation numbers a voice (0, 1, …)
        if speaker is not None and not isinstance(speaker, str):
            raise TranscriptError(path, f'{where}: "speaker" must be a string or null', line)
        speaker = " ".join(speaker.split()) if speaker else None
        role = turn.get("role", roles.get(speaker) if speaker else None)
        explicit_roles.append(role.strip() if isinstance(role, str) and role.strip() else None)
        items.append((speaker, " ".join(body.split())))
        times.append(
            (_number(path, turn, "start", where, line), _number(path, turn, "end", where, line))
        )
    if not any(speaker for speaker, _ in items):
        raise TranscriptError(path, 'no speakers found: expected "speaker" on the turns')
    rendered, spans = render_turns(items)
    raw = [
        RawTurn(sp, s, e, t0, t1)
        for (sp, _), (s, e), (t0, t1) in zip(items, spans, times, strict=True)
    ]
    built = build_turns(rendered, raw)
    built = [replace(t, role=r) if r else t for t, r in zip(built, explicit_roles, strict=True)]
    title, date = fallback_title_date(
        path, _opt_str(path, meta, "title"), parse_date(_opt_str(path, meta, "date"))
    )
    return Transcript(
        doc_id=doc_id_for(path),
        title=title,
        turns=built,
        text=rendered,
        date=date,
        time=_opt_str(path, meta, "time"),
        place=_opt_str(path, meta, "place"),
        lead=_opt_str(path, meta, "lead"),
        topics=_str_list(path, meta, "topics"),
        geography=_str_list(path, meta, "geography"),
        persons=_str_list(path, meta, "persons"),
        source=str(path),
        format=FORMAT,
        url=safe_url(meta.get("url")),
    )
