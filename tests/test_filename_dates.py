"""Dates and titles from file names: `2025-02-03_podcast.vtt` without its own date gets
2025-02-03, and without its own title "Podcast". Metadata inside the file always wins, and
a stem whose numbers could be read more than one way gives nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from qa import load_corpus, load_transcript
from qa.parsers._common import filename_metadata

D = dt.date(2025, 2, 3)

VTT_BARE = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Ines Okafor>Welcome back to the show.

00:00:04.500 --> 00:00:09.000
<v Gus Adeyemi>Thanks for having me.
"""

VTT_OWN = """WEBVTT

NOTE
Title: The Long Table, episode 112
Date: 2022-09-14

00:00:01.000 --> 00:00:04.000
<v Ines Okafor>Welcome back to the show.
"""

SRT_BARE = """1
00:00:01,000 --> 00:00:04,000
Ines Okafor: Welcome back to the show.

2
00:00:04,500 --> 00:00:09,000
Gus Adeyemi: Thanks for having me.
"""

PLAIN_BARE = "Ines Okafor: Welcome back to the show.\nGus Adeyemi: Thanks for having me.\n"


@pytest.mark.parametrize(
    ("stem", "date", "title"),
    [
        ("2025-02-03_podcast", D, "Podcast"),
        ("2025_02_03_city_council_meeting", D, "City council meeting"),
        ("20250203-weekly-sync", D, "Weekly sync"),
        ("2025.02.03 Board meeting", D, "Board meeting"),
        ("2025-02-03--Q4_earnings_call", D, "Q4 earnings call"),
        ("2025-02-03", D, None),
        ("20250203", D, None),
        ("2025-02-03_", D, None),
        ("1999-12-31_millennium_eve", dt.date(1999, 12, 31), "Millennium eve"),
    ],
)
def test_stems_that_start_with_a_date(stem: str, date: dt.date, title: str | None) -> None:
    assert filename_metadata(f"/corpus/{stem}.vtt") == (date, title)


@pytest.mark.parametrize(
    "stem",
    [
        "03-02-2025_podcast",  # day-month or month-day: ambiguous
        "02-03-2025",
        "250203_podcast",  # two-digit year
        "2025-2-3_podcast",  # not the common form
        "2025-02_podcast",  # a month, not a day
        "2025-02-03x",  # no separator: not a date followed by words
        "202502031_podcast",  # nine digits
        "2025-02_03_podcast",  # mixed separators
        "2025-13-01_podcast",  # no month 13
        "2025-02-30_podcast",  # no 30 February
        "20251301_podcast",
        "1850-01-01_old",  # outside 1900-2099: more likely an id than a date
        "54102",  # a Kremlin event id
        "12345678",  # an id that is no valid date
        "podcast_2025-02-03",  # not at the start
        "podcast",
    ],
)
def test_ambiguous_or_dateless_stems_give_nothing(stem: str) -> None:
    assert filename_metadata(f"{stem}.vtt") == (None, None)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("2025-02-03_podcast.vtt", VTT_BARE),
        ("2025-02-03_podcast.srt", SRT_BARE),
        ("2025-02-03_podcast.txt", PLAIN_BARE),
        (
            "2025-02-03_podcast.json",
            json.dumps({"turns": [{"speaker": "Ines Okafor", "text": "Welcome back."}]}),
        ),
        ("2025-02-03_podcast.jsonl", json.dumps({"speaker": "Ines Okafor", "text": "Welcome."})),
        (
            "2025-02-03_podcast.json",
            json.dumps({"meeting_transcripts": [{"speaker": "A", "content": "Welcome back."}]}),
        ),
    ],
)
def test_every_format_takes_date_and_title_from_the_name(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    t = load_transcript(path)
    assert (t.date, t.title) == (D, "Podcast")
    assert t.doc_id == "2025-02-03_podcast"  # the id stays the stem
    for turn in t.turns:
        assert t.text[turn.start : turn.end] == turn.text


def test_metadata_in_the_file_wins(tmp_path: Path) -> None:
    path = tmp_path / "2025-02-03_podcast.vtt"
    path.write_text(VTT_OWN, encoding="utf-8")
    t = load_transcript(path)
    assert (t.date, t.title) == (dt.date(2022, 9, 14), "The Long Table, episode 112")


def test_each_field_falls_back_on_its_own(tmp_path: Path) -> None:
    only_title = tmp_path / "2025-02-03_podcast.txt"
    only_title.write_text("Title: Morning show\n\n" + PLAIN_BARE, encoding="utf-8")
    assert (load_transcript(only_title).date, load_transcript(only_title).title) == (
        D,
        "Morning show",
    )
    only_date = tmp_path / "2025-02-03_podcast.json"
    only_date.write_text(
        json.dumps({"date": "2024-12-01", "turns": [{"speaker": "Ines Okafor", "text": "Hi."}]}),
        encoding="utf-8",
    )
    t = load_transcript(only_date)
    assert (t.date, t.title) == (dt.date(2024, 12, 1), "Podcast")


def test_a_date_the_file_states_but_nobody_can_read_counts_as_none(tmp_path: Path) -> None:
    path = tmp_path / "2025-02-03_podcast.txt"
    path.write_text("Date: to be confirmed\n\n" + PLAIN_BARE, encoding="utf-8")
    assert load_transcript(path).date == D


def test_kremlin_files_keep_their_own_header(tmp_path: Path, fixtures_dir: Path) -> None:
    path = tmp_path / "2025-02-03_governor_meeting.txt"
    shutil.copy(fixtures_dir / "ingest" / "kremlin_mini.txt", path)
    t = load_transcript(path)
    assert t.format == "kremlin"
    assert (t.date, t.title) == (
        dt.date(2019, 6, 3),
        "Meeting with the Governor of Lakeshore Region",
    )


def test_an_ambiguous_name_keeps_the_stem_as_title_and_no_date(tmp_path: Path) -> None:
    path = tmp_path / "03-02-2025_podcast.vtt"
    path.write_text(VTT_BARE, encoding="utf-8")
    t = load_transcript(path)
    assert (t.date, t.title) == (None, "03-02-2025_podcast")


def test_load_corpus_uses_names_too(tmp_path: Path) -> None:
    (tmp_path / "2025-02-03_podcast.vtt").write_text(VTT_BARE, encoding="utf-8")
    (tmp_path / "20241130-late_show.srt").write_text(SRT_BARE, encoding="utf-8")
    (tmp_path / "notes.txt").write_text(PLAIN_BARE, encoding="utf-8")
    got = {t.doc_id: (t.date, t.title) for t in load_corpus(tmp_path).transcripts}
    assert got == {
        "2025-02-03_podcast": (D, "Podcast"),
        "20241130-late_show": (dt.date(2024, 11, 30), "Late show"),
        "notes": (None, "notes"),
    }


def test_bundled_corpus_is_unchanged_by_the_rule(corpus_dir: Path) -> None:
    """Every bundled file states its own title and date; its name only repeats the date."""
    for t in load_corpus(corpus_dir).transcripts:
        stem_date, stem_title = filename_metadata(t.source or "")
        assert t.date == stem_date
        assert t.title != stem_title
