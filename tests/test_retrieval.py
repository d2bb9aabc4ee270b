"""Search: modes, filters applied inside the search, fusion, verbatim passages, threads."""

from __future__ import annotations

import datetime as dt
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.errors import QueryError
from qa.lexical import Tokenizer
from qa.retrieval import DEFAULT_SEARCH, SearchConfig
from qa.service import TranscriptQA

# Every ranking prior off, so a test can switch on exactly the one it is about.
OFF = SearchConfig(spread=0, spread_after=0, short_words=0, speaker_boost=0.0, long_document=0)


@pytest.fixture(scope="module")
def qa(small_index: Path) -> TranscriptQA:
    return TranscriptQA.open(small_index)


def test_each_mode_finds_the_obvious_passage(qa: TranscriptQA) -> None:
    for mode in ("hybrid", "dense", "bm25"):
        hits = qa.search("new concrete before the winter storms", k=3, mode=mode)
        assert hits[0].passage.doc_id == "harbour", mode
        assert any(
            h.passage.text.startswith("The harbour wall needs new concrete") for h in hits
        ), mode


def test_scores_are_reported_per_mode(qa: TranscriptQA) -> None:
    hybrid = qa.search("ticket prices", k=2)
    assert all(h.dense_score is not None and h.bm25_score is not None for h in hybrid)
    assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
    dense = qa.search("ticket prices", k=2, mode="dense")
    assert all(h.bm25_score is None and h.score == h.dense_score for h in dense)
    bm25 = qa.search("ticket prices", k=2, mode="bm25")
    assert all(h.dense_score is None and h.score == h.bm25_score for h in bm25)


def test_passages_are_verbatim_slices_of_their_transcript(qa: TranscriptQA) -> None:
    for h in qa.search("budget", k=20):
        assert (
            qa.transcript(h.passage.doc_id).text[h.passage.start : h.passage.end] == h.passage.text
        )


def test_a_short_answer_is_found_through_the_question_before_it(qa: TranscriptQA) -> None:
    # "Yes, we agreed." shares no word with the query; its indexed context (the question
    # before it) does.
    hits = qa.search("how much will the concrete repairs cost", k=5, doc="harbour", mode="bm25")
    texts = [h.passage.text for h in hits]
    assert "About two million crowns, spread over three years." in texts


def test_speaker_filter_accepts_name_label_surname_in_any_case(qa: TranscriptQA) -> None:
    for name in ("Lena Falk", "lena falk", "Minister of Transport Lena Falk", "FALK"):
        hits = qa.search("tunnel", k=10, speaker=name)
        assert hits and {h.passage.speaker for h in hits} == {"Lena Falk"}, name


def test_filter_never_hides_passages_that_exist(qa: TranscriptQA) -> None:
    # Karl Vik has exactly one passage, and it has nothing to do with the query: it must still
    # come back (a post-filter on the global top-k would return nothing).
    hits = qa.search("harbour wall concrete", k=10, speaker="Karl Vik")
    assert len(hits) == 1
    assert hits[0].passage.text.startswith("Who pays for the lunches?")


def test_filter_matching_nothing_returns_no_hits(qa: TranscriptQA) -> None:
    assert qa.search("budget", speaker="Nobody At All") == []
    assert qa.search("budget", doc="no-such-doc") == []
    assert qa.search("budget", title="no such title") == []
    assert qa.search("budget", since="2030-01-01") == []


def test_date_filters_are_inclusive_and_accept_dates_or_iso_strings(qa: TranscriptQA) -> None:
    docs = {
        h.passage.doc_id
        for h in qa.search("budget", k=20, since="2022-09-12", until=dt.date(2022, 9, 12))
    }
    assert docs == {"school"}
    docs = {h.passage.doc_id for h in qa.search("budget", k=20, until="2022-09-11")}
    assert docs == {"harbour"}
    docs = {h.passage.doc_id for h in qa.search("budget", k=20, since=dt.date(2022, 1, 1))}
    assert docs == {"school", "press"}


def test_doc_and_title_filters(qa: TranscriptQA) -> None:
    assert {h.passage.doc_id for h in qa.search("prices", k=20, doc="press")} == {"press"}
    assert {h.passage.doc_id for h in qa.search("prices", k=20, doc=["press", "school"])} == {
        "press",
        "school",
    }
    assert {h.passage.doc_id for h in qa.search("prices", k=20, title="SCHOOL MEALS")} == {"school"}
    # Filters combine: the title says press conference, the speaker is in it, the date is not.
    assert (
        qa.search("prices", title="press conference", speaker="Lena Falk", until="2020-01-01") == []
    )


def test_k_limits_and_bad_arguments_are_clear_errors(qa: TranscriptQA) -> None:
    assert len(qa.search("the", k=2, mode="dense")) == 2
    with pytest.raises(QueryError, match="mode"):
        qa.search("budget", mode="fuzzy")
    with pytest.raises(QueryError, match="k="):
        qa.search("budget", k=0)
    with pytest.raises(QueryError, match="since"):
        qa.search("budget", since="last Tuesday-ish")
    with pytest.raises(QueryError, match="after"):
        qa.search("budget", since="2023-01-01", until="2022-01-01")
    with pytest.raises(QueryError, match="empty"):
        qa.search("   ")


def test_bm25_with_no_known_word_returns_nothing(qa: TranscriptQA) -> None:
    assert qa.search("zyzzyva quokka", mode="bm25") == []
    assert len(qa.search("zyzzyva quokka", k=3, mode="hybrid")) == 3


def test_concurrent_searches_match_sequential_ones(qa: TranscriptQA) -> None:
    queries = [
        "harbour wall",
        "school lunches",
        "rail tunnel",
        "ticket prices",
        "ferry timetable",
    ] * 8
    expected = {q: [h.passage for h in qa.search(q, k=3)] for q in set(queries)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: (q, [h.passage for h in qa.search(q, k=3)]), queries))
    for q, passages in results:
        assert passages == expected[q]


def test_searches_during_an_update_see_old_or_new_never_a_mix(
    small_index: Path, tmp_path: Path, fixtures_dir: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    qa = TranscriptQA.open(index)
    corpus = tmp_path / "corpus"
    shutil.copytree(fixtures_dir / "retrieval", corpus)
    (corpus / "extra.txt").write_text(
        "Title: Zoo\n\nEva Lund: The zoo buys two penguins.\n", encoding="utf-8"
    )
    query = "penguins at the zoo"

    def run() -> list[tuple[str, int, int]]:
        return [(h.passage.doc_id, h.passage.start, h.passage.end) for h in qa.search(query, k=50)]

    old = run()
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(run) for _ in range(30)]
        qa.update(corpus, show_progress=False)
        results = [f.result() for f in futures]
    new = run()
    assert old != new and new[0][0] == "extra"
    assert all(r in (old, new) for r in results)


def test_encode_is_normalised_float32(qa: TranscriptQA) -> None:
    vecs = qa.encode(["harbour wall", "school lunches"])
    assert vecs.dtype == np.float32 and vecs.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_speech_tokeniser_drops_fillers_and_stopwords_and_stems() -> None:
    tok = Tokenizer()
    assert tok("Um, yeah, we AGREED on the agreements, you know") == ["agre", "agreement", "know"]
    assert tok("budgets") == tok("budget") == ["budget"]
    assert Tokenizer(stem=False, stopwords=False)("Um, we agreed") == ["um", "we", "agreed"]


def test_spread_prefers_distinct_moments_without_dropping_hits(small_index: Path) -> None:
    plain = TranscriptQA.open(small_index, search_config=OFF)
    spread = TranscriptQA.open(small_index, search_config=replace(OFF, spread=1))
    query = "harbour wall concrete repairs cost"
    before = plain.search(query, k=5, doc="harbour")
    after = spread.search(query, k=5, doc="harbour")
    # Same passages (nothing dropped), but the first two are not adjacent turns.
    assert {h.passage for h in before} == {h.passage for h in after}
    assert abs(after[0].passage.turn - after[1].passage.turn) >= 2
    assert after[0].passage == before[0].passage


def test_region_smoothing_scores_every_allowed_passage_and_keeps_filters(small_index: Path) -> None:
    qa = TranscriptQA.open(small_index, search_config=SearchConfig(region=0.5, region_window=1))
    hits = qa.search("harbour wall concrete", k=10, speaker="Karl Vik")
    assert [h.passage.speaker for h in hits] == ["Karl Vik"]
    hits = qa.search("concrete repairs cost", k=3, doc="harbour")
    assert len(hits) == 3 and {h.passage.doc_id for h in hits} == {"harbour"}
    assert qa.search("zyzzyva quokka", mode="bm25") == []


def test_filtered_dense_search_through_the_faiss_selector(
    qa: TranscriptQA, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.fusion as fusion

    monkeypatch.setattr(fusion, "SMALL_SUBSET", 0)  # force the FAISS id-selector path
    hits = qa.search("harbour wall concrete", k=10, speaker="Karl Vik", mode="dense")
    assert [h.passage.speaker for h in hits] == ["Karl Vik"]
    docs = {
        h.passage.doc_id for h in qa.search("prices", k=20, doc=["press", "school"], mode="dense")
    }
    assert docs == {"press", "school"}


def test_opt_in_hybrid_priors_speaker_boost_and_short_words(small_index: Path) -> None:
    plain = TranscriptQA.open(small_index, search_config=OFF)
    boosted = TranscriptQA.open(small_index, search_config=replace(OFF, speaker_boost=1.0))
    query = "What did Anna Berg say about the concrete repairs?"
    hits = boosted.search(query, k=3, doc="harbour")
    assert hits[0].passage.speaker == "Anna Berg"
    # Nothing is dropped, and a query naming nobody ranks as before.
    assert {h.passage for h in boosted.search(query, k=20)} == {
        h.passage for h in plain.search(query, k=20)
    }
    assert boosted.search("ferry timetable", k=5) == plain.search("ferry timetable", k=5)
    # The priors are hybrid only: bm25 and dense rank as before.
    for mode in ("bm25", "dense"):
        assert boosted.search(query, k=5, mode=mode) == plain.search(query, k=5, mode=mode)

    short = TranscriptQA.open(small_index, search_config=replace(OFF, short_words=50))
    by_words = short._retriever.ranker.content_words
    assert by_words.shape == (len(short._retriever.passages),)
    hits = short.search("agreed repairs cost", k=10, doc="harbour")
    assert {h.passage for h in hits} == {
        h.passage for h in plain.search("agreed repairs cost", k=10, doc="harbour")
    }


def _harbour_turns(index: Path, query: str, config: SearchConfig) -> list[int]:
    """Turns of the top 5 hits in the harbour meeting under `config`."""
    qa = TranscriptQA.open(index, search_config=config)
    return [h.passage.turn for h in qa.search(query, k=5, doc="harbour")]


def test_spread_after_keeps_the_turn_after_a_better_hit(small_index: Path) -> None:
    query = "how much will the concrete repairs cost"

    def turns(config: SearchConfig) -> list[int]:
        return _harbour_turns(small_index, query, config)

    plain = turns(OFF)
    spread = turns(replace(OFF, spread=1))
    kept = turns(replace(OFF, spread=1, spread_after=1))
    assert sorted(plain) == sorted(spread) == sorted(kept)
    best = plain[0]
    # spread=1 defers the answer right after the best hit (its question); spread_after keeps it
    # where it was, and still defers the turn just before the best hit.
    assert best + 1 in plain[:2] and spread.index(best + 1) > 1
    assert kept.index(best + 1) == plain.index(best + 1)
    if best - 1 in plain:
        assert kept.index(best - 1) >= plain.index(best - 1)


def test_spread_and_short_words_change_only_long_documents(small_index: Path) -> None:
    query = "harbour wall concrete repairs cost"

    def turns(config: SearchConfig) -> list[int]:
        return _harbour_turns(small_index, query, config)

    plain = turns(OFF)
    priors = replace(OFF, spread=1, short_words=50)
    # The harbour meeting has a handful of turns: as a short document it ranks as without them.
    assert turns(replace(priors, long_document=1000)) == plain
    assert turns(replace(priors, long_document=1)) != plain
    assert sorted(turns(replace(priors, long_document=1))) == sorted(plain)
    # The defaults switch them on for long documents only.
    assert DEFAULT_SEARCH.long_document > 50 and DEFAULT_SEARCH.spread > 0


def test_document_evidence_lifts_passages_of_documents_that_match_in_several_places(
    small_index: Path,
) -> None:
    qa = TranscriptQA.open(small_index, search_config=replace(OFF, doc_weight=1.0, doc_top=2))
    retriever = qa._retriever
    by_doc: dict[str, list[int]] = {}
    for i, p in enumerate(retriever.passages):
        by_doc.setdefault(p.doc_id, []).append(i)
    a, b = by_doc["harbour"][:3], by_doc["school"][:1]
    cands = np.asarray(a + b)
    fused = np.asarray([0.9, 0.8, 0.1, 0.95])
    evidence = retriever.ranker._document_evidence(cands, fused)
    # The mean of each document's best two candidate scores (one candidate: half its score).
    assert np.allclose(evidence, [0.85, 0.85, 0.85, 0.475])
    # Inside one document the lift is the same for every passage: the order does not change.
    query = "harbour wall concrete repairs cost"
    plain = TranscriptQA.open(small_index, search_config=OFF)
    assert [h.passage for h in qa.search(query, k=5, doc="harbour")] == [
        h.passage for h in plain.search(query, k=5, doc="harbour")
    ]


def test_the_place_of_an_event_is_part_of_its_indexed_context(small_index: Path) -> None:
    from qa.retrieval import ContextSettings, context_from_dict, header_text

    qa = TranscriptQA.open(small_index)
    harbour = qa.transcript("harbour")
    assert harbour.place and harbour.place in header_text(harbour)
    assert harbour.place not in header_text(harbour, ContextSettings(place=False))
    # An index written before places were indexed says nothing about them: it had none.
    old = {k: v for k, v in ContextSettings().as_dict().items() if k != "place"}
    assert context_from_dict(old).place is False
    assert context_from_dict(ContextSettings().as_dict()).place is True


def test_generic_turns_keep_their_label_in_the_indexed_text(tmp_path: Path) -> None:
    """A turn by no one in particular has no speaker, but the indexed text still says what it
    is ("Question: …"), also when the questioner named themselves: vectors stay the same."""
    from qa import load_transcript
    from qa.chunking import chunk
    from qa.retrieval import embed_text, index_texts

    (tmp_path / "a.txt").write_text(
        "Title: Briefing\nDate: 2024-03-01\n\n"
        "Question: Lucy Tran, Harbour Vale Courier. When will the seawall be finished?\n"
        "Elena Marsh: By the autumn.\n"
        "Remark: And the cost?\n"
    )
    t = load_transcript(tmp_path / "a.txt")
    passages = chunk(t)
    assert [p.speaker for p in passages] == ["Lucy Tran", "Elena Marsh", None]
    assert [embed_text(p) for p in passages] == [
        "Question: Lucy Tran, Harbour Vale Courier. When will the seawall be finished?",
        "Elena Marsh: By the autumn.",
        "Remark: And the cost?",
    ]
    reply, remark = index_texts(t, passages)[1:]
    assert "\nQuestion: Lucy Tran, Harbour" in reply  # the question before the reply
    assert remark.endswith("Elena Marsh: By the autumn.\nRemark: And the cost?")
