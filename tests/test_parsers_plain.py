"""Plain `Speaker: text` transcripts with an optional header block."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa import TranscriptError, load_transcript
from qa.parsers import choose, plain


@pytest.fixture(scope="module")
def basic(fixtures_dir: Path):
    return load_transcript(fixtures_dir / "ingest" / "plain_basic.txt")


def test_header_block(basic) -> None:
    assert basic.format == "plain"
    assert basic.title == "Budget hearing of the Parks Committee"
    assert basic.date == dt.date(2022, 5, 17)
    assert basic.time == "10:00"
    assert basic.place == "Town Hall, Riverton"
    assert basic.topics == ["Parks", "Budget"]


def test_turns_labels_and_continuations(basic) -> None:
    assert [t.speaker for t in basic.turns] == [
        "Ruth Okafor",
        "Tom Weller",
        "Ruth Okafor",
        None,  # "Question": no one in particular
        "Tom Weller",
    ]
    assert basic.turns[3].label == "Question" and basic.turns[3].index_label == "Question"
    assert basic.turns[3].role == "question from the floor"
    first = basic.turns[0]
    assert first.role == "Chair" and first.label == "Chair Ruth Okafor"
    assert (
        first.text
        == "Good morning. We have one item today: the parks budget.\nIt is a short meeting, I hope."
    )
    assert basic.turns[2].role == "Chair"  # the role carries over to the bare-name label
    assert "The answer is simple: we need two more gardeners." in basic.turns[1].text
    for t in basic.turns:
        assert basic.text[t.start : t.end] == t.text


def test_no_header_and_leading_narrative(tmp_path: Path) -> None:
    path = tmp_path / "call.txt"
    path.write_text("Recorded on a Tuesday.\n\nAnn Lee: Hello there.\nBen Cho: Hi, Ann.\n")
    t = load_transcript(path)
    assert t.title == "call" and t.date is None
    assert [(x.speaker, x.text) for x in t.turns] == [
        (None, "Recorded on a Tuesday."),
        ("Ann Lee", "Hello there."),
        ("Ben Cho", "Hi, Ann."),
    ]


def test_label_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "own_line.txt"
    path.write_text("Ann Lee:\nFirst paragraph.\nSecond paragraph.\nBen Cho: Short.\n")
    t = load_transcript(path)
    assert t.turns[0].speaker == "Ann Lee"
    assert t.turns[0].text == "First paragraph.\nSecond paragraph."


def test_no_speakers_is_an_error(fixtures_dir: Path) -> None:
    path = fixtures_dir / "ingest" / "plain_no_speakers.txt"
    with pytest.raises(TranscriptError, match="no speaker labels") as err:
        load_transcript(path)
    assert err.value.path == str(path)


def test_kremlin_layout_is_not_taken_for_plain(seed_path: Path) -> None:
    text = seed_path.read_text(encoding="utf-8")
    assert choose("x.txt", text).FORMAT == "kremlin"
    assert choose("x.txt", "Ann Lee: Hello.\n").FORMAT == "plain"
    assert plain.sniff("x.txt", "Ann Lee: Hello.\n")


def test_header_without_blank_line_and_note_lines(tmp_path: Path) -> None:
    path = tmp_path / "minutes.txt"
    path.write_text(
        "Title: Minutes\nDate: 3 May 2021\nAnn Lee: We start.\nNote: the clock was wrong.\nBen Cho: Agreed.\n"
    )
    t = load_transcript(path)
    assert (t.title, t.date) == ("Minutes", dt.date(2021, 5, 3))
    assert [(x.speaker, x.text) for x in t.turns] == [
        ("Ann Lee", "We start.\nNote: the clock was wrong."),
        ("Ben Cho", "Agreed."),
    ]


@pytest.mark.parametrize(
    "lines",
    [
        ["[00:00:01] Jane Okoro: Good evening.", "[00:01:05] Ted Bray: Where from?"],
        ["00:00:01 Jane Okoro: Good evening.", "00:01:05 Ted Bray: Where from?"],
        ["Jane Okoro (00:00:01): Good evening.", "Ted Bray (1:05): Where from?"],
        ["Jane Okoro  0:01", "Good evening.", "", "Ted Bray  1:05", "Where from?"],
    ],
)
def test_exports_with_times_keep_speakers_and_times(tmp_path: Path, lines: list[str]) -> None:
    """Zoom, Otter and Rev exports put a clock before the label, after it, or beside the name
    on a line of its own: the speakers and the words are found, and the turn keeps the time."""
    path = tmp_path / "2024-03-05_budget.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = load_transcript(path)
    assert [(x.speaker, t.text[x.start : x.end]) for x in t.turns] == [
        ("Jane Okoro", "Good evening."),
        ("Ted Bray", "Where from?"),
    ]
    assert [(x.time_start, x.time_end) for x in t.turns] == [(1.0, 65.0), (65.0, None)]
