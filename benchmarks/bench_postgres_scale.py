"""The PostgreSQL store and the folder store at a synthetic scale (issue 14, docs/scaling.md).

A synthetic corpus of --passages passages: --docs-sized plain transcripts with realistic
metadata (a title per document from its topic, dates over 15 years, a place, 400 speakers,
turns of 25-70 words drawn Zipf-like from a 6,000-word vocabulary plus the document's topic
words), written to disk and read by the real parser and chunker (`qa.indexing._scan`). The
vectors are clustered random 384-dim vectors (no model: a stand-in encoder gives each text its
topic's centre plus noise, and each sentence its passage's vector plus noise), so the sizes,
the SQL and the graph work are those of a real index of that size; quality is not measured.

Both stores are built from the same snapshot (`qa.indexing._make_snapshot`): the folder store
(bm25s + FAISS, `store.save`) and PostgreSQL (`Database.write`: binary COPYs into bare
tables, then the keys, foreign keys and secondary indexes, then the HNSW build; VACUUM
ANALYZE). Then each runs the same filtered hybrid searches (no filter,
speaker, a one-year date range, one document, a title word, speaker + since) with the same
query vectors: p50/p95 per filter, plus an incremental `update()` adding --add-docs
documents (the real path of each store, with the stand-in encoder). Sizes per table and
index come from the server (`pg_relation_size`, `pg_indexes_size`), the folder's from disk.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_postgres_scale.py \
        --passages 100000

Writes benchmarks/results/postgres_scale.json (one entry per size; a run replaces its size).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from load_chat import percentile  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "postgres_scale.json"
DIM = 384
TOPICS = 120
TURNS_PER_DOC = 50
FILTER_KINDS = ["none", "speaker", "year", "doc", "title", "speaker+since"]


class StandInEncoder:
    """What `_make_snapshot` and the stores read of an `Encoder`, without a model: a text's
    vector is its topic's centre plus noise (the topic: the most frequent topic word in it)."""

    name = "synthetic-clusters-384"
    backend = "torch"
    dim = DIM

    def __init__(self, topic_words: list[str], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.centres = rng.standard_normal((len(topic_words), DIM)).astype(np.float32)
        self.topic_of = {w: i for i, w in enumerate(topic_words)}
        self.rng = np.random.default_rng(seed + 1)
        self.calls = 0.0

    def _topic(self, text: str) -> int:
        counts: dict[int, int] = {}
        for w in text.lower().split():
            t = self.topic_of.get(w.strip(".,?!:"))
            if t is not None:
                counts[t] = counts.get(t, 0) + 1
        return max(counts, key=counts.__getitem__) if counts else 0

    def vector_near(self, topic: int, noise: float = 0.9) -> np.ndarray:
        v = self.centres[topic] + noise * self.rng.standard_normal(DIM).astype(np.float32)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        t0 = time.perf_counter()
        out = np.vstack([self.vector_near(self._topic(t)) for t in texts]) if texts else None
        self.calls += time.perf_counter() - t0
        return out if out is not None else np.zeros((0, DIM), np.float32)

    def encode_with_spans(
        self, texts: list[str], spans: list[Any], show_progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        vectors = self.encode(texts)
        t0 = time.perf_counter()
        pooled = []
        for v, s in zip(vectors, spans, strict=True):
            n = len(s)
            noisy = v + 0.3 * self.rng.standard_normal((n, DIM)).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            pooled.append(noisy.astype(np.float16))
        self.calls += time.perf_counter() - t0
        return vectors, pooled


def vocabulary(rng: random.Random, n: int) -> list[str]:
    """Pronounceable made-up words (plausible for a tokeniser: 3-10 letters, no stopwords)."""
    onsets = ["b", "br", "c", "ch", "d", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "pr"]
    onsets += ["r", "s", "st", "t", "tr", "v", "w", "z"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
    codas = ["", "n", "r", "s", "t", "l", "m", "nd", "st", "rk"]
    words: set[str] = set()
    while len(words) < n:
        w = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
            for _ in range(rng.choice([1, 2, 2, 3]))
        )
        if 3 <= len(w) <= 12:
            words.add(w)
    return sorted(words)


def write_corpus(folder: Path, docs: int, seed: int, first: int = 0) -> dict[str, Any]:
    """`docs` plain transcripts of TURNS_PER_DOC turns each (about one passage per turn)."""
    rng = random.Random(seed)
    vocab = vocabulary(random.Random(1), 6000)
    topics = vocabulary(random.Random(2), TOPICS + 200)[-TOPICS:]
    topics = [t + "ing" for t in topics]  # apart from the vocabulary
    first_names = vocabulary(random.Random(3), 200)
    speakers = [
        f"{rng.choice(first_names).title()} {rng.choice(first_names).title()}" for _ in range(400)
    ]
    cum = list(itertools.accumulate(1 / (i + 1) ** 1.05 for i in range(len(vocab))))
    places = ["Council Chamber", "Harbour Office", "Town Hall", "Press Room", "Committee Room"]
    folder.mkdir(parents=True, exist_ok=True)
    start = dt.date(2010, 1, 1)
    meta = {"speakers": speakers, "topics": topics, "doc_ids": [], "titles": []}
    for d in range(first, first + docs):
        topic = rng.randrange(TOPICS)
        date = start + dt.timedelta(days=rng.randrange(15 * 365))
        title_words = " ".join(rng.choices(vocab[:800], k=2))
        title = f"{topics[topic].title()} hearing on {title_words}"
        cast = rng.sample(speakers, rng.randint(2, 8))
        lines = [f"Title: {title}", f"Date: {date.isoformat()}", f"Place: {rng.choice(places)}", ""]
        for _ in range(TURNS_PER_DOC):
            sentences = []
            for _ in range(rng.randint(2, 4)):
                words = rng.choices(vocab, cum_weights=cum, k=rng.randint(8, 18))
                if rng.random() < 0.6:
                    words[rng.randrange(len(words))] = topics[topic]
                sentences.append(" ".join(words).capitalize() + ".")
            lines.append(f"{rng.choice(cast)}: {' '.join(sentences)}")
        doc_id = f"{date.isoformat()}_synthetic_{d:06d}"
        (folder / f"{doc_id}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        meta["doc_ids"].append(doc_id)
        meta["titles"].append(title_words.split()[0])
    return meta


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def pg_sizes(uri: str) -> dict[str, int]:
    import psycopg

    from qa.stores.postgres import parse_location

    conninfo, schema = parse_location(uri)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relkind, pg_relation_size(c.oid), "
            "pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'i')",
            (schema,),
        ).fetchall()
    out = {f"{name} ({'table' if kind == 'r' else 'index'})": size for name, kind, size, _ in rows}
    out["total"] = sum(total for _, kind, _, total in rows if kind == "r")
    return out


def queries(enc: StandInEncoder, meta: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    vocab = vocabulary(random.Random(1), 6000)
    out = []
    for i in range(n):
        kind = FILTER_KINDS[i % len(FILTER_KINDS)]
        topic = rng.randrange(TOPICS)
        text = " ".join([meta["topics"][topic], *rng.choices(vocab[:3000], k=rng.randint(2, 4))])
        filters: dict[str, Any] = {}
        year = rng.randint(2010, 2024)
        if kind in ("speaker", "speaker+since"):
            filters["speaker"] = rng.choice(meta["speakers"])
        if kind == "year":
            filters.update(since=f"{year}-01-01", until=f"{year}-12-31")
        if kind == "speaker+since":
            filters["since"] = f"{year}-01-01"
        if kind == "doc":
            filters["doc"] = rng.choice(meta["doc_ids"])
        if kind == "title":
            filters["title"] = rng.choice(meta["titles"])
        out.append({"kind": kind, "text": text, "vector": enc.vector_near(topic), **filters})
    return out


def time_searches(qa: Any, qs: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = {}
    found: dict[str, list[int]] = {}
    lists = []
    for q in qs:
        filters = {k: v for k, v in q.items() if k not in ("kind", "text", "vector")}
        t0 = time.perf_counter()
        hits = qa.search(q["text"], k=10, query_vector=q["vector"], **filters)
        by_kind.setdefault(q["kind"], []).append(time.perf_counter() - t0)
        found.setdefault(q["kind"], []).append(len(hits))
        lists.append([(h.passage.doc_id, h.passage.start) for h in hits])
    every = [x for v in by_kind.values() for x in v]
    table = {
        k: {
            "p50_ms": round(percentile(v, 0.5) * 1000, 1),
            "p95_ms": round(percentile(v, 0.95) * 1000, 1),
            "hits_mean": round(float(np.mean(found[k])), 1),
        }
        for k, v in by_kind.items()
    }
    table["all"] = {
        "p50_ms": round(percentile(every, 0.5) * 1000, 1),
        "p95_ms": round(percentile(every, 0.95) * 1000, 1),
        "n": len(every),
    }
    return {"latency": table, "lists": lists}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--uri", help="a PostgreSQL database (default: a throwaway server)")
    parser.add_argument("--queries", type=int, default=120)
    parser.add_argument("--add-docs", type=int, default=20, help="documents an update adds")
    parser.add_argument("--maintenance-work-mem", default="1GB", help="for the HNSW build")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    from qa.chunking import DEFAULT_SETTINGS
    from qa.context import DEFAULT_CONTEXT
    from qa.indexing import _make_snapshot, _scan
    from qa.service import TranscriptQA
    from qa.stores.postgres import Database, PostgresQA

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tqa-pg-scale-"))
    server = None
    result: dict[str, Any] = {"passages_asked": args.passages}
    try:
        if args.uri:
            uri = args.uri
        else:
            from pg_server import start_server

            server = start_server()
            uri = f"{server.uri}?schema=scale"
        docs = max(1, args.passages // TURNS_PER_DOC)
        t0 = time.perf_counter()
        meta = write_corpus(work / "corpus", docs, args.seed)
        result["generate_s"] = round(time.perf_counter() - t0, 1)
        enc = StandInEncoder(meta["topics"])

        t0 = time.perf_counter()
        transcripts, skipped, hashes = _scan(work / "corpus", None, False)
        result["parse_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        snapshot, stats = _make_snapshot(
            transcripts, None, enc, DEFAULT_SETTINGS, DEFAULT_CONTEXT, False, hashes
        )
        snap_s = time.perf_counter() - t0 - enc.calls
        n = len(snapshot.passages)
        result.update(
            passages=n,
            documents=len(transcripts),
            sentences=int(snapshot.sentences.rows[-1]),
            postings=None,
        )
        print(f"{n} passages in {len(transcripts)} documents", flush=True)

        # -- the folder store: bm25s + FAISS (in _make_snapshot), then the atomic save.
        t0 = time.perf_counter()
        from embeddings import store

        saved = store.save(snapshot, work / "folder")
        save_s = time.perf_counter() - t0
        folder_snapshot = replace(snapshot, generation=saved.name)
        result["folder"] = {
            "build_s": round(snap_s + save_s, 1),
            "build_detail": "chunking, bm25s, composed vectors and FAISS in _make_snapshot "
            f"({snap_s:.1f} s, the stand-in encoder's time left out), store.save ({save_s:.1f} s)",
            "passages_per_s": round(n / (snap_s + save_s)),
            "ann": "FAISS HNSW" if folder_snapshot.ann is not None else "exact (below 100k)",
            "size_bytes": folder_size(work / "folder"),
        }
        print(json.dumps({"folder": result["folder"]}), flush=True)

        # -- PostgreSQL: one transaction of binary COPYs, the HNSW build, then VACUUM ANALYZE.
        db = Database(uri)
        conn = db.connect()
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"SET LOCAL maintenance_work_mem = '{args.maintenance_work_mem}'")
            cur.execute("SET LOCAL max_parallel_maintenance_workers = 0")  # the 2-core machine
            db.lock(cur)
            db.write(cur, snapshot, None, None)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        db.tidy(conn)
        tidy_s = time.perf_counter() - t0
        with conn.transaction(), conn.cursor() as cur:
            light = db.light(cur)
            cur.execute(db.q("SELECT count(*) FROM {s}.postings"))
            result["postings"] = int(cur.fetchone()[0])  # type: ignore[index]
        conn.close()
        sizes = pg_sizes(uri)
        result["postgres"] = {
            "build_s": round(write_s + tidy_s, 1),
            "build_detail": f"COPY + postings + HNSW in one transaction ({write_s:.1f} s), "
            f"VACUUM ANALYZE ({tidy_s:.1f} s)",
            "passages_per_s": round(n / (write_s + tidy_s)),
            "size_bytes": sizes["total"],
            "sizes": sizes,
        }
        print(json.dumps({"postgres": result["postgres"]}), flush=True)

        folder_qa = TranscriptQA(work / "folder", folder_snapshot, enc)  # type: ignore[arg-type]
        pg_qa = PostgresQA(uri, light, enc)  # type: ignore[arg-type]
        meta["speakers"] = folder_qa.speakers()  # as the parser named them
        qs = queries(enc, meta, args.queries, args.seed)
        for qa in (folder_qa, pg_qa):  # warm: caches, the planner, the OS page cache
            time_searches(qa, qs[: len(FILTER_KINDS)])
        folder_runs = time_searches(folder_qa, qs)
        pg_runs = time_searches(pg_qa, qs)
        overlap = [
            len(set(a) & set(b)) / max(1, len(a))
            for a, b in zip(folder_runs["lists"], pg_runs["lists"], strict=True)
            if a
        ]
        result["folder"]["hybrid_search"] = folder_runs["latency"]
        result["postgres"]["hybrid_search"] = pg_runs["latency"]
        result["hybrid_top10_overlap"] = round(float(np.mean(overlap)), 3) if overlap else None
        print(json.dumps({"search": [folder_runs["latency"], pg_runs["latency"]]}), flush=True)

        # -- an incremental update through each store's own update(): add_docs new documents.
        if args.add_docs:
            write_corpus(work / "corpus", args.add_docs, args.seed + 1, first=docs)
            for name, qa in (("folder", folder_qa), ("postgres", pg_qa)):
                enc.calls = 0.0
                t0 = time.perf_counter()
                st = qa.update([work / "corpus"], show_progress=False)
                seconds = time.perf_counter() - t0 - enc.calls
                result[name]["update"] = {
                    "added_documents": st.docs_added,
                    "added_passages": st.embedded,
                    "seconds": round(seconds, 1),
                }
                print(json.dumps({name: result[name]["update"]}), flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    result["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["command"] = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        # this process only (the server's own memory is not counted)
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    result["total_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    runs = json.loads(out.read_text())["runs"] if out.exists() else []
    runs = [r for r in runs if r.get("passages_asked") != args.passages] + [result]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
