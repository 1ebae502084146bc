"""Migrations: from an empty file and from a database made at every earlier version (the first k
migrations, with data in it) to exactly the schema of `schema.py`, keeping the data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, create_engine, inspect

from tagsight.engine.store import Store
from tagsight.engine.store.database import make_engine
from tagsight.engine.store.migrations import MIGRATIONS, applied_migrations, migrate
from tagsight.engine.store.schema import Base

NAMES = [fn.__name__ for fn in MIGRATIONS]


def affinity(declared: str) -> str:
    """SQLite's type affinity rules (section 3.1 of its datatype documentation)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def schema_of(path: Path) -> dict:
    """Tables with columns (name, affinity, nullable, default), keys, indexes, checks."""
    engine = create_engine(f"sqlite:///{path}")
    insp = inspect(engine)
    result = {}
    for table in insp.get_table_names():
        result[table] = {
            "columns": [
                (c["name"], affinity(str(c["type"])), c["nullable"], c["default"]) for c in insp.get_columns(table)
            ],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]), fk["name"])
                for fk in insp.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]), str(i.get("dialect_options", {}).get("sqlite_where")))
                for i in insp.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "checks": sorted((c["name"], " ".join(c["sqltext"].split())) for c in insp.get_check_constraints(table)),
        }
    engine.dispose()
    return result


@pytest.fixture(scope="module")
def model_schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("model") / "model.db"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return schema_of(path)


def at_version(path: Path, k: int) -> None:
    """A database as tagsight would have left it with only the first k migrations."""
    engine = make_engine(path)
    with engine.begin() as conn:
        migrate(conn, upto=k)
    engine.dispose()


SEEDS = {  # data a user could have had at each version, in that version's SQL
    1: [
        "INSERT INTO images VALUES (1, '/photos/a.jpg', 'aa', 10, 20, 640, 480, 1, 2)",
        "INSERT INTO model_outputs VALUES ('aa', 'm', '<f4', ?, ?, 3)",
    ],
    2: [
        "INSERT INTO vocabularies VALUES (1, 'default', 4)",
        "INSERT INTO tags VALUES (1, 'animal', NULL, NULL, 5), (2, 'dog', 1, 1, 6)",
        "INSERT INTO projection_versions VALUES (1, 'glove', 7, '{}', '{\"hit@1\": 0.4}', x'00ff', 1)",
    ],
    3: [
        "INSERT INTO runs VALUES (1, 'm', 'glove', 1, 'conse', NULL, 8, 9)",
        "INSERT INTO predictions VALUES (1, 1, 1, 'dog', 0.75)",
    ],
}
LOGITS = np.arange(1000, dtype="<f4")
FEATURES = np.ones(1280, dtype="<f4")


def seed(path: Path, k: int) -> None:
    conn = sqlite3.connect(path)
    for version in range(1, k + 1):
        for sql in SEEDS.get(version, []):
            conn.execute(sql, (LOGITS.tobytes(), FEATURES.tobytes()) if "?" in sql else ())
    conn.commit()
    conn.close()


def check_seeded_data(store: Store, k: int) -> None:
    if k >= 1:
        [image] = store.find_by_hash("aa")
        assert (image.path, image.width) == (Path("/photos/a.jpg"), 640)
        logits, features = store.get_outputs("aa", "m")
        assert np.array_equal(logits, LOGITS) and np.array_equal(features, FEATURES)
    if k >= 2:
        assert store.tag_path("dog") == "animal|dog"
        assert store.active_projection_version("glove").metrics == {"hit@1": 0.4}
    if k >= 3:
        assert store.run(1).vocabulary == "default"
        assert store.latest_predictions(1)[0].label == "dog"


def test_from_an_empty_file_gives_the_model_schema(tmp_path: Path, model_schema: dict) -> None:
    path = tmp_path / "t.db"
    path.touch()
    Store.open(path).close()
    assert schema_of(path) == model_schema
    conn = sqlite3.connect(path)
    assert [n for (n,) in conn.execute("SELECT name FROM _tagsight_migrations ORDER BY rowid")] == NAMES
    conn.close()


@pytest.mark.parametrize("k", range(len(MIGRATIONS)), ids=lambda k: f"from-v{k}")
def test_from_every_earlier_version_keeping_data(tmp_path: Path, model_schema: dict, k: int) -> None:
    path = tmp_path / "t.db"
    at_version(path, k)
    seed(path, k)
    with Store.open(path) as store:
        assert store.applied_migrations() == NAMES
        assert store.integrity_check() == ["ok"]
        check_seeded_data(store, k)
        # The upgraded database is fully usable, foreign keys included.
        img = tmp_path / "new.jpg"
        img.write_bytes(b"new")
        store.add_correction(img, "dog", "accept")
        assert store.current_tags(img) == ["dog"]
    assert schema_of(path) == model_schema


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    at_version(path, 2)
    seed(path, 2)
    before = schema_of(path)

    def m999_broken(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        conn.exec_driver_sql("ALTER TABLE no_such_table ADD COLUMN y INTEGER")

    MIGRATIONS.append(m999_broken)
    try:
        with pytest.raises(Exception, match="no_such_table"):
            Store.open(path)
    finally:
        MIGRATIONS.remove(m999_broken)
    assert schema_of(path) == before  # m003, m004 and half_done all rolled back
    engine = make_engine(path)
    with engine.connect() as conn:
        assert applied_migrations(conn) == NAMES[:2]
    engine.dispose()
