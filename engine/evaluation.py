"""Tagging-quality measures shared by the tests and the benchmark scripts (DESIGN.md section 4)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    class_index: int
    names: str  # the class's synonyms, ", "-joined


def read_labels(folder: Path) -> list[LabelledImage]:
    """`labels.csv` of an evaluation folder: file, class_index, wnid, names."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        return [
            LabelledImage(folder / row["file"], int(row["class_index"]), row["names"])
            for row in csv.DictReader(handle)
        ]


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def hit_at(predicted: Sequence[str], truth: str, k: int) -> bool:
    """A label counts when it names the image's class (the same synonym list)."""
    return truth in predicted[:k]


def shares_word(predicted: Iterable[str], truth: str) -> bool:
    """Open-vocabulary check: some predicted label shares a word with the class's names."""
    names = words(truth)
    return any(words(label) & names for label in predicted)
