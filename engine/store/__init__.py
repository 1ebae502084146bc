"""The SQLite store: images, cached CNN outputs, runs and predictions, the corrections event log,
tags, vocabularies and projection versions. Open it with `Store.open(path)`.

Nothing here imports Qt; callers get dataclasses, never ORM objects or sessions. SQLAlchemy is
imported only when `Store` (or TAG_SEPARATOR) is first used: the window and the CLI's pure helpers
need the dataclasses and the fold, and importing SQLAlchemy costs about 0.4 s of their start-up.
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    CorrectionError,
    CorruptDatabaseError,
    ForeignDatabaseError,
    NewerSchemaError,
    NotADatabaseError,
    ReadOnlyLocationError,
    StoreError,
)
from .fold import apply_event, fold
from .types import (
    Action,
    CorrectionEvent,
    ExportRecord,
    ImageFile,
    ImageRow,
    ImportReport,
    PredictionRow,
    ProjectionVersionInfo,
    RowError,
    RunInfo,
    Source,
    TaggedImage,
    TagState,
    normalize_path,
)

if TYPE_CHECKING:
    from .repository import TAG_SEPARATOR, Store


def __getattr__(name: str) -> Any:
    if name in ("Store", "TAG_SEPARATOR"):
        from . import repository

        return getattr(repository, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Action",
    "apply_event",
    "CorrectionError",
    "CorrectionEvent",
    "CorruptDatabaseError",
    "ExportRecord",
    "ForeignDatabaseError",
    "ImageFile",
    "ImageRow",
    "ImportReport",
    "NewerSchemaError",
    "NotADatabaseError",
    "PredictionRow",
    "ProjectionVersionInfo",
    "ReadOnlyLocationError",
    "RowError",
    "RunInfo",
    "Source",
    "Store",
    "StoreError",
    "TAG_SEPARATOR",
    "TagState",
    "TaggedImage",
    "fold",
    "normalize_path",
]
