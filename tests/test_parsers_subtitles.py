"""WebVTT and SRT: voice tags, prefixes, merged cues, timestamps, markup-free text, bad timing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa import TranscriptError, load_transcript


def _check_offsets(t) -> None:
    for turn in t.turns:
        assert t.text[turn.start : turn.end] == turn.text


def test_vtt_voice_tags_merge_and_metadata(fixtures_dir: Path) -> None:
    t = load_transcript(fixtures_dir / "ingest" / "subtitles_voice.vtt")
    assert t.format == "subtitles"
    assert t.title == "Harbour ferry press briefing"
    assert t.date == dt.date(2021, 8, 9)
    assert t.place == "Ferry Terminal, Riverton"
    assert [x.speaker for x in t.turns] == ["Mara Lind", None, "Mara Lind"]  # "Reporter"
    assert t.turns[1].role == "reporter"
    first = t.turns[0]
    # Two cues of one voice are one turn spanning both cues' times.
    assert (first.time_start, first.time_end) == (1.0, 7.25)
    assert (
        first.text
        == "Good morning. The new ferry starts on Monday. It carries two hundred passengers & forty bicycles."
    )
    assert first.role == "Captain"
    assert (t.turns[2].time_start, t.turns[2].time_end) == (10.5, 13.0)
    assert "<" not in t.text and "&amp;" not in t.text
    assert t.text.splitlines()[1] == "Reporter: How often will it run?"
    _check_offsets(t)


def test_srt_prefixes_and_continuation(fixtures_dir: Path) -> None:
    t = load_transcript(fixtures_dir / "ingest" / "subtitles_prefix.srt")
    assert [(x.speaker, x.text, x.time_start, x.time_end) for x in t.turns] == [
        ("Dev Patel", "Welcome to the show. Today we talk about bridges.", 0.5, 5.0),
        ("Lena Ortiz", "Thanks for having me.", 5.5, 8.0),
    ]
    assert (
        t.text
        == "Dev Patel: Welcome to the show. Today we talk about bridges.\nLena Ortiz: Thanks for having me."
    )
    _check_offsets(t)


def test_hours_in_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "long.vtt"
    path.write_text("WEBVTT\n\n01:02:03.500 --> 01:02:05.000\n<v Ann Lee>Late in the day.\n")
    turn = load_transcript(path).turns[0]
    assert (turn.time_start, turn.time_end) == (3723.5, 3725.0)


def test_bad_timing_names_the_line(fixtures_dir: Path) -> None:
    path = fixtures_dir / "ingest" / "subtitles_bad_timing.vtt"
    with pytest.raises(TranscriptError, match="timing") as err:
        load_transcript(path)
    assert err.value.line == 6
    assert str(err.value).startswith(f"{path}:6:")


@pytest.mark.parametrize(
    ("content", "line", "match"),
    [
        (
            "1\n00:00:01,000 --> 00:00:02,000\nAnn Lee: Hi.\n\n2\n00:00:xx,000 --> 00:00:03,000\nAnn Lee: Bye.\n",
            6,
            "timing",
        ),
        ("1\n00:00:05,000 --> 00:00:02,000\nAnn Lee: Backwards.\n", 2, "end time before start"),
    ],
)
def test_malformed_srt(tmp_path: Path, content: str, line: int, match: str) -> None:
    path = tmp_path / "bad.srt"
    path.write_text(content)
    with pytest.raises(TranscriptError, match=match) as err:
        load_transcript(path)
    assert err.value.line == line


def test_subtitles_that_name_no_one_are_one_unnamed_voice(fixtures_dir: Path) -> None:
    """Automatic captions name no speaker: still indexed, someone unknown speaking, timed."""
    t = load_transcript(fixtures_dir / "ingest" / "subtitles_no_speakers.srt")
    assert [(x.speaker, x.role, x.text) for x in t.turns] == [
        (None, "unknown speaker", "Welcome to the show. today we talk about bridges.")
    ]
    assert (t.turns[0].time_start, t.turns[0].time_end) == (0.5, 5.0)


def test_caption_marks_and_dialogue_dashes_start_new_voices(tmp_path: Path) -> None:
    """ ">> TED BRAY:" opens a caption's new speaker, even mid-cue; two dialogue dashes are two
    voices; several `<v>` tags in one cue are several turns; a lone dash is punctuation."""
    path = tmp_path / "2024-03-05_council_budget.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:04,000\nMAYOR JANE OKORO: Where will the money come\n"
        "from? >> TED BRAY: Half from reserves.\n\n"
        "2\n00:00:04,100 --> 00:00:06,000\n>> JANE OKORO: And the rest\n- from a grant.\n\n"
        "3\n00:00:06,100 --> 00:00:08,000\n- When does it open?\n- In the spring.\n",
        encoding="utf-8",
    )
    t = load_transcript(path)
    assert [(x.speaker, t.text[x.start : x.end]) for x in t.turns] == [
        ("Jane Okoro", "Where will the money come from?"),
        ("Ted Bray", "Half from reserves."),
        ("Jane Okoro", "And the rest - from a grant."),
        (None, "When does it open?"),
        (None, "In the spring."),
    ]
    vtt = tmp_path / "talk.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Ann Lee>Is it late?</v>\n<v Bob Stone>No.\n",
        encoding="utf-8",
    )
    assert [x.speaker for x in load_transcript(vtt).turns] == ["Ann Lee", "Bob Stone"]


def test_header_only_vtt_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.vtt"
    path.write_text("WEBVTT\n\nNOTE nothing here\n")
    with pytest.raises(TranscriptError, match="no subtitle cues"):
        load_transcript(path)
