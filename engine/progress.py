"""Progress reporting and cancellation for long engine jobs, without Qt.

The GUI adapts this to signals, the CLI to a tqdm bar; the engine only calls `report` and `cancelled`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class Cancelled(Exception):
    """Raised inside a job when its progress object says it was cancelled."""


@runtime_checkable
class Progress(Protocol):
    def report(self, done: int, total: int, message: str = "") -> None:
        """`done` of `total` units finished; `total` may be 0 when unknown."""

    def cancelled(self) -> bool:
        """True once the user asked to stop; jobs check it between units of work."""


class NullProgress:
    """Reports nowhere and is never cancelled."""

    def report(self, done: int, total: int, message: str = "") -> None:
        pass

    def cancelled(self) -> bool:
        return False


def check_cancelled(progress: Progress) -> None:
    """Raise `Cancelled` when the user asked to stop."""
    if progress.cancelled():
        raise Cancelled()
