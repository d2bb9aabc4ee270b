"""Which development documents train the reranker and which are kept back to measure it.

One rule for the training script and the benchmarks, so nothing measured was trained on:
a document is held out when a stable hash of its id says so (or, for Kremlin, when one of
the development questions is about it). QMSum val, `corpus/` and `tests/data/devset/` are
never trained on at all.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KREMLIN_DEV = ROOT / "tests" / "data" / "kremlin_dev_questions.jsonl"


def _bucket(doc_id: str, buckets: int) -> int:
    return int(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).hexdigest(), 16) % buckets


def friendsqa_held_out(scene: str) -> bool:
    """Half of the FriendsQA tune scenes are measured, the other half trains."""
    return _bucket(scene, 2) == 0


def kremlin_held_out(doc_id: str) -> bool:
    """A fifth of the Kremlin events, plus every event a development question is about."""
    return _bucket(doc_id, 5) == 0 or doc_id in kremlin_dev_docs()


def kremlin_dev_docs() -> frozenset[str]:
    docs: set[str] = set()
    if KREMLIN_DEV.exists():
        for line in KREMLIN_DEV.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                doc = json.loads(line).get("doc_id")
                if doc:
                    docs.add(str(doc))
    return frozenset(docs)
