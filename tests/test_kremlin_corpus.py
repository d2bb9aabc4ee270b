"""Whole corpora: every Kremlin file parses, the figures measured on them hold, and every
passage of the Kremlin corpus, QMSum (train + val) and the bundled `corpus/` is verbatim.

Figures were measured with the parser as committed (see the ingest report); the bands are
tight enough that a regression in label detection or footer handling moves them out.
Each corpus is parsed once per session.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from qa import CorpusLoad, chunk, load_corpus
from qa.speakers import generic_name
from qa.transcript import Transcript

pytestmark = pytest.mark.shared

ROLE_WORDS_IN_NAMES = re.compile(
    r"\b(President of|Prime Minister|Governor of|Minister of|Chairman of|Head of|Director of|"
    r"Speaker of|Secretary of)\b"
)


@pytest.fixture(scope="session")
def kremlin(kremlin_dir: Path) -> CorpusLoad:
    return load_corpus(kremlin_dir)


@pytest.fixture(scope="session")
def qmsum(qmsum_dir: Path) -> CorpusLoad:
    return load_corpus(qmsum_dir)


def _check_verbatim(transcripts: list[Transcript]) -> int:
    n = 0
    for t in transcripts:
        for turn in t.turns:
            assert t.text[turn.start : turn.end] == turn.text, (t.doc_id, turn.index)
        for p in chunk(t):
            assert t.text[p.start : p.end] == p.text, (t.doc_id, p.turn, p.start)
            turn = t.turns[p.turn]
            assert turn.start <= p.start and p.end <= turn.end, "a passage crosses its turn"
            n += 1
    return n


def test_all_kremlin_files_parse(kremlin: CorpusLoad) -> None:
    assert kremlin.skipped == []
    assert len(kremlin.transcripts) == 1395
    ts = kremlin.transcripts
    assert len({t.doc_id for t in ts}) == 1395
    assert all(t.format == "kremlin" and t.title and t.date for t in ts)
    assert all(t.time and re.fullmatch(r"\d{1,2}:\d{2}", t.time) for t in ts)
    assert 1290 <= sum(t.place is not None for t in ts) <= 1320  # measured 1,306
    assert sum(bool(t.topics) for t in ts) == 1280  # files with a Topics list
    assert sum(bool(t.geography) for t in ts) == 614
    assert sum(bool(t.persons) for t in ts) == 625
    assert all(t.turns for t in ts)


def test_kremlin_turn_figures(kremlin: CorpusLoad) -> None:
    turns = [turn for t in kremlin.transcripts for turn in t.turns]
    assert 15_000 <= len(turns) <= 15_600  # measured 15,311
    labelled = [turn for turn in turns if turn.label is not None]
    assert 14_050 <= len(labelled) <= 14_650  # measured 14,349
    # "Question", "Remark" … are no one, unless the questioner says who they are.
    by_people = [turn for turn in turns if turn.speaker]
    assert 13_400 <= len(by_people) <= 13_950  # measured 13,674
    paragraphs = [
        turn.label is not None for turn in turns for line in turn.text.split("\n") if line.strip()
    ]
    share = sum(paragraphs) / len(paragraphs)
    assert 0.955 <= share <= 0.97  # measured 0.962 of 51,611 body paragraphs
    narrative_only = sum(not any(x.label for x in t.turns) for t in kremlin.transcripts)
    assert narrative_only <= 50  # measured 42: articles and summary-only pages
    assert 200 <= sum(turn.retranslated for turn in turns) <= 260  # measured 231


def test_kremlin_speakers(kremlin: CorpusLoad) -> None:
    counts = Counter(turn.speaker for t in kremlin.transcripts for turn in t.turns if turn.speaker)
    (top, n), *_ = counts.most_common(1)
    assert top == "Vladimir Putin" and n >= 6800  # measured 6,954
    assert 1150 <= len(counts) <= 1250  # measured 1,190 distinct canonical speakers
    assert not [name for name in counts if "President of" in name]
    assert not {"Question", "Remark", "Reply", "Response", "Operator"} & set(counts)
    # Journalists who introduce themselves ("Question: Ivan Petrov, RIA Novosti. …") are named.
    asked = [
        u for t in kremlin.transcripts for u in t.turns if u.label and u.label[:8] == "Question"
    ]
    named = [u for u in asked if u.speaker]
    assert 420 <= len(asked) <= 470 and 40 <= len(named) <= 70  # measured 446 and 50
    assert all(u.index_label == generic_name(u.label) for u in asked)  # as indexed before
    # Other titles appear only as title-only labels ("Minister of Justice: …", no name to split
    # off): a few, never carrying a separate role.
    titled = {name for name in counts if ROLE_WORDS_IN_NAMES.search(name)}
    assert len(titled) <= 20  # measured 17, all "Minister of …"
    assert all(
        turn.role is None and turn.label == turn.speaker
        for t in kremlin.transcripts
        for turn in t.turns
        if turn.speaker in titled
    )
    # Spelling variants and glued labels ("VladimirPutin") unify across the corpus.
    assert "VladimirPutin" not in counts and "Putin" not in counts
    roles = Counter(
        turn.role
        for t in kremlin.transcripts
        for turn in t.turns
        if turn.speaker == "Vladimir Putin"
    )
    assert roles.most_common(1)[0][0] == "President of Russia"


def test_kremlin_footer_never_leaks(kremlin: CorpusLoad) -> None:
    footer = re.compile(
        r"^(Publication status|Published in sections:|Publication date:|Text version)$", re.M
    )
    for t in kremlin.transcripts:
        for turn in t.turns:
            assert not footer.search(turn.text), (t.doc_id, turn.index)
            assert turn.text.split("\n")[-1].strip() != "<…>", (t.doc_id, turn.index)


def test_kremlin_passages_are_verbatim(kremlin: CorpusLoad) -> None:
    # Every turn yields at least one passage (32,666 with the default chunker settings).
    turns = sum(len(t.turns) for t in kremlin.transcripts)
    assert _check_verbatim(kremlin.transcripts) >= turns


def test_qmsum_turns_match_gold_indices(qmsum: CorpusLoad, qmsum_dir: Path) -> None:
    assert len(qmsum.transcripts) == 197  # 162 train + 35 val
    assert {Path(s.path).name for s in qmsum.skipped} <= {"LICENSE", "README.md"}
    by_source = {t.source: t for t in qmsum.transcripts}
    for path in sorted(qmsum_dir.glob("*/*.json"))[::10]:  # every tenth meeting, field by field
        entries = json.loads(path.read_text(encoding="utf-8"))["meeting_transcripts"]
        t = by_source[str(path)]
        assert len(t.turns) == len(entries)
        for i, (turn, entry) in enumerate(zip(t.turns, entries, strict=True)):
            assert turn.index == i
            assert turn.text == " ".join(entry["content"].split("\n"))
            assert turn.speaker == " ".join(entry["speaker"].split())


def test_qmsum_passages_are_verbatim(qmsum: CorpusLoad) -> None:
    assert _check_verbatim(qmsum.transcripts) > 100_000


def test_bundled_corpus_is_verbatim(corpus_dir: Path) -> None:
    result = load_corpus(corpus_dir)
    assert result.transcripts, "corpus/ holds no transcripts"
    # The bundled corpus is all transcripts: nothing in it may be skipped.
    assert result.skipped == []
    assert len({t.format for t in result.transcripts}) >= 2
    assert all(t.speakers for t in result.transcripts)
    assert _check_verbatim(result.transcripts) > 0
