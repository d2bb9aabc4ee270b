"""Question understanding: speakers, dates, "who" questions and follow-ups, without a model."""

from __future__ import annotations

import datetime as dt

import pytest

from qa.query import SpeakerNames, content_words, event_of, parse_dates, understand
from qa.results import Answer, Quote

SPEAKERS = ["Vladimir Putin", "Marine Le Pen", "Sergei Lavrov", "Dmitry Medvedev", "Question"]
ALIASES = {"president putin": "Vladimir Putin", "the russian president": "Vladimir Putin"}
LATEST = dt.date(2020, 3, 1)


@pytest.fixture(scope="module")
def names() -> SpeakerNames:
    return SpeakerNames(SPEAKERS, resolve=lambda name: ALIASES.get(name.lower()))


@pytest.mark.parametrize(
    ("question", "speaker"),
    [
        ("What did Le Pen say about terrorism?", "Marine Le Pen"),
        ("What did Marine Le Pen say about terrorism?", "Marine Le Pen"),
        ("What is Putin's view on NATO expansion?", "Vladimir Putin"),
        ("How did Lavrov describe the talks?", "Sergei Lavrov"),
        ("Medvedev on the economy?", "Dmitry Medvedev"),
        ("What did President Putin promise pensioners?", "Vladimir Putin"),
    ],
)
def test_a_named_speaker_becomes_a_filter(names: SpeakerNames, question: str, speaker: str) -> None:
    query = understand(question, names, LATEST)
    assert query.speaker == speaker
    assert query.implied["speaker"] == speaker


def test_counterparts_and_generic_words_are_not_speakers(names: SpeakerNames) -> None:
    query = understand(
        "What did Putin tell Le Pen about terrorism at their meeting?", names, LATEST
    )
    assert query.speaker == "Vladimir Putin"
    assert query.mentioned == ("Marine Le Pen",)
    # "Question" is a speaker label in the index, but not a person a question names.
    assert understand("Which question was asked about oil?", names, LATEST).speaker is None
    assert understand("What was said at the meeting with Le Pen?", names, LATEST).speaker is None


def test_caller_filters_win_over_the_question(names: SpeakerNames) -> None:
    query = understand(
        "What did Le Pen say in 2017?",
        names,
        LATEST,
        speaker="Vladimir Putin",
        since=dt.date(2015, 1, 1),
    )
    assert query.speaker == "Vladimir Putin" and query.since == dt.date(2015, 1, 1)
    assert query.until is None
    assert query.implied == {}


@pytest.mark.parametrize(
    ("phrase", "since", "until"),
    [
        ("in March 2017", dt.date(2017, 3, 1), dt.date(2017, 3, 31)),
        ("in February 2016", dt.date(2016, 2, 1), dt.date(2016, 2, 29)),
        ("in 2018", dt.date(2018, 1, 1), dt.date(2018, 12, 31)),
        ("on 24 March 2017", dt.date(2017, 3, 24), dt.date(2017, 3, 24)),
        ("on March 24, 2017", dt.date(2017, 3, 24), dt.date(2017, 3, 24)),
        ("since 2019", dt.date(2019, 1, 1), None),
        ("since May 2019", dt.date(2019, 5, 1), None),
        ("after 2015", dt.date(2016, 1, 1), None),
        ("before 2012", None, dt.date(2011, 12, 31)),
        ("between 2014 and 2016", dt.date(2014, 1, 1), dt.date(2016, 12, 31)),
        ("from May to July 2018", dt.date(2018, 5, 1), dt.date(2018, 7, 31)),
        ("last year", dt.date(2019, 1, 1), dt.date(2019, 12, 31)),
        ("last month", dt.date(2020, 2, 1), dt.date(2020, 2, 29)),
        ("this year", dt.date(2020, 1, 1), LATEST),
        ("in the last year of the corpus", dt.date(2019, 3, 2), LATEST),
        ("in the past 2 years", dt.date(2018, 3, 2), LATEST),
    ],
)
def test_time_phrases_become_date_ranges(phrase: str, since, until) -> None:
    found = parse_dates(f"What was said about oil {phrase}?", LATEST)
    assert found is not None
    assert (found.since, found.until) == (since, until)


def test_relative_dates_are_relative_to_the_corpus_end() -> None:
    found = parse_dates("What was said last year?", dt.date(2011, 6, 1))
    assert found is not None and found.since == dt.date(2010, 1, 1)
    assert parse_dates("What was said last year?", None) is None  # no corpus end, no guess


def test_no_date_no_filter_and_numbers_are_not_years(names: SpeakerNames) -> None:
    assert parse_dates("How many of the 300 delegates voted?", LATEST) is None
    query = understand("What did Putin say about the 2018 World Cup?", names, LATEST)
    # A year inside a name still reads as a time: the answer is filtered and says so.
    assert query.implied.get("since") == dt.date(2018, 1, 1)


def test_date_phrase_is_removed_from_the_search_text(names: SpeakerNames) -> None:
    query = understand("What did Le Pen say about terrorism in March 2017?", names, LATEST)
    assert "2017" not in query.search_text and "terrorism" in query.search_text
    assert query.topic == "terrorism"


def test_who_questions_do_not_filter_on_a_speaker(names: SpeakerNames) -> None:
    query = understand(
        "Who said that Russia does not interfere in French elections?", names, LATEST
    )
    assert query.who and query.speaker is None
    assert not understand("Who did Putin meet in March 2017?", names, LATEST).who


def test_events_are_recognised() -> None:
    assert event_of("What did Putin say at the Helsinki summit?") == "Helsinki summit"
    assert event_of("What was agreed in the meeting with Marine Le Pen?").startswith(
        "meeting with Marine Le Pen"
    )
    assert event_of("What did Putin say about pensions?") == ""


def test_content_words_drop_scaffolding() -> None:
    assert content_words("What did Putin's minister say about the gas prices?") == [
        "putin",
        "minister",
        "gas",
        "prices",
    ]


def _answer(question: str, speaker: str, doc: str, filters: dict) -> Answer:
    quote = Quote(
        text="We must fight terrorism together.",
        speaker=speaker,
        role=None,
        title="Meeting",
        date=dt.date(2017, 3, 24),
        place=None,
        doc_id=doc,
        turn=3,
        start=100,
        end=133,
        score=0.9,
        highlight=(100, 133),
    )
    return Answer(
        question=question, quotes=[quote], abstained=False, filters=filters, implied_filters=filters
    )


def test_follow_up_keeps_speaker_dates_topic_and_documents(names: SpeakerNames) -> None:
    first_q = "What did Le Pen say about terrorism in March 2017?"
    first = understand(first_q, names, LATEST)
    prev = _answer(first_q, "Marine Le Pen", "54102", first.filters)
    for history in ([(first_q, prev)], [{"question": first_q, "answer": prev}]):
        query = understand("What else did she say about it?", names, LATEST, history=history)
        assert query.follow_up
        assert query.speaker == "Marine Le Pen"
        assert (query.since, query.until) == (dt.date(2017, 3, 1), dt.date(2017, 3, 31))
        assert query.topic == "terrorism" and "terrorism" in query.search_text
        assert query.boost_docs == ("54102",)
        assert query.exclude_spans == (("54102", 100, 133),)
        assert query.implied["speaker"] == "Marine Le Pen"


def test_follow_up_with_a_new_topic_keeps_the_occasion(names: SpeakerNames) -> None:
    first_q = "What did Putin tell Le Pen about terrorism at their meeting?"
    first = understand(first_q, names, LATEST)
    prev = _answer(first_q, "Vladimir Putin", "54102", first.filters)
    query = understand("And about Syria?", names, LATEST, history=[(first_q, prev)])
    assert query.speaker == "Vladimir Putin"
    assert query.topic == "syria"
    assert "Syria" in query.search_text and "Marine Le Pen" in query.search_text
    assert "terrorism" not in query.search_text
    assert query.exclude_spans == ()


def test_a_fresh_question_is_not_a_follow_up(names: SpeakerNames) -> None:
    first_q = "What did Le Pen say about terrorism?"
    prev = _answer(first_q, "Marine Le Pen", "54102", {"speaker": "Marine Le Pen"})
    query = understand(
        "What did Lavrov say about the Iran nuclear deal?", names, LATEST, history=[(first_q, prev)]
    )
    assert not query.follow_up and query.speaker == "Sergei Lavrov" and query.boost_docs == ()


def test_bad_history_items_are_rejected(names: SpeakerNames) -> None:
    with pytest.raises(TypeError, match="history items"):
        understand("And Syria?", names, LATEST, history=["not a pair"])
