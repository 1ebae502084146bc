"""The SQLite store: images, cached CNN outputs, runs and predictions, the corrections event log,
tags, vocabularies and projection versions. Open it with `Store.open(path)`.

Nothing here imports Qt; callers get dataclasses, never ORM objects or sessions.
"""

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
from .repository import TAG_SEPARATOR, Store
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
