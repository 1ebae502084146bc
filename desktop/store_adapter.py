"""Everything the window asks of the correction store, in one place.

The window calls only `StoreAdapter`; `StoreAdapter` calls `TaggingService`. Every method blocks on the
database, so the window runs them on its store thread (`jobs.SerialWorker`), never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from tagsight.engine.service import TaggingService

Action = Literal["accept", "reject", "add", "rename"]
Review = Literal["unreviewed", "reviewed", "confirmed"]


@dataclass(frozen=True)
class ImageState:
    """What the user decided about one image: its tags (first-given order), the labels kept out of its
    suggestions (rejected or renamed away), and the review mark derived from both."""

    tags: tuple[str, ...] = ()
    blocked: frozenset[str] = frozenset()

    @property
    def review(self) -> Review:
        if self.tags:
            return "confirmed"
        return "reviewed" if self.blocked else "unreviewed"


def apply_correction(state: ImageState, action: Action, label: str, previous: str | None = None) -> ImageState:
    """The state after one correction, shown before the store has answered. Same rules as the store's
    fold (`tagsight.engine.store.fold`), which stays the authority: its answer replaces this one."""
    tags = list(state.tags)
    blocked = set(state.blocked)
    if action in ("accept", "add"):
        if label not in tags:
            tags.append(label)
        blocked.discard(label)
    elif action == "reject":
        if label in tags:
            tags.remove(label)
        blocked.add(label)
    elif action == "rename":
        old = previous or ""
        if label in tags:
            if old in tags and old != label:
                tags.remove(old)
        elif old in tags:
            tags[tags.index(old)] = label
        else:
            tags.append(label)
        blocked.discard(label)
        if old != label:
            blocked.add(old)
    return ImageState(tuple(tags), frozenset(blocked))


class StoreAdapter:
    """The store calls of the window. Blocking: run them off the GUI thread."""

    def __init__(self, service: TaggingService) -> None:
        self.service = service

    def record(self, paths: Sequence[Path], label: str, action: Action, previous: str | None = None) -> None:
        """Save one correction of `paths` as one undo step; returns once it is committed."""
        self.service.record_correction(paths, label, action, previous=previous, source="gui")

    def undo(self) -> list[Path]:
        """Undo the last step (whichever session made it); the images it touched, [] if there was none."""
        return _paths(self.service.undo(source="gui"))

    def redo(self) -> list[Path]:
        return _paths(self.service.redo(source="gui"))

    def states(self, paths: Sequence[Path], corrected_only: bool = False) -> dict[Path, ImageState]:
        """The state of every one of `paths` (never-corrected images get the empty state), or with
        `corrected_only` just of those that have corrections (a folder just opened)."""
        found = self.service.tag_states(paths)
        if corrected_only:
            return {p: _state(state) for p, state in found.items()}
        return {p: _state(found.get(p)) for p in paths}

    def corrections(self) -> list[Any]:
        """The whole correction log, oldest first (tests assert on it)."""
        return list(self.service.corrections())


def _state(state: Any) -> ImageState:
    return ImageState() if state is None else ImageState(tuple(state.tags), frozenset(state.blocked))


def _paths(events: Sequence[Any]) -> list[Path]:
    return list(dict.fromkeys(Path(event.path) for event in events))
