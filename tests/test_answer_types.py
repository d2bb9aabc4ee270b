"""Questions that ask for a figure are answered by quotes that state one, or abstain."""

from __future__ import annotations

import datetime as dt

from test_answering import FakeQA, make_transcript

from qa.answer_types import (
    asks_for_figure,
    asks_when_past,
    figure_focus,
    only_future,
    per_unit,
    states_age,
    states_change,
    states_count,
    states_duration,
    states_figure,
    states_money,
    states_rise,
    states_share,
)
from qa.answering import AnswerSettings, answer


def test_which_questions_ask_for_a_figure() -> None:
    assert asks_for_figure("How many trucks does Halden run?")
    assert asks_for_figure("By how much will the bus ticket go up?")
    assert asks_for_figure("What share of freight went by rail in 2023?")
    assert asks_for_figure("how old was the document")
    assert figure_focus("What was Harbour Vale's unemployment rate in 2023?") == ("share", ())
    assert figure_focus("What was Kelpwork's revenue in 2021?") == ("money", ())
    assert not asks_for_figure("What was the mayor's view of the strike?")
    assert not asks_for_figure("How did the mayor describe the seawall?")
    assert not asks_for_figure("When does the ban end?")
    assert not asks_for_figure("What did Voss say about the many complaints?")


def test_what_the_figure_is_of() -> None:
    assert figure_focus("How many electric trucks did Halden have?") == (
        "count",
        ("electric", "trucks"),
    )
    assert figure_focus("How much did the hack cost them?") == ("money", ())
    assert figure_focus("How much was the fine for breaking the ban?") == ("money", ())
    # A change in money is a sum or a percentage ("up to half off the bill" is neither);
    # a change in something else may be any figure.
    assert figure_focus("By how much is the typical bill going up?") == ("change", ())
    assert not states_change("Our social tariff takes up to half off the bill.")
    assert states_change("The average household bill goes up by 4.2 percent.")
    assert figure_focus("By how much did the flood programme go up?") == ("any", ())
    # A charge named after a determiner is a sum ("the fine", "the fare"); a rise in one may
    # be a percentage; "fine" the adjective and "the fine print" ask for none.
    assert figure_focus("What's the fine for breaking the hosepipe ban?") == ("money", ())
    assert figure_focus("What is the fare from Elmfield?") == ("money", ())
    assert figure_focus("What was the overall salary rise?") == ("change", ())
    assert figure_focus("What is fine about it?") == (None, ())
    assert figure_focus("What is the fine print?") == (None, ())
    assert figure_focus("What did Voss say about fines?") == (None, ())
    assert figure_focus("What price per tonne do farmers get?") == ("money", ())
    # "how much" about something that is not money asks for no figure at all
    assert figure_focus("How much care does the chick need?") == (None, ())
    assert figure_focus("How much cheaper could gas be?") == ("change", ())
    assert figure_focus("How old was the border document?") == ("age", ())
    # "how expensive" asks for a sum as "how much … cost" does; "how long" for a duration,
    # "how long ago" for a date (no figure rule)
    assert figure_focus("How expensive is each extra point on wages?") == ("money", ())
    assert figure_focus("How long did the walkout last?") == ("duration", ())
    assert figure_focus("How long ago did the plant close?") == (None, ())
    # what a person makes is money; what noise or progress they make is not
    assert figure_focus("How much does a driver make a year?") == ("money", ())
    assert figure_focus("How much noise did they make?") == (None, ())


def test_what_states_a_duration() -> None:
    assert states_duration("after twenty-seven days, the strike came to an end")
    assert states_duration("it takes between twelve and eighteen months to train a driver")
    assert states_duration("Until the reservoir is back above sixty percent.")
    assert states_duration("We talked for about an hour.") and states_duration("for years")
    assert not states_duration("On the long routes we need about sixty more drivers.")
    assert not states_duration("It will cost 58 million crowns.")
    assert not states_duration("The line opened in 2024.")


def test_years_and_clock_times_are_not_figures() -> None:
    assert not states_figure("The plant closed in 2020 and the staff moved on.")
    assert not states_figure("We meet again at 10:30 on Monday.")
    assert states_figure("About 85,000 euros a year.")
    assert states_figure("It went up by a third.")
    assert states_figure("Harrowmoor was at 88 percent this morning.")
    assert states_money("About 85,000 euros a year.")
    assert states_money("It will cost £4 million.")
    assert not states_money("It will employ 300 people.")
    assert states_money("a 212 million crown programme")
    assert not states_money("The price matters to every farmer.")
    assert not states_money("Harrowmoor was at 88 percent this morning.")
    assert states_share("about one passenger train in twenty") and states_share("a third of it")
    assert not states_share("It adds 30 million crowns of borrowing over three years.")
    assert not states_share("They will invest 720 million crowns in two new berths.")
    assert states_share("9 out of 10 drivers") and states_share("one in five households")
    assert states_change("It could cost 25 percent less")
    assert states_age("were adopted in 1996") and not states_figure("were adopted in 1996")
    assert states_count("it's kicking one of the other babies") and not states_figure("one")


def _hub() -> FakeQA:
    return FakeQA(
        [
            make_transcript(
                "hub",
                "Freight briefing",
                dt.date(2024, 5, 2),
                [
                    (
                        "Rebecca Thorne",
                        "The Rotterdam hub opens next spring. The hub matters to our customers "
                        "in the Rotterdam region, and building the hub was the right call.",
                    ),
                    (
                        "Rebecca Thorne",
                        "Electric trucks run well: Rebecca Thorne's electric trucks do every "
                        "run that diesel trucks do.",
                    ),
                    ("Rebecca Thorne", "Today we have 140 electric trucks on the road."),
                ],
            )
        ]
    )


def test_a_figure_question_with_no_figure_in_reach_abstains_and_says_why() -> None:
    a = answer(_hub(), "How much did building the Rotterdam hub cost?")
    assert a.abstained and not a.quotes
    assert "figure" in a.note
    # The same passages answer a question that does not ask for a figure.
    assert not answer(_hub(), "What about building the Rotterdam hub?").abstained
    off = answer(_hub(), "How much did building the Rotterdam hub cost?", settings=NO_FIGURES)
    assert not off.abstained  # the rule is what abstained


def test_the_quote_with_the_count_leads() -> None:
    question = "How many electric trucks does Rebecca Thorne run?"
    before = answer(_hub(), question, settings=NO_FIGURES)
    assert "140" not in before.quotes[0].text  # the words alone lead with no count
    a = answer(_hub(), question)
    assert not a.abstained
    assert "140 electric trucks" in a.quotes[0].text


def test_how_long_is_answered_by_a_duration_or_abstains() -> None:
    qa = FakeQA(
        [
            make_transcript(
                "strike",
                "Strike press conference",
                dt.date(2023, 6, 19),
                [
                    (
                        "Elena Marsh",
                        "The strike on the buses was long and the strike was hard on the "
                        "long cross-town routes, where the strike hit the night buses.",
                    ),
                    (
                        "Elena Marsh",
                        "After twenty-seven days, the strike on the buses came to an end.",
                    ),
                ],
            )
        ]
    )
    question = "How long did the strike on the buses last?"
    before = answer(qa, question, settings=NO_FIGURES)
    assert "twenty-seven" not in before.quotes[0].text  # the words alone pick the other turn
    a = answer(qa, question)
    assert "twenty-seven days" in a.quotes[0].text
    gone = answer(_hub(), "How long did building the Rotterdam hub take?")
    assert gone.abstained and "how long" in gone.note


def test_a_rate_is_answered_by_a_figure_in_its_unit() -> None:
    assert per_unit("What price per wet tonne does Kelpwork pay?") == "tonne"
    assert per_unit("How much did they pay per hectare for the farmland?") == "hectare"
    assert per_unit("What share, per cent, went by rail?") is None
    qa = _kelp(
        "The price we pay our seaweed farmers went into the plan: about eight "
        "million of the price goes into the factory the farmers supply.",
        "Our farmers get 40 pounds a tonne, wet.",
    )
    question = "What price per tonne do the seaweed farmers get?"
    assert "eight" in answer(qa, question, settings=NO_FIGURES).quotes[0].text
    assert "40 pounds a tonne" in answer(qa, question).quotes[0].text
    missing = answer(qa, "What price per hectare do the seaweed farmers get?")
    assert missing.abstained and "per hectare" in missing.note


def _kelp(*said: str) -> FakeQA:
    turns = [("Ines Okafor", text) for text in said]
    return FakeQA([make_transcript("kelp", "Podcast", dt.date(2022, 9, 14), turns)])


def test_a_figure_for_a_year_no_event_is_from_must_be_placed_in_it() -> None:
    # The only event is of 2022: the date filter "in 2021" finds nothing and is dropped, and
    # then only a quote that places its figure in 2021 answers.
    undated = _kelp("Kelpwork revenue this spring was 3 million pounds, and revenue grows.")
    a = answer(undated, "What was Kelpwork's revenue in 2021?")
    assert a.abstained and "Nothing in 2021 gives that figure" in a.note
    off = answer(undated, "What was Kelpwork's revenue in 2021?", settings=NO_PERIOD)
    assert not off.abstained  # the rule is what abstained
    dated = _kelp("Kelpwork revenue in 2021 was 1.2 million pounds, and revenue grows.")
    assert "1.2 million" in answer(dated, "What was Kelpwork's revenue in 2021?").quotes[0].text
    # "next year" and a month said on the event's date place a figure too
    later = _kelp("Kelpwork revenue will rise by 5 percent next year, and revenue grows.")
    assert not answer(later, "By how much will Kelpwork revenue rise in 2023?").abstained
    month = _kelp("Kelpwork revenue will rise by 5 percent in January, and revenue grows.")
    assert not answer(month, "By how much will Kelpwork revenue rise in 2023?").abstained
    assert answer(month, "By how much will Kelpwork revenue rise in 2025?").abstained


def test_when_did_is_not_answered_by_a_turn_that_puts_it_ahead() -> None:
    assert asks_when_past("When did Halden's Rotterdam hub open?")
    assert not asks_when_past("When will the Rotterdam hub open?")
    assert only_future("The Rotterdam hub opens next spring.") and only_future("Next April.")
    assert not only_future("It opened last April, a year late.")
    qa = FakeQA(
        [
            make_transcript(
                "call",
                "Earnings call",
                dt.date(2024, 7, 25),
                [
                    ("Rebecca Thorne", "The Rotterdam hub opens next spring, the hub is on time."),
                    (
                        "Rebecca Thorne",
                        "Rotterdam was busy. We opened it on the thirteenth of May.",
                    ),
                ],
            )
        ]
    )
    question = "When did the Rotterdam hub open?"
    assert (
        "next spring"
        in answer(qa, question, settings=AnswerSettings(past_when=False)).quotes[0].text
    )
    assert "thirteenth of May" in answer(qa, question).quotes[0].text


def test_a_change_is_answered_by_a_quote_that_speaks_of_one() -> None:
    assert states_rise("That is 35 million more than we approved.")
    assert states_rise("a pay rise of 3.5 percent") and not states_rise("a grant of 3 million")
    qa = _kelp(
        "The overall salary agreement gives the city a grant of 3 million crowns for salary.",
        "In the agreement staff get a rise of 3.5 percent.",
    )
    question = "What was the overall salary rise in the agreement?"
    assert (
        "grant" in answer(qa, question, settings=AnswerSettings(change_word=False)).quotes[0].text
    )
    assert "3.5 percent" in answer(qa, question).quotes[0].text


NO_FIGURES = AnswerSettings(figures=False)
NO_PERIOD = AnswerSettings(figure_period=False)
