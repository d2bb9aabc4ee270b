"""Indexing and search benchmarks on the Kremlin corpus, plus retrieval quality on QMSum val.

    .venv/bin/python benchmarks/bench_index.py                      # everything (slow: builds)
    .venv/bin/python benchmarks/bench_index.py --index /work/cache/kremlin-index
        # reuse a full Kremlin index already built from --corpus for the re-index, latency,
        # load and memory numbers (the throughput numbers always build a sample)

Writes benchmarks/results/index.json and prints a Markdown table. Numbers:
- indexing throughput: a fresh `TranscriptQA.build` of `--sample-files` transcripts (parse,
  chunk, embed, BM25, atomic save), passages/s, and the ratio to raw
  `SentenceTransformer.encode` (torch fp32) of the same texts in the same run (target >= 4, issue 15);
- encoder settings: passages/s for a few batch sizes and max sequence lengths;
- re-index of the unchanged full corpus (target < 3 s) and after changing one file;
- `search()` latency p50/p95 per mode on the full index, with and without filters
  (target hybrid p50 < 20 ms including the query embedding);
- index load time (target < 2 s), first-query time (model load), resident memory;
- exact (flat) vs HNSW: recall@10 and latency, and flat latency on larger synthetic sizes
  (the basis of `ANN_THRESHOLD`);
- QMSum val quality table (benchmarks/tune_qmsum.py, default settings).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402

from embeddings import backends, store  # noqa: E402
from embeddings.encoder import Encoder  # noqa: E402
from qa.ingest import iter_files  # noqa: E402
from qa.retrieval import embed_text  # noqa: E402
from qa.service import TranscriptQA  # noqa: E402

KREMLIN = ROOT.parent / "shared" / "datasets" / "kremlin" / "transcripts"
RESULTS = ROOT / "benchmarks" / "results"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def bench_throughput(corpus: Path, n_files: int, work: Path) -> dict:
    """Pipeline build vs raw model.encode on the same passages, same process, same run."""
    files = list(iter_files(corpus))[:n_files]
    sample = work / "sample"
    sample.mkdir()
    for f in files:
        shutil.copy(f, sample / f.name)
    encoder = Encoder()
    encoder.encode(["warm up the model"])  # load weights outside both timings
    t0 = time.perf_counter()
    qa = TranscriptQA.build(sample, work / "sample-index", show_progress=False)
    build_s = time.perf_counter() - t0
    stats = qa.last_update_stats
    texts = [embed_text(p) for p in qa.snapshot.passages]
    unique = list(dict.fromkeys(texts))
    # The reference: sentence-transformers on torch fp32, whatever backend the build used.
    model = backends.load(backends.TORCH, encoder.path, encoder.max_seq_length, None).model  # type: ignore[attr-defined]
    model.encode(unique[:32], batch_size=encoder.batch_size, show_progress_bar=False)
    t0 = time.perf_counter()
    model.encode(unique, batch_size=encoder.batch_size, show_progress_bar=False)
    raw_s = time.perf_counter() - t0
    return {
        "files": len(files),
        "passages": stats.passages,
        "embedded": stats.embedded,
        "build_seconds": round(build_s, 2),
        "pipeline_passages_per_s": round(stats.passages / build_s, 1),
        "raw_encode_seconds": round(raw_s, 2),
        "raw_passages_per_s": round(len(unique) / raw_s, 1),
        # Same texts: the ratio of the whole build to the model alone.
        "ratio_to_raw_encode": round(raw_s / build_s, 3),
    }


def bench_encoder(corpus: Path, n_texts: int) -> list[dict]:
    from qa import load_transcript
    from qa.chunking import chunk

    texts: list[str] = []
    for f in list(iter_files(corpus))[200:]:
        t = load_transcript(f)
        texts.extend(embed_text(p) for p in chunk(t))
        if len(texts) >= n_texts:
            break
    texts = texts[:n_texts]
    rows = []
    for max_len in (128, 256):
        for batch in (16, 32, 64):
            enc = Encoder(batch_size=batch, max_seq_length=max_len)
            enc.encode(texts[:8])
            t0 = time.perf_counter()
            enc.encode(texts)
            s = time.perf_counter() - t0
            rows.append(
                {
                    "max_seq_length": max_len,
                    "batch_size": batch,
                    "passages_per_s": round(len(texts) / s, 1),
                }
            )
            print(
                f"  encoder max_len={max_len} batch={batch}: {rows[-1]['passages_per_s']} passages/s",
                flush=True,
            )
    return rows


def bench_reindex(corpus: Path, index: Path, work: Path) -> dict:
    """Unchanged corpus and one changed file, on a private copy of the full index and corpus."""
    copy_corpus = work / "corpus"
    shutil.copytree(corpus, copy_corpus)
    copy_index = work / "index"
    shutil.copytree(index, copy_index)
    qa = TranscriptQA.open(copy_index)
    qa.update(
        copy_corpus, show_progress=False
    )  # re-point sources at the copy (parses, embeds nothing)
    t0 = time.perf_counter()
    unchanged = TranscriptQA.build(copy_corpus, copy_index, show_progress=False)
    unchanged_s = time.perf_counter() - t0
    files = list(iter_files(copy_corpus))
    victim = files[len(files) // 2]
    text = victim.read_text(encoding="utf-8")
    # Change one spoken word (format-agnostic: works for .txt, .vtt and QMSum .json alike).
    at = text.index(" the ", len(text) // 2)
    victim.write_text(text[:at] + " the very " + text[at + 5 :], encoding="utf-8")
    qa = TranscriptQA.open(copy_index)
    t0 = time.perf_counter()
    stats = qa.update(copy_corpus, show_progress=False)
    changed_s = time.perf_counter() - t0
    return {
        "unchanged_seconds": round(unchanged_s, 2),
        "unchanged_embedded": unchanged.last_update_stats.embedded,
        "one_file_changed_seconds": round(changed_s, 2),
        "one_file_changed_embedded": stats.embedded,
        "one_file_changed_docs": stats.docs_changed,
    }


def bench_queries(index: Path, n_queries: int) -> dict:
    rss_before = rss_mb()
    t0 = time.perf_counter()
    qa = TranscriptQA.open(index)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    t0 = time.perf_counter()
    qa.search("warm up", k=10)
    first_s = time.perf_counter() - t0
    rng = random.Random(7)
    passages = qa.snapshot.passages
    queries = []
    for p in rng.sample(passages, n_queries):
        words = p.text.split()
        start = rng.randrange(max(1, len(words) - 8))
        queries.append(" ".join(words[start : start + 8]))
    putin = qa.speakers()[0]
    last = qa.date_range()[1]
    # A one-year filter where the corpus has dates (QMSum has none: speaker filter only).
    year = {"since": f"{last.year}-01-01", "until": f"{last.year}-12-31"} if last else {}
    out: dict = {
        "passages": len(passages),
        "documents": len(qa.snapshot.transcripts),
        "load_seconds": round(load_s, 3),
        "first_query_seconds_incl_model_load": round(first_s, 2),
        "rss_mb_before_open": round(rss_before, 1),
        "rss_mb_after_open": round(rss_loaded, 1),
    }
    for label, kwargs in (
        ("hybrid", {"mode": "hybrid"}),
        ("dense", {"mode": "dense"}),
        ("bm25", {"mode": "bm25"}),
        (
            "hybrid+speaker+year",
            {"mode": "hybrid", "speaker": putin, **year},
        ),
    ):
        times = []
        for q in queries:
            t0 = time.perf_counter()
            qa.search(q, k=10, **kwargs)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"{label}_p50_ms"] = round(statistics.median(times), 2)
        out[f"{label}_p95_ms"] = round(pct(times, 0.95), 2)
    out["rss_mb_after_queries"] = round(rss_mb(), 1)
    return out


def bench_ann(index: Path, n_queries: int) -> dict:
    from qa.retrieval import Retriever

    qa = TranscriptQA.open(index)
    retriever: Retriever = qa._retriever
    vectors = retriever.vectors
    rng = np.random.default_rng(3)
    ids = rng.choice(len(vectors), size=n_queries, replace=False)
    # Queries: real passage vectors with noise, like a paraphrased question.
    queries = vectors[ids] + rng.normal(0, 0.05, size=(n_queries, vectors.shape[1])).astype(
        np.float32
    )
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    t0 = time.perf_counter()
    hnsw = store.build_hnsw(vectors)
    build_s = time.perf_counter() - t0
    out: dict = {"passages": len(vectors), "hnsw_build_seconds": round(build_s, 2)}

    def timed(index: faiss.Index) -> tuple[np.ndarray, float]:
        found, times = [], []
        for q in queries:
            t = time.perf_counter()
            _, i = index.search(q.reshape(1, -1), 10)
            times.append((time.perf_counter() - t) * 1000)
            found.append(i[0])
        return np.array(found), statistics.median(times)

    exact, flat_ms = timed(flat)
    out["flat_p50_ms"] = round(flat_ms, 3)
    for ef in (32, 64, 128):
        hnsw.hnsw.efSearch = ef
        approx, ms = timed(hnsw)
        recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
        out[f"hnsw_ef{ef}_recall@10"] = round(float(recall), 4)
        out[f"hnsw_ef{ef}_p50_ms"] = round(ms, 3)
    # How exact search scales: random unit vectors of the same dimension.
    for n in (100_000, 300_000):
        x = rng.standard_normal((n, vectors.shape[1]), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        f = faiss.IndexFlatIP(x.shape[1])
        f.add(x)
        _, ms = timed(f)
        out[f"flat_p50_ms_at_{n}"] = round(ms, 2)
        del x, f
    return out


def qmsum_table() -> dict:
    import subprocess

    out = RESULTS / "qmsum_default.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "tune_qmsum.py"), "--out", str(out)], check=True
    )
    return json.loads(out.read_text())["variants"][0]["results"]


def markdown(res: dict) -> str:
    lines = ["| measure | value | target |", "|---|---|---|"]
    t = res.get("throughput")
    if t:
        lines += [
            f"| indexing ({t['files']} Kremlin files, {t['passages']} passages) | {t['pipeline_passages_per_s']} passages/s | |",
            f"| raw `SentenceTransformer.encode`, same texts | {t['raw_passages_per_s']} passages/s | |",
            f"| pipeline / raw torch encode | {t['ratio_to_raw_encode']} | >= 4 |",
        ]
    r = res.get("reindex")
    if r:
        lines += [
            f"| re-index unchanged corpus | {r['unchanged_seconds']} s ({r['unchanged_embedded']} embedded) | < 3 s |",
            f"| re-index after changing one file | {r['one_file_changed_seconds']} s ({r['one_file_changed_embedded']} embedded) | |",
        ]
    q = res.get("queries")
    if q:
        lines += [
            f"| index load ({q['documents']} docs, {q['passages']} passages) | {q['load_seconds']} s | < 2 s |",
            f"| first query (loads the model) | {q['first_query_seconds_incl_model_load']} s | |",
            f"| resident memory after open / after queries | {q['rss_mb_after_open']} / {q['rss_mb_after_queries']} MB | |",
        ]
        for m in ("hybrid", "dense", "bm25", "hybrid+speaker+year"):
            target = "p50 < 20 ms" if m == "hybrid" else ""
            lines.append(
                f"| search {m} p50 / p95 | {q[m + '_p50_ms']} / {q[m + '_p95_ms']} ms | {target} |"
            )
    a = res.get("ann")
    if a:
        lines.append(
            f"| exact flat search p50 ({a['passages']} vectors) | {a['flat_p50_ms']} ms | |"
        )
        for ef in (32, 64, 128):
            lines.append(
                f"| HNSW efSearch={ef}: recall@10 / p50 | {a[f'hnsw_ef{ef}_recall@10']} / {a[f'hnsw_ef{ef}_p50_ms']} ms | |"
            )
        for n in (100_000, 300_000):
            lines.append(
                f"| exact flat search p50 at {n:,} vectors | {a[f'flat_p50_ms_at_{n}']} ms | |"
            )
    text = "\n".join(lines)
    qm = res.get("qmsum")
    if qm:
        text += "\n\nQMSum val (specific queries, turn level):\n\n| scope | mode | hit@1 | hit@5 | MRR@10 |\n|---|---|---|---|---|\n"
        for scope in ("within", "pooled"):
            for mode in ("bm25", "dense", "hybrid"):
                m = qm[scope][mode]
                text += f"| {scope} | {mode} | {m['hit@1']} | {m['hit@5']} | {m['mrr@10']} |\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=KREMLIN, help="corpus of the full index")
    ap.add_argument(
        "--sample-corpus", type=Path, default=KREMLIN, help="corpus sampled for throughput"
    )
    ap.add_argument("--encoder-texts", type=int, default=256)
    ap.add_argument(
        "--index", type=Path, default=None, help="a full index of --corpus to reuse (else built)"
    )
    ap.add_argument("--sample-files", type=int, default=60)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS / "index.json")
    ap.add_argument(
        "--skip", default="", help="comma-separated: throughput,encoder,reindex,queries,ann,qmsum"
    )
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    res: dict = {
        "command": " ".join(sys.argv),
        "corpus": str(args.corpus),
        "index": str(args.index) if args.index else None,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg": os.getloadavg(),
        },
        "faiss_omp_threads": faiss.omp_get_max_threads(),
    }
    with tempfile.TemporaryDirectory(prefix="tqa-bench-") as tmp:
        work = Path(tmp)
        if "throughput" not in skip:
            print("throughput...", flush=True)
            (work / "t").mkdir()
            res["throughput"] = bench_throughput(args.sample_corpus, args.sample_files, work / "t")
        if "encoder" not in skip:
            print("encoder settings...", flush=True)
            res["encoder"] = bench_encoder(args.sample_corpus, args.encoder_texts)
        index = args.index
        if index is None and not {"reindex", "queries", "ann"} <= skip:
            print("building the full index...", flush=True)
            index = work / "full-index"
            t0 = time.perf_counter()
            qa = TranscriptQA.build(args.corpus, index, show_progress=True)
            res["full_build"] = {"seconds": round(time.perf_counter() - t0, 1), "passages": len(qa)}
        if "reindex" not in skip:
            print("re-index...", flush=True)
            (work / "r").mkdir()
            res["reindex"] = bench_reindex(args.corpus, index, work / "r")
        if "queries" not in skip:
            print("queries...", flush=True)
            res["queries"] = bench_queries(index, args.queries)
        if "ann" not in skip:
            print("ann...", flush=True)
            res["ann"] = bench_ann(index, args.queries)
    if "qmsum" not in skip:
        print("qmsum...", flush=True)
        res["qmsum"] = qmsum_table()
    res["machine"]["load_avg_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out
    if skip and out.exists():
        # Sections skipped in this run keep their last measured values (and say when).
        previous = json.loads(out.read_text(encoding="utf-8"))
        origin = previous.get("kept_from_previous_run", {})
        for key in ("throughput", "encoder", "reindex", "queries", "ann", "qmsum", "full_build"):
            if key not in res and key in previous:
                res[key] = previous[key]
                res.setdefault("kept_from_previous_run", {})[key] = origin.get(
                    key, previous.get("command", "")
                )
    out.write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(markdown(res))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
