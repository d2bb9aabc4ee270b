"""The en.kremlin.ru layout: the seed's acceptance figures and the layout's tricky parts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa import TranscriptError, load_transcript
from qa.parsers import kremlin
from qa.speakers import looks_like_label


def _assert_offsets(t) -> None:
    for turn in t.turns:
        assert t.text[turn.start : turn.end] == turn.text


def test_seed_header_footer_and_turns(seed_path: Path) -> None:
    t = load_transcript(seed_path)
    assert t.format == "kremlin"
    assert t.title == "Meeting with Marine Le Pen"
    assert t.date == dt.date(2017, 3, 24)
    assert t.time == "14:00"
    assert t.place == "The Kremlin, Moscow"
    assert t.topics == ["Foreign policy"]
    assert t.geography == ["France"]
    assert (
        t.lead
        == "Vladimir Putin met with Marine Le Pen, leader of the French National Front Party."
    )
    assert [turn.speaker for turn in t.turns] == [
        "Vladimir Putin",
        "Marine Le Pen",
        "Vladimir Putin",
        "Marine Le Pen",
        "Vladimir Putin",
    ]
    assert t.turns[0].role == "President of Russia"
    assert t.turns[0].label == "President of Russia Vladimir Putin"
    assert [turn.retranslated for turn in t.turns] == [False, True, False, True, False]
    assert [turn.index for turn in t.turns] == list(range(5))
    _assert_offsets(t)


def test_seed_turn_boundaries(seed_path: Path) -> None:
    t = load_transcript(seed_path)
    first, last = t.turns[0], t.turns[-1]
    assert first.text.startswith("Ms Le Pen, this is not your first time in Moscow")
    assert first.text.endswith("I am very pleased to see you.")
    assert first.text.count("\n") == 4  # five paragraphs, joined by the source's newlines
    assert last.text == "I fully agree with you. You are quite right."
    # Photo counter and caption are page furniture; elision and footer never leak into turns.
    caption = "Meeting with Marine Le Pen, leader of the French National Front Party."
    assert all(caption not in turn.text and "9 of 11" not in turn.text for turn in t.turns)
    assert all("<…>" not in turn.text and "Publication" not in turn.text for turn in t.turns)


@pytest.fixture(scope="module")
def mini(fixtures_dir: Path):
    return load_transcript(fixtures_dir / "ingest" / "kremlin_mini.txt")


def test_lead_in_and_heading_are_narrative(mini) -> None:
    assert mini.turns[0].speaker is None
    assert mini.turns[0].text.startswith("The Governor briefed the President")
    assert mini.turns[1].speaker is None
    assert mini.turns[1].text == "Beginning of meeting with Lakeshore Region Governor Anna Berezina"


def test_sentence_colons_do_not_open_turns(mini) -> None:
    putin = mini.turns[2]
    assert putin.speaker == "Vladimir Putin"
    assert putin.text.endswith("The answer is simple: we must build more schools.")
    governor = mini.turns[3]
    assert governor.speaker == "Anna Berezina"
    assert governor.role == "Lakeshore Region Governor"
    assert "Let me repeat: the harvest" in governor.text
    assert governor.text.endswith("Healthcare: 2 billion rubles were allocated.")


def test_surname_label_resolves_within_document(mini) -> None:
    assert mini.turns[4].label == "Putin"
    assert mini.turns[4].speaker == "Vladimir Putin"
    assert mini.turns[4].text == "How many schools?"
    assert [t.speaker for t in mini.turns[2:]] == [
        "Vladimir Putin",
        "Anna Berezina",
        "Vladimir Putin",
        "Anna Berezina",
    ]


def test_footer_lists(mini) -> None:
    assert mini.geography == ["Lakeshore Region"]
    assert mini.topics == ["Education", "Regions"]
    assert mini.persons == ["Berezina Anna"]  # kept as written: surname first
    assert mini.turns[-1].text == "Twelve new schools."
    assert "Geography" not in mini.turns[-1].text
    _assert_offsets(mini)


def test_sniff_needs_a_date_line() -> None:
    assert kremlin.sniff("x.txt", "Events\nTitle\nLead.\nMarch 24, 2017\n14:00\n")
    assert not kremlin.sniff("x.txt", "Ann: hello\nBob: hi\n")


@pytest.mark.parametrize(
    "label",
    [
        "President of Russia Vladimir Putin",
        "Marine Le Pen (retranslated)",
        "Question",
        "Question from Khabarovsk Territory",
        "Head of the Federal Service for the Oversight of Consumer Protection and Welfare and Chief Sanitary Physician of the Russian Federation Anna Popova",
        "Direct line programme host Maria Sittel",
        "President of Syria Bashar al-Assad (re-translated)",
        "Sr Lieutenant A. Vedyashchev",
        "Chairman of the State Development Corporation VEB.RF Igor Shuvalov",
        "Sergei Mironov, Leader of A Just Russia Faction in the State Duma",
    ],
)
def test_labels_accepted(label: str) -> None:
    assert looks_like_label(label)


@pytest.mark.parametrize(
    "prefix",
    [
        "The answer is simple",
        "I would like to emphasise once again",
        "One more thing",
        "My question is",
        "Let me repeat",
        "Within the framework of the international forum Arctic",
        "All kinds of stereotypes get called into play",
        "About a Disability Ombudsman",
        "Recently, we tried to take stock of our community. There are about 600 000 people",
        "“We have a unique opportunity in the next decade",
        "The Prime Minister suggested several other humanitarian initiatives",
    ],
)
def test_sentence_prefixes_rejected(prefix: str) -> None:
    assert not looks_like_label(prefix)


def test_section_heading_inside_speech_and_separator(tmp_path: Path) -> None:
    path = tmp_path / "sections.txt"
    path.write_text(
        "Events\nTwo sections\nJanuary 5, 2015\n"
        "Vladimir Putin: First part of the speech.\n"
        "Speech at the plenary session\n"
        "Vladimir Putin: Second part.\n"
        "Thank you\n"
        "Olga Ivanova: A question.\n"
        "* * *\n"
        "After the meeting the President visited a school.\n"
        "Publication status\nText version\n",
        encoding="utf-8",
    )
    t = load_transcript(path)
    assert t.place is None and t.lead is None and t.time is None
    assert [(x.speaker, x.text) for x in t.turns] == [
        ("Vladimir Putin", "First part of the speech."),
        (None, "Speech at the plenary session"),
        ("Vladimir Putin", "Second part.\nThank you"),  # a short last line stays spoken
        ("Olga Ivanova", "A question."),
        (None, "After the meeting the President visited a school."),
    ]


def test_header_without_body_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "hollow.txt"
    path.write_text(
        "Events\nA title\nMarch 1, 2016\n12:00\nMoscow\nTopics\nEconomy\nPublication status\nText version\n"
    )
    with pytest.raises(TranscriptError, match="no transcript text") as err:
        load_transcript(path)
    assert err.value.line == 6


def test_narrative_only_page_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "summary.txt"
    path.write_text(
        "Events\nWorking meeting\nMarch 1, 2016\nThe President discussed the budget: in detail.\n"
    )
    t = load_transcript(path)
    assert [(x.speaker, x.text) for x in t.turns] == [
        (None, "The President discussed the budget: in detail.")
    ]
