"""The store on real SQLite files: pragmas, bad files left untouched, read-only locations, images
and the output cache, runs, durability under SIGKILL and two processes writing at once."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from tagsight.engine.store import (
    CorrectionError,
    CorruptDatabaseError,
    ForeignDatabaseError,
    ImageFile,
    NewerSchemaError,
    NotADatabaseError,
    PredictionRow,
    Store,
    StoreError,
    TaggedImage,
)
from tagsight.engine.store.migrations import MIGRATIONS


def make_images(folder: Path, n: int, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{prefix}{i:04d}.jpg"
        path.write_bytes(f"{prefix} image {i}".encode() + os.urandom(16))
        paths.append(path)
    return paths


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "db" / "tagsight.db") as s:
        yield s


# -- opening --------------------------------------------------------------------------------------


def test_open_creates_folder_migrates_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "t.db"
    with Store.open(path) as s:
        assert s.applied_migrations() == [fn.__name__ for fn in MIGRATIONS]
        assert s.integrity_check() == ["ok"]
        with s._engine.connect() as conn:
            pragmas = {
                name: conn.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "busy_timeout": 15000}
    with Store.open(path) as again:  # reopening applies nothing new
        assert again.applied_migrations() == [fn.__name__ for fn in MIGRATIONS]


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with Store.open(path) as s:
        assert s.integrity_check() == ["ok"]


def test_not_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "photo.db"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is a JPEG, not a database" * 100)
    before = snapshot(tmp_path)
    with pytest.raises(NotADatabaseError, match=str(path)):
        Store.open(path)
    assert snapshot(tmp_path) == before  # same bytes, and no -wal / -shm created


def _database_with_data(path: Path, n: int = 300) -> None:
    with Store.open(path) as s:
        for i in range(0, n, 50):
            s.put_outputs_many("m", [(f"h{i + j}", np.full(1000, i + j), np.ones(1280)) for j in range(50)])


def test_truncated_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _database_with_data(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = snapshot(tmp_path)
    with pytest.raises(CorruptDatabaseError, match="truncated") as info:
        Store.open(path)
    assert str(path) in str(info.value)
    assert snapshot(tmp_path) == before


def test_damaged_pages_are_found_by_quick_check_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _database_with_data(path)
    data = bytearray(path.read_bytes())
    page = 4096
    for p in (1, 2, 3):  # the first b-tree pages after page 0 (header and schema)
        data[p * page : (p + 1) * page] = b"\x0d" + b"\xa5" * (page - 1)
    path.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    with pytest.raises(CorruptDatabaseError, match=str(path)):
        Store.open(path)
    assert snapshot(tmp_path) == before


def test_some_other_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    before = snapshot(tmp_path)
    with pytest.raises(ForeignDatabaseError, match="contacts"):
        Store.open(path)
    assert snapshot(tmp_path) == before


def test_database_of_a_newer_tagsight_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _tagsight_migrations VALUES ('m999_from_the_future', 0)")
    conn.commit()
    conn.close()
    before = snapshot(tmp_path)
    with pytest.raises(NewerSchemaError, match="m999_from_the_future"):
        Store.open(path)
    assert snapshot(tmp_path) == before


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="folder"):
        Store.open(tmp_path)


READ_ONLY_PROBE = """
import sys
from pathlib import Path
from tagsight.engine.store import ReadOnlyLocationError, Store
for db in sys.argv[1:]:
    try:
        Store.open(Path(db)).close()
        print("opened", db)
    except ReadOnlyLocationError as exc:
        print("refused", exc)
"""


def _open_in_read_only_folder(folder: Path, *dbs: Path) -> list[str]:
    """Run Store.open on each of `dbs` in a child process that sees `folder` read-only.

    As root, permission bits do not stop writes, so the child gets its own mount namespace with
    `folder` bind-mounted read-only (EROFS, like a read-only share or a locked SD card); nothing
    outside the child sees that mount. Without root, chmod is enough."""
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare(1): cannot make a read-only location")
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(folder)]
        result = subprocess.run(
            [*cmd, sys.executable, "-c", READ_ONLY_PROBE, *map(str, dbs)], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0 and "Traceback" not in result.stderr:
            pytest.skip(f"root without mount rights, no read-only location possible: {result.stderr.strip()}")
    else:
        folder.chmod(0o555)
        try:
            result = subprocess.run(
                [sys.executable, "-c", READ_ONLY_PROBE, *map(str, dbs)], capture_output=True, text=True, timeout=60
            )
        finally:
            folder.chmod(0o755)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_read_only_location_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    existing = folder / "existing.db"
    with Store.open(existing) as s:
        s.add_correction(make_images(tmp_path / "imgs", 1)[0], "dog", "add")
    before = snapshot(folder)
    new, existing_out = _open_in_read_only_folder(folder, folder / "new.db", existing)
    assert new.startswith("refused") and "new.db" in new and "not writable" in new
    assert existing_out.startswith("refused") and "existing.db" in existing_out
    assert snapshot(folder) == before


# -- images and the output cache ------------------------------------------------------------------


def test_fast_path_and_hash_lookup(store: Store, tmp_path: Path) -> None:
    [path] = make_images(tmp_path / "imgs", 1)
    f = ImageFile.from_path(path)
    image_id = store.upsert_image(f.path, f.size, f.mtime_ns, f.sha256, 640, 480)
    row = store.find_unchanged(path, f.size, f.mtime_ns)
    assert row is not None and row.id == image_id and (row.width, row.height) == (640, 480)
    assert store.find_unchanged(path, f.size, f.mtime_ns + 1) is None
    assert store.find_unchanged(path, f.size + 1, f.mtime_ns) is None
    assert [r.id for r in store.find_by_hash(f.sha256)] == [image_id]
    # Same path, new content: same image, new hash.
    path.write_bytes(b"edited")
    g = ImageFile.from_path(path)
    assert store.upsert_images([g]) == [image_id]
    assert store.image(image_id).sha256 == g.sha256
    many = store.find_unchanged_many([(path, g.size, g.mtime_ns), (tmp_path / "nope.jpg", 1, 1)])
    assert list(many) == [g.path]


def test_moved_file_keeps_its_image_and_corrections(store: Store, tmp_path: Path) -> None:
    [path] = make_images(tmp_path / "imgs", 1)
    image_id = store.upsert_images([ImageFile.from_path(path)])[0]
    store.add_correction(image_id, "dog", "accept")
    moved = tmp_path / "elsewhere" / "renamed.jpg"
    moved.parent.mkdir()
    path.rename(moved)
    assert store.upsert_images([ImageFile.from_path(moved)]) == [image_id]
    assert store.current_tags(moved) == ["dog"]
    assert store.image(image_id).path == moved
    # A copy (the original still exists) is a different image.
    copy = tmp_path / "copy.jpg"
    shutil.copy(moved, copy)
    assert store.upsert_images([ImageFile.from_path(copy)]) != [image_id]
    assert len(store.find_by_hash(ImageFile.from_path(copy).sha256)) == 2


def test_model_outputs_round_trip_exactly(store: Store) -> None:
    rng = np.random.default_rng(1)
    logits = rng.standard_normal(1000).astype(np.float32) * 10
    features = rng.random(1280).astype(np.float32)
    store.put_outputs("aa", "efficientnet-lite0", logits, features)
    got_logits, got_features = store.get_outputs("aa", "efficientnet-lite0")
    assert got_logits.dtype == np.float32 and got_logits.shape == (1000,)
    assert np.array_equal(got_logits, logits) and np.array_equal(got_features, features)
    got_logits[0] = 1.0  # writable copies, not views on the blob
    assert store.get_outputs("aa", "other-model") is None
    assert store.get_outputs("bb", "efficientnet-lite0") is None
    # A hash already cached is kept (first write wins), not an error.
    store.put_outputs("aa", "efficientnet-lite0", np.zeros(1000), np.zeros(1280))
    assert np.array_equal(store.get_outputs("aa", "efficientnet-lite0")[0], logits)
    store.put_outputs_many("m", [(f"h{i}", np.full(1000, i), np.full(1280, -i)) for i in range(700)])
    found = store.get_outputs_many([f"h{i}" for i in range(0, 700, 3)] + ["missing"], "m")
    assert len(found) == len(range(0, 700, 3)) and found["h699"][0][0] == 699 and found["h699"][1][0] == -699


def test_record_batch_runs_and_latest_predictions(store: Store, tmp_path: Path) -> None:
    paths = make_images(tmp_path / "imgs", 3)
    run1 = store.start_run("m", "glove", "default", "conse:T=10")
    items = [
        TaggedImage(ImageFile.from_path(p), [("dog", 0.9, 1), ("cat", 0.4, 2)], (np.ones(1000), np.ones(1280)))
        for p in paths
    ]
    ids = store.record_batch(run1, "m", items)
    assert len(set(ids)) == 3
    store.finish_run(run1)
    info = store.run(run1)
    assert info.vocabulary == "default" and info.finished is not None and info.finished >= info.started
    assert store.get_outputs(items[0].image.sha256, "m") is not None
    run2 = store.start_run("m", "word2vec", "mine", "conse:T=5")
    store.add_predictions(run2, ids[0], [PredictionRow("wolf", 0.7, 1)])
    assert store.latest_predictions(paths[0]) == [PredictionRow("wolf", 0.7, 1)]
    assert store.latest_predictions(paths[1], min_score=0.5) == [PredictionRow("dog", 0.9, 1)]
    assert store.latest_predictions(tmp_path / "unknown.jpg") == []


def test_batch_block_is_one_transaction(store: Store, tmp_path: Path) -> None:
    paths = make_images(tmp_path / "imgs", 2)
    with pytest.raises(RuntimeError):
        with store.batch():
            store.upsert_images([ImageFile.from_path(paths[0])])
            raise RuntimeError("crash in the middle of a batch")
    assert store.images() == []
    with store.batch():
        store.upsert_images([ImageFile.from_path(paths[0])])
        store.upsert_images([ImageFile.from_path(paths[1])])
        with Store.open(store.path) as other:  # another connection does not see it yet
            assert other.images() == []
    assert len(store.images()) == 2


def test_projection_versions_one_active_per_backend(store: Store) -> None:
    a = store.add_projection_version("glove", b"\x00" * 64, training_summary={"images": 10}, metrics={"hit@1": 0.5})
    b = store.add_projection_version("glove", b"\x01" * 64, activate=True)
    c = store.add_projection_version("word2vec", b"\x02", activate=True)
    assert store.active_projection_version("glove").id == b
    store.activate_projection_version(a)
    active = store.active_projection_version("glove")
    assert (active.id, active.params, active.metrics, active.training_summary) == (a, b"\x00" * 64, {"hit@1": 0.5}, {"images": 10})
    assert store.active_projection_version("word2vec").id == c
    store.deactivate_projection("glove")
    assert store.active_projection_version("glove") is None
    assert [v.id for v in store.projection_versions("glove")] == [a, b]


def test_tag_hierarchy(store: Store) -> None:
    store.set_tag_parent("dog", "mammal")
    store.set_tag_parent("mammal", "animal")
    assert store.tag_path("dog") == "animal|mammal|dog"
    assert store.tag_path("never seen") == "never seen"
    with pytest.raises(CorrectionError, match="cycle"):
        store.set_tag_parent("animal", "dog")
    store.set_tag_parent("dog", None)
    assert store.tag_path("dog") == "dog"
    assert store.tag_names() == ["animal", "dog", "mammal"]


def test_export_records(store: Store, tmp_path: Path) -> None:
    a, b, c = make_images(tmp_path / "imgs", 3)
    run = store.start_run("m", "glove", "default", "conse")
    ids = store.record_batch(
        run,
        "m",
        [TaggedImage(ImageFile.from_path(p), [("dog", 0.9, 1), ("cat", 0.6, 2), ("fox", 0.1, 3)]) for p in (a, b, c)],
    )
    store.add_correction(a, "dog", "accept")
    store.add_correction(a, "cat", "reject")
    store.add_correction(b, "puppy", "add")
    store.add_correction(b, "puppy", "reject")  # all tags removed: still exported, to clean sidecars
    store.set_tag_parent("dog", "animal")
    plain = {r.path.name: r for r in store.export_records()}
    assert set(plain) == {a.name, b.name}
    assert plain[a.name].tags == ("animal|dog",) and plain[a.name].predictions is None
    assert plain[b.name].tags == ()
    full = {r.path.name: r for r in store.export_records(with_predictions=True, min_score=0.5)}
    assert [p.label for p in full[a.name].predictions] == []  # dog confirmed, cat rejected
    assert [p.label for p in full[c.name].predictions] == ["dog", "cat"]
    assert ids  # images recorded


# -- durability and concurrency (real processes) --------------------------------------------------

TAGGER = """
import sys
import numpy as np
from pathlib import Path
from tagsight.engine.store import ImageFile, Store, TaggedImage
db, folder = Path(sys.argv[1]), Path(sys.argv[2])
store = Store.open(db)
run = store.start_run("m", "glove", "default", "conse")
files = sorted(folder.iterdir())
rng = np.random.default_rng(0)
done = {r.path for r in store.images()}
todo = [p for p in files if p not in done]
for start in range(0, len(todo), 8):
    chunk = todo[start:start + 8]
    batch = [
        TaggedImage(ImageFile.from_path(p), [(p.stem, 0.5, 1)],
                    (rng.random(1000, dtype=np.float32), rng.random(1280, dtype=np.float32)))
        for p in chunk
    ]
    store.record_batch(run, "m", batch)  # committed when it returns
    for item in batch:
        print(item.image.path, flush=True)
store.finish_run(run)
"""


def test_sigkill_loses_nothing_that_was_printed(tmp_path: Path) -> None:
    files = make_images(tmp_path / "imgs", 300)
    db = tmp_path / "t.db"
    child = subprocess.Popen(
        [sys.executable, "-c", TAGGER, str(db), str(tmp_path / "imgs")], stdout=subprocess.PIPE, text=True
    )
    printed = []
    while len(printed) < 100:
        line = child.stdout.readline()
        assert line, "tagger ended early"
        printed.append(Path(line.strip()))
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with Store.open(db) as s:
        assert s.integrity_check() == ["ok"]
        for path in printed:
            row = s.image(path)
            assert row is not None, path
            assert s.latest_predictions(path)[0].label == path.stem
            assert s.get_outputs(row.sha256, "m") is not None
    # Running again finishes the rest.
    subprocess.run([sys.executable, "-c", TAGGER, str(db), str(tmp_path / "imgs")], check=True, capture_output=True)
    with Store.open(db) as s:
        assert {r.path for r in s.images()} == set(files)
        assert s.integrity_check() == ["ok"]


WRITER = """
import sys, time
from pathlib import Path
from tagsight.engine.store import ImageFile, Store, TaggedImage
db, folder, name, n, go = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
while not go.exists():
    time.sleep(0.005)
store = Store.open(db)  # both processes may create and migrate the file at the same moment
files = sorted(folder.iterdir())
run = store.start_run("m", "glove", name, "conse")
for i in range(n):
    store.add_correction(files[i % len(files)], f"{name}-{i}", "add", source="cli")
    if i % 10 == 0:
        store.record_batch(run, "m", [TaggedImage(ImageFile.from_path(files[(i + k) % len(files)]),
                                                  [(name, 0.5, 1)]) for k in range(5)])
store.close()
print("done", name)
"""


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    make_images(tmp_path / "imgs", 20)
    db, go = tmp_path / "shared.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(tmp_path / "imgs"), name, "40", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alice", "bob")
    ]
    time.sleep(0.3)  # let both start their interpreters, then release them together
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with Store.open(db) as s:
        labels = [e.label for e in s.corrections()]
        assert sorted(labels) == sorted([f"alice-{i}" for i in range(40)] + [f"bob-{i}" for i in range(40)])
        assert s.integrity_check() == ["ok"]
        assert len(s.images()) == 20
