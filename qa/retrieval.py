"""Hybrid search over one index snapshot: `Retriever.search` and its knobs (`SearchConfig`).

The retriever runs the steps in order and leaves each to its module: which passages may be
scored (`qa.filters`, applied inside the search, so a filter never hides results that exist),
the query's BM25 scores and its vector (moved by the model's query adapter), then candidates,
fusion and priors (`qa.fusion`). What a passage is indexed with is `qa.context`. It also looks
up the sentence vectors stored with each passage, which `ask()` scores. Every choice here was
measured on QMSum val (benchmarks/tune_qmsum.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from embeddings.adapter import QueryAdapter, bundled_adapter

# Defined here before the split by concern; still importable from here.
from qa.context import (
    DEFAULT_CONTEXT,
    ContextSettings,
    compose_vectors,
    context_from_dict,
    embed_text,
    header_text,
    index_texts,
    search_vectors,
)
from qa.errors import QueryError
from qa.filters import Filters

# SMALL_SUBSET is read in qa.fusion: set it there (a test forces the FAISS selector path).
from qa.fusion import REGION_LIMIT, SMALL_SUBSET, Ranker, content_word_count
from qa.results import Hit
from qa.transcript import Passage

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


def check_search(query: str, k: int, mode: str) -> None:
    """The arguments every store's `search` refuses alike, with the same messages."""
    if mode not in MODES:
        raise QueryError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
    if not isinstance(k, int) or k < 1:
        raise QueryError(f"k={k!r}: expected a whole number of at least 1")
    if not query or not query.strip():
        raise QueryError("The query is empty: ask about something.")


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Fusion and ranking knobs (defaults measured on QMSum val)."""

    fusion: Literal["rrf", "score"] = "score"
    dense_weight: float = 0.6  # score fusion: weight of the dense score (BM25 gets the rest)
    rrf_k: int = 60
    candidates: int = 200  # per mode, before fusion
    neighbour: float = 0.0  # share of the previous turn's fused score added to a passage
    # Hits of one document closer than this many turns to a better hit are moved behind the
    # others (nothing is dropped, only reordered), in long documents only (`long_document`).
    # Everywhere, spread=4 lifted QMSum val within-meeting hybrid hit@5 .730 -> .768 but cut
    # the corpus questions' hit@10 .96 -> .68 and FriendsQA's hit@5 .803 -> .691: in a short
    # scene the turn next to a hit is a different answer (benchmarks/results/qmsum_tuning.md).
    spread: int = 4
    # With spread: the turns this close after a better hit are not deferred (an answer follows
    # its question).
    spread_after: int = 1
    # Region smoothing: score = (1 - region) * own + region * mean over +-region_window
    # passages of the same document (exact over all allowed passages, up to REGION_LIMIT).
    region: float = 0.0
    region_window: int = 3
    # Hybrid only, long documents only. A passage with fewer than `short_words` content words
    # (stopwords, fillers and bracketed annotations like "{vocalsound}" not counted) has its
    # fused score scaled by (content words + 0.5) / short_words: "Mm." or "Okay." otherwise
    # ranks on its context and speaker label alone. Everywhere, it cost FriendsQA (answers are
    # often short lines) hybrid hit@5 .803 -> .704.
    short_words: int = 5
    # Hybrid only. When the query names a known speaker (qa.query.SpeakerNames: full name,
    # alias or surname), that speaker's passages gain this share of the best fused score.
    # QMSum val hit@1 and MRR gain a little; FriendsQA hit@5 -.002 (table 6).
    speaker_boost: float = 0.2
    # `spread` and `short_words` apply only inside documents of at least this many turns
    # (0 = everywhere). A long meeting returns to a topic in several stretches of talk, each
    # several turns long, and is full of "Mm." / "Yeah."; there the top hits should come from
    # different stretches. In a short scene or interview the turn next to a hit is a different
    # answer and a short line can be the answer ("Who paid?" - "Ross."), so nothing changes.
    # QMSum val within-meeting hybrid hit@5 / MRR@10 with all of the above: .797 / .635 at
    # 100 turns, .806 / .641 at 200, .797 / .635 at 50 (table 8): the cut-off is not critical.
    long_document: int = 100
    # Hybrid only. Each passage gains this share of its document's evidence: the mean of the
    # best `doc_top` fused scores among the candidates of that document. Across many documents
    # the right event usually matches in several places; a lone hit in an unrelated document
    # is less likely to be the answer. Inside one document it adds the same to every passage
    # (only the damping of near-empty passages, applied after it, can reorder). Measured at
    # 0.3: QMSum val pooled hybrid hit@5 .485 -> .506; Kremlin dev questions over the whole
    # corpus, evidence in the top 5 .67 -> .70 and first quote on it .40 -> .47; corpus
    # questions hit@5 .84 -> .80 (one question), MRR@10 .570 -> .575 (qmsum_tuning.md table 9).
    doc_weight: float = 0.3
    doc_top: int = 3
    # Dense search moves the question vector with the model's bundled query adapter, if it
    # has one (embeddings/adapter.py, trained on QMSum train). QMSum val within-meeting
    # hybrid hit@5 / MRR@10 .793 / .639 -> .831 / .644 (dense .692 / .564 -> .793 / .615);
    # FriendsQA, never trained on, .803 / .594 -> .813 / .610; Kremlin dev unchanged
    # (benchmarks/results/qmsum_tuning.md table 11).
    query_adapter: bool = True


DEFAULT_SEARCH = SearchConfig()


class PassageRows:
    """Passage rows of one snapshot by (doc, passage start) and by (doc, turn), built on first
    use: the stored-sentence lookups and neighbour smoothing (qa.fusion) share them."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self._rows: tuple[dict[tuple[str, int], int], dict[tuple[str, int], list[int]]] | None = (
            None
        )

    def __call__(self) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], list[int]]]:
        """(doc, passage start) -> passage row and (doc, turn) -> rows, built on first use."""
        if self._rows is None:
            by_start: dict[tuple[str, int], int] = {}
            by_turn: dict[tuple[str, int], list[int]] = defaultdict(list)
            for i, p in enumerate(self.passages):
                by_start[(p.doc_id, p.start)] = i
                by_turn[(p.doc_id, p.turn)].append(i)
            self._rows = (by_start, dict(by_turn))
        return self._rows


class Retriever:
    """Search over one immutable snapshot. Safe to share between threads."""

    def __init__(
        self,
        snapshot: Any,  # embeddings.store.Snapshot (kept loose to avoid an import cycle)
        encode: Callable[[list[str]], np.ndarray],
        config: SearchConfig = DEFAULT_SEARCH,
        context: ContextSettings | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.encode = encode
        self.config = config
        self.context = context or context_from_dict(snapshot.manifest.context)
        passages: list[Passage] = snapshot.passages
        self.passages = passages
        n = len(passages)
        self.filters = Filters(snapshot)
        doc_of = self.filters.doc_of
        has_header = np.asarray([bool(k) for k in snapshot.doc_keys] or [False])
        header_of = np.where(has_header[doc_of], doc_of, -1) if n else doc_of
        stored = getattr(snapshot, "search_vectors", None)
        if stored is not None and self.context == context_from_dict(snapshot.manifest.context):
            self.vectors: np.ndarray = stored
        else:
            self.vectors = search_vectors(snapshot, self.context, header_of)
        self._passage_rows = PassageRows(passages)
        dim = self.vectors.shape[1] if self.vectors.ndim == 2 else 0
        self.adapter: QueryAdapter | None = (
            bundled_adapter(snapshot.manifest.model, dim) if config.query_adapter and dim else None
        )
        self.ranker = Ranker(snapshot, self.vectors, config, self.filters, self._passage_rows)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        speaker: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        doc: str | Iterable[str] | None = None,
        title: str | None = None,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        adapt: bool = True,
    ) -> list[Hit]:
        check_search(query, k, mode)
        allowed = self.filters.allowed(
            speaker=speaker, since=since, until=until, doc=doc, title=title
        )
        n_allowed = len(self.passages) if allowed is None else len(allowed)
        if n_allowed == 0:
            return []

        bm25_all: np.ndarray | None = None
        if mode in ("hybrid", "bm25"):
            bm25_all = self.snapshot.lexical.scores(query)
        qv: np.ndarray | None = None
        if mode in ("hybrid", "dense"):
            qv = query_vector if query_vector is not None else self.encode([query])[0]
            qv = np.asarray(qv, dtype=np.float32)
            if self.adapter is not None and adapt:
                qv = self.adapter(qv)

        return self.ranker.rank(query, k, mode, allowed, qv, bm25_all)

    # -- stored sentences ------------------------------------------------------------------

    def passages_of_turn(self, doc_id: str, turn: int) -> list[Passage]:
        """The indexed passages of one turn, in reading order."""
        return [self.passages[r] for r in self._passage_rows()[1].get((doc_id, turn), [])]

    def passage_sentences(self, passage: Passage) -> tuple[np.ndarray, np.ndarray] | None:
        """(spans, float32 vectors) of the passage's sentences as indexed; None if not stored."""
        table = self.snapshot.sentences
        row = self._passage_rows()[0].get((passage.doc_id, passage.start))
        if table is None or row is None or self.passages[row].end != passage.end:
            return None
        spans, vectors = table.of(row)
        return np.asarray(spans), np.asarray(vectors, dtype=np.float32)

    def turn_sentences(self, doc_id: str, turn: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The sentences of a whole turn, in order (a sentence shared by two passages once)."""
        table = self.snapshot.sentences
        rows = self._passage_rows()[1].get((doc_id, turn))
        if table is None or not rows:
            return None
        parts = [table.of(r) for r in rows]
        spans = np.concatenate([s for s, _ in parts])
        vectors = np.concatenate([v for _, v in parts])
        _, first = np.unique(spans[:, 0], return_index=True)  # sorted by start
        return spans[first], np.asarray(vectors[first], dtype=np.float32)


__all__ = [
    "DEFAULT_CONTEXT",
    "DEFAULT_SEARCH",
    "MODES",
    "REGION_LIMIT",
    "SMALL_SUBSET",
    "ContextSettings",
    "Retriever",
    "SearchConfig",
    "compose_vectors",
    "content_word_count",
    "context_from_dict",
    "embed_text",
    "header_text",
    "index_texts",
    "search_vectors",
]
