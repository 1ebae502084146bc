"""Read-only word vectors: words, a (possibly memory-mapped) matrix, lookups of words and phrases.

Kept apart from any trainer (as gensim's KeyedVectors is): backends produce a `WordVectors`, the
projection and ranking only read it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

# Labels are split into tokens on whitespace, then a token the vectors lack is retried split on
# hyphens, underscores and apostrophes ("jack-o'-lantern" -> "jack", "o", "lantern").
_SUBTOKEN_SPLIT = re.compile(r"[-_'’./]+")


@dataclass(frozen=True)
class PhraseVector:
    """The mean vector of a phrase's tokens, and the tokens that had no vector."""

    vector: np.ndarray | None
    missing: tuple[str, ...]


class WordVectors:
    """Word vectors of one backend. `matrix` rows follow `words`; it may be a read-only memmap."""

    def __init__(self, name: str, words: Sequence[str], matrix: np.ndarray) -> None:
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(f"{name}: {len(words)} words but a matrix of shape {matrix.shape}")
        self.name = name
        self.words = list(words)
        self.matrix = matrix

    def __repr__(self) -> str:
        return f"WordVectors({self.name!r}, {len(self.words)} words, dim {self.dim})"

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @cached_property
    def index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, word in enumerate(self.words):
            index.setdefault(word, i)  # first occurrence wins, as in word2vec files
        return index

    @cached_property
    def fingerprint(self) -> str:
        """Identifies these vectors for caches: name, shape, and a sample of rows and words."""
        digest = hashlib.sha256(f"{self.name}\0{self.matrix.shape}".encode())
        step = max(1, len(self.words) // 512)
        digest.update(np.ascontiguousarray(self.matrix[::step], dtype=np.float32).tobytes())
        digest.update("\0".join(self.words[::step]).encode())
        return digest.hexdigest()[:32]

    @cached_property
    def normalized(self) -> np.ndarray:
        """Unit-length rows (zero rows stay zero), computed once on first use."""
        return normalize_rows(np.asarray(self.matrix, dtype=np.float32))

    def vector(self, word: str) -> np.ndarray | None:
        i = self.index.get(word)
        return None if i is None else np.asarray(self.matrix[i], dtype=np.float32)

    def phrase_vector(self, phrase: str) -> PhraseVector:
        """Mean of the token vectors of `phrase` (lower-cased when the exact token is unknown)."""
        rows: list[int] = []
        missing: list[str] = []
        for token in phrase.split():
            found = self._token_rows(token)
            if found:
                rows.extend(found)
            else:
                missing.append(token)
        if not rows:
            return PhraseVector(None, tuple(missing))
        return PhraseVector(np.asarray(self.matrix[rows], dtype=np.float32).mean(axis=0), tuple(missing))

    def _token_rows(self, token: str) -> list[int]:
        for candidate in (token, token.lower()):
            i = self.index.get(candidate)
            if i is not None:
                return [i]
        parts = [p for p in _SUBTOKEN_SPLIT.split(token.lower()) if p]
        if len(parts) > 1:
            rows = [self.index[p] for p in parts if p in self.index]
            if len(rows) == len(parts):
                return rows
        return []

    def most_similar(self, query: str | np.ndarray, topn: int = 10) -> list[tuple[str, float]]:
        """Nearest words by cosine; a word query is left out of its own neighbours."""
        exclude: set[int] = set()
        if isinstance(query, str):
            phrase = self.phrase_vector(query)
            if phrase.vector is None:
                raise KeyError(f"{self.name} has no vector for {query!r}")
            exclude = {self.index[t] for t in query.split() if t in self.index}
            query = phrase.vector
        q = normalize_rows(np.asarray(query, dtype=np.float32)[None, :])[0]
        scores = self.normalized @ q
        k = min(topn + len(exclude), len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.words[i], float(scores[i])) for i in top if i not in exclude][:topn]


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows are left at zero instead of becoming NaN."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)
