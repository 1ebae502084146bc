"""`Store`: the one object the service uses to read and write the database.

Every public method is its own short transaction and has committed when it returns, unless it
runs inside `with store.batch():`, which groups calls into one transaction committed at the end
of the block. Writes take the write lock up front (BEGIN IMMEDIATE) and are retried with backoff
if another process holds it beyond the busy timeout. Callers get dataclasses, never ORM objects.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TextIO, TypeVar

import numpy as np
from sqlalchemy import Engine, and_, delete, func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ..atomicfile import atomic_open
from . import corrections_io
from .database import WRITE_OPTION, describe_error, ensure_writable, inspect_file, is_busy, make_engine
from .errors import CorrectionError, StoreError
from .events import (
    TAGGING_ACTIONS,
    CorrectionItem,
    ImageRef,
    NewEvent,
    all_states,
    append,
    check_item,
    chunks,
    check_source,
    events,
    redo_targets,
    register_tags,
    revert,
    undo_target_for_row,
    undo_targets,
)
from .fold import fold
from .migrations import MIGRATIONS, applied_migrations, migrate
from .schema import MIGRATIONS_TABLE, Correction, Image, ModelOutput, Prediction, ProjectionVersion, Run, Tag, Vocabulary
from .types import (
    CorrectionEvent,
    ExportRecord,
    ImageFile,
    ImageRow,
    ImportReport,
    PredictionRow,
    ProjectionVersionInfo,
    RowError,
    RunInfo,
    TaggedImage,
    TagState,
    from_us,
    normalize_path,
    now_us,
)

T = TypeVar("T")

MAX_ATTEMPTS = 4  # each attempt already waits up to the busy timeout
OUTPUT_DTYPE = "<f4"
TAG_SEPARATOR = "|"  # Lightroom's separator in lr:hierarchicalSubject


class Store:
    """A tagsight database. Open with `Store.open(path)`; close with `close()` or a `with` block."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self._path = path
        self._engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._local = threading.local()

    @classmethod
    def open(cls, path: Path | str, *, quick_check: bool = True) -> Store:
        """Open (creating if needed) and migrate the database at `path`.

        Before anything writes, the file is checked read-only (header, length, `quick_check`,
        tables): a file that is not SQLite, is damaged, belongs to another program or to a newer
        tagsight raises a `StoreError` naming it and is left untouched. A location that cannot be
        written raises `ReadOnlyLocationError`.
        """
        path = normalize_path(path)
        ensure_writable(path)  # creates the folder at most; never touches the file
        inspect_file(path, {fn.__name__ for fn in MIGRATIONS}, quick_check=quick_check)
        store = cls(path, make_engine(path))
        try:
            # Look first without the write lock: opening must not wait for a busy writer.
            if store._read(lambda s: _pending_migrations(s)):
                store._write(lambda s: migrate(s.connection(), database=str(path)))
        except BaseException:
            store.close()
            raise
        return store

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------------

    def _begin_write(self) -> Session:
        delay = 0.05
        for attempt in range(MAX_ATTEMPTS):
            session = Session(self._write_engine, expire_on_commit=False)
            try:
                session.begin()
                session.connection()  # emits BEGIN IMMEDIATE: the only point that can be busy
                return session
            except DBAPIError as exc:
                session.close()
                if is_busy(exc) and attempt + 1 < MAX_ATTEMPTS:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise describe_error(self._path, exc) from exc
        raise AssertionError("unreachable")

    def _write(self, fn: Callable[[Session], T]) -> T:
        active: Session | None = getattr(self._local, "session", None)
        if active is not None:
            return fn(active)
        session = self._begin_write()
        try:
            result = fn(session)
            session.commit()
            return result
        except IntegrityError:
            session.rollback()
            raise
        except DBAPIError as exc:
            session.rollback()
            raise describe_error(self._path, exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _read(self, fn: Callable[[Session], T]) -> T:
        active: Session | None = getattr(self._local, "session", None)
        if active is not None:
            return fn(active)
        try:
            with Session(self._engine) as session, session.begin():
                return fn(session)
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise describe_error(self._path, exc) from exc

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the calls in the block into one transaction, committed when the block ends.

        Use it for a batch of tagging results, then print them: printed means committed. Nested
        blocks join the outer one. If the block raises, nothing of it is written.
        """
        if getattr(self._local, "session", None) is not None:
            yield
            return
        session = self._begin_write()
        self._local.session = session
        try:
            yield
            session.commit()
        except DBAPIError as exc:
            session.rollback()
            if isinstance(exc, IntegrityError):
                raise
            raise describe_error(self._path, exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            self._local.session = None
            session.close()

    # -- images ---------------------------------------------------------------------------------

    def upsert_image(
        self,
        path: Path | str,
        size: int,
        mtime_ns: int,
        sha256: str,
        width: int | None = None,
        height: int | None = None,
    ) -> int:
        """Record a file; returns its image id. A new path whose content matches an image whose
        file is gone is taken as a move: that image (and its corrections) gets the new path."""
        return self.upsert_images([ImageFile(normalize_path(path), size, mtime_ns, sha256, width, height)])[0]

    def upsert_images(self, files: Sequence[ImageFile]) -> list[int]:
        files = list(files)
        now = now_us()
        return self._write(lambda s: _upsert_many(s, files, now))

    def find_unchanged(self, path: Path | str, size: int, mtime_ns: int) -> ImageRow | None:
        """The image at `path` if its size and mtime are what we recorded (the fast path)."""
        return self.find_unchanged_many([(Path(path), size, mtime_ns)]).get(normalize_path(path))

    def find_unchanged_many(self, files: Iterable[tuple[Path | str, int, int]]) -> dict[Path, ImageRow]:
        """For many (path, size, mtime_ns): the images whose size and mtime are unchanged."""
        wanted = {normalize_path(p): (size, mtime) for p, size, mtime in files}
        keys = [str(p) for p in wanted]

        def run(s: Session) -> dict[Path, ImageRow]:
            found: dict[Path, ImageRow] = {}
            for chunk in chunks(keys):
                for image in s.scalars(select(Image).where(Image.path.in_(chunk))):
                    row = _image_row(image)
                    if wanted[row.path] == (row.size, row.mtime_ns):
                        found[row.path] = row
            return found

        return self._read(run)

    def find_by_hash(self, sha256: str) -> list[ImageRow]:
        return self._read(
            lambda s: [_image_row(i) for i in s.scalars(select(Image).where(Image.sha256 == sha256).order_by(Image.id))]
        )

    def image(self, image: ImageRef) -> ImageRow | None:
        def run(s: Session) -> ImageRow | None:
            found = s.get(Image, image) if isinstance(image, int) else _image_by_path(s, image)
            return _image_row(found) if found is not None else None

        return self._read(run)

    def images(self) -> list[ImageRow]:
        return self._read(lambda s: [_image_row(i) for i in s.scalars(select(Image).order_by(Image.path))])

    # -- model outputs cache --------------------------------------------------------------------

    def put_outputs(self, sha256: str, model_id: str, logits: np.ndarray, features: np.ndarray) -> None:
        self.put_outputs_many(model_id, [(sha256, logits, features)])

    def put_outputs_many(self, model_id: str, items: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> None:
        """Cache CNN outputs by content hash. Stored exactly (raw float32), so a cached result
        ranks exactly like a fresh one. A hash already cached for this model is left as is."""
        now = now_us()
        rows = [
            {
                "sha256": sha,
                "model_id": model_id,
                "dtype": OUTPUT_DTYPE,
                "logits": _pack(logits),
                "features": _pack(features),
                "created_us": now,
            }
            for sha, logits, features in items
        ]
        if rows:
            self._write(lambda s: _insert_outputs(s, rows))

    def get_outputs(self, sha256: str, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(logits, features) as 1-D float32 arrays, or None if not cached."""
        return self.get_outputs_many([sha256], model_id).get(sha256)

    def get_outputs_many(self, sha256s: Iterable[str], model_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        keys = list(dict.fromkeys(sha256s))

        def run(s: Session) -> dict[str, tuple[np.ndarray, np.ndarray]]:
            found = {}
            for chunk in chunks(keys):
                stmt = select(ModelOutput).where(ModelOutput.model_id == model_id, ModelOutput.sha256.in_(chunk))
                for out in s.scalars(stmt):
                    found[out.sha256] = (_unpack(out.logits, out.dtype), _unpack(out.features, out.dtype))
            return found

        return self._read(run)

    # -- runs and predictions -------------------------------------------------------------------

    def start_run(
        self,
        model_id: str,
        backend: str,
        vocabulary: str,
        projection: str,
        projection_version_id: int | None = None,
    ) -> int:
        def run(s: Session) -> int:
            record = Run(
                model_id=model_id,
                backend=backend,
                vocabulary_id=_vocabulary_id(s, vocabulary),
                projection=projection,
                projection_version_id=projection_version_id,
                started_us=now_us(),
            )
            s.add(record)
            s.flush()
            return record.id

        return self._write(run)

    def finish_run(self, run_id: int) -> None:
        self._write(lambda s: s.execute(update(Run).where(Run.id == run_id).values(finished_us=now_us())))

    def run(self, run_id: int) -> RunInfo | None:
        def fetch(s: Session) -> RunInfo | None:
            row = s.execute(
                select(Run, Vocabulary.name).join(Vocabulary, Run.vocabulary_id == Vocabulary.id).where(Run.id == run_id)
            ).first()
            if row is None:
                return None
            r, vocabulary = row
            return RunInfo(
                r.id,
                r.model_id,
                r.backend,
                vocabulary,
                r.projection,
                r.projection_version_id,
                from_us(r.started_us),
                from_us(r.finished_us) if r.finished_us is not None else None,
            )

        return self._read(fetch)

    def add_predictions(
        self, run_id: int, image_id: int, predictions: Sequence[PredictionRow | tuple[str, float, int]]
    ) -> None:
        rows = _prediction_rows(run_id, image_id, predictions)
        self._write(lambda s: _replace_predictions(s, run_id, [image_id], rows))

    def record_batch(self, run_id: int, model_id: str, items: Sequence[TaggedImage]) -> list[int]:
        """Write one batch of tagging results in one transaction: the images, the CNN outputs of
        those that were computed, and their predictions. Returns the image ids, in order.
        When it returns the batch is committed, so the caller may print it."""
        items = list(items)
        now = now_us()
        outputs = [
            {
                "sha256": item.image.sha256,
                "model_id": model_id,
                "dtype": OUTPUT_DTYPE,
                "logits": _pack(item.outputs[0]),
                "features": _pack(item.outputs[1]),
                "created_us": now,
            }
            for item in items
            if item.outputs is not None
        ]

        def run(s: Session) -> list[int]:
            ids = _upsert_many(s, [item.image for item in items], now)
            if outputs:
                _insert_outputs(s, outputs)
            latest = {image_id: _prediction_rows(run_id, image_id, item.predictions) for image_id, item in zip(ids, items)}
            _replace_predictions(s, run_id, ids, [row for rows in latest.values() for row in rows])
            return ids

        return self._write(run)

    def latest_predictions(self, image: ImageRef, *, min_score: float | None = None) -> list[PredictionRow]:
        """The predictions of the newest run that ranked this image, best first."""

        def run(s: Session) -> list[PredictionRow]:
            image_id = _image_id(s, image)
            if image_id is None:
                return []
            latest = s.scalar(select(func.max(Prediction.run_id)).where(Prediction.image_id == image_id))
            stmt = select(Prediction).where(Prediction.image_id == image_id, Prediction.run_id == latest)
            if min_score is not None:
                stmt = stmt.where(Prediction.score >= min_score)
            return [PredictionRow(p.label, p.score, p.rank) for p in s.scalars(stmt.order_by(Prediction.rank))]

        return self._read(run)

    # -- corrections ----------------------------------------------------------------------------

    def add_correction(
        self,
        image: ImageRef,
        label: str,
        action: str,
        previous: str | None = None,
        *,
        source: str = "cli",
    ) -> CorrectionEvent:
        """Append one correction; committed when this returns. `image` is an id or a path (a path
        not yet known is registered, which reads the file to hash it)."""
        return self.add_corrections([(image, label, action, previous)], source=source)[0]

    def add_corrections(self, items: Sequence[CorrectionItem], *, source: str = "gui") -> list[CorrectionEvent]:
        """Append several corrections as ONE user action: one batch, undone together.

        Items are (image, label, action) or (image, label, action, previous); actions are
        accept, reject, add and rename (undo has its own methods). Committed when this returns.
        """
        check_source(source)
        checked = [check_item(item) for item in items]
        refs = self._prepare_refs([image for image, *_ in checked])
        batch = uuid.uuid4().hex

        def run(s: Session) -> list[CorrectionEvent]:
            now = now_us()
            registered = iter(_upsert_many(s, [ref for ref in refs if not isinstance(ref, int)], now))
            image_ids = [ref if isinstance(ref, int) else next(registered) for ref in refs]
            new = [
                NewEvent(image_id, label, action, previous, None, batch, now, source)
                for (_, label, action, previous), image_id in zip(checked, image_ids)
            ]
            ids = append(s, new)
            register_tags(s, ((label, now) for _, label, action, _ in checked if action in TAGGING_ACTIONS))
            return events(s, ids)

        return self._write(run)

    def undo(self, n: int = 1, *, source: str = "cli") -> list[CorrectionEvent]:
        """Revert the last `n` user actions (batches) still in effect, newest first; returns the
        undo events written (empty if there was nothing to undo). Undo events are appended: the
        log keeps everything, and an undone action can be redone with `redo`."""
        check_source(source)
        return self._write(lambda s: events(s, revert(s, undo_targets(s, n), source)))

    def redo(self, n: int = 1, *, source: str = "cli") -> list[CorrectionEvent]:
        """Re-apply the last `n` undone actions, as long as no new correction came after the
        undo (as in an editor: a new action clears the redo history). Returns the events written."""
        check_source(source)
        return self._write(lambda s: events(s, revert(s, redo_targets(s, n), source)))

    def corrections(self, image: ImageRef | None = None) -> list[CorrectionEvent]:
        """The event log in order (all of it, or one image's), undo events included."""

        def run(s: Session) -> list[CorrectionEvent]:
            if image is None:
                return events(s, None)
            image_id = _image_id(s, image)
            return [] if image_id is None else events(s, None, image_id=image_id)

        return self._read(run)

    def tag_state(self, image: ImageRef) -> TagState:
        def run(s: Session) -> TagState:
            image_id = _image_id(s, image)
            if image_id is None:
                return TagState()
            return fold(s.scalars(select(Correction).where(Correction.image_id == image_id)).all())

        return self._read(run)

    def current_tags(self, image: ImageRef) -> list[str]:
        """Confirmed tags of an image: its corrections folded in order (see `fold.py`)."""
        return list(self.tag_state(image).tags)

    def rejected_labels(self, image: ImageRef) -> set[str]:
        """Labels to keep out of this image's suggestions: rejected or renamed away."""
        return set(self.tag_state(image).blocked)

    def tag_states(self, paths: Iterable[Path | str] | None = None) -> dict[Path, TagState]:
        """Image path -> folded state, for every image with corrections (or those of `paths`
        that have any: an image missing from the result was never corrected)."""
        wanted = None if paths is None else {str(normalize_path(p)) for p in paths}

        def run(s: Session) -> dict[Path, TagState]:
            if wanted is None:
                image_paths = {i: p for i, p in s.execute(select(Image.id, Image.path))}
            else:
                image_paths = {i: p for p, i in _image_ids(s, wanted).items()}
            states = all_states(s, None if wanted is None else image_paths.keys())
            return {Path(image_paths[image_id]): state for image_id, state in states.items()}

        return self._read(run)

    def import_corrections(
        self, file: Path | str, *, source: str = "import", base_dir: Path | None = None
    ) -> ImportReport:
        """Import corrections from CSV (or .jsonl): good rows are written in one batch (one undo
        step) and committed; bad rows are reported with their line numbers and skipped.

        Rows carrying an `id` already in the database are skipped as duplicates, so importing a
        file twice, or a teammate's export, adds each event once. An `undo` row reverts the event
        named in `undoes`; without one, the newest event still in effect for that image and label
        (or, if every such event is undone, the newest undo: a redo).
        """
        check_source(source)
        rows, errors = corrections_io.read_rows(Path(file), base_dir)
        refs: dict[Path, int | ImageFile] = {}
        known = self._known_paths([r.path for r in rows])
        good: list[corrections_io.ParsedRow] = []
        for row in rows:
            if row.path not in refs:
                try:
                    refs[row.path] = known[row.path] if row.path in known else ImageFile.from_path(row.path)
                except OSError as exc:
                    errors.append(RowError(row.line, f"cannot read {row.path}: {exc.strerror or exc}"))
                    continue
            good.append(row)
        batch = uuid.uuid4().hex

        def run(s: Session) -> tuple[int, int, list[RowError]]:
            now = now_us()
            imported = duplicates = 0
            problems: list[RowError] = []
            ids: dict[Path, int] = {}
            tagged: list[tuple[str, int]] = []
            for row in good:
                if row.path not in ids:
                    ref = refs[row.path]
                    ids[row.path] = ref if isinstance(ref, int) else _upsert(s, ref, now)
                image_id = ids[row.path]
                if row.uid is not None and s.scalar(select(Correction.id).where(Correction.uid == row.uid)):
                    duplicates += 1
                    continue
                label, previous, target = row.label, row.previous, None
                if row.action == "undo":
                    target, problem = undo_target_for_row(s, image_id, row)
                    if target is None:
                        problems.append(RowError(row.line, problem))
                        continue
                    label, previous = target.label, target.previous
                time_us = row.time_us if row.time_us is not None else now
                target_id = target.id if target is not None else None
                # One row at a time: a later undo row may target this one.
                append(s, [NewEvent(image_id, label, row.action, previous, target_id, row.batch or batch, time_us,
                                    row.source or source, row.uid)])
                imported += 1
                if row.action in TAGGING_ACTIONS:
                    tagged.append((label, time_us))
            register_tags(s, tagged)
            return imported, duplicates, problems

        imported, duplicates, problems = self._write(run) if good else (0, 0, [])
        errors = sorted(errors + problems, key=lambda e: e.line)
        return ImportReport(imported, duplicates, tuple(errors), batch if imported else None)

    def export_corrections(
        self, out: Path | str | TextIO, fmt: str = "csv", *, relative_to: Path | None = None
    ) -> int:
        """Write the whole event log (columns in `corrections_io.EXPORT_COLUMNS`) as csv or jsonl;
        returns the number of events. A file path is written atomically."""
        writer = {"csv": corrections_io.write_csv, "jsonl": corrections_io.write_jsonl}.get(fmt)
        if writer is None:
            raise ValueError(f"unknown format {fmt!r} (csv or jsonl)")
        events = self.corrections()
        if isinstance(out, (str, Path)):
            with atomic_open(normalize_path(out), "w", newline="") as f:
                return writer(events, f, relative_to)
        return writer(events, out, relative_to)

    # -- vocabularies and tags ------------------------------------------------------------------

    def vocabulary_id(self, name: str) -> int:
        return self._write(lambda s: _vocabulary_id(s, name))

    def tag_names(self) -> list[str]:
        return self._read(lambda s: list(s.scalars(select(Tag.name).order_by(Tag.name))))

    def set_tag_parent(self, tag: str, parent: str | None) -> None:
        """Place `tag` under `parent` (None: top level). Exported as "parent|tag"."""

        def run(s: Session) -> None:
            now = now_us()
            child = _ensure_tag(s, tag, now)
            if parent is None:
                child.parent_id = None
                return
            node: Tag | None = _ensure_tag(s, parent, now)
            while node is not None:
                if node.id == child.id:
                    raise CorrectionError(f"cannot put {tag!r} under {parent!r}: that would make a cycle")
                node = s.get(Tag, node.parent_id) if node.parent_id is not None else None
            child.parent_id = s.scalar(select(Tag.id).where(Tag.name == parent))

        self._write(run)

    def tag_path(self, tag: str) -> str:
        """The hierarchical name of a tag, "animal|dog" (a label may also be written that way)."""
        return self._read(_tag_paths).get(tag, tag)

    # -- projection versions --------------------------------------------------------------------

    def add_projection_version(
        self,
        backend: str,
        params: bytes,
        *,
        training_summary: dict | None = None,
        metrics: dict | None = None,
        activate: bool = False,
    ) -> int:
        def run(s: Session) -> int:
            version = ProjectionVersion(
                backend=backend,
                created_us=now_us(),
                training_summary=json.dumps(training_summary or {}, sort_keys=True),
                metrics=json.dumps(metrics or {}, sort_keys=True),
                params=bytes(params),
                active=False,
            )
            s.add(version)
            s.flush()
            if activate:
                _activate(s, version)
            return version.id

        return self._write(run)

    def activate_projection_version(self, version_id: int) -> None:
        """Make this version the active one of its backend (the previous one is deactivated)."""

        def run(s: Session) -> None:
            version = s.get(ProjectionVersion, version_id)
            if version is None:
                raise StoreError(f"{self._path}: no projection version {version_id}")
            _activate(s, version)

        self._write(run)

    def deactivate_projection(self, backend: str) -> None:
        """No learned projection for this backend: the plain ConSE projection is used."""
        self._write(
            lambda s: s.execute(
                update(ProjectionVersion).where(ProjectionVersion.backend == backend).values(active=False)
            )
        )

    def active_projection_version(self, backend: str) -> ProjectionVersionInfo | None:
        def run(s: Session) -> ProjectionVersionInfo | None:
            stmt = select(ProjectionVersion).where(ProjectionVersion.backend == backend, ProjectionVersion.active)
            version = s.scalar(stmt)
            return _projection_info(version) if version is not None else None

        return self._read(run)

    def projection_versions(self, backend: str | None = None) -> list[ProjectionVersionInfo]:
        def run(s: Session) -> list[ProjectionVersionInfo]:
            stmt = select(ProjectionVersion).order_by(ProjectionVersion.id)
            if backend is not None:
                stmt = stmt.where(ProjectionVersion.backend == backend)
            return [_projection_info(v) for v in s.scalars(stmt)]

        return self._read(run)

    # -- export ---------------------------------------------------------------------------------

    def export_records(self, *, with_predictions: bool = False, min_score: float | None = None) -> list[ExportRecord]:
        """One record per image with corrections (and, with predictions, per image with
        predictions), sorted by path. Tags are hierarchical paths; predictions are those of the
        image's newest run, at least `min_score`, minus blocked and already confirmed labels.
        An image whose tags were all removed still gets a record, so its sidecar is cleaned."""

        def run(s: Session) -> list[ExportRecord]:
            states = all_states(s)
            paths = _tag_paths(s)
            predictions: dict[int, list[PredictionRow]] = {}
            if with_predictions:
                latest = (
                    select(Prediction.image_id, func.max(Prediction.run_id).label("run_id"))
                    .group_by(Prediction.image_id)
                    .subquery()
                )
                stmt = (
                    select(Prediction)
                    .join(latest, and_(Prediction.image_id == latest.c.image_id, Prediction.run_id == latest.c.run_id))
                    .order_by(Prediction.image_id, Prediction.rank)
                )
                if min_score is not None:
                    stmt = stmt.where(Prediction.score >= min_score)
                for p in s.scalars(stmt):
                    predictions.setdefault(p.image_id, []).append(PredictionRow(p.label, p.score, p.rank))
            ids = set(states) | set(predictions)
            image_paths = {}
            for chunk in chunks(sorted(ids)):
                image_paths.update((i, p) for i, p in s.execute(select(Image.id, Image.path).where(Image.id.in_(chunk))))
            records = []
            for image_id in ids:
                state = states.get(image_id, TagState())
                tags = tuple(paths.get(t, t) for t in state.tags)
                preds = None
                if with_predictions:
                    taken = set(state.tags) | {t.rsplit(TAG_SEPARATOR, 1)[-1] for t in tags}
                    preds = tuple(
                        p for p in predictions.get(image_id, []) if p.label not in state.blocked and p.label not in taken
                    )
                records.append(ExportRecord(Path(image_paths[image_id]), tags, preds))
            return sorted(records, key=lambda r: str(r.path))

        return self._read(run)

    # -- maintenance ----------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """`PRAGMA integrity_check` messages: ["ok"] for a sound file."""
        return self._read(lambda s: [m for (m,) in s.execute(text("PRAGMA integrity_check"))])

    def applied_migrations(self) -> list[str]:
        return self._read(lambda s: applied_migrations(s.connection()))

    # -- helpers needing self -------------------------------------------------------------------

    def _known_paths(self, paths: Iterable[Path]) -> dict[Path, int]:
        keys = {str(p) for p in paths}
        if not keys:
            return {}
        return {Path(path): image_id for path, image_id in self._read(lambda s: _image_ids(s, keys)).items()}

    def _prepare_refs(self, refs: Sequence[ImageRef]) -> list[int | ImageFile]:
        """Image ids as they are; paths to their id, or (unknown) to a hashed `ImageFile`.
        Hashing happens here, outside the write transaction, so the lock is held briefly."""
        normalized = [r if isinstance(r, int) else normalize_path(r) for r in refs]
        known = self._known_paths(r for r in normalized if not isinstance(r, int))
        prepared: list[int | ImageFile] = []
        for path in normalized:
            if isinstance(path, int):
                prepared.append(path)
                continue
            if path in known:
                prepared.append(known[path])
                continue
            try:
                prepared.append(ImageFile.from_path(path))
            except OSError as exc:
                raise CorrectionError(f"{path}: not a known image and cannot be read ({exc.strerror or exc})") from exc
        return prepared


# -- module helpers (each takes the session of the caller's transaction) -------------------------


def _pending_migrations(s: Session) -> bool:
    conn = s.connection()
    if not conn.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE name = '{MIGRATIONS_TABLE}'").first():
        return True
    return set(applied_migrations(conn)) != {fn.__name__ for fn in MIGRATIONS}


def _pack(array: object) -> bytes:
    return np.ascontiguousarray(array, dtype=OUTPUT_DTYPE).ravel().tobytes()


def _unpack(blob: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(blob, dtype=dtype).astype(np.float32)  # astype copies: writable, native


def _insert_outputs(s: Session, rows: list[dict]) -> None:
    stmt = sqlite_insert(ModelOutput.__table__).on_conflict_do_nothing(index_elements=["sha256", "model_id"])
    s.execute(stmt, rows)


def _image_row(image: Image) -> ImageRow:
    return ImageRow(image.id, Path(image.path), image.sha256, image.size, image.mtime_ns, image.width, image.height)


def _image_by_path(s: Session, path: Path | str) -> Image | None:
    return s.scalar(select(Image).where(Image.path == str(normalize_path(path))))


def _image_id(s: Session, image: ImageRef) -> int | None:
    if isinstance(image, int):
        return image if s.get(Image, image) is not None else None
    found = _image_by_path(s, image)
    return found.id if found is not None else None


def _image_ids(s: Session, paths: Iterable[str]) -> dict[str, int]:
    """The image id of each of `paths` (in the stored form) that is known."""
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(paths))):
        found.update((path, image_id) for image_id, path in s.execute(select(Image.id, Image.path).where(Image.path.in_(chunk))))
    return found


def _upsert(s: Session, f: ImageFile, now: int) -> int:
    return _upsert_many(s, [f], now)[0]


def _upsert_many(s: Session, files: Sequence[ImageFile], now: int) -> list[int]:
    """Record files (a batch at a time: one query per kind, not per file); returns their image ids.

    A new path whose content matches an image whose file is gone is taken as a move: that image
    (and its corrections) gets the new path.
    """
    keys = [str(normalize_path(f.path)) for f in files]
    by_path: dict[str, Image] = {}
    for chunk in chunks(list(dict.fromkeys(keys))):
        by_path.update((image.path, image) for image in s.scalars(select(Image).where(Image.path.in_(chunk))))
    missing = [(key, f) for key, f in zip(keys, files) if key not in by_path]
    moved_from: dict[str, list[Image]] = {}
    for chunk in chunks(list({f.sha256 for _key, f in missing})):
        for image in s.scalars(select(Image).where(Image.sha256.in_(chunk)).order_by(Image.id)):
            moved_from.setdefault(image.sha256, []).append(image)
    for key, f in missing:
        if key in by_path:  # the same new file twice in one batch
            continue
        gone = next((i for i in moved_from.get(f.sha256, []) if not os.path.exists(i.path)), None)
        if gone is not None:
            moved_from[f.sha256].remove(gone)
            gone.path = key
            by_path[key] = gone
        else:
            by_path[key] = Image(path=key, sha256=f.sha256, size=f.size, mtime_ns=f.mtime_ns, width=f.width,
                                 height=f.height, first_seen_us=now, last_seen_us=now)
            s.add(by_path[key])
    for key, f in zip(keys, files):
        image = by_path[key]
        image.sha256, image.size, image.mtime_ns = f.sha256, f.size, f.mtime_ns
        if f.width is not None:
            image.width, image.height = f.width, f.height
        image.last_seen_us = now
    s.flush()
    return [by_path[key].id for key in keys]


def _prediction_rows(
    run_id: int, image_id: int, predictions: Sequence[PredictionRow | tuple[str, float, int]]
) -> list[dict]:
    rows = []
    for p in predictions:
        label, score, rank = (p.label, p.score, p.rank) if isinstance(p, PredictionRow) else p
        rows.append({"run_id": run_id, "image_id": image_id, "label": label, "score": float(score), "rank": int(rank)})
    return rows


def _replace_predictions(s: Session, run_id: int, image_ids: Sequence[int], rows: list[dict]) -> None:
    # The same file given twice in one run: keep the last ranking, not a primary-key error.
    for chunk in chunks(list(set(image_ids))):
        s.execute(delete(Prediction).where(Prediction.run_id == run_id, Prediction.image_id.in_(chunk)))
    if rows:
        s.execute(Prediction.__table__.insert(), rows)


def _vocabulary_id(s: Session, name: str) -> int:
    s.execute(
        sqlite_insert(Vocabulary.__table__)
        .values(name=name, created_us=now_us())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return s.scalar(select(Vocabulary.id).where(Vocabulary.name == name))


def _ensure_tag(s: Session, name: str, now: int) -> Tag:
    register_tags(s, [(name, now)])
    return s.scalars(select(Tag).where(Tag.name == name)).one()


def _tag_paths(s: Session) -> dict[str, str]:
    rows = {tag_id: (name, parent) for tag_id, name, parent in s.execute(select(Tag.id, Tag.name, Tag.parent_id))}
    paths = {}
    for name, parent in rows.values():
        parts, seen = [name], set()
        while parent is not None and parent not in seen and parent in rows:
            seen.add(parent)
            parent_name, parent = rows[parent]
            parts.append(parent_name)
        paths[name] = TAG_SEPARATOR.join(reversed(parts))
    return paths


def _activate(s: Session, version: ProjectionVersion) -> None:
    # Deactivate first: the partial unique index allows one active version per backend.
    s.execute(
        update(ProjectionVersion)
        .where(ProjectionVersion.backend == version.backend, ProjectionVersion.id != version.id)
        .values(active=False)
    )
    s.flush()
    version.active = True
    s.flush()


def _projection_info(v: ProjectionVersion) -> ProjectionVersionInfo:
    return ProjectionVersionInfo(
        v.id, v.backend, from_us(v.created_us), json.loads(v.training_summary), json.loads(v.metrics), v.params, v.active
    )
