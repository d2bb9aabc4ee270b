"""BM25 over the same passages as the vectors, with a tokeniser for transcribed speech.

Speech is full of fillers ("um", "you know", "yeah") that carry no topic, and the same word
appears inflected many ways ("agreed", "agreement"); the tokeniser drops stopwords and fillers
and applies the Snowball English stemmer (measured on QMSum val in benchmarks/tune_qmsum.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)
# Fillers and back-channels that transcripts of speech are full of.
SPEECH_FILLERS = _words(
    "um umm uh uhh uhm hmm hm mm mmm mhm er erm ah oh eh yeah yep yup okay ok like "
    "gonna wanna gotta kinda sorta"
)
STOPWORDS = (
    frozenset(STOPWORDS_EN)
    | SPEECH_FILLERS
    | _words(
        "i me my we our you your he him his she her they them their what which who whom "
        "this that these those am was were been being have has had do does did so just "
        "would could should can will shall may might must s t d ll re ve m don "
        "when where why how about"
    )
)
# Words that frame a question about talk rather than name its topic ("What did X say about…",
# "Summarize the discussion of…"). Dropped from queries only: in the transcripts they can
# be content.
QUESTION_WORDS = _words(
    "summarize summarise summary discuss discussed discussing discussion discussions talk "
    "talked talking say said says think thought opinion opinions mention mentioned"
)
PARAMS_FILE = "lexical.json"


class Tokenizer:
    """Lower-case words, no stopwords or fillers, optionally Snowball-stemmed."""

    def __init__(self, stem: bool = True, stopwords: bool = True) -> None:
        self.stem = stem
        self.use_stopwords = stopwords
        self._stemmer = Stemmer.Stemmer("english") if stem else None
        self._stem_word = (
            lru_cache(maxsize=200_000)(self._stemmer.stemWord) if self._stemmer else None
        )

    def settings(self) -> dict[str, bool]:
        return {"stem": self.stem, "stopwords": self.use_stopwords}

    def fingerprint(self) -> str:
        """Changes whenever the tokens of an indexed text would (so the BM25 index is rebuilt)."""
        words = " ".join(sorted(STOPWORDS)) if self.use_stopwords else ""
        digest = hashlib.blake2b(f"{self.stem}|{TOKEN_RE.pattern}|{words}".encode(), digest_size=8)
        return digest.hexdigest()

    def __call__(self, text: str, query: bool = False) -> list[str]:
        words = TOKEN_RE.findall(text.lower())
        if self.use_stopwords:
            words = [w for w in words if w not in STOPWORDS]
            if query:
                kept = [w for w in words if w not in QUESTION_WORDS]
                words = kept or words  # "What did they say?" keeps its only words
        if self._stem_word is not None:
            words = [self._stem_word(w) for w in words]
        return words


def _one_edit(word: str) -> set[str]:
    """Every string one deletion, swap, replacement or insertion away from `word`."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    return out


TYPO_MIN_LETTERS = 5  # shorter words are one edit from too many others ("peple" is the floor)


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the bundled model's WordPiece vocabulary (~20,000 common English
    words): a word in it is a word, not a typo, even where no transcript says it ("wages",
    "concert"). Empty when the model package is missing."""
    from embeddings.encoder import _default_model_path
    from qa.errors import ModelNotAvailableError

    try:
        lines = (_default_model_path() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    except (ModelNotAvailableError, OSError):
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and w.islower())


class Vocabulary(Protocol):
    """What typo correction asks of an index's terms (`LexicalIndex`, the PostgreSQL store)."""

    def present(self, tokens: list[str]) -> set[str]:
        """Those of `tokens` some passage has."""
        ...

    def frequencies(self, tokens: list[str]) -> dict[str, int]:
        """The document frequency of each of `tokens` some passage has."""
        ...


def corrected_tokens(query: str, tokenizer: Tokenizer, vocabulary: Vocabulary) -> list[str]:
    """The query's tokens, each typo that no passage has replaced by the most frequent known
    token one edit away from it: "electic trucks" searches for "electric". A user's typo
    otherwise drops out of BM25 (the dense half copes on its own). A real word the transcripts
    lack stays as it is ("wages" must not become "age"). Only the edits of an unknown word
    are counted; the query's own words are only looked up."""
    tokens = tokenizer(query, query=True)
    unknown = set(tokens) - vocabulary.present(sorted(set(tokens)))
    if not unknown:
        return tokens
    words = english_words()
    fixes: dict[str, str] = {}
    for word in dict.fromkeys(TOKEN_RE.findall(query.lower())):
        if len(word) < TYPO_MIN_LETTERS or not word.isalpha() or word in words:
            continue
        own = tokenizer(word)
        if len(own) != 1 or own[0] not in unknown or own[0] in fixes:
            continue
        options = vocabulary.frequencies(sorted({t for e in _one_edit(word) for t in tokenizer(e)}))
        if options:
            fixes[own[0]] = max(sorted(options), key=lambda t: options[t])
    return [fixes.get(t, t) for t in tokens]


class LexicalIndex:
    """A bm25s index whose rows are passage ids; `scores` gives every passage's BM25 score."""

    def __init__(self, retriever: bm25s.BM25, tokenizer: Tokenizer, size: int) -> None:
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.size = size
        # True when loaded from an index tokenised differently (older stopwords): rebuild it.
        self.stale = False

    @classmethod
    def build(
        cls,
        texts: list[str],
        tokenizer: Tokenizer | None = None,
        *,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> LexicalIndex:
        tokenizer = tokenizer or Tokenizer()
        retriever = bm25s.BM25(k1=k1, b=b)
        corpus = [tokenizer(t) for t in texts]
        if texts:
            retriever.index(corpus, show_progress=False)
        return cls(retriever, tokenizer, len(texts))

    def knows(self, word: str, typos: bool = True) -> bool:
        """Whether any indexed passage has `word` (after the same tokenising and stemming);
        with `typos`, a word of 7+ letters also counts when one edit makes a known word
        (shorter ones would match other names: "France" is one edit from "Franke")."""
        vocab = self.retriever.vocab_dict
        tokens = self.tokenizer(word)
        if tokens and all(t in vocab for t in tokens):
            return True
        low = word.lower()
        if not typos or len(low) < 7 or not low.isalpha():
            return False
        return any(t in vocab for edit in _one_edit(low) for t in self.tokenizer(edit))

    def present(self, tokens: list[str]) -> set[str]:
        """Those of `tokens` some passage has."""
        vocab = self.retriever.vocab_dict if self.size else {}
        return {t for t in tokens if t and t in vocab}

    def frequencies(self, tokens: list[str]) -> dict[str, int]:
        """Document frequency of each of `tokens` that some passage has."""
        vocab = self.retriever.vocab_dict
        if not vocab or self.size == 0:
            return {}
        indptr = self.retriever.scores["indptr"]
        return {t: int(indptr[vocab[t] + 1] - indptr[vocab[t]]) for t in tokens if t and t in vocab}

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage (zeros when no query word is in the vocabulary)."""
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        vocab = self.retriever.vocab_dict
        tokens = corrected_tokens(query, self.tokenizer, self)
        ids = [vocab[t] for t in tokens if t in vocab]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        params = {
            "size": self.size,
            "tokenizer": self.tokenizer.settings(),
            "fingerprint": self.tokenizer.fingerprint(),
        }
        if self.size:
            self.retriever.save(str(folder), show_progress=False)
        (folder / PARAMS_FILE).write_text(json.dumps(params), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        tokenizer = Tokenizer(**params["tokenizer"])
        size = int(params["size"])
        fingerprint = params.get("fingerprint", "")
        if size:
            retriever = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        else:
            retriever = bm25s.BM25()
        index = cls(retriever, tokenizer, size)
        index.stale = fingerprint != tokenizer.fingerprint()
        return index
