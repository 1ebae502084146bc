"""Named schema migrations, applied in order and recorded in `_tagsight_migrations`.

Each migration is a function; its name is its identity, so never rename or edit one that has
shipped: add a new one at the end. The SQL is frozen here (not generated from `schema.py`), because
a migration must keep producing the schema of its own time. `tests/engine/test_migrations.py` checks
that migrating an empty file gives exactly the tables of `schema.py`, and upgrades a database made
at every earlier version (the first k migrations) with data in it.

All pending migrations run inside the caller's write transaction: an upgrade that fails half-way
leaves the file as it was.
"""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, text

from .errors import NewerSchemaError
from .schema import MIGRATIONS_TABLE

MigrationFn = Callable[[Connection], None]
MIGRATIONS: list[MigrationFn] = []


def migration(fn: MigrationFn) -> MigrationFn:
    MIGRATIONS.append(fn)
    return fn


def _script(conn: Connection, sql: str) -> None:
    for statement in sql.split(";"):
        if statement.strip():
            conn.exec_driver_sql(statement)


def ensure_migrations_table(conn: Connection) -> None:
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
        f" name TEXT NOT NULL CONSTRAINT pk_{MIGRATIONS_TABLE} PRIMARY KEY,"
        " applied_us INTEGER NOT NULL)"
    )


def applied_migrations(conn: Connection) -> list[str]:
    """Names of the applied migrations, in the order they were applied."""
    rows = conn.execute(text(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY applied_us, rowid"))
    return [name for (name,) in rows]


def migrate(conn: Connection, *, upto: int | None = None, database: str = "database") -> list[str]:
    """Apply the pending migrations among the first `upto` (all by default); return their names.

    Raises `NewerSchemaError` when the file records a migration this version does not know:
    it was written by a newer tagsight, and writing to it could damage it.
    """
    ensure_migrations_table(conn)
    applied = set(applied_migrations(conn))
    known = {fn.__name__ for fn in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise NewerSchemaError(
            f"{database}: written by a newer tagsight (unknown migrations: {', '.join(unknown)}); "
            "upgrade tagsight to open it"
        )
    done: list[str] = []
    for fn in MIGRATIONS[:upto]:
        if fn.__name__ in applied:
            continue
        fn(conn)
        conn.execute(
            text(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_us) VALUES (:name, :now)"),
            {"name": fn.__name__, "now": time.time_ns() // 1000},
        )
        done.append(fn.__name__)
    return done


@migration
def m001_images_and_model_outputs(conn: Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE images (
            id INTEGER NOT NULL CONSTRAINT pk_images PRIMARY KEY,
            path TEXT NOT NULL CONSTRAINT uq_images_path UNIQUE,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            width INTEGER,
            height INTEGER,
            first_seen_us INTEGER NOT NULL,
            last_seen_us INTEGER NOT NULL
        );
        CREATE INDEX ix_images_sha256 ON images (sha256);
        CREATE TABLE model_outputs (
            sha256 TEXT NOT NULL,
            model_id TEXT NOT NULL,
            dtype TEXT NOT NULL,
            logits BLOB NOT NULL,
            features BLOB NOT NULL,
            created_us INTEGER NOT NULL,
            CONSTRAINT pk_model_outputs PRIMARY KEY (sha256, model_id)
        );
        """,
    )


@migration
def m002_vocabularies_tags_projections(conn: Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE vocabularies (
            id INTEGER NOT NULL CONSTRAINT pk_vocabularies PRIMARY KEY,
            name TEXT NOT NULL CONSTRAINT uq_vocabularies_name UNIQUE,
            created_us INTEGER NOT NULL
        );
        CREATE TABLE tags (
            id INTEGER NOT NULL CONSTRAINT pk_tags PRIMARY KEY,
            name TEXT NOT NULL CONSTRAINT uq_tags_name UNIQUE,
            parent_id INTEGER,
            vocabulary_id INTEGER,
            created_us INTEGER NOT NULL,
            CONSTRAINT fk_tags_parent_id_tags FOREIGN KEY (parent_id) REFERENCES tags (id),
            CONSTRAINT fk_tags_vocabulary_id_vocabularies FOREIGN KEY (vocabulary_id) REFERENCES vocabularies (id)
        );
        CREATE TABLE projection_versions (
            id INTEGER NOT NULL CONSTRAINT pk_projection_versions PRIMARY KEY,
            backend TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            training_summary TEXT NOT NULL,
            metrics TEXT NOT NULL,
            params BLOB NOT NULL,
            active BOOLEAN NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX ix_projection_versions_one_active
            ON projection_versions (backend) WHERE active;
        """,
    )


@migration
def m003_runs_and_predictions(conn: Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE runs (
            id INTEGER NOT NULL CONSTRAINT pk_runs PRIMARY KEY,
            model_id TEXT NOT NULL,
            backend TEXT NOT NULL,
            vocabulary_id INTEGER NOT NULL,
            projection TEXT NOT NULL,
            projection_version_id INTEGER,
            started_us INTEGER NOT NULL,
            finished_us INTEGER,
            CONSTRAINT fk_runs_vocabulary_id_vocabularies FOREIGN KEY (vocabulary_id) REFERENCES vocabularies (id),
            CONSTRAINT fk_runs_projection_version_id_projection_versions
                FOREIGN KEY (projection_version_id) REFERENCES projection_versions (id)
        );
        CREATE TABLE predictions (
            run_id INTEGER NOT NULL,
            image_id INTEGER NOT NULL,
            rank INTEGER NOT NULL,
            label TEXT NOT NULL,
            score REAL NOT NULL,
            CONSTRAINT pk_predictions PRIMARY KEY (run_id, image_id, rank),
            CONSTRAINT fk_predictions_run_id_runs FOREIGN KEY (run_id) REFERENCES runs (id),
            CONSTRAINT fk_predictions_image_id_images FOREIGN KEY (image_id) REFERENCES images (id)
        );
        CREATE INDEX ix_predictions_image_id_run_id ON predictions (image_id, run_id);
        """,
    )


@migration
def m004_corrections_event_log(conn: Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE corrections (
            id INTEGER NOT NULL CONSTRAINT pk_corrections PRIMARY KEY,
            uid TEXT NOT NULL CONSTRAINT uq_corrections_uid UNIQUE,
            batch TEXT NOT NULL,
            image_id INTEGER NOT NULL,
            label TEXT NOT NULL,
            action TEXT NOT NULL,
            previous TEXT,
            target_id INTEGER,
            time_us INTEGER NOT NULL,
            source TEXT NOT NULL,
            CONSTRAINT fk_corrections_image_id_images FOREIGN KEY (image_id) REFERENCES images (id),
            CONSTRAINT fk_corrections_target_id_corrections FOREIGN KEY (target_id) REFERENCES corrections (id),
            CONSTRAINT ck_corrections_action
                CHECK (action IN ('accept', 'reject', 'add', 'rename', 'undo')),
            CONSTRAINT ck_corrections_source CHECK (source IN ('gui', 'cli', 'import')),
            CONSTRAINT ck_corrections_rename_has_previous
                CHECK (action != 'rename' OR previous IS NOT NULL),
            CONSTRAINT ck_corrections_previous_only_rename
                CHECK (action IN ('rename', 'undo') OR previous IS NULL),
            CONSTRAINT ck_corrections_undo_target
                CHECK ((action = 'undo') = (target_id IS NOT NULL))
        );
        CREATE INDEX ix_corrections_batch ON corrections (batch);
        CREATE INDEX ix_corrections_image_id_id ON corrections (image_id, id);
        CREATE INDEX ix_corrections_target_id ON corrections (target_id);
        """,
    )
