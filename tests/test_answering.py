"""The answerer: quote building on a small fake index, then acceptance on real indexes.

The fake (word-overlap search, bag-of-words "embeddings") makes the quote-building
rules testable exactly; the acceptance tests ask real questions of real indexes
(the bundled corpus and the whole Kremlin collection) and check the verbatim invariant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import numpy as np
import pytest

from qa.answering import AnswerSettings, answer, candidates
from qa.chunking import chunk, sentence_spans, word_count
from qa.errors import QueryError
from qa.query import STOPWORDS, understand
from qa.results import Answer, Hit
from qa.transcript import Transcript, Turn

# ---------------------------------------------------------------- a small fake index


def make_transcript(
    doc_id: str, title: str, date: dt.date, turns: list[tuple[str | None, str]]
) -> Transcript:
    text, made = "", []
    for i, (speaker, body) in enumerate(turns):
        start = len(text)
        text += body
        made.append(Turn(i, speaker, speaker, None, body, start, start + len(body)))
        text += "\n"
    return Transcript(
        doc_id=doc_id, title=title, turns=made, text=text, date=date, place="Town Hall"
    )


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3 and w not in STOPWORDS]


class FakeQA:
    """Just enough of `TranscriptQA` for the answerer: overlap search, hashed bag-of-words vectors."""

    def __init__(self, transcripts: list[Transcript]) -> None:
        self.docs = {t.doc_id: t for t in transcripts}
        self.passages = [p for t in transcripts for p in chunk(t)]

    def search(
        self, query: str, k: int = 10, speaker=None, since=None, until=None, doc=None, **_: Any
    ) -> list[Hit]:
        q = set(_words(query))
        hits = []
        for p in self.passages:
            if speaker and p.speaker != speaker or doc and p.doc_id != doc:
                continue
            if since and p.date < since or until and p.date > until:
                continue
            overlap = len(q & set(_words(p.text)))
            if overlap:
                hits.append(Hit(p, float(overlap)))
        return sorted(hits, key=lambda h: -h.score)[:k]

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in _words(text):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 256] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def speakers(self) -> list[str]:
        return sorted({t.speaker for d in self.docs.values() for t in d.turns if t.speaker})

    def resolve_speaker(self, name: str) -> str | None:
        for s in self.speakers():
            if name.lower() in (s.lower(), s.split()[-1].lower()):
                return s
        return None

    def transcript(self, doc_id: str) -> Transcript:
        return self.docs[doc_id]

    def date_range(self) -> tuple[dt.date, dt.date]:
        dates = [t.date for t in self.docs.values()]
        return min(dates), max(dates)


HARBOUR = make_transcript(
    "harbour",
    "Harbour budget meeting",
    dt.date(2021, 3, 4),
    [
        (
            "Anna Berg",
            "Good morning. Let us begin. The harbour wall repairs will cost four million crowns. "
            "That money comes from the port fees, not from taxes. We start work in June.",
        ),
        ("Tom Reed", "Thank you. What about the fishing fleet?"),
        (
            "Anna Berg",
            "The fishing fleet keeps its moorings during the repairs. Nobody loses a berth. "
            "The repairs happen in two phases.",
        ),
        (
            "Tom Reed",
            "The harbour wall repairs will cost four million crowns, as the mayor said. "
            "I support the plan.",
        ),
    ],
)
SCHOOL = make_transcript(
    "school",
    "School meals debate",
    dt.date(2023, 5, 20),
    [
        (
            "Mia Holm",
            "Free school meals will reach every pupil from autumn. The kitchens are ready.",
        ),
        ("Karl Vik", "I worry about the cost of the school meals. Who pays for the kitchens?"),
    ],
)


@pytest.fixture
def fake() -> FakeQA:
    return FakeQA([HARBOUR, SCHOOL])


def _verbatim(qa: Any, a: Answer) -> None:
    for q in a.quotes:
        t = qa.transcript(q.doc_id)
        assert t.text[q.start : q.end] == q.text
        turn = t.turns[q.turn]
        assert turn.start <= q.start < q.end <= turn.end, "a quote never leaves its turn"
        assert q.speaker == turn.speaker and q.date == t.date and q.title == t.title
        assert q.start <= q.highlight[0] < q.highlight[1] <= q.end
        # Complete sentences: the quote starts and ends on sentence boundaries of its turn.
        spans = sentence_spans(t.text[turn.start : turn.end], offset=turn.start)
        assert q.start in {s for s, _ in spans} and q.end in {e for _, e in spans}


def test_quotes_are_verbatim_complete_sentences_with_citations(fake: FakeQA) -> None:
    a = answer(fake, "How much will the harbour wall repairs cost?")
    assert not a.abstained and a.quotes
    _verbatim(fake, a)
    best = a.quotes[0]
    assert (
        "four million crowns"
        in fake.transcript(best.doc_id).text[best.highlight[0] : best.highlight[1]]
    )
    assert all(word_count(q.text) <= 80 for q in a.quotes)


def test_repeated_words_are_quoted_once_and_turns_differ(fake: FakeQA) -> None:
    a = answer(fake, "How much will the harbour wall repairs cost?", k=3)
    texts = [q.text for q in a.quotes]
    assert sum("four million crowns" in t for t in texts) == 1  # Tom Reed repeats the mayor
    assert len({(q.doc_id, q.turn) for q in a.quotes}) == len(a.quotes)


def test_a_sentence_leaning_on_the_previous_one_brings_it_along(fake: FakeQA) -> None:
    a = answer(fake, "Where does the money for the port come from? port fees taxes")
    quote = a.quotes[0]
    assert quote.text.startswith(
        "The harbour wall repairs will cost four million crowns. That money"
    )


def test_speaker_in_the_question_filters_and_is_reported(fake: FakeQA) -> None:
    a = answer(fake, "What did Reed say about the harbour wall repairs?")
    assert a.implied_filters == {"speaker": "Tom Reed"} and a.filters["speaker"] == "Tom Reed"
    assert a.quotes and all(q.speaker == "Tom Reed" for q in a.quotes)


def test_dates_in_the_question_filter(fake: FakeQA) -> None:
    a = answer(fake, "What was said about the kitchens in 2023?")
    assert a.implied_filters == {"since": dt.date(2023, 1, 1), "until": dt.date(2023, 12, 31)}
    assert a.quotes and all(q.date.year == 2023 for q in a.quotes)
    # Nothing in 2021: the implied filter is dropped rather than answering nothing, and the
    # answer no longer reports it as applied.
    relaxed = answer(fake, "What was said about the kitchens in 2021?")
    assert relaxed.implied_filters == {} and relaxed.quotes
    assert all(q.date.year == 2023 for q in relaxed.quotes)
    # A filter the caller set is never dropped.
    assert answer(
        fake, "What was said about the kitchens?", since="2021-01-01", until="2021-12-31"
    ).abstained


def test_caller_filters_accept_iso_strings_and_aliases(fake: FakeQA) -> None:
    a = answer(
        fake, "What about the repairs?", speaker="berg", since="2021-01-01", until="2021-12-31"
    )
    assert a.filters == {
        "speaker": "Anna Berg",
        "since": dt.date(2021, 1, 1),
        "until": dt.date(2021, 12, 31),
    }
    assert a.implied_filters == {}
    with pytest.raises(QueryError, match="since"):
        answer(fake, "What about the repairs?", since="last Tuesday")
    with pytest.raises(QueryError, match="unknown speaker"):
        answer(fake, "What about the repairs?", speaker="Nobody Known")
    with pytest.raises(QueryError, match="empty"):
        answer(fake, "   ")


def test_follow_up_what_else_skips_what_was_quoted(fake: FakeQA) -> None:
    # The fake's bag-of-words vectors are far weaker than a real model: a low threshold.
    loose = AnswerSettings(threshold=0.1)
    first = answer(fake, "What did Berg say about the harbour repairs?", k=1, settings=loose)
    again = answer(
        fake,
        "What else did she say about it?",
        history=[(first.question, first)],
        k=1,
        settings=loose,
    )
    assert again.filters.get("speaker") == "Anna Berg"
    assert again.quotes
    old, new = first.quotes[0], again.quotes[0]
    assert new.doc_id != old.doc_id or new.start >= old.end or new.end <= old.start


def test_abstains_when_nothing_scores(fake: FakeQA) -> None:
    a = answer(fake, "What is the boiling point of tungsten?")
    assert a.abstained and a.quotes == []
    strict = answer(
        fake, "How much will the harbour wall repairs cost?", settings=AnswerSettings(threshold=5.0)
    )
    assert strict.abstained and strict.closest  # closest matches are still offered
    assert "do not seem to answer" in strict.to_markdown()


# ---------------------------------------------------------------- acceptance on real indexes

CORPUS_QUESTIONS = [
    "What did Elena Marsh say about the flood budget?",
    "Who said the vaccine was safe to take with the flu jab?",
    "What was agreed about the port expansion in February 2024?",
    "What did the mayor say about the transit strike last year?",
    "How much did the satellite mission cost?",
]


def test_corpus_answers_are_verbatim_and_cited(corpus_qa: Any) -> None:
    for question in CORPUS_QUESTIONS:
        a = corpus_qa.ask(question)
        assert not a.abstained, question
        _verbatim(corpus_qa, a)


def test_corpus_speaker_and_dates_are_understood(corpus_qa: Any) -> None:
    a = corpus_qa.ask("What did Marsh say about the flood defences in 2024?")
    assert a.implied_filters["speaker"] == "Elena Marsh"
    assert a.quotes and all(q.speaker == "Elena Marsh" and q.date.year == 2024 for q in a.quotes)
    last = corpus_qa.ask("What was said about vaccines in the last year of the corpus?")
    first, latest = corpus_qa.date_range()
    assert last.implied_filters["until"] == latest
    assert all(q.date >= last.implied_filters["since"] for q in last.quotes)


def test_corpus_follow_up_keeps_the_speaker(corpus_qa: Any) -> None:
    first = corpus_qa.ask("What did Elena Marsh say about the port expansion?")
    follow = corpus_qa.ask(
        "And about the vaccine programme?", history=[{"question": first.question, "answer": first}]
    )
    assert follow.implied_filters.get("speaker") == "Elena Marsh"
    assert follow.quotes and all(q.speaker == "Elena Marsh" for q in follow.quotes)


def test_corpus_abstains_off_topic(corpus_qa: Any) -> None:
    a = corpus_qa.ask("What is the recipe for banana bread?")
    assert a.abstained and not a.quotes and a.closest
    assert a.to_markdown().startswith("The transcripts do not seem to answer this question.")


KREMLIN_QUESTIONS = [
    "What did Le Pen say about terrorism?",
    "What did Putin say about the Minsk Agreements at the Normandy summit?",
    "What did Putin say about North Korea in April 2019?",
    "Who said that sanctions hurt both Russia and the EU?",
    "What did Putin say about Nord Stream 2 in 2018?",
]


@pytest.mark.shared
def test_kremlin_answers_are_verbatim_and_cited(kremlin_qa: Any) -> None:
    for question in KREMLIN_QUESTIONS:
        a = kremlin_qa.ask(question)
        assert not a.abstained, question
        _verbatim(kremlin_qa, a)
    le_pen = kremlin_qa.ask(KREMLIN_QUESTIONS[0])
    assert le_pen.quotes[0].speaker == "Marine Le Pen"
    april = kremlin_qa.ask(KREMLIN_QUESTIONS[2])
    assert all(q.date.year == 2019 and q.date.month == 4 for q in april.quotes)


@pytest.mark.shared
def test_kremlin_follow_up_keeps_speaker_and_occasion(kremlin_qa: Any) -> None:
    first = kremlin_qa.ask("What did Putin tell Le Pen about terrorism?")
    follow = kremlin_qa.ask("And about Syria?", history=[(first.question, first)])
    assert follow.filters.get("speaker") == "Vladimir Putin"
    assert follow.quotes and all(q.speaker == "Vladimir Putin" for q in follow.quotes)


@pytest.mark.shared
def test_kremlin_abstains_off_topic(kremlin_qa: Any) -> None:
    a = kremlin_qa.ask("How do I remove a red wine stain from a carpet?")
    assert a.abstained and not a.quotes


class DenseFindsTheParaphrase(FakeQA):
    """Overlap search for the fused ranking; `mode="dense"` finds the strike's length first,
    as a dense model would for "walkout"."""

    def search(self, query: str, k: int = 10, mode: str = "hybrid", **filters: Any) -> list[Hit]:
        if mode == "dense":
            ranked = sorted(self.passages, key=lambda p: "twenty-seven days" not in p.text)
            return [Hit(p, 0.9 - 0.01 * i) for i, p in enumerate(ranked[:k])]
        return super().search(query, k, **filters)


def _walkout() -> DenseFindsTheParaphrase:
    turns: list[tuple[str | None, str]] = [
        ("Rita Osei", f"Route {i} is a long route and public transport on it runs late." * 2)
        for i in range(12)
    ]
    turns.append(("Rita Osei", "After twenty-seven days the strike on our buses came to an end."))
    return DenseFindsTheParaphrase([make_transcript("t", "Transit", dt.date(2023, 6, 1), turns)])


def test_the_dense_searchs_best_passages_are_read_when_fusion_leaves_them_out() -> None:
    from qa.answering import retrieve
    from qa.query import understand

    qa = _walkout()
    query = understand("How long did the walkout on public transport last?")
    settings = AnswerSettings(rerank_passages=8, dense_extra=2)
    plain = retrieve(qa, query, AnswerSettings(rerank_passages=8, dense_extra=0))
    hits = retrieve(qa, query, settings)
    assert all("twenty-seven" not in h.passage.text for h in plain[:8])
    assert hits[:8] == plain[:8]  # the fused ranking's passages come first, as they were
    placed = hits[8]
    assert "twenty-seven days" in placed.passage.text
    assert placed.score == plain[7].score  # it stands as the last passage read
    keys = [(h.passage.doc_id, h.passage.start) for h in hits]
    assert len(keys) == len(set(keys))  # each passage once


def test_words_that_name_the_occasion_do_not_count_as_a_sentences_overlap() -> None:
    """ "Who at the vaccination launch talked about his wife?": every sentence of the launch
    shares "vaccination launch" with its title; only "wife" says which one answers."""
    launch = make_transcript(
        "launch",
        "Vaccination launch in Eastquay",
        dt.date(2023, 9, 27),
        [
            ("Ada Lind", "This vaccination launch in Eastquay is the first of twelve."),
            ("Albert Finch", "Last February my wife was in hospital for nine days."),
        ],
    )
    qa = FakeQA([launch])
    question = "Who at the vaccination launch in Eastquay talked about his wife?"
    plain = _overlaps(qa, question, AnswerSettings(lexical_off_title=False))
    assert plain["Ada Lind"] > plain["Albert Finch"]  # the occasion's words outweigh "wife"
    off = _overlaps(qa, question, AnswerSettings())
    assert off["Albert Finch"] > off["Ada Lind"] == 0.0


def _overlaps(qa: FakeQA, question: str, settings: AnswerSettings) -> dict[str, float]:
    """Each speaker's sentence overlap share (`Candidate.lexical`) with the question."""
    query = understand(question)
    hits = [Hit(p, 1.0) for p in qa.passages]
    return {c.hit.passage.speaker or "": c.lexical for c in candidates(qa, query, hits, settings)}


def test_who_was_asked_about_is_not_what_the_sentence_must_say() -> None:
    # "What did Calder Water say about leaks?": the chair's introduction names the company;
    # only the words after "about" count in a sentence's overlap with the question.
    qa = FakeQA(
        [
            make_transcript(
                "meeting",
                "Reservoir meeting",
                dt.date(2025, 2, 11),
                [
                    ("Anjali Rowe", "Calder Water will say what it plans tonight."),
                    ("Peter Vance", "We lost 97 million litres a day to leaks."),
                ],
            )
        ]
    )
    question = "What did Calder Water say about leaks?"
    before = _overlaps(qa, question, AnswerSettings(about_overlap=False))
    assert before["Anjali Rowe"] > before["Peter Vance"] > 0
    now = _overlaps(qa, question, AnswerSettings())
    assert now["Anjali Rowe"] == 0 and now["Peter Vance"] == 1
