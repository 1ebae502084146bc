"""The corrections event log at the session level: appending events, reading them back as
`CorrectionEvent`s, folding them per image, and choosing what an undo or redo reverts.

`Store` wraps these in transactions; they take the caller's session and never commit.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Collection, Iterable, Iterator, NamedTuple, Sequence, TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from . import corrections_io
from .errors import CorrectionError
from .fold import fold, undone_ids
from .schema import SOURCES, Correction, Image, Tag
from .types import CorrectionEvent, TagState, from_us, now_us

T = TypeVar("T")
ImageRef = int | Path | str
CorrectionItem = tuple[ImageRef, str, str] | tuple[ImageRef, str, str, str | None]
_CHUNK = 500  # host parameters per IN (...) query, well under SQLite's limit


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


TAGGING_ACTIONS = ("accept", "add", "rename")  # the actions whose label becomes one of the image's tags


def register_tags(s: Session, given: Iterable[tuple[str, int]]) -> None:
    """Make the (label, time) pairs known tags, each dated by its first use; one statement for all of
    them (one per correction autoflushed each pending row: 0.7 ms a correction, 2.2 s for 3,000 images)."""
    first: dict[str, int] = {}
    for name, time_us in given:
        first[name] = min(time_us, first.get(name, time_us))
    if first:
        s.execute(
            sqlite_insert(Tag.__table__).on_conflict_do_nothing(index_elements=["name"]),
            [{"name": name, "created_us": time_us} for name, time_us in sorted(first.items())],
        )


def check_source(source: str) -> None:
    if source not in SOURCES:
        raise CorrectionError(f"unknown source {source!r} (expected one of: {', '.join(SOURCES)})")


def check_item(item: CorrectionItem) -> tuple[ImageRef, str, str, str | None]:
    image, label, action, *rest = item
    previous = rest[0] if rest else None
    label = (label or "").strip()
    previous = previous.strip() if previous is not None else None
    if action not in ("accept", "reject", "add", "rename"):
        hint = " (use Store.undo)" if action == "undo" else ""
        raise CorrectionError(f"unknown action {action!r}: expected accept, reject, add or rename{hint}")
    if not label:
        raise CorrectionError("empty label")
    if action == "rename" and not previous:
        raise CorrectionError("rename needs the previous label")
    if action != "rename":
        previous = None
    return image, label, action, previous


class NewEvent(NamedTuple):
    """A correction row to write (`uid` made when None)."""

    image_id: int
    label: str
    action: str
    previous: str | None
    target_id: int | None
    batch: str
    time_us: int
    source: str
    uid: str | None = None


def append(s: Session, new: Sequence[NewEvent]) -> list[int]:
    """Write `new` in one bulk insert and return their ids, in order. (As ORM objects, one unit of work
    each, saving one correction of 10,000 selected images spent most of its time in the flush.) The ids
    are read back by uid, not with RETURNING, which SQLite only has from 3.35."""
    if not new:
        return []
    rows = [{**event._asdict(), "uid": event.uid or uuid.uuid4().hex} for event in new]
    s.execute(insert(Correction), rows)
    uids = [row["uid"] for row in rows]
    ids: dict[str, int] = {}
    for chunk in chunks(uids):
        ids.update((uid, event_id) for uid, event_id in s.execute(select(Correction.uid, Correction.id).where(Correction.uid.in_(chunk))))
    return [ids[uid] for uid in uids]


def events(s: Session, ids: Sequence[int] | None, *, image_id: int | None = None) -> list[CorrectionEvent]:
    """CorrectionEvents in log order: those with `ids`, one image's (`image_id`), or all."""
    target = aliased(Correction)
    stmt = (
        select(Correction, Image.path, target.uid)
        .join(Image, Correction.image_id == Image.id)
        .outerjoin(target, Correction.target_id == target.id)
        .order_by(Correction.id)
    )
    if image_id is not None:
        stmt = stmt.where(Correction.image_id == image_id)
    if ids is not None:
        found: list[CorrectionEvent] = []
        for chunk in chunks(list(ids)):
            found.extend(_event(c, p, u) for c, p, u in s.execute(stmt.where(Correction.id.in_(chunk))))
        return sorted(found, key=lambda e: e.id)
    return [_event(c, p, u) for c, p, u in s.execute(stmt)]


def _event(c: Correction, path: str, undoes: str | None) -> CorrectionEvent:
    return CorrectionEvent(
        c.id,
        c.uid,
        c.batch,
        c.image_id,
        Path(path),
        c.label,
        c.action,  # type: ignore[arg-type]
        c.previous,
        from_us(c.time_us),
        c.source,  # type: ignore[arg-type]
        c.target_id,
        undoes,
    )


def _all_undone(s: Session) -> set[int]:
    return undone_ids((i, t) for i, t in s.execute(select(Correction.id, Correction.target_id).where(Correction.action == "undo")))


def undo_targets(s: Session, n: int) -> list[Correction]:
    """The in-effect events of the newest `n` batches of original (non-undo) events."""
    undone = _all_undone(s)
    batches: list[str] = []
    result = s.execute(
        select(Correction.id, Correction.batch).where(Correction.action != "undo").order_by(Correction.id.desc())
    )
    for event_id, batch in result:
        if len(batches) >= n:
            break
        if event_id not in undone and batch not in batches:
            batches.append(batch)
    result.close()
    targets: list[Correction] = []
    for batch in batches:
        stmt = select(Correction).where(Correction.batch == batch, Correction.action != "undo")
        targets.extend(c for c in s.scalars(stmt) if c.id not in undone)
    return targets


def redo_targets(s: Session, n: int) -> list[Correction]:
    """The in-effect undo events of the newest `n` undo batches newer than any original event."""
    undone = _all_undone(s)
    last_original = s.scalar(select(func.max(Correction.id)).where(Correction.action != "undo")) or 0
    target = aliased(Correction)
    stmt = (
        select(Correction)
        .join(target, Correction.target_id == target.id)
        .where(Correction.action == "undo", target.action != "undo", Correction.id > last_original)
        .order_by(Correction.id.desc())
    )
    batches: list[str] = []
    picked: list[Correction] = []
    for event in s.scalars(stmt):
        if event.id in undone:
            continue
        if event.batch not in batches:
            if len(batches) == n:
                break
            batches.append(event.batch)
        picked.append(event)
    return picked


def revert(s: Session, targets: list[Correction], source: str) -> list[int]:
    """Append one batch of undo events reverting `targets`, newest first; their ids."""
    batch, now = uuid.uuid4().hex, now_us()
    ordered = sorted(targets, key=lambda c: c.id, reverse=True)
    return append(s, [NewEvent(t.image_id, t.label, "undo", t.previous, t.id, batch, now, source) for t in ordered])


def undo_target_for_row(s: Session, image_id: int, row: corrections_io.ParsedRow) -> tuple[Correction | None, str]:
    events = s.scalars(select(Correction).where(Correction.image_id == image_id).order_by(Correction.id)).all()
    undone = undone_ids((e.id, e.target_id) for e in events if e.action == "undo" and e.target_id is not None)
    if row.undoes is not None:
        target = s.scalar(select(Correction).where(Correction.uid == row.undoes))
        if target is None:
            return None, f"undoes {row.undoes!r}: no such event"
        if target.image_id != image_id:
            return None, f"undoes {row.undoes!r}: that event is about another image"
        return target, ""

    def matches(e: Correction) -> bool:
        return e.id not in undone and (not row.label or e.label == row.label) and (
            row.previous is None or e.previous == row.previous
        )

    originals = [e for e in events if e.action != "undo" and matches(e)]
    if originals:
        return originals[-1], ""
    undos = [e for e in events if e.action == "undo" and matches(e)]
    if undos:
        return undos[-1], ""
    what = f"label {row.label!r}" if row.label else "any label"
    return None, f"nothing to undo for {row.path} ({what})"


def all_states(s: Session, image_ids: Collection[int] | None = None) -> dict[int, TagState]:
    """Folded state per image with corrections: of every image, or only of `image_ids` (read by the
    (image_id, id) index: the window asks after every correction, and folding the whole log each time
    took 0.7 s at 20,000 corrected images)."""
    query = select(
        Correction.id, Correction.image_id, Correction.action, Correction.label, Correction.previous, Correction.target_id
    ).order_by(Correction.image_id, Correction.id)
    if image_ids is None:
        rows = s.execute(query).all()
    else:
        rows = [row for chunk in chunks(sorted(image_ids)) for row in s.execute(query.where(Correction.image_id.in_(chunk)))]
    grouped: dict[int, list] = {}
    for row in rows:
        grouped.setdefault(row.image_id, []).append(row)
    return {image_id: fold(events) for image_id, events in grouped.items()}

