"""Many threads calling `search()` and `ask()` while `update()` swaps the index under them.

Two corpus states A and B differ in every way an update can differ: a document's text is
changed, one is removed, one is added. Every result any thread sees must be exactly the
result of A or exactly the result of B (computed sequentially beforehand), never a mix, and
no thread may raise. (`ask()` once read a removed document from the new snapshot while
answering from the old one; it now pins one snapshot per answer.)
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from qa.service import TranscriptQA

QUERIES = ["harbour wall concrete", "free school lunches", "ticket prices", "penguins at the zoo"]
QUESTIONS = [
    "What will the harbour wall repairs cost?",
    "Who pays for the school lunches?",
    "Will ticket prices go up?",
]
CHANGED_HARBOUR = """Title: Harbour budget meeting
Date: 2021-03-04
Place: Town Hall

Anna Berg: Good morning. Today we decide on the harbour wall repairs and the ferry timetable.
Tom Reed: The harbour wall repairs will cost four million crowns, paid from the storm fund.
Anna Berg: Then the concrete work starts in spring.
"""
EXTRA = """Title: Zoo board
Date: 2023-08-01
Place: City Zoo

Eva Lund: The zoo buys two penguins and builds them a cold pool.
Ola Berg: Who pays for the penguins? The zoo budget is already stretched.
Eva Lund: A private donor pays for the penguins and the pool.
"""


def _search_key(qa: TranscriptQA, query: str) -> tuple:
    return tuple((h.passage.doc_id, h.passage.start, h.passage.end) for h in qa.search(query, k=5))


def _ask_key(qa: TranscriptQA, question: str) -> tuple:
    answer = qa.ask(question)
    quotes = tuple((q.doc_id, q.start, q.end, q.text) for q in answer.quotes)
    closest = tuple((h.passage.doc_id, h.passage.start) for h in answer.closest)
    return (answer.abstained, quotes, closest)


def _state(qa: TranscriptQA) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for q in QUERIES:
        out["search:" + q] = _search_key(qa, q)
    for q in QUESTIONS:
        out["ask:" + q] = _ask_key(qa, q)
    return out


@pytest.fixture()
def two_states(small_index: Path, fixtures_dir: Path, tmp_path: Path) -> Any:
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    corpus = tmp_path / "corpus"
    shutil.copytree(fixtures_dir / "retrieval", corpus)
    originals = {p.name: p.read_text(encoding="utf-8") for p in corpus.iterdir()}

    def to_a() -> None:
        for name, text in originals.items():
            (corpus / name).write_text(text, encoding="utf-8")
        (corpus / "extra.txt").unlink(missing_ok=True)

    def to_b() -> None:
        (corpus / "harbour.txt").write_text(CHANGED_HARBOUR, encoding="utf-8")
        (corpus / "school.txt").unlink(missing_ok=True)
        (corpus / "extra.txt").write_text(EXTRA, encoding="utf-8")

    qa = TranscriptQA.open(index)
    qa.update(corpus, show_progress=False)  # the copy's documents now come from `corpus`
    return qa, corpus, to_a, to_b


def test_search_and_ask_during_updates_see_old_or_new_never_a_mix(two_states: Any) -> None:
    qa, corpus, to_a, to_b = two_states
    expected_a = _state(qa)
    to_b()
    qa.update(corpus, show_progress=False)
    expected_b = _state(qa)
    to_a()
    qa.update(corpus, show_progress=False)
    differing = [key for key in expected_a if expected_a[key] != expected_b[key]]
    assert len(differing) >= 4, "the two states must give different results to tell a mix"

    stop = threading.Event()
    seen: list[tuple[str, tuple]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        keys = list(expected_a)
        i = offset
        while not stop.is_set():
            key = keys[i % len(keys)]
            i += 1
            kind, text = key.split(":", 1)
            try:
                result = _search_key(qa, text) if kind == "search" else _ask_key(qa, text)
            except BaseException as exc:  # noqa: BLE001 - any exception is the failure
                with lock:
                    errors.append(exc)
                return
            with lock:
                seen.append((key, result))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        cycles = 0  # at least two, and on until the threads have done some work (busy machines)
        while cycles < 2 or (len(seen) < 12 and cycles < 10 and not errors):
            to_b()
            qa.update(corpus, show_progress=False)
            to_a()
            qa.update(corpus, show_progress=False)
            cycles += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, f"{len(errors)} thread(s) raised, first: {errors[0]!r}"
    assert len(seen) >= 12
    mixed = [(k, r) for k, r in seen if r not in (expected_a[k], expected_b[k])]
    assert not mixed, f"{len(mixed)} of {len(seen)} results were neither state: {mixed[:2]}"
