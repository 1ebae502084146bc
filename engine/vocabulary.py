"""Label sets and their vectors.

A label is one line of a vocabulary: either a single name ("dog") or synonyms separated by ", "
("tabby, tabby cat"). Its vector is the mean over its synonyms of the mean of their token vectors, so a
long synonym list does not outweigh a short one.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Callable

import numpy as np

from tagsight.engine import plugins
from tagsight.engine.paths import cache_dir
from tagsight.engine.vectors import WordVectors, normalize_rows


class VocabularyError(ValueError):
    """A vocabulary name or file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Vocabulary:
    name: str
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class EmbeddedVocabulary:
    """The labels of a vocabulary that have a vector in one backend, with unit-length rows.

    `missing` lists the labels dropped because none of their words has a vector.
    """

    vocabulary: Vocabulary
    backend: str
    labels: tuple[str, ...]
    matrix: np.ndarray
    missing: tuple[str, ...] = field(default=())


def synonyms(label: str) -> list[str]:
    return [s.strip() for s in label.split(",") if s.strip()]


def label_vector(vectors: WordVectors, label: str) -> np.ndarray | None:
    """Mean over synonyms of the mean token vector; None when no synonym has any known token."""
    found = [v for v in (vectors.phrase_vector(s).vector for s in synonyms(label)) if v is not None]
    return np.mean(found, axis=0) if found else None


def embed(vocabulary: Vocabulary, vectors: WordVectors) -> EmbeddedVocabulary:
    """The vocabulary's label vectors in `vectors`, from the cache when this pair was embedded before
    (20,000 labels take 1-2 s of Python to embed, a cache hit a few milliseconds)."""
    key = hashlib.sha256("\n".join((vectors.fingerprint, *vocabulary.labels)).encode()).hexdigest()[:32]
    cached = cache_dir() / "vocabularies" / f"{key}.npz"
    try:
        with np.load(cached) as data:
            return EmbeddedVocabulary(vocabulary, vectors.name, tuple(data["labels"].tolist()), data["matrix"],
                                      tuple(data["missing"].tolist()))
    except (OSError, KeyError, ValueError):
        pass  # not cached yet, or an unreadable cache file: embed again
    embedded = _embed(vocabulary, vectors)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, labels=np.array(embedded.labels, dtype=str), matrix=embedded.matrix,
                 missing=np.array(embedded.missing, dtype=str))
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache only costs speed
    return embedded


def _embed(vocabulary: Vocabulary, vectors: WordVectors) -> EmbeddedVocabulary:
    kept: list[str] = []
    rows: list[np.ndarray] = []
    missing: list[str] = []
    for label in vocabulary.labels:
        vector = label_vector(vectors, label)
        if vector is None:
            missing.append(label)
        else:
            kept.append(label)
            rows.append(vector)
    if not kept:
        raise VocabularyError(
            f"vocabulary {vocabulary.name!r}: none of its {len(vocabulary)} labels has a vector in {vectors.name}"
        )
    matrix = normalize_rows(np.stack(rows).astype(np.float32))
    return EmbeddedVocabulary(vocabulary, vectors.name, tuple(kept), matrix, tuple(missing))


@cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class labels in the standard index order, synonyms joined by ", "."""
    text = files("tagsight.resources").joinpath("imagenet1k/classes.tsv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    return tuple(row["names"] for row in sorted(rows, key=lambda r: int(r["index"])))


def default_vocabulary() -> Vocabulary:
    resource = files("tagsight.resources").joinpath("vocabularies/default.txt")
    return Vocabulary("default", _parse_labels(resource.read_text(encoding="utf-8")))


def available_vocabularies() -> dict[str, Callable[[], Vocabulary]]:
    """Named vocabularies offered by plugins (the built-in `default` and `imagenet1k` among them)."""
    registered = plugins.collect_by_name("register_vocabularies", _refused_vocabulary, lambda item: item[0])
    return {name: load for name, load in registered.values()}


def _refused_vocabulary(item: object) -> str | None:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and callable(item[1]):
        return None
    return f"registered {item!r}; expected (name, load)"


def load_vocabulary(name_or_path: str) -> Vocabulary:
    """A vocabulary by name, or a text file with one label per line ('#' starts a comment)."""
    named = available_vocabularies()
    if name_or_path in named:
        return named[name_or_path]()
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(named))
        raise VocabularyError(f"{name_or_path}: no such vocabulary file (named vocabularies: {known})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise VocabularyError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
    labels = _parse_labels(text)
    if not labels:
        raise VocabularyError(f"{path}: no labels (one label per line; '#' starts a comment)")
    return Vocabulary(str(path), labels)


def _parse_labels(text: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for line in text.splitlines():
        label = line.split("#", 1)[0].strip()
        if label:
            seen.setdefault(label, None)
    return tuple(seen)
