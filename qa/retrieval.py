"""Hybrid search over one index snapshot: filters, BM25 + dense candidates, fusion.

Filters are applied inside the search (they select the passage ids that may be scored), so a
filter never hides results that exist. The embedded and BM25-indexed text of a passage adds
context (title, date, speaker, the neighbouring turns) while the quoted text stays verbatim:
see `index_text`. Every choice here was measured on QMSum val (benchmarks/tune_qmsum.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import faiss
import numpy as np

from embeddings.adapter import QueryAdapter, bundled_adapter
from qa.errors import QueryError
from qa.limits import check_date
from qa.results import Hit
from qa.transcript import Passage, Transcript, Turn

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


# --- what gets embedded ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContextSettings:
    """What context a passage is indexed with (recorded in the manifest).

    BM25 indexes the context as text (`index_texts`). The dense side embeds each passage once,
    as `Speaker: text`, plus one header vector per document (title, date), and composes the
    search vector as normalise(passage + w_prev * preceding turns + w_next * following turns +
    w_header * header). Mean-pooled embeddings add up roughly like their texts, so this works
    like embedding the concatenation, at a fraction of the cost, and the weights can change
    without re-embedding anything (measured in benchmarks/tune_qmsum.py).
    """

    title: bool = True
    date: bool = True
    place: bool = True  # "at the Helsinki summit": people name the place of the occasion
    speaker: bool = True
    prev_words: int = 40  # words from the end of the preceding turns (0 = none)
    next_words: int = 0  # words from the start of the following turns (0 = none)
    dense_prev: float = 0.5
    dense_next: float = 0.0
    dense_header: float = 0.3
    version: int = 2

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CONTEXT = ContextSettings()


def context_from_dict(d: dict[str, Any] | None) -> ContextSettings:
    """Settings from a manifest; unknown keys (a newer writer) are ignored, and a setting an
    older writer did not know is off (that index was built without it)."""
    fields = set(ContextSettings.__dataclass_fields__)
    known = {k: v for k, v in (d or {}).items() if k in fields}
    if d is not None and "place" not in known:
        known["place"] = False
    return ContextSettings(**known)


def _date_words(date: dt.date | None) -> str:
    # "12 March 2017": the words people use in questions, not an ISO string.
    return f"{date.day} {date.strftime('%B')} {date.year}" if date else ""


def _labelled(speaker: str | None, words: list[str], use_speaker: bool) -> str:
    text = " ".join(words)
    return f"{speaker}: {text}" if use_speaker and speaker else text


def _before(turns: list[Turn], index: int, budget: int, use_speaker: bool) -> list[str]:
    """Up to `budget` words that precede turn `index`, walking back over as many turns as needed
    (so a run of tiny turns like "Yeah." "OK." still brings in the question before them)."""
    out: list[str] = []
    i = index - 1
    while budget > 0 and i >= 0:
        words = turns[i].text.split()
        take = words[-budget:] if words else []
        if take:
            out.append(_labelled(turns[i].index_label, take, use_speaker))
            budget -= len(take)
        i -= 1
    return out[::-1]


def _after(turns: list[Turn], index: int, budget: int, use_speaker: bool) -> list[str]:
    out: list[str] = []
    i = index + 1
    while budget > 0 and i < len(turns):
        words = turns[i].text.split()
        take = words[:budget]
        if take:
            out.append(_labelled(turns[i].index_label, take, use_speaker))
            budget -= len(take)
        i += 1
    return out


def embed_text(p: Passage) -> str:
    """What the model embeds for a passage: the passage, labelled with its speaker."""
    label = p.index_label or p.speaker  # "Question" for a generic turn
    return f"{label}: {p.text}" if label else p.text


def header_text(t: Transcript, settings: ContextSettings = DEFAULT_CONTEXT) -> str:
    """A document's title, date in words and place, embedded once per document."""
    parts = []
    if settings.title and t.title:
        parts.append(t.title.strip())
    if settings.date and t.date:
        parts.append(_date_words(t.date))
    if settings.place and t.place:
        parts.append(t.place.strip())
    return ". ".join(parts)


def _context_ranges(passages: list[Passage], budget: int) -> tuple[np.ndarray, ...]:
    """Per passage, the index ranges [a, b) of the passages of the preceding turns and [c, d)
    of the following turns in the same document, covering at least `budget` words each (the
    nearest turns first). Passages must be grouped by document in reading order."""
    n = len(passages)
    doc = np.empty(n, dtype=np.int64)
    turn = np.fromiter((p.turn for p in passages), dtype=np.int64, count=n)
    words = np.fromiter((p.text.count(" ") + 1 for p in passages), dtype=np.int64, count=n)
    ids: dict[str, int] = {}
    for i, p in enumerate(passages):
        doc[i] = ids.setdefault(p.doc_id, len(ids))
    idx = np.arange(n)
    new_doc = np.r_[True, doc[1:] != doc[:-1]]
    new_turn = new_doc | np.r_[True, turn[1:] != turn[:-1]]
    doc_start = np.maximum.accumulate(np.where(new_doc, idx, 0))
    turn_start = np.maximum.accumulate(np.where(new_turn, idx, 0))
    end_doc = np.r_[new_doc[1:], True]
    end_turn = np.r_[new_turn[1:], True]
    doc_end = np.minimum.accumulate(np.where(end_doc, idx + 1, n)[::-1])[::-1]
    turn_end = np.minimum.accumulate(np.where(end_turn, idx + 1, n)[::-1])[::-1]
    cum = np.r_[0, np.cumsum(words)]  # cum[j] = words in passages [0, j)
    # Preceding: the largest a with cum[turn_start] - cum[a] >= budget, not before the document.
    a = np.searchsorted(cum, cum[turn_start] - budget, side="right") - 1
    a = np.clip(a, doc_start, turn_start)
    # Following: the smallest d with cum[d] - cum[turn_end] >= budget, not past the document.
    d = np.searchsorted(cum, cum[turn_end] + budget, side="left")
    d = np.clip(d, turn_end, doc_end)
    return a, turn_start, turn_end, d


def compose_vectors(
    passages: list[Passage],
    raw: np.ndarray,
    header_of: np.ndarray,
    headers: np.ndarray,
    settings: ContextSettings,
) -> np.ndarray:
    """Search vectors: each passage's own vector plus weighted context vectors, normalised.

    `passages` must be grouped by document in reading order (as the index stores them);
    `header_of[i]` is the row in `headers` of passage i's document (-1 for none). Vectorised
    with prefix sums: context ranges are contiguous runs of passages.
    """
    if len(raw) == 0:
        return raw.copy()
    out = raw.astype(np.float32, copy=True)
    wanted = [
        (w, b)
        for w, b in (
            (settings.dense_prev, settings.prev_words),
            (settings.dense_next, settings.next_words),
        )
        if w > 0 and b > 0
    ]
    if wanted:
        prefix = np.zeros((len(raw) + 1, raw.shape[1]), dtype=np.float64)
        np.cumsum(raw, axis=0, out=prefix[1:])
    if settings.dense_prev > 0 and settings.prev_words > 0:
        a, b, _, _ = _context_ranges(passages, settings.prev_words)
        out += settings.dense_prev * _unit(prefix[b] - prefix[a])
    if settings.dense_next > 0 and settings.next_words > 0:
        _, _, c, d = _context_ranges(passages, settings.next_words)
        out += settings.dense_next * _unit(prefix[d] - prefix[c])
    if settings.dense_header > 0 and len(headers):
        has = header_of >= 0
        out[has] += settings.dense_header * headers[header_of[has]]
    return _unit(out)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def index_texts(
    transcript: Transcript, passages: list[Passage], settings: ContextSettings = DEFAULT_CONTEXT
) -> list[str]:
    """The text embedded and BM25-indexed for each passage: context lines, then the passage."""
    turns = transcript.turns
    header = header_text(transcript, settings)
    out = []
    for p in passages:
        parts = [header] if header else []
        parts.extend(_before(turns, p.turn, settings.prev_words, settings.speaker))
        label = p.index_label or p.speaker
        parts.append(f"{label}: {p.text}" if settings.speaker and label else p.text)
        parts.extend(_after(turns, p.turn, settings.next_words, settings.speaker))
        out.append("\n".join(parts))
    return out


# --- filters -------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


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
# Non-speech annotations that transcripts put in brackets: "{vocalsound}", "[laughter]".
_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
# At most this many allowed passages are scored with numpy; more go through FAISS + a selector.
SMALL_SUBSET = 256
# Above this many allowed passages, region smoothing is skipped (candidates only).
REGION_LIMIT = 100_000


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
        doc_ids = list(snapshot.transcripts)
        self.doc_pos = {d: i for i, d in enumerate(doc_ids)}
        self.doc_of = np.fromiter(
            (self.doc_pos[p.doc_id] for p in passages), dtype=np.int32, count=n
        )
        has_header = np.asarray([bool(k) for k in snapshot.doc_keys] or [False])
        header_of = np.where(has_header[self.doc_of], self.doc_of, -1) if n else self.doc_of
        stored = getattr(snapshot, "search_vectors", None)
        if stored is not None and self.context == context_from_dict(snapshot.manifest.context):
            self.vectors: np.ndarray = stored
        else:
            self.vectors = search_vectors(snapshot, self.context, header_of)
        speakers = sorted({p.speaker for p in passages if p.speaker})
        self.speaker_pos = {s: i for i, s in enumerate(speakers)}
        self.speaker_of = np.fromiter(
            (self.speaker_pos[p.speaker] if p.speaker else -1 for p in passages),
            dtype=np.int32,
            count=n,
        )
        self.date_of = np.fromiter(
            (p.date.toordinal() if p.date else 0 for p in passages), dtype=np.int64, count=n
        )
        self.titles = [_norm(snapshot.transcripts[d].title or "") for d in doc_ids]
        self._prev_turn: list[list[int]] | None = None  # built on first use (smoothing)
        self._long: np.ndarray | None = None  # built on first use (long_document)
        self._content_words: np.ndarray | None = None  # built on first use (short_words)
        self._names: Any = None  # qa.query.SpeakerNames, built on first use (speaker_boost)
        self._rows: tuple[dict[tuple[str, int], int], dict[tuple[str, int], list[int]]] | None = (
            None
        )
        self.turn_counts = self._turn_counts(snapshot.transcripts.values())
        self.aliases = self._aliases(snapshot.transcripts.values())
        dim = self.vectors.shape[1] if self.vectors.ndim == 2 else 0
        self.adapter: QueryAdapter | None = (
            bundled_adapter(snapshot.manifest.model, dim) if config.query_adapter and dim else None
        )
        self._flat: faiss.Index | None = None
        if snapshot.ann is None and n and len(self.vectors):
            flat = faiss.IndexFlatIP(self.vectors.shape[1])
            flat.add(np.ascontiguousarray(self.vectors))
            self._flat = flat

    # -- speakers --------------------------------------------------------------------------

    @staticmethod
    def _turn_counts(transcripts: Iterable[Transcript]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for t in transcripts:
            counts.update(u.speaker for u in t.turns if u.speaker)
        return counts

    def _aliases(self, transcripts: Iterable[Transcript]) -> dict[str, str]:
        """Lower-cased alias -> canonical: the name, every label written, a unique surname."""
        pairs: Counter[tuple[str, str | None]] = Counter(
            # A generic label ("Question") is no alias of a questioner who named themselves.
            (u.speaker, u.label if u.index_label == u.speaker else None)
            for t in transcripts
            for u in t.turns
            if u.speaker
        )
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for (speaker, label), count in pairs.items():
            votes[_norm(speaker)][speaker] += 1000 * count  # the canonical name always wins
            if label:
                votes[_norm(label)][speaker] += count
        aliases = {a: c.most_common(1)[0][0] for a, c in votes.items()}
        by_surname: dict[str, set[str]] = defaultdict(set)
        for name in self.turn_counts:
            parts = name.split()
            if len(parts) > 1:
                by_surname[_norm(parts[-1])].add(name)
        for surname, names in by_surname.items():
            if len(names) == 1 and surname not in aliases:
                aliases[surname] = next(iter(names))
        return aliases

    def speakers(self) -> list[str]:
        return [s for s, _ in sorted(self.turn_counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def resolve_speaker(self, name: str) -> str | None:
        return self.aliases.get(_norm(name)) if name else None

    def speaker_roles(self) -> Counter[tuple[str, str, str, dt.date | None]]:
        """Turns per (canonical speaker, role, document, date): who holds which title, where."""
        counts: Counter[tuple[str, str, str, dt.date | None]] = Counter()
        for t in self.snapshot.transcripts.values():
            counts.update(
                (u.speaker, u.role, t.doc_id, t.date) for u in t.turns if u.speaker and u.role
            )
        return counts

    # -- stored sentences ------------------------------------------------------------------

    def _passage_rows(self) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], list[int]]]:
        """(doc, passage start) -> passage row and (doc, turn) -> rows, built on first use."""
        if self._rows is None:
            by_start: dict[tuple[str, int], int] = {}
            by_turn: dict[tuple[str, int], list[int]] = defaultdict(list)
            for i, p in enumerate(self.passages):
                by_start[(p.doc_id, p.start)] = i
                by_turn[(p.doc_id, p.turn)].append(i)
            self._rows = (by_start, dict(by_turn))
        return self._rows

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

    # -- filtering -------------------------------------------------------------------------

    def allowed(
        self,
        speaker: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        doc: str | Iterable[str] | None = None,
        title: str | None = None,
    ) -> np.ndarray | None:
        """Passage ids that pass every filter (None = no filter at all)."""
        n = len(self.passages)
        mask: np.ndarray | None = None

        def both(m: np.ndarray) -> None:
            nonlocal mask
            mask = m if mask is None else (mask & m)

        if speaker:
            names = [speaker] if isinstance(speaker, str) else list(speaker)
            wanted = {
                self.speaker_pos[c]
                for c in map(self.resolve_speaker, names)
                if c in self.speaker_pos
            }
            both(np.isin(self.speaker_of, list(wanted)) if wanted else np.zeros(n, dtype=bool))
        start, end = check_date(since, "since"), check_date(until, "until")
        if start and end and start > end:
            raise QueryError(f"since={start} is after until={end}")
        if start:
            both((self.date_of >= start.toordinal()) & (self.date_of > 0))
        if end:
            both((self.date_of <= end.toordinal()) & (self.date_of > 0))
        doc_set: set[int] | None = None
        if doc:
            ids = [doc] if isinstance(doc, str) else list(doc)
            doc_set = {self.doc_pos[d] for d in ids if d in self.doc_pos}
        if title:
            needle = _norm(title)
            matching = {i for i, t in enumerate(self.titles) if needle in t}
            doc_set = matching if doc_set is None else doc_set & matching
        if doc_set is not None:
            both(np.isin(self.doc_of, list(doc_set)) if doc_set else np.zeros(n, dtype=bool))
        return None if mask is None else np.flatnonzero(mask)

    # -- scoring ---------------------------------------------------------------------------

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
        if mode not in MODES:
            raise QueryError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
        if not isinstance(k, int) or k < 1:
            raise QueryError(f"k={k!r}: expected a whole number of at least 1")
        if not query or not query.strip():
            raise QueryError("The query is empty: ask about something.")
        allowed = self.allowed(speaker=speaker, since=since, until=until, doc=doc, title=title)
        n_allowed = len(self.passages) if allowed is None else len(allowed)
        if n_allowed == 0:
            return []
        cfg = self.config
        count = max(cfg.candidates, k)

        bm25_all: np.ndarray | None = None
        if mode in ("hybrid", "bm25"):
            bm25_all = self.snapshot.lexical.scores(query)
        qv: np.ndarray | None = None
        if mode in ("hybrid", "dense"):
            qv = query_vector if query_vector is not None else self.encode([query])[0]
            qv = np.asarray(qv, dtype=np.float32)
            if self.adapter is not None and adapt:
                qv = self.adapter(qv)

        if cfg.region > 0 and n_allowed <= REGION_LIMIT:
            return self._region_search(query, k, mode, allowed, qv, bm25_all)
        cand_parts = []
        if bm25_all is not None:
            pool = bm25_all if allowed is None else bm25_all[allowed]
            top = _top(pool, count)
            top = top[pool[top] > 0]
            cand_parts.append(top if allowed is None else allowed[top])
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
                self.speaker_pos[m.canonical]
                for m in self.speaker_names.find(query)
                if m.canonical in self.speaker_pos
            }
            if named:
                top = float(fused.max())
                lift = cfg.speaker_boost * (top if top > 0 else 1.0)
                fused = fused + lift * np.isin(self.speaker_of[cands], list(named))
        return fused

    def _document_evidence(self, cands: np.ndarray, fused: np.ndarray) -> np.ndarray:
        """Per candidate, the mean of the best `doc_top` scores of its document's candidates."""
        docs = self.doc_of[cands]
        order = np.lexsort((-fused, docs))  # by document, best first
        sorted_docs = docs[order]
        first = np.r_[True, sorted_docs[1:] != sorted_docs[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        rank = np.arange(len(order)) - start
        top = rank < self.config.doc_top
        sums = np.zeros(len(self.doc_pos), dtype=np.float64)
        np.add.at(sums, sorted_docs[top], fused[order][top])
        return sums[docs] / self.config.doc_top

    @property
    def in_long_document(self) -> np.ndarray:
        """Per passage: its document has at least `long_document` turns (see SearchConfig)."""
        if self._long is None:
            turns = np.asarray(
                [len(t.turns) for t in self.snapshot.transcripts.values()] or [0], dtype=np.int64
            )
            self._long = turns[self.doc_of] >= self.config.long_document
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

    @property
    def speaker_names(self) -> Any:
        if self._names is None:
            from qa.query import SpeakerNames

            self._names = SpeakerNames(
                self.speakers(), self.resolve_speaker, roles=self.speaker_roles()
            )
        return self._names

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
        docs = self.doc_of[ids]
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
                turn, doc = self.passages[row].turn, int(self.doc_of[row])
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


def search_vectors(
    snapshot: Any, context: ContextSettings, header_of: np.ndarray | None = None
) -> np.ndarray:
    """The composed, normalised vectors a snapshot is searched with."""
    if header_of is None:
        doc_pos = {d: i for i, d in enumerate(snapshot.transcripts)}
        has = [bool(k) for k in snapshot.doc_keys]
        header_of = np.asarray(
            [doc_pos[p.doc_id] if has[doc_pos[p.doc_id]] else -1 for p in snapshot.passages],
            dtype=np.int64,
        )
    return compose_vectors(
        snapshot.passages, snapshot.vectors, header_of, snapshot.doc_vectors, context
    )


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


__all__ = [
    "DEFAULT_CONTEXT",
    "DEFAULT_SEARCH",
    "MODES",
    "ContextSettings",
    "Retriever",
    "SearchConfig",
    "content_word_count",
    "index_texts",
]
