"""Shared fixtures. Tests on ../shared/datasets skip with a reason when it is absent."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(os.environ.get("TQA_SHARED", ROOT.parent / "shared"))
DATASETS = SHARED / "datasets"
KREMLIN = DATASETS / "kremlin" / "transcripts"
QMSUM = DATASETS / "qmsum"
FRIENDSQA = DATASETS / "friendsqa" / "friendsqa_tune.json"
SEED = SHARED / "seeds" / "000_0a384060a0b7fcaf.txt"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (the shared development data beside the project); not found")
    return path


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def seed_path() -> Path:
    return _need(SEED)


@pytest.fixture(scope="session")
def kremlin_dir() -> Path:
    return _need(KREMLIN)


@pytest.fixture(scope="session")
def qmsum_dir() -> Path:
    return _need(QMSUM)


@pytest.fixture(scope="session")
def friendsqa_path() -> Path:
    return _need(FRIENDSQA)


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of tests/fixtures/retrieval (three tiny transcripts), built once; copy before changing."""
    from qa.service import TranscriptQA

    path = tmp_path_factory.mktemp("small-index") / "index"
    TranscriptQA.build(FIXTURES / "retrieval", path, show_progress=False)
    return path


@pytest.fixture(scope="session")
def corpus_qa(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A `TranscriptQA` over the bundled corpus/, built once per session; only read from it."""
    from qa.service import TranscriptQA

    path = tmp_path_factory.mktemp("corpus-index") / "index"
    return TranscriptQA.build(CORPUS, path, show_progress=False)


@pytest.fixture(scope="session")
def kremlin_qa(kremlin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A `TranscriptQA` over all Kremlin transcripts; only read from it.

    Opens the development index (TQA_KREMLIN_INDEX, default /work/cache/kremlin-index) when
    it is there and compatible, else builds one here (a few minutes on 2 cores).
    """
    from qa.errors import TranscriptQAError
    from qa.service import TranscriptQA

    cached = Path(os.environ.get("TQA_KREMLIN_INDEX", "/work/cache/kremlin-index"))
    if cached.exists():
        try:
            return TranscriptQA.open(cached)
        except TranscriptQAError:
            pass
    path = tmp_path_factory.mktemp("kremlin-index") / "index"
    return TranscriptQA.build(kremlin_dir, path, show_progress=False)


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    """A throwaway PostgreSQL server for the module (tests/pg_server.py), or a skip that says
    why; modules that need another purpose or condition define their own."""
    from pg_server import running_server

    yield from running_server()


_schemas = itertools.count(1)


@pytest.fixture
def uri(pg: Any) -> str:
    """A fresh schema on the module's server."""
    return f"{pg.uri}?schema=t{next(_schemas)}"
