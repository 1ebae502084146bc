"""The store's tables as SQLAlchemy 2.0 typed declarative models: the schema *after* every migration.

Migrations (`migrations.py`) create these tables with frozen SQL; a test checks that a database
migrated from empty matches these models column for column, so the two cannot drift apart.

Times are integers: microseconds since the Unix epoch, UTC (`*_us`). They sort, compare and
round-trip exactly, which text or float timestamps do not.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ACTIONS = ("accept", "reject", "add", "rename", "undo")
SOURCES = ("gui", "cli", "import")

MIGRATIONS_TABLE = "_tagsight_migrations"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Migration(Base):
    """One applied migration, by function name (see `migrations.py`)."""

    __tablename__ = MIGRATIONS_TABLE
    name: Mapped[str] = mapped_column(primary_key=True)
    applied_us: Mapped[int]


class Image(Base):
    """A file seen on disk. `path` is absolute; a moved file keeps its row (found by `sha256`)."""

    __tablename__ = "images"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    mtime_ns: Mapped[int]
    width: Mapped[int | None]
    height: Mapped[int | None]
    first_seen_us: Mapped[int]
    last_seen_us: Mapped[int]


class ModelOutput(Base):
    """CNN outputs cached by content, so a moved or duplicated file is never run twice.

    `logits` and `features` are raw little-endian arrays of `dtype` (today always '<f4').
    """

    __tablename__ = "model_outputs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(primary_key=True)
    dtype: Mapped[str]
    logits: Mapped[bytes] = mapped_column(LargeBinary)
    features: Mapped[bytes] = mapped_column(LargeBinary)
    created_us: Mapped[int]


class Vocabulary(Base):
    __tablename__ = "vocabularies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    created_us: Mapped[int]


class Tag(Base):
    """A label the user has used, with an optional parent for hierarchical keywords."""

    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id"))
    vocabulary_id: Mapped[int | None] = mapped_column(ForeignKey("vocabularies.id"))
    created_us: Mapped[int]


class ProjectionVersion(Base):
    """A trained projection (image features -> word space), for the retraining issue.

    At most one version per backend is active (partial unique index).
    """

    __tablename__ = "projection_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str]
    created_us: Mapped[int]
    training_summary: Mapped[str]  # JSON text
    metrics: Mapped[str]  # JSON text
    params: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(server_default=text("0"))

    __table_args__ = (
        Index(
            "ix_projection_versions_one_active",
            "backend",
            unique=True,
            sqlite_where=text("active"),
        ),
    )


class Run(Base):
    """One `tag` invocation: which model, backend, vocabulary and projection made its predictions."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str]
    backend: Mapped[str]
    vocabulary_id: Mapped[int] = mapped_column(ForeignKey("vocabularies.id"))
    projection: Mapped[str]
    projection_version_id: Mapped[int | None] = mapped_column(ForeignKey("projection_versions.id"))
    started_us: Mapped[int]
    finished_us: Mapped[int | None]


class Prediction(Base):
    __tablename__ = "predictions"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), primary_key=True)
    rank: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str]
    score: Mapped[float]

    __table_args__ = (Index("ix_predictions_image_id_run_id", "image_id", "run_id"),)


class Correction(Base):
    """The append-only event log of what the user did. Rows are never updated or deleted.

    `batch` groups the events of one user action (a multi-selection, an import) into one undo step.
    An `undo` event points at the event it reverts (`target_id`) and copies its image and labels,
    so per-image queries see it; undoing an `undo` event re-applies the original (redo).
    `uid` identifies an event across databases, so exports re-import without duplicates.
    """

    __tablename__ = "corrections"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(unique=True)
    batch: Mapped[str] = mapped_column(index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    label: Mapped[str]
    action: Mapped[str]
    previous: Mapped[str | None]
    target_id: Mapped[int | None] = mapped_column(ForeignKey("corrections.id"), index=True)
    time_us: Mapped[int]
    source: Mapped[str]

    __table_args__ = (
        CheckConstraint("action IN ('accept', 'reject', 'add', 'rename', 'undo')", name="action"),
        CheckConstraint("source IN ('gui', 'cli', 'import')", name="source"),
        CheckConstraint("action != 'rename' OR previous IS NOT NULL", name="rename_has_previous"),
        CheckConstraint("action IN ('rename', 'undo') OR previous IS NULL", name="previous_only_rename"),
        CheckConstraint("(action = 'undo') = (target_id IS NOT NULL)", name="undo_target"),
        Index("ix_corrections_image_id_id", "image_id", "id"),
    )
