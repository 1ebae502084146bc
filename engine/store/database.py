"""Opening the SQLite file: checks that never write, the engine, its pragmas and transactions.

Pragmas, set on every new connection by a `connect` listener:

- `journal_mode=WAL`: readers never block the writer and the writer never blocks readers, so the
  GUI can browse while `tagsight tag` writes; a commit is one append to the -wal file.
- `synchronous=FULL`: each commit is fsynced to the -wal before it returns. NORMAL would survive
  SIGKILL too (the OS still holds the pages) but could drop the last commits on power loss; a
  user's corrections outrank speed, and we commit per batch of images, not per row, so the cost is
  one fsync per batch. Measured here: about 3.7 ms per commit with FULL, 0.07 ms with NORMAL,
  against about 60 ms of CNN time for a batch of 16 images.
- `foreign_keys=ON`: SQLite leaves it off by default, per connection.
- `busy_timeout`: a writer waits up to 15 s for another process's write lock instead of failing.

Transactions: the driver's implicit transactions are turned off and we emit BEGIN ourselves
(SQLAlchemy's documented recipe for pysqlite). Writes use BEGIN IMMEDIATE, which takes the write
lock up front: with a deferred BEGIN, two processes that both read then write can deadlock, and
SQLite then fails one of them at once without waiting. Reads use a plain BEGIN (a WAL snapshot).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from .errors import (
    CorruptDatabaseError,
    ForeignDatabaseError,
    NewerSchemaError,
    NotADatabaseError,
    ReadOnlyLocationError,
    StoreError,
)
from .schema import MIGRATIONS_TABLE

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 15_000
WRITE_OPTION = "tagsight_write"
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26


def inspect_file(path: Path, known_migrations: set[str], *, quick_check: bool = True) -> None:
    """Raise a `StoreError` naming `path` if it cannot be a tagsight store. Never writes to it.

    A missing or empty file is fine (a new store). Otherwise: the 16-byte SQLite header, the file
    length against the page count in the header, then a read-only connection runs
    `PRAGMA quick_check` (reads every page; skip it with `quick_check=False`) and looks at the
    tables: some other program's database, or one written by a newer tagsight, is refused.
    """
    if not path.exists():
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a database file")
    try:
        with open(path, "rb") as f:
            header = f.read(100)
        size = path.stat().st_size
    except OSError as exc:
        raise StoreError(f"{path}: cannot read database file: {exc.strerror or exc}") from exc
    if size == 0:
        return
    if not header.startswith(SQLITE_MAGIC):
        raise NotADatabaseError(f"{path}: not an SQLite database (no 'SQLite format 3' header); file left untouched")
    _check_header(path, header, size)
    try:
        tables, applied, problems = _read_only_survey(path, quick_check)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
            raise CorruptDatabaseError(f"{path}: damaged SQLite database ({exc}); file left untouched") from exc
        raise StoreError(f"{path}: cannot read the database ({exc}); file left untouched") from exc
    if problems:
        shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
        raise CorruptDatabaseError(f"{path}: damaged SQLite database (integrity check: {shown}); file left untouched")
    if tables and MIGRATIONS_TABLE not in tables:
        raise ForeignDatabaseError(
            f"{path}: an SQLite database of some other program (tables: {', '.join(sorted(tables)[:5])}); "
            "file left untouched; give tagsight its own file"
        )
    unknown = sorted(set(applied) - known_migrations)
    if unknown:
        raise NewerSchemaError(
            f"{path}: written by a newer tagsight (unknown migrations: {', '.join(unknown)}); "
            "upgrade tagsight to open it; file left untouched"
        )


def _check_header(path: Path, header: bytes, size: int) -> None:
    if len(header) < 100:
        raise CorruptDatabaseError(f"{path}: truncated SQLite database ({size} bytes); file left untouched")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise CorruptDatabaseError(f"{path}: damaged SQLite header (page size {page_size}); file left untouched")
    # The page count in the header is valid when its version stamp matches the change counter.
    # With a -wal file present a crashed checkpoint may have written page 1 before the pages it
    # counts, and the WAL still holds them: only trust the length check without one.
    page_count = int.from_bytes(header[28:32], "big")
    wal = Path(f"{path}-wal")
    has_wal = wal.exists() and wal.stat().st_size > 0
    if header[92:96] == header[24:28] and page_count and not has_wal:
        if size < page_count * page_size:
            raise CorruptDatabaseError(
                f"{path}: truncated SQLite database ({size} bytes, header says "
                f"{page_count} pages of {page_size}); file left untouched"
            )


def _read_only_survey(path: Path, quick_check: bool) -> tuple[set[str], list[str], list[str]]:
    """Tables, applied migrations and integrity problems, through a read-only connection.

    Without a -wal file no connection has the database open in WAL mode, and `immutable=1` lets
    SQLite read it without creating -wal/-shm files next to a file we may be about to refuse.
    With one (a live writer, or a crash), the normal read-only mode reads the WAL's commits too.
    """
    has_wal = Path(f"{path}-wal").exists()
    uri = path.absolute().as_uri() + ("?mode=ro" if has_wal else "?mode=ro&immutable=1")
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied: list[str] = []
        if MIGRATIONS_TABLE in tables:
            applied = [name for (name,) in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")]
        problems: list[str] = []
        if quick_check:
            problems = [msg for (msg,) in conn.execute("PRAGMA quick_check") if msg != "ok"]
        return tables, applied, problems
    finally:
        conn.close()


def ensure_writable(path: Path) -> None:
    """Raise `ReadOnlyLocationError` unless the file and its folder can be written.

    Probes by doing (creating and removing a temporary file; opening the database for update
    without writing): permission bits say nothing for root, and nothing about read-only mounts.
    SQLite needs the folder too, for its -wal and -shm files.
    """
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReadOnlyLocationError(f"{path}: cannot create folder {folder}: {exc.strerror or exc}") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".tagsight-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ReadOnlyLocationError(
            f"{path}: folder {folder} is not writable ({exc.strerror or exc}); "
            "SQLite needs to create files next to the database; choose another location with --db"
        ) from exc
    if path.exists():
        try:
            with open(path, "r+b"):
                pass
        except OSError as exc:
            raise ReadOnlyLocationError(
                f"{path}: database file is not writable ({exc.strerror or exc})"
            ) from exc


def make_engine(path: Path) -> Engine:
    """An engine whose connections carry our pragmas; `WRITE_OPTION` selects BEGIN IMMEDIATE."""
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"check_same_thread": False},  # each connection is used by one thread at a time
    )

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: cannot use write-ahead logging (journal mode stays {mode!r})")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def is_busy(exc: BaseException) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED: another process holds the lock; retrying can succeed."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)
    return isinstance(exc, OperationalError | sqlite3.OperationalError) and "locked" in str(orig)


def describe_error(path: Path, exc: BaseException) -> StoreError:
    """Turn a driver error into a `StoreError` that names the file and the likely cause."""
    orig = getattr(exc, "orig", exc)
    message = str(orig)
    if isinstance(orig, sqlite3.OperationalError) and (
        "readonly" in message or "read-only" in message or "unable to open" in message
    ):
        return ReadOnlyLocationError(f"{path}: cannot write the database ({message})")
    if isinstance(orig, sqlite3.DatabaseError) and ("malformed" in message or "not a database" in message):
        return CorruptDatabaseError(f"{path}: damaged SQLite database ({message})")
    if getattr(orig, "errno", None) in (errno.EROFS, errno.EACCES):
        return ReadOnlyLocationError(f"{path}: cannot write the database ({message})")
    return StoreError(f"{path}: {message}")

