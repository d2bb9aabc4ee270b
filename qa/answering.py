"""Hits → an `Answer` of verbatim quotes: sentence scoring, quote building, abstention.

Retrieval finds passages (~120 words); a reader wants the one or two sentences that
answer. So the sentences of the top passages are scored against the question — by
embedding similarity, by shared (stemmed) topic words and by how well retrieval ranked
their passage — and the best are widened to a readable quote: complete sentences of one
turn, under ~80 words, verbatim at their offsets. If even the best sentence scores
under a threshold calibrated on development data, the answer abstains and shows the
closest passages instead of pretending they answer.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import zip_longest
from typing import Any, Protocol

import numpy as np

from qa import sentence_scoring
from qa.answer_types import (
    asks_when_past,
    figure_focus,
    only_future,
    per_unit,
    places_in,
    states,
    states_count,
    states_rise,
)
from qa.chunking import chunk_turn, sentence_spans, word_count
from qa.errors import QueryError
from qa.limits import check_date
from qa.links import document_url, span_times
from qa.query import Query, SpeakerNames, capitalised_words, understand
from qa.reranking import pair_text
from qa.results import Answer, Hit, Quote
from qa.transcript import Passage, Transcript


class Searchable(Protocol):
    """The part of `TranscriptQA` the answerer uses (so tests can pass a small fake)."""

    def search(self, query: str, k: int = 10, **filters: Any) -> list[Hit]: ...
    def speakers(self) -> list[str]: ...
    def resolve_speaker(self, name: str) -> str | None: ...
    def encode(self, texts: list[str]) -> np.ndarray: ...
    def transcript(self, doc_id: str) -> Transcript: ...
    def date_range(self) -> tuple[dt.date | None, dt.date | None]: ...


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    """Weights and limits, measured in benchmarks/bench_answer.py (see its results file)."""

    search_k: int = 20  # passages retrieved
    read_passages: int = 8  # passages whose sentences are scored
    quotes: int = 3  # at most this many quotes
    search_mode: str = "hybrid"  # how passages are retrieved: hybrid, bm25 or dense (search())
    w_dense: float = 1.0  # cosine(question, sentence)
    w_lexical: float = 0.3  # share of the question's topic stems in the sentence
    w_passage: float = 0.35  # retrieval rank of the sentence's passage (1 for the top hit)
    w_title: float = 0.0  # the question names the occasion ("at the G20 summit")
    # Topic stems that the passage's own title has ("at the vaccination launch", "after the
    # rail freight hearing") say which occasion, not which sentence: they leave the overlap.
    lexical_off_title: bool = True
    w_reply: float = 0.3  # opening a reply to a question like ours
    w_boost_doc: float = 0.1  # follow-ups: the previous answer's documents
    w_boost_passage: float = 0.15  # ... and again on the passage's standing, after the scorer
    min_words: int = 4  # shorter sentences ("Thank you.") are not answers on their own
    short_penalty: float = 0.2
    question_penalty: float = 0.4  # a question rarely answers a question
    greeting_penalty: float = 0.4  # nor does "Ines Okafor, founder of Kelpwork, welcome."
    max_quote_words: int = 80
    threshold: float = 0.45  # abstain when no sentence has this much support (see `support`)
    runner_up: float = 0.8  # further quotes must score at least this share of the best
    duplicate: float = 0.7  # word-set overlap above which two quotes are the same quote
    # The reranker (qa/reranking.py) reads the question with each of the best passages and
    # the replies that follow them; quotes come from what it ranks first. Off: the sentence
    # scores above alone decide (and `threshold` abstains).
    rerank: bool = True
    reranker: str = "minilm-l4-transcripts"  # a bundled one (qa.reranking.available()) or a folder
    rerank_passages: int = 8  # retrieved passages it reads (plus the replies that follow them)
    dense_extra: int = 2  # ... and the dense search's best this many, when fusion left them out
    lift_replies: bool = True  # a matching question hands its score to the reply that follows
    echo_lift: bool = True  # ... as it would score were it not a question (see _echo_lift)
    echo_turn_words: int = 40  # ... when the question turn is this short
    w_rerank: float = 0.0  # weight of the reranker model's logit (0: the stage's rules alone)
    rerank_threshold: float = -2.0  # abstain when no passage's logit reaches this
    filler_words: int = 2  # passages with fewer content words than this never lead
    short_turn_words: int = 6  # nor do turns this short ("From the first of July."): no context
    learned: bool = True  # rank passages with qa/models/sentence_scorer.json (if present)
    learned_margin: float = 0.15  # ... among those within this much of the best hand-set score
    figures: bool = True  # "How much…?", "How many…?" are answered only by quotes with a figure
    figure_candidates: int = 40  # the best this many sentences are checked for one
    # A figure asked for a period no event is from ("revenue in 2021") must be placed in it
    # by its quote ("in 2021", "next year", "in January"), or the answer abstains.
    figure_period: bool = True
    past_when: bool = True  # "When did it open?" is not answered by a turn saying "next spring"
    # A change in money ("a pay rise", "35 million more") by a quote that says one changed.
    change_word: bool = True
    about_overlap: bool = True  # "What did X say about Y?": only Y's words count in the overlap
    per_unit: bool = True  # ... and "per tonne" by a sentence with the figure and the unit


DEFAULT_SETTINGS = AnswerSettings()
DEFAULT_K = DEFAULT_SETTINGS.quotes

_CONNECTIVE = re.compile(
    r"^\W*(this|that|these|those|it|its|they|he|she|but|and|so|however|therefore|thus|yet|"
    r"also|then|here|there|such|which|as a result|because|for example|in addition|moreover|"
    r"besides|yes|no|well|of course)\b",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Candidate:
    """A sentence of a retrieved passage with the features its score is made of."""

    hit_rank: int
    hit: Hit
    start: int
    end: int
    text: str
    dense: float = 0.0  # cosine(question, sentence)
    lexical: float = 0.0  # share of the question's topic stems found in the sentence
    passage: float = 0.0  # 1 / (1 + rank of its passage)
    words: int = 0
    asks: bool = False  # the sentence is itself a question
    greets: bool = False  # the sentence is a greeting or an introduction (see `greets`)
    boosted: bool = False  # in a document of the previous answer (follow-ups)
    title: float = 0.0  # share of the question's topic stems in the title of its event
    reply: float = 0.0  # opens a reply to a question like ours ("How's the duck?" → "Fine.")
    score: float = 0.0
    rerank: float | None = None  # the reranker's logit for the sentence's passage
    turn_position: int = 0  # sentences of its turn before it
    turn_asks: bool = False  # its turn ends with a question
    turn_words: int = 0


# ---------------------------------------------------------------- per-index caches


def _names_for(qa: Searchable) -> SpeakerNames:
    """The name finder for the index's speakers: the index keeps one per snapshot."""
    kept = getattr(qa, "speaker_names", None)
    if kept is not None:
        return kept()  # type: ignore[no-any-return]
    return SpeakerNames(tuple(qa.speakers()), qa.resolve_speaker)


def _sentence_vectors(qa: Searchable, texts: list[str]) -> np.ndarray:
    """Sentences embedded now: only for indexes without stored sentence vectors (and fakes)."""
    return qa.encode(texts)


def _tokenizer() -> Any:
    global _TOKENIZER
    if _TOKENIZER is None:
        from qa.lexical import Tokenizer

        _TOKENIZER = Tokenizer(stem=True, stopwords=True)
    return _TOKENIZER


_TOKENIZER: Any = None


# ---------------------------------------------------------------- the answerer


def answer(
    qa: Searchable,
    question: str,
    history: Sequence[Any] | None = None,
    k: int = DEFAULT_K,
    speaker: str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    doc: str | None = None,
    settings: AnswerSettings = DEFAULT_SETTINGS,
) -> Answer:
    """Answer `question` with up to `k` verbatim quotes, or abstain with the closest passages.

    `history`: the chat so far, oldest first, as `(question, Answer)` pairs or
    `{"question": ..., "answer": ...}` dicts; follow-ups inherit its speaker, dates and topic.
    """
    if not isinstance(question, str) or not question.strip():
        raise QueryError("the question is empty: ask something about the transcripts")
    if k < 1:
        raise QueryError(f"k must be at least 1, got {k}")
    since_d, until_d = check_date(since, "since"), check_date(until, "until")
    if speaker is not None:
        resolved = qa.resolve_speaker(speaker)
        if resolved is None:
            raise QueryError(
                f"unknown speaker {speaker!r}; known speakers are listed by speakers()"
            )
        speaker = resolved
    latest = qa.date_range()[1]
    query = understand(
        question.strip(), _names_for(qa), latest, history, speaker, since_d, until_d, doc
    )
    reranker = _reranker_for(qa, settings)
    found = _ranked(qa, query, settings, reranker)
    unknown = unknown_names(qa, query)
    if unknown:
        # "What is the capital of France?" over transcripts that never say "France": whatever
        # matches the other words ("capital reserve") is not about what was asked.
        note = f"The transcripts never mention {' or '.join(unknown)}."
        closest = found.hits[:5]
        return Answer(question, [], True, closest, query.filters, dict(query.implied), note=note)
    relaxed: dict[str, Any] = {}
    undated = ""  # a figure was found, but none placed in the period asked for
    figure = figure_focus(query.question)[0]  # the kind of figure asked for, if any
    if query.unnamed_text and not query.follow_up and not _supported(found.ranked, settings):
        # "What did Elena Marsh say about the seawall?" under her filter: without the name,
        # the words that are left find what she said about it.
        unnamed = replace(query, search_text=query.unnamed_text)
        unnamed_found = _ranked(qa, unnamed, settings, reranker)
        if _supported(unnamed_found.ranked, settings):
            query, found = unnamed, unnamed_found
    if query.implied and not _supported(found.ranked, settings):
        # Nothing under a filter the question only implied ("in 2024", "Voss"): the filter may
        # be wrong ("the German vote in September" names when the vote was). Drop the dates
        # first, then every implied filter, and say so in the answer.
        for dropped in _relaxations(query):
            looser = replace(
                query, implied={k: v for k, v in query.implied.items() if k not in dropped}
            )
            for key in dropped:
                setattr(looser, key, {"speaker": speaker, "since": since_d, "until": until_d}[key])
            looser_found = _ranked(qa, looser, settings, reranker)
            period = {k: query.implied[k] for k in dropped if k in ("since", "until")}
            if period and settings.figure_period and figure:
                # "What was the revenue in 2021?" asked of a 2022 event: only a figure
                # placed in 2021 answers it.
                dated = _in_period(qa, looser_found.ranked, period, settings)
                if _supported(looser_found.ranked, settings) and not _supported(dated, settings):
                    undated = period_words(period.get("since"), period.get("until"))
                looser_found = replace(looser_found, ranked=dated)
            if _supported(looser_found.ranked, settings):
                relaxed = {k: query.implied[k] for k in dropped}
                query, found = looser, looser_found
                break
    quotes = build_quotes(qa, found.ranked, min(k, 10), settings)
    hits = found.hits
    filters = query.filters
    implied = dict(query.implied)
    notes = list(query.notes)  # "the mayor": two people held that role; which one we took
    if relaxed and quotes:
        notes.append(relaxation_note(relaxed, query.topic, query.speaker))
    if not quotes and undated:
        notes.append(f"Nothing {undated} gives that figure.")
    elif not quotes and found.no_figure:
        asked = "says how long" if figure == "duration" else "gives the figure"
        unit = per_unit(query.question) if settings.per_unit else None
        asked += f" per {unit}" if unit else ""
        notes.append(f"The closest passages are about this but none of them {asked}.")
    note = " ".join(notes)
    if not quotes:
        return Answer(question, [], True, hits[:5], filters, implied, note=note)
    return Answer(question, quotes, False, hits[:5], filters, implied, relaxed, note)


def unknown_names(qa: Searchable, query: Query) -> list[str]:
    """Capitalised words of the question (not its first word, a stopword, or a speaker or
    role it names) that no transcript says: the question is about something they never
    mention."""
    knows = getattr(qa, "knows", None)
    if knows is None:
        return []
    text = query.question
    names = _names_for(qa)
    spans = [(m.start, m.end) for m in names.find(text)]
    tokenize = _tokenizer()
    out: list[str] = []
    for m in capitalised_words(text):
        word = m.group()
        if any(a <= m.start() < b for a, b in spans) or not tokenize(word):
            continue  # a speaker or role it names, or a stopword ("The", "About"): no topic
        if len(word) >= 3 and not knows(word):
            out.append(word)
    return out


@dataclass(frozen=True, slots=True)
class Ranking:
    """What one search of a question found."""

    hits: list[Hit]
    ranked: list[Candidate]  # their sentences, best first
    no_figure: bool = False  # a figure was asked for and none of the best sentences gave one


def _ranked(qa: Searchable, query: Query, settings: AnswerSettings, reranker: Any) -> Ranking:
    """The hits and their sentences; for a question that asks for a figure, only the sentences
    whose quote states it (the answer abstains on the others)."""
    hits = retrieve(qa, query, settings)
    if settings.rerank:
        ranked = rerank_candidates(qa, query, hits, reranker, settings)
    else:
        ranked = rank(candidates(qa, query, hits, settings), settings)
    if settings.past_when and ranked and asks_when_past(query.question):
        # "When did the hub open?": a turn that says "it opens next spring" answers that it
        # has not, so none of its sentences is the answer.
        ahead = {(c.hit.passage.doc_id, c.hit.passage.turn) for c in ranked if only_future(c.text)}
        ranked = [c for c in ranked if (c.hit.passage.doc_id, c.hit.passage.turn) not in ahead]
    kind, counted = figure_focus(query.question) if settings.figures else (None, ())
    if not ranked or kind is None:
        return Ranking(hits, ranked)
    knows = getattr(qa, "knows", None)
    tokenize = _tokenizer()
    # A counted word the transcripts never say (a typo, "peple") cannot be required.
    stems = {t for w in counted if knows is None or knows(w) for t in tokenize(w)}
    unit = per_unit(query.question) if settings.per_unit else None
    units = set(tokenize(unit)) if unit else set()
    top = ranked[: settings.figure_candidates]
    with_figure = [c for c in top if _gives_figure(qa, c, kind, stems, settings, units)]
    return Ranking(hits, with_figure, not with_figure and _supported(ranked, settings))


def _gives_figure(
    qa: Searchable,
    sentence: Candidate,
    kind: str,
    stems: set[str],
    settings: AnswerSettings,
    units: frozenset[str] | set[str] = frozenset(),
) -> bool:
    """The quote this sentence would lead states the figure asked for (qa.answer_types): a
    sum for a money question, a number beside what is counted for "how many", else any;
    for a rate ("per tonne") a sentence that names the unit and states the figure."""
    transcript = qa.transcript(sentence.hit.passage.doc_id)
    quote = _widen(transcript, sentence, settings)
    if units or (kind == "count" and stems):
        tokenize = _tokenizer()
        parts = [
            (part, set(tokenize(part)))
            for part in (transcript.text[a:b] for a, b in sentence_spans(quote.text, quote.start))
        ]
        if units and not any(units & words and states(kind, part) for part, words in parts):
            return False
        if kind == "count" and stems:
            return any(states_count(part) and bool(stems & words) for part, words in parts)
    if kind == "change" and settings.change_word and not states_rise(quote.text):
        return False
    return states(kind, quote.text)


def _reranker_for(qa: Searchable, settings: AnswerSettings) -> Any:
    """The model the reranking stage reads with, if any (None: its rules alone)."""
    if not settings.rerank or settings.w_rerank <= 0:
        return None
    return getattr(qa, "reranker", None)


def _supported(found: list[Candidate], settings: AnswerSettings) -> bool:
    """Whether the best candidate is worth quoting at all (else: abstain): some sentence
    says enough about the question, and the reranker does not reject every passage."""
    if _best_support(found, settings) < settings.threshold:
        return False
    logits = [c.rerank for c in found if c.rerank is not None]
    return not logits or max(logits) >= settings.rerank_threshold


def _in_period(
    qa: Searchable, ranked: list[Candidate], period: dict[str, Any], settings: AnswerSettings
) -> list[Candidate]:
    """The sentences whose quote places its figure in the period asked for ("revenue in
    2021"): by naming a year of it, or "next year" or a month that, said on the event's
    date, falls in it. From an event of another year, a figure with no time of its own is
    that event's figure, not the one asked for."""
    since = period.get("since") or dt.date.min
    until = period.get("until") or dt.date.max
    return [
        c
        for c in ranked
        if places_in(
            _widen(qa.transcript(c.hit.passage.doc_id), c, settings).text,
            c.hit.passage.date,
            since,
            until,
        )
    ]


def _relaxations(query: Query) -> list[tuple[str, ...]]:
    dates = tuple(k for k in ("since", "until") if k in query.implied)
    every = tuple(k for k in ("speaker", "since", "until") if k in query.implied)
    out = [dates] if dates and dates != every else []
    return [*out, every] if every else out


def relaxation_note(relaxed: dict[str, Any], topic: str, speaker: str | None = None) -> str:
    """ "Nothing from Elena Marsh in 2024 mentions seawall; closest from other years:"

    `relaxed`: the filters dropped; `speaker`: the speaker filter that still holds.
    """
    who = relaxed.get("speaker") or speaker
    period = period_words(relaxed.get("since"), relaxed.get("until"))
    what = [f"from {who}"] if who else []
    if period:
        what.append(period)
    about = f" mentions {topic}" if topic else " answers this"
    if period and not relaxed.get("speaker"):
        other = "other years"
    elif relaxed.get("speaker") and not period:
        other = "other speakers"
    else:
        other = "elsewhere"
    return f"Nothing {' '.join(what)}{about}; closest from {other}:"


def period_words(since: dt.date | None, until: dt.date | None) -> str:
    """ "in 2024", "in June 2024", "since 3 May 2023", "between … and …" """
    if since and until:
        if since == dt.date(since.year, 1, 1) and until == dt.date(since.year, 12, 31):
            return f"in {since.year}"
        if since.day == 1 and since.year == until.year and since.month == until.month:
            last = (until + dt.timedelta(days=1)).day == 1
            if last:
                return f"in {since.strftime('%B')} {since.year}"
        return f"between {_day(since)} and {_day(until)}"
    if since:
        return f"since {_day(since)}"
    if until:
        return f"until {_day(until)}"
    return ""


def _day(d: dt.date) -> str:
    return f"{d.day} {d.strftime('%B')} {d.year}"


def retrieve(qa: Searchable, query: Query, settings: AnswerSettings) -> list[Hit]:
    filters = {
        "speaker": query.speaker,
        "since": query.since,
        "until": query.until,
        "doc": query.doc,
    }
    if settings.search_mode != "hybrid":  # (searchables without modes take no `mode`)
        filters["mode"] = settings.search_mode
    # One embedding of the question serves the search and the sentence scores.
    vector = question_vector(qa, query)
    hits = qa.search(query.search_text, k=settings.search_k, query_vector=vector, **filters)
    if getattr(qa, "adapts_questions", False) and settings.search_mode != "bm25":
        # The adapted question finds answering turns that share little with its wording;
        # the model's own vector finds the sentences that say what was asked, which the
        # sentence scores and the abstention threshold were calibrated on. Read both, the
        # plain ranking first: QMSum val first quote in gold .456 adapted alone, .498 plain
        # alone, .502 both; FriendsQA .490 / .488 / .490 (qmsum_tuning.md table 11).
        plain = qa.search(
            query.search_text, k=settings.search_k, query_vector=vector, adapt=False, **filters
        )
        hits = _interleave(plain, hits)[: settings.search_k]
    if settings.dense_extra > 0 and settings.search_mode == "hybrid" and hits:
        hits = _with_dense_extra(qa, query, hits, vector, filters, settings)
    if query.boost_docs and query.doc is None:
        # A follow-up: the occasion of the previous answer stays in play.
        extra = [
            hit
            for doc_id in query.boost_docs[:2]
            for hit in qa.search(
                query.search_text, k=5, query_vector=vector, **{**filters, "doc": doc_id}
            )
        ]
        hits = sorted(_distinct([*hits, *extra]), key=lambda h: -h.score)
    return hits


def _with_dense_extra(
    qa: Searchable,
    query: Query,
    hits: list[Hit],
    vector: np.ndarray | None,
    filters: dict[str, Any],
    settings: AnswerSettings,
) -> list[Hit]:
    """`hits` with the dense search's best `dense_extra` passages that the fused ranking left
    out of the passages the stage reads, placed right after them (so they are read too). A
    paraphrase ("the walkout" for "the strike") shares no word with its answer, and BM25's
    half of the fused score sinks it below passages that share the question's incidental
    words. A placed passage stands as the last one read: it takes that one's score (the
    scorer reads scores as shares of the best). Placed at their dense rank instead, they
    cost Kremlin's first quote .533 -> .433 (benchmarks/results/dense_extra.json)."""
    dense = qa.search(
        query.search_text, k=settings.dense_extra, query_vector=vector, mode="dense", **filters
    )
    read = hits[: settings.rerank_passages]
    have = {(h.passage.doc_id, h.passage.start) for h in read}
    floor = read[-1].score
    extra = [
        replace(h, score=floor) for h in dense if (h.passage.doc_id, h.passage.start) not in have
    ]
    return _distinct([*read, *extra, *hits[settings.rerank_passages :]])


def _distinct(hits: Iterable[Hit]) -> list[Hit]:
    """Each passage once, where it first appears."""
    out: list[Hit] = []
    seen: set[tuple[str, int]] = set()
    for hit in hits:
        key = (hit.passage.doc_id, hit.passage.start)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def _interleave(first: list[Hit], second: list[Hit]) -> list[Hit]:
    """first[0], second[0], first[1], ... with each passage once."""
    return _distinct(hit for pair in zip_longest(first, second) for hit in pair if hit is not None)


def candidates(
    qa: Searchable, query: Query, hits: list[Hit], settings: AnswerSettings = DEFAULT_SETTINGS
) -> list[Candidate]:
    """Every sentence of the top passages, with its features (not yet scored)."""
    found: list[Candidate] = []
    vectors: list[np.ndarray | None] = []
    seen: set[tuple[str, int]] = set()
    excluded = query.exclude_spans
    for rank, hit in enumerate(hits[: settings.read_passages]):
        p = hit.passage
        stored = _stored(qa, "passage_sentences", p)
        spans = stored[0].tolist() if stored else sentence_spans(p.text, offset=p.start)
        for j, (start, end) in enumerate(spans):
            key = (p.doc_id, start)
            if key in seen:  # passages overlap by a sentence
                continue
            seen.add(key)
            if any(d == p.doc_id and s <= start and end <= e for d, s, e in excluded):
                continue
            text = p.text[start - p.start : end - p.start]
            found.append(Candidate(rank, hit, start, end, text))
            vectors.append(stored[1][j] if stored else None)
    if not found:
        return []
    question = question_vector(qa, query)
    # Indexes store each sentence's vector (pooled in its passage); older ones and test
    # fakes do not, and their sentences are embedded here.
    need = [i for i, v in enumerate(vectors) if v is None]
    if need:
        for i, v in zip(need, _sentence_vectors(qa, [found[i].text for i in need]), strict=True):
            vectors[i] = v
    dense = np.stack(vectors) @ question  # type: ignore[arg-type]
    _reply_features(qa, found, question)
    tok = _tokenizer()
    topic = set(tok(query.topic or query.search_text))
    # "What did Calder Valley Water say about leaks?": who is asked about is not what the
    # sentence must say; the words after "about" are.
    said_about = _SAID_ABOUT.search(query.search_text) if settings.about_overlap else None
    about = set(tok(said_about.group(1))) & topic if said_about else set()
    boost = set(query.boost_docs)
    titles: dict[str, set[str]] = {}
    turn_starts: dict[tuple[str, int], list[int]] = {}
    for c, cosine in zip(found, dense, strict=True):
        p = c.hit.passage
        key = (p.doc_id, p.turn)
        if key not in turn_starts:
            turn_starts[key] = _turn_sentence_starts(qa, p.doc_id, p.turn)
        turn = qa.transcript(p.doc_id).turns[p.turn]
        c.turn_position = bisect_right(turn_starts[key], c.start) - 1 if turn_starts[key] else 0
        c.turn_position = max(c.turn_position, 0)
        c.turn_words = word_count(turn.text)
        c.turn_asks = _ends_in_question(turn.text)
        title = c.hit.passage.title
        if title not in titles:
            titles[title] = set(tok(title))
        c.title = len(topic & titles[title]) / len(topic) if topic else 0.0
        words = set(tok(c.text))
        c.dense = float(cosine)
        own = (topic - titles[title] if settings.lexical_off_title else topic) or topic
        if about:
            own = (own & about) or own
        c.lexical = len(own & words) / len(own) if own else 0.0
        c.passage = 1.0 / (1.0 + c.hit_rank)
        c.words = word_count(c.text)
        c.asks = c.text.rstrip().endswith("?")
        c.greets = greets(c.text)
        c.boosted = c.hit.passage.doc_id in boost
    return found


_SAID_ABOUT = re.compile(
    r"\b(?:say|said|says|saying|tell|told|think|thought|thinks|announce\w*|claim\w*|mention\w*|"
    r"report\w*|promise\w*|warn\w*)\s+(?:(?:us|me|them|him|her|you)\s+)?(?:about|on|regarding|"
    r"concerning)\s+(.+)",
    re.IGNORECASE,
)


def rerank_candidates(
    qa: Searchable, query: Query, hits: list[Hit], reranker: Any, settings: AnswerSettings
) -> list[Candidate]:
    """Sentences of the best passages and of the replies that follow them, best first.

    The stage reads the best `rerank_passages` passages and adds the reply that follows each
    (a question turn that matches is the way to its answer). A passage scores as its best
    sentence (the sentence scores of `rank`), plus `w_rerank` times the reranker's logit
    when a model reads it (centred on that sentence); a matching question then hands its
    score to its reply, and filler drops below content. Inside a passage the sentence
    scores decide.
    """
    pool = _with_replies(qa, hits[: settings.rerank_passages + settings.dense_extra], query.speaker)
    found = rank(candidates(qa, query, pool, replace(settings, read_passages=len(pool))), settings)
    if not found:
        return []
    focus: dict[tuple[str, int], Candidate] = {}
    for c in found:  # best first: the first sentence seen of a passage is its focus
        focus.setdefault((c.hit.passage.doc_id, c.hit.passage.start), c)
    keys = list(focus)
    logits: dict[tuple[str, int], float | None] = dict.fromkeys(keys)
    if reranker is not None:
        texts = [
            pair_text(qa.transcript(c.hit.passage.doc_id), c.hit.passage, (c.start, c.end))
            for c in focus.values()
        ]
        scores = reranker.scores(query.search_text, texts).tolist()
        logits = dict(zip(keys, scores, strict=True))
    best = {key: c.score for key, c in focus.items()}  # the passage's best sentence score
    lifting = settings.lift_replies and not _ASKS_ABOUT_ASKING.search(query.question)
    # How each passage stands against the others (an echoed question's reply lifted); `best`
    # stays each passage's own best sentence score, which places its sentences inside it.
    standing = dict(best)
    if lifting and settings.echo_lift and not _ASKS_FOR_STATEMENTS.search(query.question):
        _echo_lift(qa, focus, standing, settings)
    passage_score = dict(standing)
    scorer = sentence_scoring.bundled() if settings.learned else None
    if scorer is not None:
        # The learned scorer ranks the passages by their focus sentences (a probability);
        # inside a passage the hand-set sentence scores still choose the sentence.
        learned = scorer.scores(query.question, list(focus.values()), list(standing.values()))
        top = max(standing.values())
        for key, logit in zip(keys, learned.tolist(), strict=True):
            # It reorders near-ties of the hand-set score only: alone, it trusts the
            # retrieval rank over what a sentence says.
            behind = standing[key] < top - settings.learned_margin
            passage_score[key] = 1.0 / (1.0 + math.exp(-logit)) - (1.0 if behind else 0.0)
    for key, c in focus.items():
        if c.boosted:  # the chat's occasion in play: a near tie goes to it
            passage_score[key] += settings.w_boost_passage
    combined = {key: passage_score[key] + settings.w_rerank * (logits[key] or 0.0) for key in keys}
    _demote_fillers(qa, focus, combined, settings, set(_tokenizer()(query.topic)))
    if lifting:
        _lift_replies(qa, focus, combined)
    for c in found:
        key = (c.hit.passage.doc_id, c.hit.passage.start)
        c.rerank = logits[key]
        # Passages are ordered by their combined score; inside one, the sentence scores decide.
        c.score = combined[key] - (best[key] - c.score)
    return sorted(found, key=lambda c: -c.score)


def _with_replies(qa: Searchable, hits: list[Hit], speaker: str | None = None) -> list[Hit]:
    """`hits` plus, after each, the opening passage of the next turn when another speaker
    says it and it is not already there (and, under a speaker filter, that speaker)."""
    out = list(hits)
    have = {(h.passage.doc_id, h.passage.start) for h in hits}
    for h in hits:
        p = h.passage
        transcript = qa.transcript(p.doc_id)
        turn = transcript.turns[p.turn]
        if p.end < turn.end or p.turn + 1 >= len(transcript.turns):
            continue  # not the end of its turn: no reply follows this passage
        reply = transcript.turns[p.turn + 1]
        if reply.speaker == turn.speaker and reply.speaker is not None:
            continue
        if speaker is not None and reply.speaker != speaker:
            continue  # the filter holds for every quote
        passage = _opening_passage(qa, transcript, reply.index)
        if passage is not None and (passage.doc_id, passage.start) not in have:
            have.add((passage.doc_id, passage.start))
            out.append(Hit(passage, h.score))
    return out


def _opening_passage(qa: Searchable, transcript: Transcript, turn: int) -> Passage | None:
    """The first indexed passage of a turn (as the chunker cut it, with its stored sentence
    vectors); for a searchable without an index, the chunker's first passage of the turn."""
    find = getattr(qa, "passages_of_turn", None)
    passages = (
        find(transcript.doc_id, turn)
        if find is not None
        else chunk_turn(transcript, transcript.turns[turn])
    )
    return passages[0] if passages else None


def _demote_fillers(
    qa: Searchable,
    focus: dict[tuple[str, int], Candidate],
    scores: dict[tuple[str, int], float],
    settings: AnswerSettings,
    topic: set[str],
) -> None:
    """ "Thank you." and "Mm-hm." never lead, nor a turn too short to stand on its own that
    says none of the question's topic words ("From the first of July."): below every passage
    with content (filler lowest)."""
    tok = _tokenizer()
    low = min(scores.values())
    for key, c in focus.items():
        p = c.hit.passage
        words = tok(p.text)
        if len(words) < settings.filler_words:
            scores[key] = min(scores[key], low) - 1.0
        elif word_count(
            qa.transcript(p.doc_id).turns[p.turn].text
        ) < settings.short_turn_words and not topic & set(words):
            scores[key] = min(scores[key], low) - 0.5


# "Who asked about …?", "What did Rachel ask Monica?": then the question turn is the answer
# (a "who" question alone is not: "Who checks the costs?" can echo a question and want its
# reply; "Who says …?" wants the speaker of the matching turn).
_ASKS_ABOUT_ASKING = re.compile(
    r"^\W*who\s+(?:says?|said|tells?|told|suggests?|suggested|mentions?|mentioned|thinks?|thought)\b"
    r"|\b(?:ask|asks|asked|asking|question|questions|wonder|wonders|wondered)\b",
    re.IGNORECASE,
)


# "What was said about the vaccine?", "What did Voss say on pay?": a request for what was said
# on a topic, not a question the transcript may have asked; a reply to a question that only
# shares the topic ("Will you be vaccinated yourself?") must not lead it.
_ASKS_FOR_STATEMENTS = re.compile(
    r"\b(?:say|says|said|saying|talk|talks|talked|speak|speaks|spoke|mention|mentions|"
    r"mentioned|discuss|discussed|comment|commented|tell\s+(?:me|us))\b[^?]*?"
    r"\b(?:about|on|regarding|concerning)\b",
    re.IGNORECASE,
)


def _echo_lift(
    qa: Searchable,
    focus: dict[tuple[str, int], Candidate],
    best: dict[tuple[str, int], float],
    settings: AnswerSettings,
) -> None:
    """Before passages are compared, a reply takes the score of the question it answers, as
    that question would score if it were not a question: the user asking what was asked in
    the transcript ("Who was your first customer?") matches the question turn best, and the
    question penalty would otherwise leave both it and its reply behind the top passage."""
    for key, reply_key in _question_replies(qa, focus):
        c = focus[key]
        p = c.hit.passage
        if not c.asks:
            continue
        if word_count(qa.transcript(p.doc_id).turns[p.turn].text) > settings.echo_turn_words:
            continue  # a long turn that ends on a question says more than it asks
        best[reply_key] = max(best[reply_key], best[key] + settings.question_penalty)


def _lift_replies(
    qa: Searchable, focus: dict[tuple[str, int], Candidate], scores: dict[tuple[str, int], float]
) -> None:
    """A question that matches puts its reply first: the reply gets at least the question's
    passage score, and the question falls below its reply. Only when the question itself
    matches: in "… belt's too tight, got to change the belt. Did I turn the fish? … Am I out
    of control?" a question about the belt is answered by the turn, not by the reply."""
    for key, reply_key in _question_replies(qa, focus):
        if not _in_the_question(qa, focus[key]):
            continue  # it matched on what the speaker said before asking
        asked, replied = scores[key], scores[reply_key]
        scores[reply_key] = max(asked, replied)
        scores[key] = min(asked, replied) - 1.0  # clear of the sentence-score tie-break


def _in_the_question(qa: Searchable, c: Candidate) -> bool:
    """The sentence is its turn's last question or the one just before it (what sets it up)."""
    if c.asks:
        return True
    transcript = qa.transcript(c.hit.passage.doc_id)
    turn = transcript.turns[c.hit.passage.turn]
    spans = sentence_spans(transcript.text[turn.start : turn.end], turn.start)
    asking = [i for i, (a, b) in enumerate(spans) if _ends_in_question(transcript.text[a:b])]
    if not asking:
        return True
    at = next((i for i, (a, b) in enumerate(spans) if a <= c.start < b), 0)
    return at >= asking[-1] - 1


def _question_replies(
    qa: Searchable, focus: dict[tuple[str, int], Candidate]
) -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    """(question passage, reply passage) keys of `focus`: a passage that ends its turn with a
    question, and the passage of the next turn when another speaker says it."""
    by_turn = {(c.hit.passage.doc_id, c.hit.passage.turn): key for key, c in focus.items()}
    for key, c in focus.items():
        p = c.hit.passage
        if not _asks(qa, p):
            continue
        reply_key = by_turn.get((p.doc_id, p.turn + 1))
        if reply_key is None or reply_key == key:
            continue
        reply = focus[reply_key].hit.passage
        if reply.speaker == p.speaker and p.speaker is not None:
            continue
        yield key, reply_key


def _ends_in_question(text: str) -> bool:
    """The text ends with a question mark, closing quotes and brackets aside."""
    return text.rstrip().rstrip("\"'”’)").endswith("?")


HAND_OVER_WORDS = 3  # "Ms Thorne.", "Tariq, please.": the floor handed to who answers


def _asks(qa: Searchable, p: Passage) -> bool:
    """The passage ends its turn with a question, or with a question and then a short
    hand-over that names the next speaker ("… most important? Ms Thorne.")."""
    transcript = qa.transcript(p.doc_id)
    turn = transcript.turns[p.turn]
    if p.end < turn.end:
        return False
    ends = [p.text[a:b] for a, b in sentence_spans(p.text)[-2:]]
    if ends and _ends_in_question(ends[-1]):
        return True
    if len(ends) < 2 or not _ends_in_question(ends[0]) or word_count(ends[1]) > HAND_OVER_WORDS:
        return False
    if p.turn + 1 >= len(transcript.turns):
        return False
    answerer = transcript.turns[p.turn + 1].speaker or ""
    names = {w.lower() for w in re.findall(r"[^\W\d_]{3,}", answerer)}
    return any(w.lower() in names for w in re.findall(r"[^\W\d_]{3,}", ends[1]))


def question_vector(qa: Searchable, query: Query) -> np.ndarray:
    """The embedding of the question's search text, computed once per answer and thread (a
    retry without implied filters searches the same text)."""
    last = getattr(_last_question, "value", None)
    if last is not None and last[0] == query.search_text and last[1] is qa:
        return last[2]
    vector = qa.encode([query.search_text])[0]
    _last_question.value = (query.search_text, qa, vector)
    return vector


_last_question = threading.local()


def _stored(qa: Searchable, method: str, *args: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Sentence spans and vectors the index stored, if `qa` has them."""
    getter = getattr(qa, method, None)
    return getter(*args) if getter is not None else None


def _turn_sentence_starts(qa: Searchable, doc_id: str, turn_index: int) -> list[int]:
    """Where each sentence of a turn starts (stored with the index, or split now)."""
    stored = _stored(qa, "turn_sentences", doc_id, turn_index)
    if stored is not None:
        return [int(s) for s in stored[0][:, 0].tolist()]
    transcript = qa.transcript(doc_id)
    turn = transcript.turns[turn_index]
    return [s for s, _ in sentence_spans(transcript.text[turn.start : turn.end], turn.start)]


_REPLY_DECAY = (1.0, 0.7, 0.4)  # the first sentences of a reply answer its question


def _reply_features(qa: Searchable, found: list[Candidate], question_vector: np.ndarray) -> None:
    """Credit the opening sentences of a turn that replies to a question matching ours.

    In dialogue the answer rarely repeats the question's words: the journalist asks about
    Navalny, the reply never names him. The question turn carries the topic, so the reply's
    first sentences inherit its similarity.
    """
    asked: dict[tuple[str, int], list[float]] = {}  # (doc, turn) -> similarity of what it answers
    openings: dict[tuple[str, int], list[int]] = {}
    pending: list[tuple[tuple[str, int], str]] = []  # sentences with no stored vector
    for c in found:
        key = (c.hit.passage.doc_id, c.hit.passage.turn)
        if key in asked:
            continue
        transcript = qa.transcript(key[0])
        turn = transcript.turns[key[1]]
        mine = _stored(qa, "turn_sentences", key[0], key[1])
        starts = (
            mine[0][:, 0].tolist()
            if mine is not None
            else [s for s, _ in sentence_spans(transcript.text[turn.start : turn.end], turn.start)]
        )
        openings[key] = starts[: len(_REPLY_DECAY)]
        asked[key] = []
        if key[1] == 0:
            continue
        prev = transcript.turns[key[1] - 1]
        if prev.speaker == turn.speaker:
            continue
        # The end of the previous speaker's turn is what this turn replies to. Journalists
        # often ask without a question mark ("I would like to ask what you think of …").
        theirs = _stored(qa, "turn_sentences", key[0], key[1] - 1)
        if theirs is not None:
            asked[key] = (theirs[1][-3:] @ question_vector).tolist()
        else:
            spans = sentence_spans(transcript.text[prev.start : prev.end], prev.start)[-3:]
            pending.extend((key, transcript.text[s:e]) for s, e in spans)
    if pending:
        texts = sorted({t for _, t in pending})
        vectors = _sentence_vectors(qa, texts) @ question_vector
        sims = dict(zip(texts, vectors.tolist(), strict=True))
        for key, text in pending:
            asked[key].append(sims[text])
    for c in found:
        key = (c.hit.passage.doc_id, c.hit.passage.turn)
        if asked[key] and c.start in openings[key]:
            c.reply = max(asked[key]) * _REPLY_DECAY[openings[key].index(c.start)]


def _best_support(found: list[Candidate], settings: AnswerSettings) -> float:
    return max((support(c, settings) for c in found), default=0.0)


def support(c: Candidate, settings: AnswerSettings = DEFAULT_SETTINGS) -> float:
    """How much the sentence itself says about the question, whatever its passage's rank.

    The rank term of the score is relative (the top passage gets it even when nothing
    matches), so abstention looks only at the sentence's own similarity (or that of the
    question it replies to) and the words it shares with the question.
    """
    return settings.w_dense * max(c.dense, c.reply) + settings.w_lexical * c.lexical


# A greeting opens the sentence ("Good morning, and welcome …", "Thank you, Maya."), or the
# sentence hands over with one ("Ines Okafor, …, welcome."); "We welcome the ruling" and
# "thanks to the new pumps" say something.
_GREETING = re.compile(
    r"^\W*(?:good\s+(?:morning|afternoon|evening)|hello|hi|welcome|thank\s+you|thanks(?!\s+to\b))\b"
    r"|,\s*(?:and\s+)?welcome\W*$|\bwelcome\s+(?:to|back)\b",
    re.IGNORECASE,
)
GREETING_WORDS = 15


def greets(sentence: str) -> bool:
    """A short sentence that greets, thanks or welcomes someone and states no figure: the
    floor handed over ("X, founder of Y, welcome."), not what anyone came to say. It shares
    the names of the person and the firm with questions about them, so it would otherwise
    lead their answers."""
    return (
        word_count(sentence) <= GREETING_WORDS
        and _GREETING.search(sentence) is not None
        and not any(ch.isdigit() for ch in sentence)
    )


def rank(found: list[Candidate], settings: AnswerSettings = DEFAULT_SETTINGS) -> list[Candidate]:
    """Score candidates with the weights in `settings`, best first."""
    for c in found:
        c.score = (
            settings.w_dense * c.dense
            + settings.w_lexical * c.lexical
            + settings.w_passage * c.passage
            + settings.w_reply * c.reply
            + settings.w_title * c.title
            + (settings.w_boost_doc if c.boosted else 0.0)
            - (settings.short_penalty if c.words < settings.min_words else 0.0)
            - (settings.question_penalty if c.asks else 0.0)
            - (settings.greeting_penalty if c.greets else 0.0)
        )
    return sorted(found, key=lambda c: -c.score)


def build_quotes(
    qa: Searchable,
    sentences: list[Candidate],
    k: int,
    settings: AnswerSettings,
) -> list[Quote]:
    if not sentences or not _supported(sentences, settings):
        return []
    best_score = sentences[0].score
    quotes: list[Quote] = []
    for sentence in sentences:
        if len(quotes) >= k:
            break
        if quotes and (
            sentence.score < settings.runner_up * best_score
            or support(sentence, settings) < settings.threshold
            or (sentence.rerank is not None and sentence.rerank < settings.rerank_threshold)
        ):
            break
        p = sentence.hit.passage
        if any(q.doc_id == p.doc_id and q.start <= sentence.start < q.end for q in quotes):
            continue  # already inside a quote
        transcript = qa.transcript(p.doc_id)
        quote = _widen(transcript, sentence, settings)
        # Merge with a quote of the same turn that overlaps or touches this one.
        merged = False
        for i, other in enumerate(quotes):
            if other.doc_id == quote.doc_id and other.turn == quote.turn:
                lo, hi = min(other.start, quote.start), max(other.end, quote.end)
                gap = transcript.text[min(other.end, quote.end) : max(other.start, quote.start)]
                touching = other.start <= quote.end and quote.start <= other.end or not gap.strip()
                if touching and word_count(transcript.text[lo:hi]) <= settings.max_quote_words:
                    # The merged span's own times: its first cue's start, its last one's end.
                    t_start, t_end = span_times(transcript, other.turn, lo, hi)
                    quotes[i] = replace(
                        other,
                        text=transcript.text[lo:hi],
                        start=lo,
                        end=hi,
                        time_start=t_start,
                        time_end=t_end,
                    )
                    merged = True
                    break
        if merged:
            continue
        if any(q.doc_id == quote.doc_id and q.turn == quote.turn for q in quotes):
            continue  # evidence from another turn says more than a second piece of this one
        if any(_is_repeat(transcript, quote, q, qa, settings) for q in quotes):
            continue  # the same words said twice (or quoted twice): once is enough
        quotes.append(quote)
    return quotes


def _widen(transcript: Transcript, sentence: Candidate, settings: AnswerSettings) -> Quote:
    """The best sentence plus the neighbours it needs to be read alone, inside its turn."""
    p = sentence.hit.passage
    turn = transcript.turns[p.turn]
    spans = sentence_spans(transcript.text[turn.start : turn.end], offset=turn.start)
    index = next(
        (i for i, (s, e) in enumerate(spans) if s <= sentence.start < e),
        None,
    )
    if index is None:  # the passage and the turn disagree on boundaries: quote the sentence alone
        lo, hi = sentence.start, sentence.end
    else:
        lo_i = hi_i = index
        budget = settings.max_quote_words

        def words(a: int, b: int) -> int:
            return word_count(transcript.text[spans[a][0] : spans[b][1]])

        # A sentence that opens with "This", "But", "It" … leans on the one before it.
        while (
            lo_i > 0
            and _CONNECTIVE.match(transcript.text[spans[lo_i][0] : spans[lo_i][1]])
            and words(lo_i - 1, hi_i) <= budget
        ):
            lo_i -= 1
        # A short answer reads better with the sentence that follows it.
        while hi_i + 1 < len(spans) and words(lo_i, hi_i) < 25 and words(lo_i, hi_i + 1) <= budget:
            hi_i += 1
        lo, hi = spans[lo_i][0], spans[hi_i][1]
    time_start, time_end = span_times(transcript, turn.index, lo, hi)
    return Quote(
        text=transcript.text[lo:hi],
        speaker=turn.speaker,
        role=turn.role,
        title=transcript.title,
        date=transcript.date,
        place=transcript.place,
        doc_id=transcript.doc_id,
        turn=turn.index,
        start=lo,
        end=hi,
        score=round(sentence.score, 4),
        highlight=(sentence.start, sentence.end),
        retranslated=turn.retranslated,
        time_start=time_start,
        time_end=time_end,
        url=document_url(transcript),
        support=round(support(sentence, settings), 4),
    )


def _is_repeat(
    transcript: Transcript, quote: Quote, other: Quote, qa: Searchable, settings: AnswerSettings
) -> bool:
    """The same point made twice: the quotes, or their best sentences, share most words."""
    if _overlap(quote.text, other.text) > settings.duplicate:
        return True
    mine = transcript.text[quote.highlight[0] : quote.highlight[1]]
    source = transcript if other.doc_id == quote.doc_id else qa.transcript(other.doc_id)
    theirs = source.text[other.highlight[0] : other.highlight[1]]
    return _overlap(mine, theirs) > settings.duplicate


def _overlap(a: str, b: str) -> float:
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))
