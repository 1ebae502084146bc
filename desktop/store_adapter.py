"""Everything the window asks of the correction store, in one place.

The window calls only `StoreAdapter`; `StoreAdapter` calls `TaggingService`. Every method blocks on the
database, so the window runs them on its store thread (`jobs.SerialWorker`), never on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Sequence

from tagsight.engine.service import TaggingService
from tagsight.engine.store import TagState

Action = Literal["accept", "reject", "add", "rename"]


EMPTY_STATE = TagState()  # shared while an image has no corrections: one object, not 10,000


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

    def states(self, paths: Sequence[Path], corrected_only: bool = False) -> dict[Path, TagState]:
        """The state of every one of `paths` (never-corrected images get the empty state), or with
        `corrected_only` just of those that have corrections (a folder just opened)."""
        found = self.service.tag_states(paths)
        if corrected_only:
            return found
        return {p: found.get(p, EMPTY_STATE) for p in paths}

    def corrections(self) -> list[Any]:
        """The whole correction log, oldest first (tests assert on it)."""
        return list(self.service.corrections())


def _paths(events: Sequence[Any]) -> list[Path]:
    return list(dict.fromkeys(Path(event.path) for event in events))
