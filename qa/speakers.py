"""Speaker labels → (canonical name, role, retranslated), per document and across a corpus.

Transcripts write one person many ways: "President of Russia Vladimir Putin", "Vladimir Putin",
"Putin", "Marine Le Pen (retranslated)". Search filters and citations need one name per person,
so labels are split into a role and a name here, then names are unified: first inside a document
("Putin" → "Vladimir Putin" when the full name occurs), then across the corpus (spelling variants
such as "Sergey"/"Sergei", bare surnames that match exactly one full name). A user alias file
(canonical → aliases) overrides all of this.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import TranscriptError


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Labels that name a kind of contribution rather than a person. They stay as written.
GENERIC_HEADS = _words(
    """question questions remark remarks reply replies answer response comment comments
    audience voice voices participant participants moderator host presenter interpreter
    translator correspondent journalist reporter member members speaker unidentified unknown
    man woman men women child children student students pupil pupils guest guests
    inaudible chorus all everyone together crowd announcer narrator off-screen
    """
)

# Words that make a title, not a name. Titles end where the name begins.
ROLE_WORDS = _words(
    """president vice-president minister prime premier governor chairman chairwoman chair
    chairperson co-chair ceo cfo coo director general head chief secretary speaker mayor prince
    princess king queen emir sultan sheikh crown chancellor ambassador commissioner deputy first
    acting interim board executive officer manager rector patriarch metropolitan leader founder
    co-founder representative envoy host presenter moderator correspondent editor editor-in-chief
    anchor coach captain commander marshal admiral colonel major lieutenant sergeant professor
    academician doctor dr justice prosecutor judge senator aide adviser advisor spokesperson
    spokesman spokeswoman ombudsman administrator plenipotentiary auditor partner owner
    chairmen members member head-of-state pilot cosmonaut astronaut ceo-chairman councillor
    counsellor mufti archbishop bishop cardinal pope abbot rabbi imam ataman hetman viceroy
    federal presidential state regional honorary general-director
    """
)

# Lowercase words that may sit inside a name or a title without making it a sentence.
CONNECTORS = _words(
    "of the and for on in at to with de von van der den al el bin ibn da di du des la le y"
)
NAME_PARTICLES = frozenset("de von van der den al el bin ibn da di du des la le dos das ter")

# A word that, in lowercase, shows the "label" is really a clause ("The answer is simple: …").
_CLAUSE_WORDS = _words(
    """i we you he she it they is are was were be been am have has had will would can could
    shall should may might must do does did said says say think believe know want like
    this that these those there here what which who whom whose when where why how not
    my our your his her its their me us him them so but if then also just only very now
    again already still such as than about because would've
    """
)

_TRAILING_PAREN = re.compile(r"\s*[(\[]([^()\[\]]*)[)\]]\s*$")
_RETRANSLATED = re.compile(r"re-?translat", re.IGNORECASE)
_ROMAN = re.compile(r"^(?:[IVX]+)$")


@dataclass(frozen=True, slots=True)
class SpeakerLabel:
    """A label taken apart. `name` is the person (or the generic label); `role` their title."""

    label: str
    name: str
    role: str | None
    retranslated: bool
    generic: bool


def _is_capitalised(word: str) -> bool:
    word = word.lstrip("«“\"'(")
    return bool(word) and (word[0].isupper() or word[0].isdigit())


def _strip_paren(label: str) -> tuple[str, list[str]]:
    """Remove trailing parentheticals such as "(retranslated)"; return them too."""
    notes: list[str] = []
    while True:
        m = _TRAILING_PAREN.search(label)
        if not m or m.start() == 0:
            return label.strip(), notes
        notes.append(m.group(1))
        label = label[: m.start()]


def is_generic(label: str) -> bool:
    """ "Question", "Question from Khabarovsk", "Audience member": kinds, not people."""
    core, _ = _strip_paren(label)
    words = core.split()
    return bool(words) and words[0].lower().strip(",") in GENERIC_HEADS


def looks_like_label(candidate: str, max_words: int = 18) -> bool:
    """Could `candidate` (the text before a `: `) be a speaker label rather than part of a sentence?

    Labels are names and titles: short, capitalised, without sentence punctuation or clause words.
    """
    core, _notes = _strip_paren(candidate.strip())
    if not core or len(core) > 160:
        return False
    if any(ch in core for ch in '.?!;:"“”«»…') and not re.fullmatch(
        r"(?:[A-Z]\.\s?)+[^.?!;:]*", core
    ):
        return False
    # Remaining brackets are titles written inside the label ("Delovaya Rossiya [Business Russia]").
    words = re.sub(r"[\[(][^\])]*[\])]", " ", core).replace(",", " ").split()
    if not words or len(words) > max_words:
        return False
    first = words[0]
    if not _is_capitalised(first):
        return False
    if first.lower() in GENERIC_HEADS:
        # "Question from the audience", "Audience member": allow a few lowercase words.
        return not any(w.lower() in _CLAUSE_WORDS for w in words[1:])
    if first in {
        "I",
        "I'm",
        "I’m",
        "I've",
        "I’ve",
        "It",
        "It's",
        "It’s",
        "This",
        "That",
        "These",
        "Those",
        "There",
        "We",
        "So",
        "And",
        "But",
        "Or",
        "If",
        "When",
        "Then",
        "Here",
        "What",
        "Why",
        "How",
        "My",
        "Our",
    }:
        return False
    lower = [w for w in words if not _is_capitalised(w)]
    if any(w.lower() in _CLAUSE_WORDS for w in lower):
        return False
    content_lower = [w for w in lower if w.lower() not in CONNECTORS]
    if not content_lower:
        return True
    # Descriptive titles ("Direct line programme host Maria Sittel") have a few lowercase words
    # but end in a capitalised name of at least two words.
    return (
        len(content_lower) <= 4 and len(words) >= 3 and all(_is_capitalised(w) for w in words[-2:])
    )


def split_label(label: str, known_names: Iterable[str] = ()) -> SpeakerLabel:
    """Split "President of Russia Vladimir Putin (retranslated)" into name, role and flag.

    `known_names` are names seen as bare labels elsewhere; a label ending in one of them is
    split there, which handles three-word names like "Marine Le Pen" that no rule gets right.
    """
    core, notes = _strip_paren(label.strip())
    retranslated = any(_RETRANSLATED.search(n) for n in notes)
    if not core:
        core = label.strip()
    if is_generic(core):
        return SpeakerLabel(label, core, None, retranslated, True)
    words = core.split()
    for name in sorted(set(known_names), key=len, reverse=True):
        if core == name:
            return SpeakerLabel(label, core, None, retranslated, False)
        if core.endswith(" " + name) and len(name.split()) >= 2:
            role = core[: -len(name)].strip().rstrip(",").strip()
            return SpeakerLabel(label, name, role or None, retranslated, False)
    name_start = _name_start(words)
    if name_start and len(words) - name_start == 1 and len(words[-1]) <= 2:
        name_start = 0  # "Professor B", "Grad A": a designation, not a title plus a surname
    name = " ".join(words[name_start:])
    role = " ".join(words[:name_start]).rstrip(",").strip() or None
    return SpeakerLabel(label, name, role, retranslated, False)


def _name_start(words: list[str]) -> int:
    """Index of the first word of the person's name at the end of `words`."""
    n = len(words)
    if n <= 1:
        return 0
    # Last word that belongs to the title: a role word or a lowercase connector.
    last_title = -1
    for i, w in enumerate(words):
        lw = w.lower().strip(",")
        if lw in ROLE_WORDS or (not _is_capitalised(w) and lw not in NAME_PARTICLES):
            last_title = i
    if last_title < 0:
        return 0  # no title at all: the whole label is the name ("Marine Le Pen")
    if last_title == n - 1:
        return 0  # a title with no name ("Minister of Energy"): keep it whole
    rest = words[last_title + 1 :]
    after_connector = (
        not _is_capitalised(words[last_title]) or words[last_title].lower() in CONNECTORS
    )
    if not after_connector and len(rest) <= 4:
        return last_title + 1  # "Prime Minister Dmitry Medvedev"
    # "President of the Republic of Tatarstan Rustam Minnikhanov": the object of "of" comes
    # first, the name is its last two words (three with a particle, "Bashar al-Assad" style).
    take = 2
    if _ROMAN.match(rest[-1]) and len(rest) >= 2:
        take = 2  # "Albert II"
    if len(rest) >= 3 and rest[-2].lower() in NAME_PARTICLES:
        take = 3  # "Marine Le Pen", "Ursula von der Leyen" (one particle)
    take = min(take, len(rest))
    if take == len(rest) and after_connector and len(rest) > 1:
        take = len(rest) - 1 if len(rest) > 2 else len(rest)
    return n - take


# --------------------------------------------------------------------------- aliases


class AliasTable:
    """User-given canonical names: `{"Vladimir Putin": ["Putin", "V. Putin"]}`.

    Matching is case-insensitive and on the label without its parenthetical notes; a label
    whose split name matches an alias counts too.
    """

    def __init__(self, mapping: Mapping[str, Iterable[str]] | None = None) -> None:
        self._by_alias: dict[str, str] = {}
        for canonical, aliases in (mapping or {}).items():
            if isinstance(aliases, str):
                aliases = [aliases]
            self._by_alias[_key(canonical)] = canonical
            for alias in aliases:
                self._by_alias[_key(alias)] = canonical

    def __bool__(self) -> bool:
        return bool(self._by_alias)

    def lookup(self, *names: str | None) -> str | None:
        for name in names:
            if name:
                hit = self._by_alias.get(_key(_strip_paren(name)[0]))
                if hit:
                    return hit
        return None

    @classmethod
    def load(cls, path: str | Path) -> AliasTable:
        """Read a TOML or JSON alias file; a broken file is a `TranscriptError` naming it."""
        path = Path(path)
        try:
            raw = path.read_bytes()
            if path.suffix.lower() == ".toml":
                data = tomllib.loads(raw.decode("utf-8"))
            else:
                data = json.loads(raw.decode("utf-8"))
        except OSError as exc:
            raise TranscriptError(path, f"cannot read alias file: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise TranscriptError(path, f"alias file is not valid TOML: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise TranscriptError(
                path, f"alias file is not valid JSON: {exc.msg}", exc.lineno
            ) from exc
        except UnicodeDecodeError as exc:
            raise TranscriptError(path, "alias file is not UTF-8 text") from exc
        if isinstance(data, dict) and isinstance(data.get("aliases"), dict):
            data = data["aliases"]
        if not isinstance(data, dict) or not all(
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(a, str) for a in v))
            for v in data.values()
        ):
            raise TranscriptError(
                path,
                'expected a table of canonical name → list of aliases, e.g. {"Vladimir Putin": ["Putin"]}',
            )
        return cls(data)


AliasSpec = AliasTable | Mapping[str, Iterable[str]] | str | Path | None


def as_alias_table(aliases: AliasSpec) -> AliasTable:
    if aliases is None:
        return AliasTable()
    if isinstance(aliases, AliasTable):
        return aliases
    if isinstance(aliases, str | Path):
        return AliasTable.load(aliases)
    return AliasTable(aliases)


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


# --------------------------------------------------------------------------- normalisation


def _fold(name: str) -> str:
    """A spelling-insensitive key: "Sergey Lavrov" and "Sergei Lavrov" fold together."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    s = re.sub(r"[^a-z ]+", " ", s)
    s = re.sub(r"ey\b", "ei", s)
    s = re.sub(r"iy\b", "y", s)
    s = s.replace("yo", "e").replace("kh", "h").replace("ks", "x")
    return " ".join(s.split())


def _is_person_name(name: str) -> bool:
    words = name.split()
    return 2 <= len(words) <= 5 and not any(w.lower() in ROLE_WORDS for w in words)


def canonical_map_for_document(
    labels: Iterable[str], aliases: AliasTable | None = None
) -> dict[str, SpeakerLabel]:
    """Canonical speaker for each label of one document.

    Bare names and split names are unified: a one-word label ("Putin") becomes the unique full
    name in the document ending with it; a title-only label ("President of Russia") becomes the
    person who carries that title in the document.
    """
    labels = list(dict.fromkeys(labels))
    bare = [_strip_paren(lab)[0] for lab in labels]
    known = {b for b in bare if _is_person_name(b) and not is_generic(b)}
    parts = {lab: split_label(lab, known) for lab in labels}
    full_names = {p.name for p in parts.values() if _is_person_name(p.name) and not p.generic}
    by_role: dict[str, set[str]] = defaultdict(set)
    for p in parts.values():
        if p.role and p.name in full_names:
            by_role[p.role.casefold()].add(p.name)
    result: dict[str, SpeakerLabel] = {}
    for lab, p in parts.items():
        override = aliases.lookup(lab, p.name) if aliases else None
        if override:
            result[lab] = replace(p, name=override)
            continue
        name = p.name
        if not p.generic and len(name.split()) == 1:
            matches = {f for f in full_names if f.split()[-1].casefold() == name.casefold()}
            if len(matches) == 1:
                name = matches.pop()
        elif (
            not p.generic
            and p.role is None
            and name.casefold() in by_role
            and len(by_role[name.casefold()]) == 1
        ):
            holder = next(iter(by_role[name.casefold()]))
            result[lab] = replace(p, name=holder, role=name)
            continue
        result[lab] = replace(p, name=name)
    return result


def unify_corpus_names(names: Counter[str], aliases: AliasTable | None = None) -> dict[str, str]:
    """Map each canonical name to its corpus-wide form.

    Spelling variants (same folded key) take the most frequent spelling; a bare surname that
    matches exactly one full name in the corpus becomes that name. Alias-file names are fixed.
    """
    fixed = {n for n in names if aliases and aliases.lookup(n) == n}
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[_fold(name)].append(name)
    mapping: dict[str, str] = {}
    for members in groups.values():
        pinned = [m for m in members if m in fixed]
        best = pinned[0] if pinned else max(members, key=lambda m: (names[m], m))
        for m in members:
            mapping[m] = m if m in fixed else best
    by_surname: dict[str, set[str]] = defaultdict(set)
    for name in set(mapping.values()):
        if _is_person_name(name):
            by_surname[_fold(name.split()[-1])].add(name)
    for name, target in list(mapping.items()):
        if len(target.split()) == 1 and target not in fixed and not is_generic(target):
            full = by_surname.get(_fold(target), set())
            if len(full) == 1:
                mapping[name] = next(iter(full))
    return mapping
