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
        ("two years ago", dt.date(2018, 1, 1), dt.date(2018, 12, 31)),
        ("a month ago", dt.date(2020, 2, 1), dt.date(2020, 2, 29)),
        ("last March", dt.date(2019, 3, 1), dt.date(2019, 3, 31)),  # the corpus ends in March
        ("last January", dt.date(2020, 1, 1), dt.date(2020, 1, 31)),
        ("in mid-2017", dt.date(2017, 1, 1), dt.date(2017, 12, 31)),
    ],
)
def test_time_phrases_become_date_ranges(phrase: str, since, until) -> None:
    found = parse_dates(f"What was said about oil {phrase}?", LATEST)
    assert found is not None
    assert (found.since, found.until) == (since, until)


def test_a_month_alone_is_what_is_asked_about_not_when_it_was_said() -> None:
    """ "Will the ban end in May?" is about May; "the last may be the best" has no month."""
    assert parse_dates("Will the ban end in May?", LATEST) is None
    assert parse_dates("Which of the plans is best? I think the last may be.", LATEST) is None


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


# ---------------------------------------------------------------- corpus/: roles and follow-ups


@pytest.fixture(scope="module")
def corpus_names(corpus_dir) -> tuple[SpeakerNames, dt.date]:
    """The name finder an index of corpus/ builds, from parsing alone (no model)."""
    from collections import Counter

    from qa import load_corpus

    transcripts = load_corpus(corpus_dir).transcripts
    turns = Counter(u.speaker for t in transcripts for u in t.turns if u.speaker)
    roles = Counter(
        (u.speaker, u.role, t.doc_id, t.date)
        for t in transcripts
        for u in t.turns
        if u.speaker and u.role
    )
    speakers = [s for s, _ in sorted(turns.items(), key=lambda kv: (-kv[1], kv[0]))]
    return SpeakerNames(speakers, roles=roles), max(t.date for t in transcripts if t.date)


@pytest.mark.parametrize(
    ("question", "speaker"),
    [
        ("What did the mayor say about the seawall?", "Elena Marsh"),
        ("What did the Mayor promise the residents of Lowmarsh?", "Elena Marsh"),
        ("What is the mayor's view on the port?", "Elena Marsh"),
        ("What did the Chief Medical Officer say about the vaccine?", "Ines Halloran"),
        ("What did the CMO say about side effects?", "Ines Halloran"),
        ("What did the chief executive say about dredging?", "Harlan Reeve"),
        ("What did the CEO promise about jobs?", "Harlan Reeve"),
        ("What did the deputy mayor say about the contingency?", "Rafael Quint"),
        ("What did the mayor of Porto Lírio say about the corridor?", "Joana Matos"),
        ("What did the Porto Lírio mayor say about the corridor?", "Joana Matos"),
        ("What did the Speaker say about the vote?", "Agnes Whitlow"),
    ],
)
def test_a_role_stands_for_the_person_holding_it(corpus_names, question: str, speaker: str) -> None:
    names, latest = corpus_names
    query = understand(question, names, latest)
    assert query.speaker == speaker
    assert query.implied["speaker"] == speaker
    assert "mayor" not in query.topic and "officer" not in query.topic


def test_a_role_held_by_several_people_says_so(corpus_names) -> None:
    names, latest = corpus_names
    query = understand("What did the mayor say about the seawall?", names, latest)
    assert query.speaker == "Elena Marsh"  # most turns
    assert query.ambiguous == {"the mayor": ("Joana Matos",)}
    assert len(query.notes) == 1 and "Joana Matos (Mayor of Porto Lírio)" in query.notes[0]
    assert query.topic == "seawall"
    assert understand("What did Elena Marsh say?", names, latest).notes == ()


def test_a_role_as_the_object_is_not_the_speaker(corpus_names) -> None:
    names, latest = corpus_names
    query = understand("What did Voss ask the mayor?", names, latest)
    assert query.speaker == "Nadia Voss" and query.mentioned == ("Elena Marsh",)
    assert understand("What did the city say about the mayor?", names, latest).speaker is None
    # Plain words are not titles: "the speaker", "the head".
    assert understand("What did the speaker say about meals?", names, latest).speaker is None
    assert understand("What did the French mayor say?", names, latest).speaker is None


def test_role_holders_prefer_the_document_then_the_period_then_most_turns() -> None:
    roles = {
        ("François Hollande", "President of France", "d2016", dt.date(2016, 5, 1)): 10,
        ("Emmanuel Macron", "President of France", "d2019", dt.date(2019, 5, 1)): 5,
        ("Vladimir Putin", "President of Russia", "d2019", dt.date(2019, 5, 1)): 100,
    }
    names = SpeakerNames(["Vladimir Putin", "François Hollande", "Emmanuel Macron"], roles=roles)
    ask = "What did the President of France say about Syria"
    assert understand(f"{ask}?", names, LATEST).speaker == "François Hollande"
    assert understand(f"{ask}?", names, LATEST).ambiguous == {
        "the President of France": ("Emmanuel Macron",)
    }
    assert understand(f"{ask} in 2019?", names, LATEST).speaker == "Emmanuel Macron"
    assert understand(f"{ask}?", names, LATEST, doc="d2019").speaker == "Emmanuel Macron"
    assert understand("What did the president say?", names, LATEST).speaker == "Vladimir Putin"
    assert understand("What did the PM say?", names, LATEST).speaker is None  # no one holds it


def _history(names: SpeakerNames, latest: dt.date, *questions: str) -> list:
    history: list = []
    for q in questions:
        query = understand(q, names, latest, history=history)
        speaker = query.speaker or "Elena Marsh"
        history.append((q, _answer(q, speaker, f"doc-{len(history)}", query.filters)))
    return history


def test_it_after_a_question_that_named_nothing_means_the_subject_before(corpus_names) -> None:
    """ "When will construction start?" after a question about the seawall is still about the
    seawall, so an "it" after it searches for the seawall as well as for the construction."""
    names, latest = corpus_names
    history = _history(
        names, latest, "How much will the seawall cost?", "When will construction start?"
    )
    middle = understand("When will construction start?", names, latest, history=history[:1])
    assert not middle.follow_up and "seawall" in middle.carried.split()
    query = understand("And who is paying for it?", names, latest, history=history)
    assert query.follow_up
    assert "seawall" in query.search_text and "construction" in query.search_text
    # A question with a subject of its own carries nothing further.
    fresh = understand("What did Gideon Pell offer?", names, latest, history=history)
    assert fresh.carried == "" and "seawall" not in fresh.search_text


def test_a_self_contained_question_starts_fresh(corpus_names) -> None:
    names, latest = corpus_names
    history = _history(names, latest, "What did Gideon Pell offer?")
    assert history[0][1].filters == {"speaker": "Gideon Pell"}
    query = understand("How long did the strike last?", names, latest, history=history)
    assert not query.follow_up
    assert query.filters == {} and query.implied == {}
    # It names nothing, so the previous answer's document is still the likeliest occasion:
    # a lean in the ranking, never a filter.
    assert query.boost_docs == ("doc-0",) and query.topic == "long strike last"
    history = _history(
        names,
        latest,
        "What did Elena Marsh say about the seawall in 2024?",
        "How much did the satellite mission cost?",
    )
    query = understand("Who is Walter Lind?", names, latest, history=history)
    assert not query.follow_up and query.boost_docs == () and query.exclude_spans == ()
    assert query.since is None and query.until is None and query.doc is None
    assert query.speaker in (None, "Walter Lind")  # his own name, never an inherited one


def test_a_follow_ups_new_date_replaces_the_old_one(corpus_names) -> None:
    names, latest = corpus_names
    history = _history(names, latest, "What did Elena Marsh say about the seawall in 2024?")
    assert history[0][1].filters["since"] == dt.date(2024, 1, 1)
    for follow_up in ("What about in 2023?", "And in 2023?"):
        query = understand(follow_up, names, latest, history=history)
        assert query.follow_up
        assert (query.since, query.until) == (dt.date(2023, 1, 1), dt.date(2023, 12, 31))
        assert query.speaker == "Elena Marsh" and query.topic == "seawall"
        assert query.implied["since"] == dt.date(2023, 1, 1)


def test_a_follow_ups_new_speaker_replaces_the_old_one(corpus_names) -> None:
    names, latest = corpus_names
    history = _history(names, latest, "What did Nadia Voss say about the strike in 2023?")
    query = understand("What about Pell?", names, latest, history=history)
    assert query.follow_up and query.speaker == "Gideon Pell" and query.topic == "strike"
    assert query.since == dt.date(2023, 1, 1)
    query = understand("And what did the mayor say?", names, latest, history=history)
    assert query.speaker == "Elena Marsh"


@pytest.mark.parametrize(
    "follow_up",
    [
        "Why?",
        "What else?",
        "And the budget?",
        "How about the port?",
        "What did she say about fares?",
        "When will it be finished?",
        "Is that true?",
        "Who said that?",
        "What happened there?",
        "What did they decide about that plan?",
    ],
)
def test_questions_that_refer_back_are_follow_ups(corpus_names, follow_up: str) -> None:
    names, latest = corpus_names
    history = _history(names, latest, "What did Nadia Voss say about the seawall?")
    query = understand(follow_up, names, latest, history=history)
    assert query.follow_up
    assert query.boost_docs == ("doc-0",)
    if not query.who:
        assert query.speaker == "Nadia Voss"


@pytest.mark.parametrize(
    ("fresh", "leans"),
    [
        ("Is there a Kestrel-2?", False),
        ("Who said that the vaccine was safe to take with the flu jab?", True),
        ("Is it true that the strike lasted 27 days?", True),
        ("How much will it cost to build the tram line?", True),
        ("What was agreed about the port expansion in February 2024?", False),
        ("What did Samir Haddad say about school meals?", False),
        ("What is this year's flood defence budget?", False),
    ],
)
def test_questions_with_their_own_subject_are_not_follow_ups(
    corpus_names, fresh: str, leans: bool
) -> None:
    """No speaker, date, topic or filter carries over; only a question that names nothing
    (no name, no date) still leans to the previous answer's document."""
    names, latest = corpus_names
    history = _history(names, latest, "What did Nadia Voss say about the seawall?")
    query = understand(fresh, names, latest, history=history)
    assert not query.follow_up and "doc" not in query.filters and query.exclude_spans == ()
    assert query.boost_docs == (("doc-0",) if leans else ())
    assert query.speaker != "Nadia Voss"


def test_roles_are_found_by_their_words_around_the_title() -> None:
    day = dt.date(2024, 7, 25)
    roles = {
        ("Dana Whitfield", "Chief Financial Officer", "call", day): 6,
        ("Rebecca Thorne", "Chief Executive Officer", "call", day): 9,
        ("Peter Vance", "Chief Executive of Calder Valley Water", "meeting", day): 4,
        ("Olwen Pryce", "Chair of the Transport Committee", "hearing", day): 5,
        ("Anjali Rowe", "Leader of Brackenford City Council", "meeting", day): 3,
        ("Maya Lindqvist", "Host", "podcast", day): 8,
        ("Michael Feld", "Granite Hill Capital", "call", day): 2,
        ("Tariq Hussain", "Caller from Netherby, car wash owner", "phone-in", day): 2,
        ("Sergei Shoigu", "Defence Minister", "council", day): 7,
        ("Sergei Lavrov", "Foreign Minister", "council", day): 9,
        ("Emmanuel Macron", "President of France", "visit", day): 3,
    }
    speakers = sorted({k[0] for k in roles} | {"France"})
    names = SpeakerNames(speakers, roles=roles)
    cases = {
        "What did Halden's CFO say about margins?": "Dana Whitfield",
        "What did Halden's finance chief say about the buyback?": "Dana Whitfield",
        "What did the water company's chief executive say about compensation?": "Peter Vance",
        "What did Calder Valley Water's chief executive say about the cost?": "Peter Vance",
        "What did the CEO say about Rotterdam?": "Rebecca Thorne",  # most turns
        "What did the committee chair say would happen next?": "Olwen Pryce",
        "What did the council leader announce?": "Anjali Rowe",
        "What did the podcast host ask Ines Okafor?": "Maya Lindqvist",
        "What did the analyst from Granite Hill Capital ask about?": "Michael Feld",
        "What did the Minister of Defence report?": "Sergei Shoigu",
        "What did the President of France say?": "Emmanuel Macron",  # not the speaker "France"
        "According to the caller from Netherby, what happened?": "Tariq Hussain",
    }
    for question, speaker in cases.items():
        assert understand(question, names, LATEST).speaker == speaker, question
    # The one asked is not the one speaking; a named person comes before a role.
    assert understand("What was the caller from Netherby told?", names, LATEST).speaker is None
    query = understand("When the CFO came in, how did Lavrov describe the talks?", names, LATEST)
    assert query.speaker == "Sergei Lavrov" and query.mentioned == ("Dana Whitfield",)
    assert understand("What did the Minister of Finance say?", names, LATEST).speaker is None


def test_according_to_a_person_is_what_they_said(names: SpeakerNames) -> None:
    assert understand("According to Putin, what drives the war?", names, LATEST).speaker == (
        "Vladimir Putin"
    )
    query = understand("What did Lavrov say he was told?", names, LATEST)
    assert query.speaker == "Sergei Lavrov"


def test_one_at_the_end_points_back(corpus_names) -> None:
    names, latest = corpus_names
    history = _history(names, latest, "What did Nadia Voss say about new drivers?")
    query = understand("How long does it take to train one?", names, latest, history=history)
    assert query.follow_up and query.speaker == "Nadia Voss"


def test_a_who_question_attributed_to_someone_asks_what_they_said() -> None:
    names = SpeakerNames(["Vladimir Putin", "Angela Merkel"])
    q = understand("Who should decide whether Assad stays, according to Putin?", names)
    assert (q.speaker, q.who) == ("Vladimir Putin", False)
    q = understand("Who will pay for the pipeline, in Merkel's view?", names)
    assert (q.speaker, q.who) == ("Angela Merkel", False)
    q = understand("Who met Merkel?", names)  # not attributed: still "who"
    assert (q.speaker, q.who) == (None, True)


def test_a_place_after_a_comma_in_a_label_is_not_a_name() -> None:
    # Phone-in callers are labelled "Dmitry, Moscow": "Moscow" must not find the caller.
    names = SpeakerNames(["Vladimir Putin", "Dmitry, Moscow", "Lipetsk, Yevgeny Zaitsev"])
    assert understand("Will Moscow meddle in the German vote?", names).speaker is None
    assert understand("What did Zaitsev ask?", names).speaker == "Lipetsk, Yevgeny Zaitsev"
