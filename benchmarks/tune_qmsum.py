"""Retrieval quality on QMSum val at turn level: which passage/context/fusion choices help.

    .venv/bin/python benchmarks/tune_qmsum.py                 # default settings only
    .venv/bin/python benchmarks/tune_qmsum.py --variants all  # every measured variant

For each specific query (gold = the turns inside its `relevant_text_span`s, inclusive) it
searches within the query's meeting (document filter) and pooled over all val meetings, and
reports hit@1, hit@5 and MRR@10 for bm25, dense and hybrid side by side. A retrieved passage
hits when its turn lies in a gold span (and, pooled, when it is from the right meeting).
Writes benchmarks/results/qmsum_<variants>.json and prints a Markdown table. Embeddings are
cached by content key in ~/.cache/transcript-qa (so re-running a variant is quick).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from embeddings import store  # noqa: E402
from embeddings.encoder import Encoder  # noqa: E402
from qa.chunking import ChunkSettings  # noqa: E402
from qa.ingest import load_corpus  # noqa: E402
from qa.lexical import LexicalIndex, Tokenizer  # noqa: E402
from qa.retrieval import ContextSettings, Retriever, SearchConfig  # noqa: E402
from qa.service import _make_snapshot  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "qmsum" / "val"
CACHE = Path(os.environ.get("TQA_CACHE", Path.home() / ".cache" / "transcript-qa"))
RESULTS = ROOT / "benchmarks" / "results"


class CachingEncoder:
    """The real encoder behind a content-keyed cache, so variants share vectors."""

    def __init__(self, encoder: Encoder, path: Path) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.path = path
        self.cache: dict[str, np.ndarray] = {}
        if path.exists():
            data = np.load(path)
            self.cache = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self.dirty = False

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        keys = [store.content_key(t) for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}
        if todo:
            # In slices, saved as they finish: an interrupted run keeps what it computed.
            items = list(todo.items())
            for lo in range(0, len(items), 1024):
                part = dict(items[lo : lo + 1024])
                vecs = self.encoder.encode(list(part.values()), show_progress=show_progress)
                self.cache.update(zip(part, vecs, strict=True))
                self.dirty = True
                self.save()
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self.cache[k] for k in keys]).astype(np.float32)

    def encode_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]], show_progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors from the cache; sentence vectors are zeros (retrieval never reads
        them, and pooling them would mean re-running the model on every cached passage)."""
        vectors = self.encode(texts, show_progress=show_progress)
        dim = vectors.shape[1] if len(vectors) else self.encoder.dim
        return vectors, [np.zeros((len(s), dim), dtype=np.float32) for s in spans]

    def save(self) -> None:
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(
                tmp, keys=np.array(list(self.cache)), vectors=np.stack(list(self.cache.values()))
            )
            os.replace(tmp, self.path)
            self.dirty = False


@dataclass
class Variant:
    name: str
    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    search: SearchConfig = field(default_factory=SearchConfig)
    tokenizer: dict[str, bool] = field(default_factory=lambda: {"stem": True, "stopwords": True})


def variants(which: str) -> list[Variant]:
    base = Variant("default")
    if which == "default":
        return [base]
    c = base.context
    none = replace(
        c, title=False, date=False, prev_words=0, next_words=0, dense_prev=0.0, dense_header=0.0
    )
    # Tables 1-8 were measured before the long-document priors and document evidence became
    # default: their variants start from that configuration, so they stay reproducible.
    # Tables 1-10 were measured before the query adapter existed.
    pre = replace(base.search, query_adapter=False)
    before = replace(
        pre,
        spread=0,
        spread_after=0,
        short_words=0,
        speaker_boost=0.0,
        long_document=0,
        doc_weight=0.0,
    )
    sp = replace(before, spread=4)
    # Every variant shares the same passage vectors (context is composed, not re-embedded),
    # except those that change the chunker. Most are measured with spread=4 (the first
    # measurements showed it helps every mode); each changes one thing.
    out = [
        base,
        Variant("spread 4", search=sp),
        Variant("spread 2", search=replace(sp, spread=2)),
        Variant("spread 8", search=replace(sp, spread=8)),
        Variant("spread 4, no context at all", context=none, search=sp),
        Variant(
            "spread 4, dense: no composed context",
            context=replace(c, dense_prev=0.0, dense_header=0.0),
            search=sp,
        ),
        Variant("spread 4, dense: prev weight 0.3", context=replace(c, dense_prev=0.3), search=sp),
        Variant("spread 4, dense: prev weight 0.8", context=replace(c, dense_prev=0.8), search=sp),
        Variant("spread 4, dense: no header", context=replace(c, dense_header=0.0), search=sp),
        Variant("spread 4, prev 20 words", context=replace(c, prev_words=20), search=sp),
        Variant(
            "spread 4, next 40 words (w 0.3)",
            context=replace(c, next_words=40, dense_next=0.3),
            search=sp,
        ),
        Variant("spread 4, rrf fusion", search=replace(sp, fusion="rrf", dense_weight=0.5)),
        Variant("spread 4, score fusion w=0.4", search=replace(sp, dense_weight=0.4)),
        Variant("spread 4, score fusion w=0.8", search=replace(sp, dense_weight=0.8)),
        Variant("spread 4, neighbour 0.3", search=replace(sp, neighbour=0.3)),
        Variant("spread 4, no stemming", search=sp, tokenizer={"stem": False, "stopwords": True}),
        Variant("spread 4, min 4 words", chunk=ChunkSettings(min_words=4), search=sp),
        Variant("spread 4, region 0.3 w3", search=replace(sp, region=0.3, region_window=3)),
        Variant("spread 4, region 0.5 w3", search=replace(sp, region=0.5, region_window=3)),
        Variant("spread 4, region 0.5 w6", search=replace(sp, region=0.5, region_window=6)),
        Variant("spread 4, region 0.7 w6", search=replace(sp, region=0.7, region_window=6)),
        Variant("spread 4, region 0.5 w12", search=replace(sp, region=0.5, region_window=12)),
        Variant(
            "naive-ish: no context, min 4 words, rrf",
            ChunkSettings(min_words=4),
            none,
            replace(before, fusion="rrf", dense_weight=0.5),
        ),
        Variant("before tables 8-9 (no long-document priors, no document evidence)", search=before),
    ]
    # Tables 6 and 8: priors and diversity that must not hurt FriendsQA / the corpus questions.
    d = before
    out += [
        Variant("speaker boost 0.2", search=replace(d, speaker_boost=0.2)),
        Variant("speaker boost 0.3", search=replace(d, speaker_boost=0.3)),
        Variant("short words 1", search=replace(d, short_words=1)),
        Variant("short words 3", search=replace(d, short_words=3)),
        Variant("short words 5", search=replace(d, short_words=5)),
        Variant("short words 5, speaker 0.2", search=replace(d, short_words=5, speaker_boost=0.2)),
        Variant("short words 1, speaker 0.2", search=replace(d, short_words=1, speaker_boost=0.2)),
        Variant("spread 2, after 1", search=replace(d, spread=2, spread_after=1)),
        Variant("spread 4, after 1", search=replace(d, spread=4, spread_after=1)),
        Variant(
            "long docs (100+ turns): spread 4 after 1, short 5",
            search=replace(d, spread=4, spread_after=1, short_words=5, long_document=100),
        ),
        Variant(
            "long docs (100+ turns): spread 4 after 1, short 5, speaker 0.2",
            search=replace(
                d, spread=4, spread_after=1, short_words=5, long_document=100, speaker_boost=0.2
            ),
        ),
        Variant(
            "long docs (200+ turns): spread 4 after 1, short 5, speaker 0.2",
            search=replace(
                d, spread=4, spread_after=1, short_words=5, long_document=200, speaker_boost=0.2
            ),
        ),
        Variant(
            "long docs (50+ turns): spread 4 after 1, short 5, speaker 0.2",
            search=replace(
                d, spread=4, spread_after=1, short_words=5, long_document=50, speaker_boost=0.2
            ),
        ),
        Variant(
            "long docs (100+ turns): spread 4 after 1",
            search=replace(d, spread=4, spread_after=1, long_document=100),
        ),
    ]
    # Table 9 starts from the table-8 defaults; table 10 moves each final default alone.
    d = replace(pre, doc_weight=0.0)
    out += [
        Variant("doc evidence 0.3 (top 3)", search=replace(d, doc_weight=0.3)),
        Variant("doc evidence 0.5 (top 3)", search=replace(d, doc_weight=0.5)),
        Variant("doc evidence 1.0 (top 3)", search=replace(d, doc_weight=1.0)),
        Variant("doc evidence 0.5 (top 10)", search=replace(d, doc_weight=0.5, doc_top=10)),
    ]
    d = pre
    out += [
        Variant("defaults with spread 2", search=replace(d, spread=2)),
        Variant("defaults with spread 8", search=replace(d, spread=8)),
        Variant("defaults with spread 12", search=replace(d, spread=12)),
        Variant("defaults with spread_after 2", search=replace(d, spread_after=2)),
        Variant("defaults with short_words 3", search=replace(d, short_words=3)),
        Variant("defaults with short_words 8", search=replace(d, short_words=8)),
        Variant("defaults with neighbour 0.2", search=replace(d, neighbour=0.2)),
        Variant("defaults with neighbour 0.4", search=replace(d, neighbour=0.4)),
        Variant("defaults with neighbour 0.7", search=replace(d, neighbour=0.7)),
    ]
    # Table 11: the query adapter (embeddings/adapter.py) on top of the table-10 defaults.
    out += [
        Variant("defaults without query adapter", search=pre),
        Variant("query adapter", search=base.search),
        Variant("query adapter, dense weight 0.7", search=replace(base.search, dense_weight=0.7)),
        Variant("query adapter, dense weight 0.5", search=replace(base.search, dense_weight=0.5)),
    ]
    if which == "all":
        return out
    wanted = {w.strip() for w in which.split(";")}
    return [v for v in out if v.name in wanted]


def gold_turns(spans: list[list[str]]) -> set[int]:
    turns: set[int] = set()
    for a, b in spans:
        turns.update(range(int(a), int(b) + 1))
    return turns


def load_queries(data: Path) -> list[tuple[str, str, set[int]]]:
    out = []
    for path in sorted(data.glob("*.json")):
        meeting = json.loads(path.read_text(encoding="utf-8"))
        for q in meeting.get("specific_query_list", []):
            out.append((path.stem, q["query"], gold_turns(q["relevant_text_span"])))
    return out


def metrics(ranked: list[list[bool]]) -> dict[str, float]:
    n = len(ranked)
    hit1 = sum(1 for r in ranked if r[:1] and r[0]) / n
    hit5 = sum(1 for r in ranked if any(r[:5])) / n
    mrr = sum(next((1 / (i + 1) for i, h in enumerate(r[:10]) if h), 0.0) for r in ranked) / n
    return {"hit@1": round(hit1, 3), "hit@5": round(hit5, 3), "mrr@10": round(mrr, 3)}


class ZeroEncoder:
    """Stands in for the model when only BM25 is measured (no embedding cost)."""

    name = "none"
    dim = 384

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return np.zeros((len(texts), self.dim), dtype=np.float32)

    def encode_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]], show_progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.encode(texts), [np.zeros((len(x), self.dim), dtype=np.float32) for x in spans]

    def save(self) -> None:
        pass


def evaluate(
    retriever: Retriever,
    queries: list[tuple[str, str, set[int]]],
    modes: tuple[str, ...] = ("bm25", "dense", "hybrid"),
    scopes: tuple[str, ...] = ("within", "pooled"),
) -> dict[str, dict[str, dict[str, float]]]:
    result: dict[str, dict[str, dict[str, float]]] = {}
    for scope in scopes:
        result[scope] = {}
        for mode in modes:
            ranked = []
            for doc_id, query, gold in queries:
                hits = retriever.search(
                    query, 10, mode=mode, doc=doc_id if scope == "within" else None
                )
                ranked.append([h.passage.doc_id == doc_id and h.passage.turn in gold for h in hits])
            result[scope][mode] = metrics(ranked)
    return result


def table(rows: list[tuple[str, dict]]) -> str:
    head = "| variant | scope | bm25 h@1/h@5/MRR | dense h@1/h@5/MRR | hybrid h@1/h@5/MRR |\n|---|---|---|---|---|"
    lines = [head]
    for name, res in rows:
        for scope in res:
            cells = [
                "{hit@1:.3f} / {hit@5:.3f} / {mrr@10:.3f}".format(**res[scope][m])
                if m in res[scope]
                else "-"
                for m in ("bm25", "dense", "hybrid")
            ]
            lines.append(f"| {name} | {scope} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--variants", default="default", help="'default', 'all' or names separated by ';'"
    )
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--seed-index", type=Path, action="append", default=[], help="reuse this index's vectors"
    )
    ap.add_argument("--bm25-only", action="store_true", help="measure BM25 alone (no model needed)")
    args = ap.parse_args()

    corpus = load_corpus(args.data)
    transcripts = {t.doc_id: t for t in corpus.transcripts}
    queries = [q for q in load_queries(args.data) if q[0] in transcripts]
    encoder: CachingEncoder | ZeroEncoder = (
        ZeroEncoder()
        if args.bm25_only
        else CachingEncoder(Encoder(), CACHE / "qmsum-val-embeddings.npz")
    )
    for seed in args.seed_index:
        if isinstance(encoder, CachingEncoder) and store.exists(seed):
            snap = store.load(seed)
            encoder.cache.update(zip(snap.keys, snap.vectors, strict=True))
            encoder.cache.update(
                (k, v) for k, v in zip(snap.doc_keys, snap.doc_vectors, strict=True) if k
            )
            encoder.dirty = True
            print(f"seeded {len(snap.keys)} vectors from {seed}")
    modes = ("bm25",) if args.bm25_only else ("bm25", "dense", "hybrid")
    rows = []
    report = {
        "data": str(args.data),
        "queries": len(queries),
        "meetings": len(transcripts),
        "variants": [],
    }
    for v in variants(args.variants):
        started = time.perf_counter()
        snap, _ = _make_snapshot(transcripts, None, encoder, v.chunk, v.context, show_progress=True)
        encoder.save()
        if v.tokenizer != {"stem": True, "stopwords": True}:
            texts = _texts(snap, v)
            snap = replace(snap, lexical=LexicalIndex.build(texts, Tokenizer(**v.tokenizer)))
        retriever = Retriever(snap, encoder.encode, v.search, context=v.context)
        res = evaluate(retriever, queries, modes)
        encoder.save()
        rows.append((v.name, res))
        report["variants"].append(
            {
                "name": v.name,
                "chunk": v.chunk.as_dict(),
                "context": v.context.as_dict(),
                "search": asdict(v.search),
                "tokenizer": v.tokenizer,
                "passages": len(snap.passages),
                "results": res,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(table([rows[-1]]).split("\n", 2)[-1], flush=True)
    md = table(rows)
    print()
    print(f"QMSum val: {len(queries)} specific queries, {len(transcripts)} meetings")
    print(md)
    out = (
        args.out
        or RESULTS / f"qmsum_{'default' if args.variants == 'default' else 'variants'}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nwrote {out}")


def _texts(snap: store.Snapshot, v: Variant) -> list[str]:
    from qa.retrieval import index_texts

    texts: list[str] = []
    by_doc: dict[str, list] = {}
    for p in snap.passages:
        by_doc.setdefault(p.doc_id, []).append(p)
    for doc_id, ps in by_doc.items():
        texts.extend(index_texts(snap.transcripts[doc_id], ps, v.context))
    return texts


if __name__ == "__main__":
    main()
