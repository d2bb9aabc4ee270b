"""Ranking the passages a search may score: candidates, fusion and the hybrid priors.

Given the filters' allowed ids, the query's BM25 scores and its vector (`Retriever.search`),
the `Ranker` takes the best candidates of each mode (dense through FAISS, with an id selector
when filtered), fuses their normalised scores, adds the priors (document evidence, damping of
near-empty passages, the speakers the query names) and spreads the top hits of long documents
over different stretches of talk. Every choice here was measured on QMSum val
(benchmarks/tune_qmsum.py; `SearchConfig` says what each knob gained).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from qa.results import Hit
from qa.transcript import Passage

if TYPE_CHECKING:
    from qa.filters import Filters
    from qa.retrieval import PassageRows, SearchConfig

# Non-speech annotations that transcripts put in brackets: "{vocalsound}", "[laughter]".
_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
# At most this many allowed passages are scored with numpy; more go through FAISS + a selector.
SMALL_SUBSET = 256
# Above this many allowed passages, region smoothing is skipped (candidates only).
REGION_LIMIT = 100_000


class Ranker:
    """Scores and orders the allowed passages of one snapshot. Safe to share between threads."""

    def __init__(
        self,
        snapshot: Any,  # embeddings.store.Snapshot
        vectors: np.ndarray,
        config: SearchConfig,
        filters: Filters,
        passage_rows: PassageRows,
    ) -> None:
        self.snapshot = snapshot
        self.config = config
        self.filters = filters
        passages: list[Passage] = snapshot.passages
        self.passages = passages
        n = len(passages)
        self.vectors = vectors
        self._passage_rows = passage_rows
        self._prev_turn: list[list[int]] | None = None  # built on first use (smoothing)
        self._long: np.ndarray | None = None  # built on first use (long_document)
        self._content_words: np.ndarray | None = None  # built on first use (short_words)
        self._flat: faiss.Index | None = None
        if snapshot.ann is None and n and len(self.vectors):
            flat = faiss.IndexFlatIP(self.vectors.shape[1])
            flat.add(np.ascontiguousarray(self.vectors))
            self._flat = flat

    def rank(
        self,
        query: str,
        k: int,
        mode: str,
        allowed: np.ndarray | None,
        qv: np.ndarray | None,
        bm25_all: np.ndarray | None,
    ) -> list[Hit]:
        """The `k` best of the `allowed` passages (None: all) by the query's vector `qv` and
        BM25 scores `bm25_all` (None when `mode` does not use them): each mode's best
        `candidates` passages (with region smoothing, every allowed one), fused, then the
        priors."""
        cfg = self.config
        n_allowed = len(self.passages) if allowed is None else len(allowed)
        if cfg.region > 0 and n_allowed <= REGION_LIMIT:
            return self._region_search(query, k, mode, allowed, qv, bm25_all)
        count = max(cfg.candidates, k)
        cand_parts = []
        if bm25_all is not None:
            cand_parts.append(self._bm25_candidates(bm25_all, allowed, count))
        if qv is not None:
            cand_parts.append(self._dense_candidates(qv, allowed, count))
        cands = np.unique(np.concatenate(cand_parts)) if cand_parts else np.zeros(0, dtype=np.int64)
        if len(cands) == 0:
            return []

        dense = (self.vectors[cands] @ qv) if qv is not None else None
        bm25 = bm25_all[cands] if bm25_all is not None else None
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = bm25
        else:
            fused = self._fuse(dense, bm25)
        assert fused is not None
        fused = np.asarray(fused, dtype=np.float64)
        if cfg.neighbour and mode == "hybrid":
            fused = self._smooth(cands, fused, qv, bm25_all, dense, bm25, allowed)
        if mode == "hybrid":
            fused = self._adjust(query, cands, fused)
        return self._hits(cands, fused, dense, bm25, k)

    def _bm25_candidates(
        self, bm25_all: np.ndarray, allowed: np.ndarray | None, count: int
    ) -> np.ndarray:
        """Top `count` passage ids by BM25 score, among those that match at all."""
        pool = bm25_all if allowed is None else bm25_all[allowed]
        top = _top(pool, count)
        top = top[pool[top] > 0]
        return top if allowed is None else allowed[top]

    def _dense_candidates(
        self, qv: np.ndarray, allowed: np.ndarray | None, count: int
    ) -> np.ndarray:
        """Top `count` passage ids by inner product, exact unless an HNSW graph is in use."""
        # Few allowed passages: score them directly. More: FAISS with an id selector (exact on
        # the flat index; measured 1.2 ms vs 12 ms for numpy on 1,500 rows on the busy machine).
        if allowed is not None and len(allowed) <= SMALL_SUBSET:
            scores = self.vectors[allowed] @ qv
            top = _top(scores, count)
            return allowed[top]
        index = self.snapshot.ann if self.snapshot.ann is not None else self._flat
        assert index is not None
        params = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(allowed.astype(np.int64))
            if self.snapshot.ann is not None:
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(128, count))
            else:
                params = faiss.SearchParameters(sel=sel)
        # One query is too small to share out: threads only add overhead, and on a busy
        # machine far more than that (measured 7 ms single-threaded vs 40-50 ms with 2
        # threads for 20k vectors under load). The setting is per calling thread.
        faiss.omp_set_num_threads(1)
        _, ids = index.search(qv.reshape(1, -1), count, params=params)
        found = ids[0][ids[0] >= 0]
        if allowed is not None and len(found) < min(count, len(allowed)):
            # A graph can lose selective filters: never return fewer results than exist.
            scores = self.vectors[allowed] @ qv
            return allowed[_top(scores, count)]
        return found

    def _adjust(self, query: str, cands: np.ndarray, fused: np.ndarray) -> np.ndarray:
        """Hybrid priors: lift documents that match in several places, scale down near-empty
        passages (evidence lift included: "Mm." in a matching meeting is still not evidence),
        lift the speakers the query names."""
        cfg = self.config
        if cfg.doc_weight > 0 and len(cands):
            fused = fused + cfg.doc_weight * self._document_evidence(cands, fused)
        if cfg.short_words > 0 and len(cands):
            words = self.content_words[cands]
            scale = np.minimum(1.0, (words + 0.5) / cfg.short_words)
            fused = fused * np.where(self.in_long_document[cands], scale, 1.0)
        if cfg.speaker_boost > 0 and len(cands):
            named = {
                self.filters.speaker_pos[m.canonical]
                for m in self.filters.speaker_names.find(query)
                if m.canonical in self.filters.speaker_pos
            }
            if named:
                top = float(fused.max())
                lift = cfg.speaker_boost * (top if top > 0 else 1.0)
                fused = fused + lift * np.isin(self.filters.speaker_of[cands], list(named))
        return fused

    def _document_evidence(self, cands: np.ndarray, fused: np.ndarray) -> np.ndarray:
        """Per candidate, the mean of the best `doc_top` scores of its document's candidates."""
        docs = self.filters.doc_of[cands]
        order = np.lexsort((-fused, docs))  # by document, best first
        sorted_docs = docs[order]
        first = np.r_[True, sorted_docs[1:] != sorted_docs[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        rank = np.arange(len(order)) - start
        top = rank < self.config.doc_top
        sums = np.zeros(len(self.filters.doc_pos), dtype=np.float64)
        np.add.at(sums, sorted_docs[top], fused[order][top])
        return sums[docs] / self.config.doc_top

    @property
    def in_long_document(self) -> np.ndarray:
        """Per passage: its document has at least `long_document` turns (see SearchConfig)."""
        if self._long is None:
            turns = np.asarray(
                [len(t.turns) for t in self.snapshot.transcripts.values()] or [0], dtype=np.int64
            )
            self._long = turns[self.filters.doc_of] >= self.config.long_document
        return self._long

    @property
    def content_words(self) -> np.ndarray:
        """Per passage of a long document, its words that are not stopwords, fillers or
        [bracketed] annotations (the only passages `short_words` looks at; others get inf)."""
        if self._content_words is None:
            tokenize = self.snapshot.lexical.tokenizer
            long = self.in_long_document
            self._content_words = np.fromiter(
                (
                    content_word_count(tokenize, p.text) if long[i] else np.inf
                    for i, p in enumerate(self.passages)
                ),
                dtype=np.float64,
                count=len(self.passages),
            )
        return self._content_words

    def _hits(
        self,
        cands: np.ndarray,
        fused: np.ndarray,
        dense: np.ndarray | None,
        bm25: np.ndarray | None,
        k: int,
    ) -> list[Hit]:
        order = _top(fused, max(self.config.candidates, k))
        order = self._spread(cands, order, k) if self.config.spread > 0 else order[:k]
        return [
            Hit(
                passage=self.passages[int(cands[i])],
                score=float(fused[i]),
                dense_score=float(dense[i]) if dense is not None else None,
                bm25_score=float(bm25[i]) if bm25 is not None else None,
            )
            for i in order
        ]

    def _region_search(
        self,
        query: str,
        k: int,
        mode: str,
        allowed: np.ndarray | None,
        qv: np.ndarray | None,
        bm25_all: np.ndarray | None,
    ) -> list[Hit]:
        """Score every allowed passage, then mix in the mean score of its neighbourhood.

        An answer usually sits in a stretch of talk about the question's topic, not in one
        isolated turn: a passage whose neighbours also match is a better bet than a lone hit.
        """
        cfg = self.config
        cands = allowed if allowed is not None else np.arange(len(self.passages))
        dense = None
        if qv is not None:
            dense = (self.vectors @ qv) if allowed is None else (self.vectors[allowed] @ qv)
        bm25 = None if bm25_all is None else (bm25_all if allowed is None else bm25_all[allowed])
        if mode == "dense":
            assert dense is not None
            fused = dense.astype(np.float64)
        elif mode == "bm25":
            assert bm25 is not None
            fused = bm25.astype(np.float64)
        else:
            assert dense is not None and bm25 is not None
            fused = self._fuse(dense, bm25)
        fused = (1 - cfg.region) * fused + cfg.region * self._window_mean(cands, fused)
        if mode == "hybrid":
            fused = self._adjust(query, cands, fused)
        if mode == "bm25":
            keep = fused > 0
            cands, fused, bm25 = cands[keep], fused[keep], bm25[keep] if bm25 is not None else None
            if len(cands) == 0:
                return []
        return self._hits(cands, fused, dense, bm25, k)

    def _window_mean(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Mean of `scores` over +-region_window neighbours in reading order, within a document."""
        w = self.config.region_window
        n = len(ids)
        idx = np.arange(n)
        docs = self.filters.doc_of[ids]
        new = np.r_[True, docs[1:] != docs[:-1]]
        start = np.maximum.accumulate(np.where(new, idx, 0))
        end = np.minimum.accumulate(np.where(np.r_[new[1:], True], idx + 1, n)[::-1])[::-1]
        lo = np.maximum(idx - w, start)
        hi = np.minimum(idx + w + 1, end)
        cum = np.r_[0.0, np.cumsum(scores)]
        return (cum[hi] - cum[lo]) / (hi - lo)

    def _spread(self, cands: np.ndarray, order: np.ndarray, k: int) -> np.ndarray:
        """The first k of `order`, preferring hits not within `spread` turns of a better one."""
        spread, after = self.config.spread, self.config.spread_after
        long = self.in_long_document
        taken: list[int] = []
        deferred: list[int] = []
        seen: dict[int, list[int]] = defaultdict(list)  # doc -> turns already taken
        for i in order:
            row = int(cands[i])
            if long[row]:  # short documents keep their order
                turn, doc = self.passages[row].turn, int(self.filters.doc_of[row])
                if any(abs(turn - t) <= spread and not 0 < turn - t <= after for t in seen[doc]):
                    deferred.append(int(i))
                    continue
                seen[doc].append(turn)
            taken.append(int(i))
            if len(taken) == k:
                break
        return np.asarray((taken + deferred)[:k], dtype=np.int64)

    def _fuse(self, dense: np.ndarray, bm25: np.ndarray) -> np.ndarray:
        cfg = self.config
        w = cfg.dense_weight
        if cfg.fusion == "rrf":
            rd = _ranks(dense)
            rb = _ranks(bm25)
            rb_score = np.where(bm25 > 0, 1.0 / (cfg.rrf_k + rb), 0.0)
            return w / (cfg.rrf_k + rd) + (1 - w) * rb_score
        return w * _minmax(dense) + (1 - w) * _maxnorm(bm25)

    @property
    def prev_turn(self) -> list[list[int]]:
        """For each passage, the passages of the previous turn of its document."""
        if self._prev_turn is None:
            of_turn = self._passage_rows()[1]
            self._prev_turn = [of_turn.get((p.doc_id, p.turn - 1), []) for p in self.passages]
        return self._prev_turn

    def _smooth(
        self,
        cands: np.ndarray,
        fused: np.ndarray,
        qv: np.ndarray | None,
        bm25_all: np.ndarray | None,
        dense: np.ndarray | None,
        bm25: np.ndarray | None,
        allowed: np.ndarray | None,
    ) -> np.ndarray:
        """Add a share of the previous turn's score: an answer is found by its question."""
        prev_ids = sorted({j for i in cands for j in self.prev_turn[int(i)]})
        if not prev_ids:
            return fused
        prev = np.asarray(prev_ids, dtype=np.int64)
        assert qv is not None and bm25_all is not None and dense is not None and bm25 is not None
        # Normalise the neighbours' raw scores with the candidates' constants so they compare.
        pd = self.vectors[prev] @ qv
        pb = bm25_all[prev]
        if self.config.fusion == "score":
            lo, hi = float(dense.min()), float(dense.max())
            dn = np.clip((pd - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(pd)
            bmax = float(bm25.max())
            bn = np.clip(pb / bmax, 0, 1) if bmax > 0 else np.zeros_like(pb)
            w = self.config.dense_weight
            pf = w * dn + (1 - w) * bn
        else:
            lookup = dict(zip(cands.tolist(), fused.tolist(), strict=True))
            pf = np.asarray([lookup.get(j, 0.0) for j in prev_ids])
        score_of = dict(zip(prev_ids, pf.tolist(), strict=True))
        bonus = np.asarray(
            [max((score_of[j] for j in self.prev_turn[int(i)]), default=0.0) for i in cands]
        )
        return fused + self.config.neighbour * bonus


def content_word_count(tokenize: Callable[[str], list[str]], text: str) -> int:
    """Words that can carry a topic: not stopwords, fillers or [bracketed] annotations."""
    return len(tokenize(_ANNOTATION.sub(" ", text)))


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` largest scores, best first."""
    if len(scores) <= count:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, count)[:count]
    return part[np.argsort(-scores[part], kind="stable")]


def _ranks(scores: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return ranks


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x, dtype=np.float64)


def _maxnorm(x: np.ndarray) -> np.ndarray:
    hi = float(x.max())
    return x / hi if hi > 0 else np.zeros_like(x, dtype=np.float64)
