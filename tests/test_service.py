"""The `TranscriptQA` facade: what the UI, the CLI and the answerer read from an index."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qa import TranscriptQA
from qa.errors import QueryError
from qa.results import Answer


@pytest.fixture(scope="module")
def qa(small_index: Path) -> TranscriptQA:
    return TranscriptQA.open(small_index)


def test_speakers_are_canonical_and_most_turns_first(qa: TranscriptQA) -> None:
    speakers = qa.speakers()
    assert speakers[:2] == ["Anna Berg", "Lena Falk"] or speakers[0] == "Anna Berg"
    assert set(speakers) == {
        "Anna Berg",
        "Tom Reed",
        "Mia Holm",
        "Karl Vik",
        "Lena Falk",
    }
    # Labels with a title are not separate speakers; "Question" is no one.
    assert "Minister of Transport Lena Falk" not in speakers
    assert qa.resolve_speaker("Question") is None


def test_resolve_speaker_from_any_alias(qa: TranscriptQA) -> None:
    assert qa.resolve_speaker("minister of transport lena falk") == "Lena Falk"
    assert qa.resolve_speaker("  LENA   falk ") == "Lena Falk"
    assert qa.resolve_speaker("Reed") == "Tom Reed"
    assert qa.resolve_speaker("Nobody") is None
    assert qa.resolve_speaker("") is None


def test_documents_describe_the_index(qa: TranscriptQA) -> None:
    docs = {d.doc_id: d for d in qa.documents()}
    assert list(docs) == ["harbour", "school", "press"]  # oldest first
    harbour = docs["harbour"]
    assert harbour.title == "Harbour budget meeting"
    assert harbour.date == dt.date(2021, 3, 4)
    assert harbour.place == "Town Hall"
    assert harbour.turns == 5
    assert harbour.passages == 5
    assert harbour.speakers == ("Anna Berg", "Tom Reed")
    assert sum(d.passages for d in docs.values()) == len(qa.snapshot.passages)


def test_transcript_comes_from_the_index_alone(qa: TranscriptQA) -> None:
    t = qa.transcript("press")
    assert t.title == "Press conference on the rail tunnel"
    assert [u.speaker for u in t.turns] == ["Lena Falk", None, "Lena Falk"]
    assert t.turns[1].role == "question from the floor" and t.turns[1].label == "Question"
    assert all(t.text[u.start : u.end] == u.text for u in t.turns)
    assert t.turns[0].role == "Minister of Transport"
    with pytest.raises(QueryError, match="no-such-doc"):
        qa.transcript("no-such-doc")


def test_date_range(qa: TranscriptQA) -> None:
    assert qa.date_range() == (dt.date(2021, 3, 4), dt.date(2023, 5, 20))


def test_ask_delegates_to_the_answerer_with_the_filters(qa: TranscriptQA) -> None:
    answer = qa.ask("What will happen to ticket prices?", speaker="falk", k=2)
    assert isinstance(answer, Answer)
    assert answer.question == "What will happen to ticket prices?"
    assert answer.quotes and len(answer.quotes) <= 2
    for quote in answer.quotes:
        assert quote.speaker == "Lena Falk"
        assert qa.transcript(quote.doc_id).text[quote.start : quote.end] == quote.text
