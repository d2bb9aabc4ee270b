#!/usr/bin/env bash
# Retrieval and ask() quality on the public development sets (../shared/datasets):
# QMSum val (within-meeting and pooled) and FriendsQA tune. Writes JSON, Markdown and PNG
# reports to benchmarks/results/eval/. Work files (converted questions, indexes) go to
# $TQA_EVAL_WORK (default /tmp/tqa-eval), never into the repository.
# Run from the repository root: bash benchmarks/eval_datasets.sh
set -euo pipefail
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# One torch thread: on a busy 2-core machine two spinning threads made each query
# encode ~15x slower (2 s vs 135 ms, measured); on an idle machine it costs little.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
DATA="${TQA_SHARED:-../shared}/datasets"
WORK="${TQA_EVAL_WORK:-/tmp/tqa-eval}"
OUT=benchmarks/results/eval
TQA=.venv/bin/tqa
mkdir -p "$WORK" "$OUT"

# QMSum val: 237 specific queries, each searched within its meeting (doc filter) and pooled
# over all 35 meetings (kind = within-meeting / pooled); gold = the relevant_text_span turns.
$TQA convert qmsum "$DATA/qmsum/val" "$WORK/qmsum-val.jsonl"
$TQA convert qmsum "$DATA/qmsum/val" "$WORK/qmsum-val-within.jsonl" --scope within
$TQA index "$DATA/qmsum/val" --index "$WORK/qmsum-val-index"
$TQA eval "$WORK/qmsum-val.jsonl" --index "$WORK/qmsum-val-index" --no-ask --out "$OUT" --name qmsum-val
# ask() within the meeting: does the first quote lie inside a gold span?
$TQA eval "$WORK/qmsum-val-within.jsonl" --index "$WORK/qmsum-val-index" --modes hybrid --out "$OUT" --name qmsum-val-ask

# FriendsQA tune: 113 scenes become JSON transcripts; 1,201 questions searched within their scene.
$TQA convert friendsqa "$DATA/friendsqa/friendsqa_tune.json" "$WORK/friendsqa-tune.jsonl"
$TQA index "$WORK/friendsqa-tune_transcripts" --index "$WORK/friendsqa-index"
$TQA eval "$WORK/friendsqa-tune.jsonl" --index "$WORK/friendsqa-index" --out "$OUT" --name friendsqa-tune

# The bundled corpus and its hand-written questions.
$TQA index corpus --index "$WORK/corpus-index"
$TQA eval tests/data/corpus_questions.jsonl --index "$WORK/corpus-index" --out "$OUT" --name corpus
