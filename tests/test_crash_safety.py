"""SIGKILL the indexer at random points of a build and of an update, then open the index.

The killed process is a real child (`tests/crash_child.py`) that dies by SIGKILL at a chosen
file-system step, so nothing after it runs: no `finally`, no cleanup. The index left behind
must open, and be exactly the previous complete state or the new one: same documents, same
passages, same search results. A later update must then finish normally and leave no litter.

The changes here (a document removed, one added under a new name with known text) need no
new embeddings, so the children do not load the model and each kill costs about a second.
`benchmarks/kill_test.py` is the heavy variant: many kills, including during embedding.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from embeddings import store
from qa.service import TranscriptQA

CHILD = Path(__file__).with_name("crash_child.py")
KILLS_PER_SCENARIO = 3
QUERIES = ["harbour wall concrete", "free school lunches", "rail tunnel ticket prices"]


def signature(index: Path) -> tuple:
    """Everything a user can observe of an index: documents, passages, search results."""
    qa = TranscriptQA.open(index)
    docs = tuple(sorted(d.doc_id for d in qa.documents()))
    passages = tuple((p.doc_id, p.start, p.end) for p in qa.snapshot.passages)
    for p in qa.snapshot.passages:
        assert qa.transcript(p.doc_id).text[p.start : p.end] == p.text
    results = tuple(
        tuple((h.passage.doc_id, h.passage.start) for h in qa.search(q, k=3, mode="bm25"))
        for q in QUERIES
    )
    return docs, passages, results


def run_child(mode: str, corpus: Path, index: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHILD), mode, str(corpus), str(index), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def change_corpus(corpus: Path, mode: str) -> None:
    """The new state: one document gone, one added (a known text under a new name)."""
    if mode == "build":
        (corpus / "school.txt").unlink()
        shutil.copy(corpus / "harbour.txt", corpus / "harbour-renamed.txt")
    else:
        (corpus / "press.txt").unlink()
        shutil.copy(corpus / "school.txt", corpus / "school-again.txt")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> tuple[Path, Path]:
    """(work, pristine): the index is built in `work` (its documents' sources point there);
    each trial restores `work` from `pristine`, so sources stay valid."""
    root = tmp_path_factory.mktemp("crash")
    work, pristine = root / "work", root / "pristine"
    shutil.copytree(fixtures_dir / "retrieval", work / "corpus")
    TranscriptQA.build(work / "corpus", work / "index", show_progress=False)
    shutil.copytree(work, pristine)
    return work, pristine


def _restore(base: tuple[Path, Path]) -> tuple[Path, Path]:
    work, pristine = base
    shutil.rmtree(work)
    shutil.copytree(pristine, work)
    return work / "corpus", work / "index"


@pytest.mark.parametrize("mode", ["build", "update"])
def test_killed_indexer_leaves_the_old_or_the_new_index(mode: str, base: tuple[Path, Path]) -> None:
    old = signature(base[1] / "index")
    # Dry run: how many file-system steps the operation takes, and the new state it makes.
    corpus, index = _restore(base)
    change_corpus(corpus, mode)
    dry = run_child(mode, corpus, index, 0)
    assert dry.returncode == 0, dry.stderr[-2000:]
    steps = int(dry.stdout.split()[-1])
    assert steps >= 10  # files, fsyncs and renames: enough points to be worth killing at
    new = signature(index)
    assert new != old

    seed = random.randrange(10**6)
    rng = random.Random(seed)
    # One point in each third of the operation, so early, middle and late kills all happen.
    points = sorted(
        rng.randint(1 + steps * i // KILLS_PER_SCENARIO, steps * (i + 1) // KILLS_PER_SCENARIO)
        for i in range(KILLS_PER_SCENARIO)
    )
    outcomes = []
    for kill_at in points:
        corpus, index = _restore(base)
        change_corpus(corpus, mode)
        child = run_child(mode, corpus, index, kill_at)
        assert child.returncode == -signal.SIGKILL, (seed, kill_at, child.stderr[-2000:])
        state = signature(index)
        assert state in (old, new), f"seed {seed}: killed at step {kill_at} of {steps}"
        outcomes.append("new" if state == new else "old")
        # Recovery: running it again finishes and cleans up what the killed one left.
        if mode == "build":
            TranscriptQA.build(corpus, index, show_progress=False)
        else:
            TranscriptQA.open(index).update(corpus, show_progress=False)
        assert signature(index) == new
        # What a kill leaves behind (a half-written generation, the old one) goes at the next write;
        # the writer lock the killed process held was released by its death.
        TranscriptQA.open(index).remove("harbour")
        current = (index / "CURRENT").read_text().strip()
        assert sorted(p.name for p in index.iterdir()) == sorted(["CURRENT", current, store.LOCK])
    # The first third of the steps writes the new generation, so an early kill keeps the old.
    assert outcomes[0] == "old", (seed, points, outcomes)
