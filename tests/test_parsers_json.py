"""Our JSON / JSONL schema and QMSum meeting JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from qa import TranscriptError, load_transcript


def _check_offsets(t) -> None:
    for turn in t.turns:
        assert t.text[turn.start : turn.end] == turn.text


def test_json_schema(fixtures_dir: Path) -> None:
    t = load_transcript(fixtures_dir / "ingest" / "schema.json")
    assert t.format == "json"
    assert (t.title, t.date, t.time, t.place) == (
        "Library opening",
        dt.date(2020, 2, 14),
        "11:00",
        "Central Library, Riverton",
    )
    assert t.lead == "The mayor opened the new library." and t.topics == ["Culture"]
    assert [(x.speaker, x.role) for x in t.turns] == [
        ("Ivo Brandt", "Mayor of Riverton"),  # from the "speakers" table
        ("Sara Quinn", "Head Librarian"),  # from the turn itself
        (None, None),  # narration
    ]
    assert (t.turns[0].time_start, t.turns[0].time_end) == (0.0, 9.5)
    # Plain rendering: escapes decoded, no JSON syntax, one line per turn.
    assert t.turns[0].text == 'Welcome to the "new" library. It has 40,000 books.'
    assert t.text.splitlines() == [
        'Ivo Brandt: Welcome to the "new" library. It has 40,000 books.',
        "Sara Quinn: Thank you, Mayor.",
        "Applause.",
    ]
    _check_offsets(t)


def test_jsonl_with_metadata_line(fixtures_dir: Path) -> None:
    t = load_transcript(fixtures_dir / "ingest" / "schema.jsonl")
    assert t.title == "Night shift radio call-in"
    assert t.date == dt.date(2021, 3, 3)  # "March 3, 2021"
    assert [x.speaker for x in t.turns] == ["Kim Aldo", None, "Kim Aldo"]  # "Caller": no one
    assert t.turns[1].role == "caller" and t.turns[1].index_label == "Caller"
    assert t.turns[0].role == "Host"
    _check_offsets(t)


def test_jsonl_turns_only_and_bare_list(tmp_path: Path) -> None:
    lines = tmp_path / "turns.jsonl"
    lines.write_text(
        '{"speaker": "Ann Lee", "text": "One."}\n\n{"speaker": "Ben Cho", "text": "Two."}\n'
    )
    assert [x.text for x in load_transcript(lines).turns] == ["One.", "Two."]
    bare = tmp_path / "list.json"
    bare.write_text(json.dumps([{"speaker": "Ann Lee", "text": "Only."}]))
    assert load_transcript(bare).turns[0].speaker == "Ann Lee"


@pytest.mark.parametrize(
    ("name", "content", "line", "match"),
    [
        ("a.json", '{"turns": []}', None, "non-empty"),
        ("b.json", '{"turns": [{"speaker": "Ann", "text": 5}]}', None, '"text" must be a string'),
        (
            "c.json",
            '{"turns": [{"speaker": "Ann Lee", "text": "x", "start": "soon"}]}',
            None,
            "must be seconds",
        ),
        ("d.json", '{"title": "x", "turns": [{"text": "nobody speaks"}]}', None, "no speakers"),
        ("e.json", '"just a string"', None, "JSON object"),
        ("f.jsonl", '{"speaker": "Ann Lee", "text": "x"}\n[1, 2]\n', 2, "one JSON object per line"),
        (
            "g.jsonl",
            '{"speaker": "Ann Lee", "text": "x"}\n{"title": "late metadata"}\n',
            2,
            "first line only",
        ),
        (
            "h.json",
            '{"topics": 3, "turns": [{"speaker": "Ann Lee", "text": "x"}]}',
            None,
            "list of strings",
        ),
        (
            "i.json",
            '{"speaker": "Ann Lee", "text": "x"}\n{"speaker": "Ann Lee", "text": "y"}\n',
            2,
            "name the file .jsonl",
        ),
    ],
)
def test_schema_errors(
    tmp_path: Path, name: str, content: str, line: int | None, match: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TranscriptError, match=match) as err:
        load_transcript(path)
    assert err.value.line == line and err.value.path == str(path)


@pytest.mark.parametrize(("name", "line"), [("schema_bad.json", 4), ("schema_bad_line.jsonl", 3)])
def test_malformed_json_names_the_line(fixtures_dir: Path, name: str, line: int) -> None:
    with pytest.raises(TranscriptError, match="malformed JSON") as err:
        load_transcript(fixtures_dir / "ingest" / name)
    assert err.value.line == line


def test_qmsum_one_turn_per_entry(fixtures_dir: Path) -> None:
    t = load_transcript(fixtures_dir / "ingest" / "qmsum_mini.json")
    assert t.format == "qmsum"
    assert t.topics == ["Remote control design"]
    # Never merged, even when one speaker has consecutive entries: gold spans use these indices.
    assert [(x.index, x.speaker, x.text) for x in t.turns] == [
        (0, "Project Manager", "Okay , let's start ."),
        (1, "Industrial Designer", "I think yellow {vocalsound} ."),
        (2, "Industrial Designer", "Yellow is fun ."),
        (3, "Professor B", "Mm-hmm ."),
    ]
    assert t.text.splitlines()[0] == "Project Manager: Okay , let's start ."
    _check_offsets(t)


def test_qmsum_vs_own_schema_by_keys(tmp_path: Path) -> None:
    # "meeting_transcripts" may come after other keys, far beyond any fixed-size head.
    qm = tmp_path / "meeting.json"
    qm.write_text(
        json.dumps(
            {
                "general_query_list": [{"query": "x" * 9000}],
                "meeting_transcripts": [{"speaker": "A", "content": "hi"}],
            }
        )
    )
    assert load_transcript(qm).format == "qmsum"
    own = tmp_path / "own.json"
    own.write_text(json.dumps({"title": "T", "turns": [{"speaker": "Ann Lee", "text": "hi"}]}))
    assert load_transcript(own).format == "json"
    broken = tmp_path / "broken_qmsum.json"
    broken.write_text(json.dumps({"meeting_transcripts": [{"speaker": "A"}]}))
    with pytest.raises(TranscriptError, match=r"meeting_transcripts\[0\]"):
        load_transcript(broken)


def test_other_tools_exports_load_as_they_are(tmp_path: Path) -> None:
    """ "utterances"/"segments", "name"/"content", diarisation numbers and clock times are
    read as our fields; a time that is neither seconds nor a clock is still an error."""
    path = tmp_path / "2024-03-05_call.json"
    path.write_text(
        '{"utterances": [{"speaker": 0, "text": "Hello there.", "start": "00:00:01.5"},'
        ' {"name": "Bob Stone", "content": "Hi.", "start": 65}]}',
        encoding="utf-8",
    )
    t = load_transcript(path)
    assert [(x.speaker, t.text[x.start : x.end], x.time_start) for x in t.turns] == [
        ("Speaker 0", "Hello there.", 1.5),
        ("Bob Stone", "Hi.", 65.0),
    ]
    path.write_text('{"segments": [{"speaker": "A", "text": "x", "start": "soon"}]}')
    with pytest.raises(TranscriptError, match="seconds"):
        load_transcript(path)
