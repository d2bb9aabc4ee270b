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
from functools import lru_cache
from pathlib import Path

from qa.errors import TranscriptError


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Labels that name a kind of contribution rather than a person. They stay as written.
GENERIC_HEADS = _words(
    """question questions remark remarks reply replies answer answers response comment comments
    audience voice voices inaudible chorus crowd unidentified unknown off-screen applause"""
)
# Role-like words that are generic when no name follows ("Moderator", "Audience member") but
# a title when one does ("Moderator Ksenia Razuvayeva", "Speaker of the State Duma …").
GENERIC_ROLES = _words(
    """participant participants moderator host presenter interpreter translator correspondent
    journalist reporter member members speaker man woman men women child children student
    students pupil pupils guest guests announcer narrator operator volunteer volunteers
    representative everyone interviewer caller callers listener viewer"""
)
# Lowercase words allowed after a generic head ("Question from the audience", "Response from the hall").
_GENERIC_TAIL = _words("from the of a an in at to on hall floor room audience member members")

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
    honorary general-director interviewer caller
    """
)

# Lowercase words that may sit inside a name or a title without making it a sentence.
CONNECTORS = _words(
    "of the and for on in at to with de von van der den al el bin ibn da di du des la le y"
)
NAME_PARTICLES = _words("de von van der den al el bin ibn da di du des la le dos das ter")
# Forms of address that sit between a title and a name; they belong to neither.
HONORIFICS = _words("dr mr mrs ms miss mx prof sir dame lord lady rev cllr")

# A word that, in lowercase, shows the "label" is really a clause ("The answer is simple: …").
_CLAUSE_WORDS = _words(
    """i we you he she it they is are was were be been am have has had will would can could
    shall should may might must do does did said says say think believe know want like
    this that these those there here what which who whom whose when where why how not
    my our your his her its their me us him them so but if then also just only very now
    again already still such as than about because would've let once look thing things
    example more another following one two three first second third next point question
    same applies apply
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


@lru_cache(maxsize=65536)
def clean_label(label: str) -> str:
    """Normalise invisible characters and glued words in a label, for naming (not for quoting).

    The Kremlin pages contain no-break and zero-width spaces, soft hyphens and glued names
    ("VladimirPutin:", "V.Putin:").
    """
    label = label.replace("\u200b", "").replace("\u00ad", "").replace("\ufeff", "")
    label = re.sub(r"(?<=[a-z]{4})(?=[A-Z][a-z]|[A-Z]{2,}\b)", " ", label)
    label = re.sub(r"\b([A-Z]\.)(?=[A-Z][a-z])", r"\1 ", label)
    return " ".join(label.split())


def is_generic(label: str) -> bool:
    """ "Question", "Question from Khabarovsk", "Audience member", "Moderator": kinds, not people."""
    core, _ = _strip_paren(clean_label(label))
    words = core.split()
    if not words:
        return False
    head = words[0].lower().strip(",")
    if head in GENERIC_HEADS:
        return True
    if head in GENERIC_ROLES or (
        # "Audience member", "Forum participant"; not "Mikhail Men": two capitals are a name.
        len(words) == 2 and words[1].lower() in GENERIC_ROLES and not words[1][:1].isupper()
    ):
        # A generic role unless a name follows it.
        return len(words) <= 2 and not (
            len(words) == 2 and _is_capitalised(words[1]) and words[1].lower() not in GENERIC_ROLES
        )
    return False


# Capitalised words that open sentences, not names or titles.
_SENTENCE_OPENERS = _words(
    """I I'm I’m I've I’ve I'd I’d It It's It’s This That These Those There We So And But Or If
    When Then Here What Why How My Our Let Please Just Now Once Another One Today Finally Lastly
    Firstly Secondly Thirdly Therefore However Hence Thus Also Yes No Well Look Again Next All
    About As For In On At To With From After Before By Regarding Concerning Of Second Third
    Fourth Fifth Listen Dear Thank Thanks Good Hello Well Anyway Besides Moreover"""
)
# Note-like headings that open a line with a colon but introduce no speaker.
_NOTE_WORDS = _words(
    """Note Notes NB N.B PS P.S Summary Agenda Update Source Sources Transcript Attendees Present
    Absent Action Actions Decision Decisions Outcome Warning Disclaimer Caption Photo Video
    Editor's Editor’s Translation Translator's Translator’s Background Context Reference"""
)
_SENTENCE_END = re.compile(r"[a-z0-9)\]]{2,}\.(?:\s|$)|[?!;\"“”«»…]|:")


def _name_like(word: str) -> bool:
    """Capitalised, or a particle-joined name part such as "al-Assad", "el-Sisi", "d'Estaing"."""
    if _is_capitalised(word):
        return True
    head, sep, tail = word.partition("-")
    if sep and head.lower() in NAME_PARTICLES | {"ad", "as", "ul", "ibn"} and _is_capitalised(tail):
        return True
    return word[:2].lower() in ("d'", "d’") and _is_capitalised(word[2:])


@lru_cache(maxsize=65536)
def label_words(candidate: str) -> tuple[str, ...]:
    core, _notes = _strip_paren(candidate.strip())
    # Brackets inside are glosses written into the label ("Delovaya Rossiya [Business Russia]").
    return tuple(re.sub(r"[\[(][^\])]*[\])]", " ", core).replace(",", " ").split())


@lru_cache(maxsize=65536)  # labels repeat: "Vladimir Putin" opens thousands of turns
def looks_like_label(candidate: str, max_words: int = 18, loose: bool = False) -> bool:
    """Could `candidate` (the text before a `: `) be a speaker label rather than part of a sentence?

    Labels are names and titles: capitalised words and connectors, no sentence punctuation, no
    clause words ("is", "we", "this"). Descriptive titles may hold a few lowercase words when a
    two-word name closes them ("Direct line programme host Maria Sittel"). `loose` also accepts
    short lowercase descriptions ("Call centre operator"): use it only with other evidence, such
    as the same label opening several paragraphs of one document.
    """
    core, _notes = _strip_paren(clean_label(candidate))
    if not core or len(core) > 240 or _SENTENCE_END.search(core):
        return False
    words = label_words(core)
    if not words:
        return False
    first = words[0]
    if not _is_capitalised(first) or first.strip("“\"'(") in _SENTENCE_OPENERS:
        return False
    if words[0] in _NOTE_WORDS and (len(words) == 1 or words[1][:1].islower()):
        return False  # "Note: …", "Editor's note: …"
    if first.lower() in GENERIC_HEADS | GENERIC_ROLES:
        # "Question from the audience", "Audience member": only a few lowercase words.
        tail_lower = [w for w in words[1:] if not _name_like(w)]
        if len(words) <= 8 and all(w.lower() in _GENERIC_TAIL | GENERIC_ROLES for w in tail_lower):
            return True
    lower = [w for w in words if not _name_like(w)]
    if any(w.lower() in _CLAUSE_WORDS for w in lower):
        return False
    content_lower = [w for w in lower if w.lower() not in CONNECTORS]
    if not content_lower:
        # Only names, titles and connectors: long official titles are still labels.
        return len(words) <= max(max_words, 30)
    if len(words) > max_words:
        return False
    if len(content_lower) <= 4 and len(words) >= 3 and all(_name_like(w) for w in words[-2:]):
        return True
    return loose and len(words) <= 4 and len(content_lower) <= 3


def split_label(
    label: str, known_names: Iterable[str] = (), persons: Iterable[str] = ()
) -> SpeakerLabel:
    """Split "President of Russia Vladimir Putin (retranslated)" into name, role and flag.

    Evidence beats rules: `known_names` are names seen as bare labels, `persons` names listed
    with the document in any word order ("Erdogan Recep Tayyip"). A label ending in one of them
    is split there, which gets "Recep Tayyip Erdogan" and "Marine Le Pen" right where a
    two-word rule would not.
    """
    core, notes = _strip_paren(clean_label(label))
    retranslated = any(_RETRANSLATED.search(n) for n in notes)
    if not core:
        core = clean_label(label)
    if is_generic(core):
        return SpeakerLabel(label, core, None, retranslated, True)
    if core.isupper() and len(core) > 4:
        core = core.title()  # "SECURITY COUNCIL SECRETARY NIKOLAI PATRUSHEV"
    words = core.split()
    if "," in core:
        # "Sergei Mironov, Leader of A Just Russia Faction", "Natalya Yuryeva, Channel One
        # Russia": a two- or three-word name first, then the title or affiliation.
        head, _, tail = core.partition(",")
        head_words = head.split()
        if (
            2 <= len(head_words) <= 3
            and all(_is_capitalised(w) and w.lower() not in ROLE_WORDS for w in head_words)
            and tail.strip()
        ):
            return SpeakerLabel(label, head.strip(), tail.strip(), retranslated, False)

    j = next((k for k, w in enumerate(words) if w == "of"), 0)
    k = next((k for k, w in enumerate(words) if w.casefold() not in ROLE_WORDS), 0)
    if 1 <= k < j and all(
        _is_capitalised(w) and w.casefold() not in ROLE_WORDS for w in words[k:j]
    ):
        # "King Abdullah II of Jordan", "Crown Prince Mohammed Al Nahyan of Abu Dhabi".
        role = " ".join([*words[:k], *words[j:]])
        return SpeakerLabel(label, " ".join(words[k:j]), role, retranslated, False)

    def cut(k: int) -> SpeakerLabel:
        name = " ".join(words[len(words) - k :])
        title = words[: len(words) - k]
        while len(title) > 1 and title[-1].casefold().rstrip(".") in HONORIFICS:
            title = title[:-1]  # "Chief Executive Dr Owen Mardell": the role is Chief Executive
        role = " ".join(title).rstrip(",").strip() or None
        return SpeakerLabel(label, name, role, retranslated, False)

    folded = [w.casefold() for w in words]
    for person in sorted({p for p in persons if p}, key=lambda p: -len(p.split())):
        pw = sorted(w.casefold() for w in person.split())
        if 2 <= len(pw) <= len(words) and sorted(folded[len(words) - len(pw) :]) == pw:
            return cut(len(pw))
    # The longest known name the label ends with. A full name shorter than the label is
    # preferred ("Novelist Nadia Fairweather" beside "Nadia Fairweather"), but not a particle
    # surname ("Le Pen" beside "Marine Le Pen") or the label itself: those only if nothing else.
    fallback = 0
    for name in sorted(set(known_names), key=lambda n: -len(n.split())):
        nw = [w.casefold() for w in name.split()]
        if not 2 <= len(nw) <= len(words) or folded[len(words) - len(nw) :] != nw:
            continue
        if len(nw) < len(words) and nw[0] not in NAME_PARTICLES:
            return cut(len(nw))
        fallback = fallback or len(nw)
    if fallback:
        return cut(fallback)
    name_start = _name_start(words)
    if name_start and len(words) - name_start == 1 and len(words[-1]) <= 2:
        name_start = 0  # "Professor B", "Grad A": a designation, not a title plus a surname
    return cut(len(words) - name_start)


def _name_start(words: list[str]) -> int:
    """Index of the first word of the person's name at the end of `words`.

    The title ends at the last role word or connector; the name is then the surname, any
    particles before it ("Van der", "al-", "Le") and one given name.
    """
    n = len(words)
    if n <= 1:
        return 0
    last_title = -1
    for i, w in enumerate(words):
        lw = w.casefold().strip(",")
        if (
            lw in ROLE_WORDS
            or (lw in CONNECTORS and lw not in NAME_PARTICLES)
            or (not _name_like(w) and lw not in NAME_PARTICLES)
        ):
            last_title = i
    if last_title < 0:
        return 0  # no title at all: the whole label is the name ("Marine Le Pen")
    if last_title == n - 1:
        return 0  # a title with no name ("Minister of Energy"): keep it whole
    lo = last_title + 1
    if n - lo <= 2 and words[last_title].casefold() in CONNECTORS:
        # "Minister of Healthcare", "Minister of Foreign Affairs": after "of" comes the
        # portfolio; a name would need the object first ("President of France Emmanuel Macron").
        return 0
    i = n - 1
    if _ROMAN.match(words[i]) and i - 1 >= lo:
        return i - 1  # "Albert II", "Abdullah II"
    while i - 1 >= lo and words[i - 1].casefold() in NAME_PARTICLES:
        i -= 1
    if i - 1 >= lo:
        i -= 1
    return i


# --------------------------------------------------------------------------- generic turns
# A turn labelled "Question", "Remark", "Audience member" … is by no one in particular: it
# gets no speaker (the speaker list holds people) but a role that says what it is, unless the
# questioner names themselves in its first words ("Lucy Tran, Harbour Vale Courier. …").

# Generic heads whose turns come from the floor: only these can carry a self-introduction.
_FLOOR_HEADS = _words(
    """question questions remark remarks comment comments audience voice voices participant
    participants member members man woman guest guests student students pupil pupils caller
    callers listener viewer"""
)
# The role of a bare generic label, where "Question" alone would say too little.
_BARE_ROLES = {
    "question": "question from the floor",
    "questions": "question from the floor",
    "remark": "remark from the floor",
    "remarks": "remark from the floor",
    "comment": "comment from the floor",
    "comments": "comment from the floor",
}
# Capitalised first words of place names, never of a person's first name ("Saudi Arabia, …").
_PLACE_STARTS = _words(
    """North South East West Northern Southern Eastern Western Central Middle Far Near New
    Saudi United Great Sri Costa Latin Hong Puerto Burkina Sierra San Santa Los Las St Saint
    Mount Lake Cape Port Fort Upper Lower Greater Soviet European Asian African Arab"""
)
# Capitalised words that are not part of a self-introduced name.
_NOT_NAME = _words(
    """Mr Mrs Ms Miss Madam Mister Sir Dear Lord Lady Colleagues Friends Ladies Gentlemen
    Russia Russian America American China Chinese Europe Ukraine Moscow God Yes No OK Okay"""
)
# Titles a questioner's affiliation never starts with: "Angela Merkel, Chancellor of Germany."
_OFFICE_STARTS = _words(
    "president prime minister chancellor king queen governor mayor ambassador emir sultan"
)
# Words that make the text after a name a clause, not an outlet ("Vladimir Putin, you said …").
_OUTLET_CLAUSE = _words(  # no "i": lowercase, it is a word of a name ("Argumenty i Fakty")
    """we you he she it they is are was were be been am have has had will would can could
    shall should may might must do does did said says say think believe know want like
    this that these those there here what which who whom why how not my our your his its their
    me us him them so but if then also just only very now because when where"""
)
# Words of outlets' names: "Associated Press, Vladimir Isachenkov." puts the outlet first.
_MEDIA_WORDS = _words(
    """press news radio tv television channel agency times post gazette gazeta journal courier
    review weekly daily herald tribune magazine newspaper broadcasting broadcaster media novosti
    pravda vedomosti izvestia kommersant fm service network online"""
)
_AGAIN = re.compile(r"(?:,?\s+(?:again|too|once more|as well))+\s*$", re.IGNORECASE)
_VOCATIVE = re.compile(
    r"^(?:(?:good\s+(?:morning|afternoon|evening|day)|hello|hi|thank\s+you|thanks)[,!]?\s+)?"
    r"(?:(?:mr|mrs|ms|madam|mister|dear)\.?\s+[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)?[,!]\s+)?",
    re.IGNORECASE,
)
_INTRO_VERB = re.compile(r"^(?:my\s+name\s+is|i\s+am|i[’']m|this\s+is)\s+", re.IGNORECASE)
# A sentence ends at . ! ? followed by a capital, unless the dot closes a title or an initial.
_SENTENCE_BREAK = re.compile(
    r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\b[A-Z])[.!?…]+[”\"»]?\s+(?=[«“\"(\[]?[A-Z])"
)


def generic_name(label: str | None) -> str | None:
    """The label a generic turn goes by, notes removed ("Question (retranslated)" → "Question").

    None for a person's label. This is the name such turns had before they lost their speaker,
    and what the indexed text still calls them: "Question: …" tells retrieval what a turn is.
    """
    if not label:
        return None
    return _generic_name(label)


@lru_cache(maxsize=4096)
def _generic_name(label: str) -> str | None:
    if not is_generic(label):
        return None
    core, _ = _strip_paren(clean_label(label))
    return core or clean_label(label)


def generic_role(label: str) -> str:
    """What a generic turn is, as a citation shows it: "question from the floor", "moderator",
    "question from Perm Territory", "voice from the audience"."""
    core = generic_name(label) or " ".join(label.split())
    if core.isupper():
        core = core.lower()
    head, _, rest = core.partition(" ")
    bare = _BARE_ROLES.get(head.lower()) if not rest else None
    return bare or head.lower() + (f" {rest}" if rest else "")


def _first_sentences(text: str, n: int) -> list[str]:
    head = " ".join(text[:600].split())
    parts = _SENTENCE_BREAK.split(head, maxsplit=n)
    return [p.strip() for p in parts[:n] if p.strip()]


def _name_word(word: str) -> bool:
    """A capitalised name word: "Lucy", "O’Rourke", "Jean-Paul", "Diário"; not "RIA", "Mr"."""
    bare = word.replace("’", "'")
    if not bare or not bare[0].isupper() or word in _NOT_NAME or word in _SENTENCE_OPENERS:
        return False
    letters = bare.replace("'", "").replace("-", "")
    if not letters.isalpha() or len(letters) < 2:
        return False
    return not (bare.isupper() and len(letters) > 1)  # acronyms ("RIA", "TASS") are outlets


def _self_name(words: list[str]) -> str | None:
    """`words` as a person's full name (2-4 words, particles inside), or None."""
    if not 2 <= len(words) <= 4 or words[0] in _PLACE_STARTS:
        return None
    for i, w in enumerate(words):
        inner = 0 < i < len(words) - 1
        if w.casefold() in ROLE_WORDS:
            return None
        if not (_name_word(w) or (inner and w.lower() in NAME_PARTICLES)):
            return None
    return " ".join(words)


def _outlet(text: str) -> str | None:
    """`text` as a questioner's outlet or organisation ("Harbour Vale Courier"), or None."""
    text = _AGAIN.sub("", text.strip().rstrip(".!…").strip()).strip(" ,")
    text = re.sub(r"^(?:from|of|with)\s+", "", text)  # "Oleg Kashtanov, from the newspaper …"
    words = text.split()
    if not words or len(words) > 14 or words[0].casefold() in _OFFICE_STARTS:
        return None
    bare = [re.sub(r"[\[\]()«»“”\"]", "", w).strip(",") for w in words]
    if any(
        b.lower() in _OUTLET_CLAUSE or b.replace("’", "'") in ("I", "I'm", "I've") for b in bare
    ):
        return None  # "Vladimir Putin, you said …", "…, I’m from the Republic of Tuva"
    if not any(b[:1].isupper() or b[:1].isdigit() for b in bare):
        return None
    return text


def self_introduction(text: str) -> tuple[str, str | None] | None:
    """(name, outlet) when a turn opens with its speaker introducing themselves, else None.

    Conservative on purpose: a full name (two to four capitalised words, no title) and then a
    comma and an outlet ("Lucy Tran, Harbour Vale Courier."), "from" and an outlet ("Veronika
    Romanenkova from ITAR-TASS."), or "My name is / I am / This is" and the name, in the
    first sentence, or in the second after a short opening ("Good afternoon. Ivan Petrov, RIA
    Novosti."); an outlet may come first ("RIA Novosti, Yelena Glushakova."). "Mr President,
    …", "Russia, China, India …" and "Vladimir Putin, you said …" name no one.
    """
    sentences = _first_sentences(text, 3)
    for i, sentence in enumerate(sentences[:2]):
        if i == 1 and (len(sentences[0].split()) > 8 or sentences[0].endswith("?")):
            break  # only after a short opening: "Good afternoon.", "Mr President, thank you."
        found = _introduces(sentence)
        if found:
            return found
    return None


def _introduces(sentence: str) -> tuple[str, str | None] | None:
    s = sentence.strip()
    s = s[_VOCATIVE.match(s).end() :]  # type: ignore[union-attr]  # the pattern matches ""
    verb = _INTRO_VERB.match(s)
    if verb:
        s = s[verb.end() :]
    s = s.rstrip(" .!?…")
    head, comma, tail = s.partition(",")
    words = head.split()
    if verb:
        # "My name is Dina Gazaliyeva, I represent …", "I am Alexander Kolesnichenko from AiF".
        before_from, _, after_from = head.partition(" from ")
        name = _self_name(before_from.split()) if after_from else _self_name(words)
        if name is None:
            return None
        return name, _outlet(after_from) if after_from else (_outlet(tail) if comma else None)
    if comma:
        if _is_outlet_name(words):
            # "Associated Press, Vladimir Isachenkov.", "RIA Novosti, Yelena Glushakova."
            name = _self_name(tail.split())
            return (name, head.strip()) if name and "," not in tail else None
        name = _self_name(words)
        outlet = _outlet(tail) if name else None
        return (name, outlet) if name and outlet else None
    before_from, sep, after_from = head.partition(" from ")
    if sep and after_from[:1].isupper():
        name = _self_name(before_from.split())
        outlet = _outlet(after_from) if name else None
        return (name, outlet) if name and outlet else None
    return None


def _is_outlet_name(words: list[str]) -> bool:
    """Words that name an outlet, not a person: a media word ("Press") or an acronym ("RIA")."""
    bare = [w.strip(".,") for w in words]
    return any(w.lower() in _MEDIA_WORDS or (w.isupper() and len(w) > 1) for w in bare)


def _named_in_label(core: str) -> tuple[str, str] | None:
    """(name, role) of a generic label that names its speaker at the end: "Audience member
    Leo Brannigan" is Leo Brannigan, an audience member. "Question from the Financial Times"
    names an outlet, and "Question from Khabarovsk" a place, not a person."""
    words = core.split()
    for size in (4, 3, 2):
        if len(words) <= size:
            continue
        tail, head = words[-size:], words[:-size]
        name = _self_name(tail)
        if name is None or _is_outlet_name(tail):
            continue
        if not all(w.lower() in GENERIC_HEADS | GENERIC_ROLES | _GENERIC_TAIL for w in head):
            continue  # the words before the name must all be the generic kind
        if head[-1].lower() in ("from", "of", "the", "in", "at", "to", "on"):
            continue  # "Question from Lucy Tran": could be an organisation or a place
        return name, generic_role(" ".join(head))
    return None


def generic_speaker(label: str, text: str) -> tuple[str | None, str]:
    """(speaker, role) of a turn with a generic label: the questioner's own name and outlet
    when they give them, else no speaker and what the turn is ("question from the floor")."""
    core = generic_name(label) or label
    head = core.split()[0].lower().strip(",")
    named = _named_in_label(core)
    if named is not None:
        return named
    if head in _FLOOR_HEADS:
        found = self_introduction(text)
        if found:
            name, outlet = found
            return name, outlet or generic_role(label)
    return None, generic_role(label)


# --------------------------------------------------------------------------- aliases


class AliasTable:
    """User-given canonical names: `{"Vladimir Putin": ["Putin", "V. Putin"]}`.

    Matching is case-insensitive and on the label without its parenthetical notes; a label
    whose split name matches an alias counts too.
    """

    def __init__(self, mapping: Mapping[str, Iterable[str]] | None = None) -> None:
        self._by_alias: dict[str, str] = {}
        self.mapping: dict[str, list[str]] = {}  # as given, canonical -> aliases (to store)
        for canonical, aliases in (mapping or {}).items():
            if isinstance(aliases, str):
                aliases = [aliases]
            aliases = list(aliases)
            self.mapping[canonical] = aliases
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
    return (
        2 <= len(words) <= 5
        and not any(w.casefold() in ROLE_WORDS for w in words)
        and not is_generic(name)
        and all(_name_like(w) or w.casefold() in NAME_PARTICLES for w in words)
    )


def canonical_map_for_document(
    labels: Iterable[str],
    aliases: AliasTable | None = None,
    persons: Iterable[str] = (),
    split: bool = True,
) -> dict[str, SpeakerLabel]:
    """Canonical speaker for each label of one document.

    A one-word label ("Putin") becomes the unique full name in the document ending with it; a
    title-only label ("President of Russia") becomes the person carrying that title here. An
    alias-table entry for the label or its name wins over both. With `split=False` labels are
    names as they stand (QMSum's "Project Manager", "The Chair (Hon. Anthony Rota (…))").
    """
    labels = list(dict.fromkeys(labels))
    if not split:
        result = {}
        for lab in labels:
            name = " ".join(lab.split())
            override = aliases.lookup(lab) if aliases else None
            generic = is_generic(name) and not override
            result[lab] = SpeakerLabel(lab, override or name, None, False, generic)
        return result
    persons = list(persons)
    known = {b for b in (_strip_paren(clean_label(lab))[0] for lab in labels) if _is_person_name(b)}
    parts = {lab: split_label(lab, known, persons) for lab in labels}
    full_names = {p.name for p in parts.values() if _is_person_name(p.name)}
    by_role: dict[str, set[str]] = defaultdict(set)
    for p in parts.values():
        if p.role and p.name in full_names:
            by_role[p.role.casefold()].add(p.name)
    result: dict[str, SpeakerLabel] = {}
    for lab, p in parts.items():
        override = aliases.lookup(lab, p.name) if aliases else None
        if override:
            # The user's alias file names a person, even for a generic label.
            result[lab] = replace(p, name=override, generic=False)
            continue
        name, role = p.name, p.role
        if not p.generic and len(name.split()) == 1:
            matches = {f for f in full_names if _fold(f.split()[-1]) == _fold(name)}
            if len(matches) == 1:
                name = matches.pop()
        elif not p.generic and role is None and len(by_role.get(name.casefold(), ())) == 1:
            name, role = next(iter(by_role[name.casefold()])), name
        result[lab] = replace(p, name=name, role=role)
    return result


def _one_edit_apart(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or swap of neighbours, not in a word's last letter.

    "Vladmir"/"Vladimir", "Kleimenov"/"Kleymenov" are typos or transliterations; a change in
    the last letter ("Alexander"/"Alexandra") may be another person, so it does not count.
    """
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        same = a[i + 1 :] == b[i + 1 :] or (
            a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]
        )
    elif len(a) > len(b):
        same = a[i + 1 :] == b[i:]
    else:
        same = a[i:] == b[i + 1 :]
    end_of_word = i + 1 >= min(len(a), len(b)) or " " in (a[i + 1 : i + 2], b[i + 1 : i + 2])
    return same and not end_of_word


def _typo_redirects(totals: Counter[str], fixed: set[str], taken: dict[str, str]) -> dict[str, str]:
    """Rarer spelling → more frequent one, for person names sharing a first or last name."""
    buckets: dict[str, list[str]] = defaultdict(list)
    for n in totals:
        words = n.split()
        if _is_person_name(n) and n not in taken:
            buckets["last:" + _fold(words[-1])].append(n)
            buckets["first:" + _fold(" ".join(words[:-1]))].append(n)
    out: dict[str, str] = {}
    for group in buckets.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if _one_edit_apart(_fold(a), _fold(b)):
                    rare, common = sorted((a, b), key=lambda n: (totals[n], n))
                    if rare not in fixed:
                        out[rare] = common
    return out


def unify_corpus_names(names: Counter[str], aliases: AliasTable | None = None) -> dict[str, str]:
    """Map each canonical name to its corpus-wide form (names → turn counts in, name → name out).

    - spelling variants ("Sergey"/"Sergei", "VladimirPutin", one-letter typos such as
      "Vladmir Putin") take the most frequent spelling;
    - of two person names where one ends the other ("Alexander Bortnikov" / "Security Service
      Alexander Bortnikov"), the rarer becomes the more frequent;
    - a bare surname ("Putin") or initial and surname ("V. Putin") matching exactly one full
      name in the corpus becomes that name.
    Names fixed by the alias table are never changed.
    """
    fixed = {n for n in names if aliases and aliases.lookup(n) == n}
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[_fold(name).replace(" ", "")].append(name)
    mapping: dict[str, str] = {}
    totals: Counter[str] = Counter()
    for members in groups.values():
        pinned = [m for m in members if m in fixed]
        best = pinned[0] if pinned else max(members, key=lambda m: (names[m], m))
        for m in members:
            mapping[m] = m if m in fixed else best
            totals[mapping[m]] += names[m]
    people = [
        n for n in totals if _is_person_name(n) or (len(n.split()) >= 3 and not is_generic(n))
    ]
    by_suffix: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for n in people:
        key = tuple(_fold(n).split())
        for k in range(2, len(key)):
            by_suffix[key[-k:]].append(n)
    redirect: dict[str, str] = {}
    for short in people:
        if not _is_person_name(short) or short in fixed:
            continue
        longer = [n for n in by_suffix.get(tuple(_fold(short).split()), []) if n != short]
        for long_name in longer:
            extra = long_name.split()[: len(long_name.split()) - len(short.split())]
            if long_name in fixed or not all(_is_capitalised(w) for w in extra):
                continue
            if totals[short] >= totals[long_name]:
                redirect[long_name] = short
            elif len(longer) == 1 and len(extra) <= 2 and _is_person_name(long_name):
                redirect[short] = long_name
    redirect.update(_typo_redirects(totals, fixed, redirect))
    by_surname: dict[str, set[str]] = defaultdict(set)
    for n in totals:
        if _is_person_name(n) and n not in redirect:
            by_surname[_fold(n.split()[-1])].add(n)
    for n in totals:
        words = n.split()
        if n in fixed or is_generic(n):
            continue
        if len(words) == 1:
            full = by_surname.get(_fold(n), set())
        elif len(words) == 2 and re.fullmatch(r"[A-Z]\.", words[0]):  # "V. Putin"
            full = {f for f in by_surname.get(_fold(words[1]), set()) if f[0] == words[0][0]}
            full.discard(n)
        else:
            continue
        if len(full) == 1:
            redirect[n] = next(iter(full))
    for name in mapping:
        target = mapping[name]
        for _ in range(5):  # follow short chains
            if target not in redirect:
                break
            target = redirect[target]
        mapping[name] = target
    return mapping
