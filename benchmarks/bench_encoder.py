"""Encoder backends side by side in one run: speed, agreement with torch, and the whole build.

    .venv/bin/python benchmarks/bench_encoder.py                 # all backends this machine runs
    .venv/bin/python benchmarks/bench_encoder.py --backends torch onnx openvino-bf16

For each backend (embeddings.backends), on the same Kremlin passages (the texts the index
embeds, "Speaker: passage" with sentence spans):
- passages/s of `Encoder.encode_with_spans` (what indexing runs), interleaved over `--rounds`
  so a busy machine slows every backend alike; the best round counts;
- one-question p50 (`Encoder.encode` of one question, the query path);
- mean / min cosine of passage and sentence vectors to torch fp32, and the overlap of the
  top-10 passages for `--questions` questions (snippets of other passages);
- the whole pipeline: `TranscriptQA.build` of `--files` transcripts (parse, chunk, embed with
  sentence pooling, BM25, save) on each backend, against raw torch fp32
  `SentenceTransformer.encode` of the same unique texts (issue 15's target: >= 4x).

Writes benchmarks/results/encoder_backends.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
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

from embeddings import backends  # noqa: E402
from embeddings.encoder import Encoder  # noqa: E402
from qa import load_transcript  # noqa: E402
from qa.chunking import chunk, sentence_spans  # noqa: E402
from qa.indexing import spans_in_embedded_text  # noqa: E402
from qa.ingest import iter_files  # noqa: E402
from qa.retrieval import embed_text  # noqa: E402
from qa.service import TranscriptQA  # noqa: E402

KREMLIN = ROOT.parent / "shared" / "datasets" / "kremlin" / "transcripts"
RESULTS = ROOT / "benchmarks" / "results"


def sample_texts(corpus: Path, n: int) -> tuple[list[str], list[list[tuple[int, int]]]]:
    texts: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    for f in list(iter_files(corpus))[200:]:
        t = load_transcript(f)
        for p in chunk(t):
            text = embed_text(p)
            texts.append(text)
            spans.append(spans_in_embedded_text(text, p, sentence_spans(p.text)))
        if len(texts) >= n:
            break
    return texts[:n], spans[:n]


def questions_from(texts: list[str], n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    for text in rng.sample(texts, n):
        words = text.split()
        start = rng.randrange(max(1, len(words) - 9))
        out.append(" ".join(words[start : start + 9]))
    return out


def one_question_ms(encoder: Encoder, questions: list[str]) -> float:
    encoder.encode(questions[:3])
    times = []
    for q in questions:
        t0 = time.perf_counter()
        encoder.encode([q])
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def agreement(ref: dict, got: dict) -> dict:
    cos = (ref["passages"] * got["passages"]).sum(axis=1)
    scos = (ref["sentences"] * got["sentences"]).sum(axis=1)
    top_ref = np.argsort(-(ref["questions"] @ ref["passages"].T), axis=1)[:, :10]
    top_got = np.argsort(-(got["questions"] @ got["passages"].T), axis=1)[:, :10]
    overlap = [len(set(a) & set(b)) / 10 for a, b in zip(top_ref, top_got, strict=True)]
    return {
        "cosine_mean": round(float(cos.mean()), 5),
        "cosine_min": round(float(cos.min()), 5),
        "sentence_cosine_mean": round(float(scos.mean()), 5),
        "sentence_cosine_min": round(float(scos.min()), 5),
        "top10_overlap": round(float(np.mean(overlap)), 4),
        "top10_overlap_min": round(float(np.min(overlap)), 2),
        "top10_identical": round(float(np.mean([o == 1.0 for o in overlap])), 3),
    }


def pipeline(corpus: Path, n_files: int, names: list[str], work: Path, rounds: int = 1) -> dict:
    """Whole builds against raw torch `encode` of the same texts, interleaved: each round
    times raw torch, then every backend's build, so a busy spell hits both sides of a ratio.
    The ratio is the median of the rounds' ratios."""
    files = list(iter_files(corpus))[:n_files]
    sample = work / "sample"
    sample.mkdir()
    for f in files:
        shutil.copy(f, sample / f.name)
    out: dict = {"files": len(files), "rounds": rounds}
    for name in names:
        Encoder(backend=name).encode(["warm up the model"])  # weights and graph outside timing
    first = TranscriptQA.build(sample, work / "index-first", show_progress=False)
    unique = list(dict.fromkeys(embed_text(p) for p in first.snapshot.passages))
    torch_model = backends.load(backends.TORCH, Encoder().path, 256, None).model  # type: ignore[attr-defined]
    torch_model.encode(unique[:32], batch_size=32)
    raw: list[float] = []
    builds: dict[str, list[float]] = {name: [] for name in names}
    passages: dict[str, int] = {}
    for r in range(rounds):
        t0 = time.perf_counter()
        torch_model.encode(unique, batch_size=32, show_progress_bar=False)
        raw.append(time.perf_counter() - t0)
        for name in names:
            target = work / f"index-{name}-{r}"
            t0 = time.perf_counter()
            qa = TranscriptQA.build(sample, target, show_progress=False, backend=name)
            builds[name].append(time.perf_counter() - t0)
            passages[name] = qa.last_update_stats.passages
            shutil.rmtree(target, ignore_errors=True)
        print(
            f"  pipeline round {r + 1}: raw torch {raw[-1]:.1f} s; "
            + ", ".join(f"{n} {builds[n][-1]:.1f} s" for n in names),
            flush=True,
        )
    out["raw_torch_encode_seconds"] = [round(x, 2) for x in raw]
    for name in names:
        seconds = statistics.median(builds[name])
        ratios = [a / b for a, b in zip(raw, builds[name], strict=True)]
        out[name] = {
            "build_seconds": [round(x, 2) for x in builds[name]],
            "passages": passages[name],
            "passages_per_s": round(passages[name] / seconds, 1),
            "vs_raw_torch_encode": round(statistics.median(ratios), 2),
            "vs_raw_torch_encode_rounds": [round(x, 2) for x in ratios],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=KREMLIN)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--files", type=int, default=60, help="transcripts for the pipeline")
    parser.add_argument("--pipeline-rounds", type=int, default=1)
    parser.add_argument(
        "--pipeline-only", action="store_true", help="only the whole-build comparison"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "encoder_backends.json")
    args = parser.parse_args()

    names = args.backends or [b for b in backends.NAMES if backends.runnable(b)]
    if backends.TORCH not in names:
        names = [backends.TORCH, *names]
    texts, spans = sample_texts(args.corpus, args.texts)
    questions = questions_from(texts, args.questions)
    print(f"{len(texts)} passages, {len(questions)} questions; backends {', '.join(names)}")
    vectors: dict[str, dict] = {}
    speed: dict[str, list[float]] = {n: [] for n in names}
    query_ms: dict[str, list[float]] = {n: [] for n in names}
    for r in range(0 if args.pipeline_only else args.rounds):
        for name in names:
            encoder = Encoder(backend=name)
            encoder.encode(texts[:64])  # load and warm outside the timing
            t0 = time.perf_counter()
            passages, sentences = encoder.encode_with_spans(texts, spans)
            speed[name].append(len(texts) / (time.perf_counter() - t0))
            query_ms[name].append(one_question_ms(encoder, questions[:100]))
            if r == 0:
                vectors[name] = {
                    "passages": passages,
                    "sentences": np.concatenate(sentences),
                    "questions": encoder.encode(questions),
                }
            print(
                f"  round {r + 1} {name}: {speed[name][-1]:.1f} passages/s, "
                f"one question {query_ms[name][-1]:.1f} ms",
                flush=True,
            )
    rows = {}
    for name in names if not args.pipeline_only else []:
        rows[name] = {
            "passages_per_s": round(max(speed[name]), 1),
            "vs_torch": round(max(speed[name]) / max(speed[backends.TORCH]), 2),
            "one_question_p50_ms": round(min(query_ms[name]), 2),
            **agreement(vectors[backends.TORCH], vectors[name]),
        }
    with tempfile.TemporaryDirectory() as tmp:
        whole = pipeline(args.corpus, args.files, names, Path(tmp), args.pipeline_rounds)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "auto": backends.resolve(backends.AUTO),
        },
        "texts": len(texts),
        "questions": len(questions),
        "rounds": args.rounds,
        "encoder": rows,
        "pipeline": whole,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        "\n| backend | passages/s | vs torch | one question p50 | cosine mean / min | "
        "top-10 overlap | build vs raw torch encode |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['passages_per_s']} | {row['vs_torch']}x | "
            f"{row['one_question_p50_ms']} ms | {row['cosine_mean']:.4f} / "
            f"{row['cosine_min']:.4f} | {row['top10_overlap']:.3f} | "
            f"{whole[name]['vs_raw_torch_encode']}x |"
        )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
