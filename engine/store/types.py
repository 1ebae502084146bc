"""Dataclasses at the store's boundary: callers get these, never ORM objects or sessions."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal, Sequence

Action = Literal["accept", "reject", "add", "rename", "undo"]
Source = Literal["gui", "cli", "import"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def now_us() -> int:
    return to_us(datetime.now(timezone.utc))


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float). A naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def normalize_path(path: Path | str) -> Path:
    """Absolute and normalised, symlinks kept: the path as the user sees it is the image's name."""
    return Path(os.path.normpath(os.path.abspath(path)))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ImageFile:
    """What the scanner knows about a file on disk; input to `Store.upsert_images`."""

    path: Path
    size: int
    mtime_ns: int
    sha256: str
    width: int | None = None
    height: int | None = None

    @classmethod
    def from_path(cls, path: Path | str) -> ImageFile:
        """Stat and hash a file (reads it whole). Width and height stay unknown."""
        path = normalize_path(path)
        st = path.stat()
        return cls(path, st.st_size, st.st_mtime_ns, sha256_file(path))


@dataclass(frozen=True)
class ImageRow:
    id: int
    path: Path
    sha256: str
    size: int
    mtime_ns: int
    width: int | None
    height: int | None


@dataclass(frozen=True)
class PredictionRow:
    label: str
    score: float
    rank: int


@dataclass(frozen=True)
class TaggedImage:
    """One image's results in a batch for `Store.record_batch`.

    `outputs` is (logits, features) when the CNN ran for it, None when they came from the cache.
    `predictions` are (label, score, rank) triples or `PredictionRow`s.
    """

    image: ImageFile
    predictions: Sequence[PredictionRow | tuple[str, float, int]]
    outputs: tuple[object, object] | None = None


@dataclass(frozen=True)
class CorrectionEvent:
    """One row of the event log. `undoes` is the uid of the event an `undo` reverts."""

    id: int
    uid: str
    batch: str
    image_id: int
    path: Path
    label: str
    action: Action
    previous: str | None
    time: datetime
    source: Source
    target_id: int | None = None
    undoes: str | None = None


@dataclass(frozen=True)
class TagState:
    """The corrections of one image, folded.

    `tags`: confirmed tags in the order they were first given. `rejected`: labels the user said
    are wrong. `renamed_from`: labels renamed away. Both are kept out of suggestions (`blocked`).
    """

    tags: tuple[str, ...] = ()
    rejected: frozenset[str] = frozenset()
    renamed_from: frozenset[str] = frozenset()

    @property
    def blocked(self) -> frozenset[str]:
        return self.rejected | self.renamed_from

    @property
    def review(self) -> str:
        """'confirmed' (has tags), 'reviewed' (only turned labels down) or 'unreviewed'."""
        if self.tags:
            return "confirmed"
        return "reviewed" if self.blocked else "unreviewed"


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    """`imported` events written (in one batch, one undo step); `duplicates` already present
    (same event id); `errors` the rows refused, with their line numbers."""

    imported: int
    duplicates: int
    errors: tuple[RowError, ...]
    batch: str | None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class RunInfo:
    id: int
    model_id: str
    backend: str
    vocabulary: str
    projection: str
    projection_version_id: int | None
    started: datetime
    finished: datetime | None


@dataclass(frozen=True)
class ProjectionVersionInfo:
    id: int
    backend: str
    created: datetime
    training_summary: dict
    metrics: dict
    params: bytes
    active: bool


@dataclass(frozen=True)
class ExportRecord:
    """One image for the exporters: confirmed tags as hierarchical paths ("animal|dog"), and the
    latest predictions (not blocked, not already confirmed) when asked for."""

    path: Path
    tags: tuple[str, ...]
    predictions: tuple[PredictionRow, ...] | None = None
