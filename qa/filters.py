"""Which passages a search may score: by speaker, date range, document and title.

Filters select passage ids before anything is scored (`Filters.allowed`), so a filter never
returns fewer results than exist. A speaker filter takes any name the corpus writes for a
person (a label as written, the canonical name, a unique surname), case-insensitive; the same
lookups find the speakers a question names (`speaker_names`) and who holds which role.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from qa.errors import QueryError
from qa.limits import check_date
from qa.transcript import Passage, Transcript


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


class Filters:
    """Per passage of one snapshot: its document, speaker and date; the speaker lookups."""

    def __init__(self, snapshot: Any) -> None:  # embeddings.store.Snapshot
        self.snapshot = snapshot
        passages: list[Passage] = snapshot.passages
        self.passages = passages
        n = len(passages)
        doc_ids = list(snapshot.transcripts)
        self.doc_ids = doc_ids
        self.doc_pos = {d: i for i, d in enumerate(doc_ids)}
        self.doc_of = np.fromiter(
            (self.doc_pos[p.doc_id] for p in passages), dtype=np.int32, count=n
        )
        speakers = sorted({p.speaker for p in passages if p.speaker})
        self.speaker_pos = {s: i for i, s in enumerate(speakers)}
        self.speaker_of = np.fromiter(
            (self.speaker_pos[p.speaker] if p.speaker else -1 for p in passages),
            dtype=np.int32,
            count=n,
        )
        self.date_of = np.fromiter(
            (p.date.toordinal() if p.date else 0 for p in passages), dtype=np.int64, count=n
        )
        self.titles = [_norm(snapshot.transcripts[d].title or "") for d in doc_ids]
        self._names: Any = None  # qa.query.SpeakerNames, built on first use
        self.turn_counts = self._turn_counts(snapshot.transcripts.values())
        self.aliases = self._aliases(snapshot.transcripts.values())

    # -- speakers --------------------------------------------------------------------------

    @staticmethod
    def _turn_counts(transcripts: Iterable[Transcript]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for t in transcripts:
            counts.update(u.speaker for u in t.turns if u.speaker)
        return counts

    def _aliases(self, transcripts: Iterable[Transcript]) -> dict[str, str]:
        """Lower-cased alias -> canonical: the name, every label written, a unique surname."""
        pairs: Counter[tuple[str, str | None]] = Counter(
            # A generic label ("Question") is no alias of a questioner who named themselves.
            (u.speaker, u.label if u.index_label == u.speaker else None)
            for t in transcripts
            for u in t.turns
            if u.speaker
        )
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for (speaker, label), count in pairs.items():
            votes[_norm(speaker)][speaker] += 1000 * count  # the canonical name always wins
            if label:
                votes[_norm(label)][speaker] += count
        aliases = {a: c.most_common(1)[0][0] for a, c in votes.items()}
        by_surname: dict[str, set[str]] = defaultdict(set)
        for name in self.turn_counts:
            parts = name.split()
            if len(parts) > 1:
                by_surname[_norm(parts[-1])].add(name)
        for surname, names in by_surname.items():
            if len(names) == 1 and surname not in aliases:
                aliases[surname] = next(iter(names))
        # The index's alias file (`tqa index --aliases`): its names find the person too, even
        # those no transcript writes.
        table = getattr(getattr(self.snapshot, "manifest", None), "aliases", None) or {}
        for canonical, names in table.items():
            if canonical in self.turn_counts:
                for name in [canonical, *names]:
                    aliases.setdefault(_norm(name), canonical)
        return aliases

    def speakers(self) -> list[str]:
        return [s for s, _ in sorted(self.turn_counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def resolve_speaker(self, name: str) -> str | None:
        return self.aliases.get(_norm(name)) if name else None

    def speaker_roles(self) -> Counter[tuple[str, str, str, dt.date | None]]:
        """Turns per (canonical speaker, role, document, date): who holds which title, where."""
        counts: Counter[tuple[str, str, str, dt.date | None]] = Counter()
        for t in self.snapshot.transcripts.values():
            counts.update(
                (u.speaker, u.role, t.doc_id, t.date) for u in t.turns if u.speaker and u.role
            )
        return counts

    @property
    def speaker_names(self) -> Any:
        """Finds the speakers a question names (qa.query.SpeakerNames), built on first use."""
        if self._names is None:
            from qa.query import SpeakerNames

            self._names = SpeakerNames(
                self.speakers(), self.resolve_speaker, roles=self.speaker_roles()
            )
        return self._names

    # -- filtering -------------------------------------------------------------------------

    def titled(self, title: str) -> set[int]:
        """Positions of the documents whose title contains `title` (normalised)."""
        needle = _norm(title)
        return {i for i, t in enumerate(self.titles) if needle in t}

    def allowed(
        self,
        speaker: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        doc: str | Iterable[str] | None = None,
        title: str | None = None,
    ) -> np.ndarray | None:
        """Passage ids that pass every filter (None = no filter at all)."""
        n = len(self.passages)
        mask: np.ndarray | None = None

        def both(m: np.ndarray) -> None:
            nonlocal mask
            mask = m if mask is None else (mask & m)

        if speaker:
            names = [speaker] if isinstance(speaker, str) else list(speaker)
            wanted = {
                self.speaker_pos[c]
                for c in map(self.resolve_speaker, names)
                if c in self.speaker_pos
            }
            both(np.isin(self.speaker_of, list(wanted)) if wanted else np.zeros(n, dtype=bool))
        start, end = check_date(since, "since"), check_date(until, "until")
        if start and end and start > end:
            raise QueryError(f"since={start} is after until={end}")
        if start:
            both((self.date_of >= start.toordinal()) & (self.date_of > 0))
        if end:
            both((self.date_of <= end.toordinal()) & (self.date_of > 0))
        doc_set: set[int] | None = None
        if doc:
            ids = [doc] if isinstance(doc, str) else list(doc)
            doc_set = {self.doc_pos[d] for d in ids if d in self.doc_pos}
        if title:
            matching = self.titled(title)
            doc_set = matching if doc_set is None else doc_set & matching
        if doc_set is not None:
            both(np.isin(self.doc_of, list(doc_set)) if doc_set else np.zeros(n, dtype=bool))
        return None if mask is None else np.flatnonzero(mask)
