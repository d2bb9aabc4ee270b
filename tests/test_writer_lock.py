"""Two processes updating one index: the writer lock serialises them and neither loses work."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from embeddings import store
from qa.service import TranscriptQA

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from qa.service import TranscriptQA

    index, folder, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    qa = TranscriptQA.open(index)  # read before the other process writes
    qa.warm_up()
    Path(folder + ".ready").touch()
    while not go.exists():
        time.sleep(0.01)
    qa.update(folder, show_progress=True)
    """
)


def _transcript(folder: Path, name: str, title: str, line: str) -> Path:
    folder.mkdir(parents=True)
    (folder / f"{name}.txt").write_text(
        f"Title: {title}\nDate: 2024-02-0{len(name) % 9 + 1}\n\n{line}\n", encoding="utf-8"
    )
    return folder


def test_concurrent_updates_from_two_processes_both_land(
    tmp_path: Path, small_index: Path, fixtures_dir: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(fixtures_dir / "retrieval", corpus)
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    TranscriptQA.open(index).update(corpus, show_progress=False)
    library = _transcript(
        tmp_path / "a", "library", "Library opening", "Eva Lund: The new library opens on Monday."
    )
    ferry = _transcript(
        tmp_path / "b", "ferry", "Ferry timetable", "Ola Berg: The winter ferry leaves at six."
    )
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(index), str(folder), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (library, ferry)
    ]
    deadline = time.monotonic() + 120
    while not all(Path(f"{f}.ready").exists() for f in (library, ferry)):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), [
            c.communicate() for c in children if c.poll() is not None
        ]
        time.sleep(0.05)
    go.touch()  # both have read the same generation; now both write
    results = [c.communicate(timeout=120) for c in children]
    assert all(c.returncode == 0 for c in children), results
    docs = {d.doc_id for d in TranscriptQA.open(index).documents()}
    assert {"harbour", "school", "press", "library", "ferry"} <= docs
    # One generation is live and the lock file is the only other thing in the folder.
    names = sorted(p.name for p in index.iterdir())
    assert names == sorted([store.CURRENT, store.current_generation(index), store.LOCK])
