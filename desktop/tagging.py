"""Tagging from one long-lived worker thread, visible images first.

A `TagRun` is the plain state object of one pass over a folder: the files still to do, the ones the user
is looking at now (served first), progress, cancellation and the results not yet taken by the GUI. The
worker thread hands the engine process (`engine_process.EngineProcess`) one chunk at a time, so a scroll
re-orders what comes next within a chunk's time, and results come back once per model batch: the grid is
updated per batch, never per image.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

from PySide6.QtCore import QObject, Signal

from tagsight.desktop.engine_process import EngineProcess
from tagsight.desktop.jobs import Job
from tagsight.engine.progress import Cancelled
from tagsight.engine.service import ImageResult, TagOptions

log = logging.getLogger(__name__)

CHUNK = 128  # files per request: large enough to keep decoding ahead of the model


class TagRun(Job[ImageResult]):
    """One pass over `paths`, in order except for the ones the user is looking at. Images tagged before
    (with any backend) are re-ranked from their CNN outputs cached in the store, without the CNN."""

    def __init__(self, paths: Sequence[Path], options: TagOptions, remaining: set[Path] | None = None) -> None:
        """`remaining`: set(paths), when a worker thread has built it already (10,000 paths hash slowly)."""
        super().__init__("tagging")
        self.options = options
        self._order = list(paths)
        self._remaining = remaining if remaining is not None else set(paths)
        self._cursor = 0
        self._wanted: list[Path] = []
        self._order_lock = threading.Lock()
        self.total = len(self._order)

    def prioritize(self, paths: Iterable[Path]) -> None:
        """Tag these next (the rows on screen). Safe to call from the GUI thread at any time."""
        wanted = list(paths)
        with self._order_lock:
            self._wanted = wanted

    def next_chunk(self, size: int) -> list[Path]:
        with self._order_lock:
            chunk = [p for p in self._wanted if p in self._remaining][:size]
            self._remaining.difference_update(chunk)
            while len(chunk) < size and self._cursor < len(self._order):
                path = self._order[self._cursor]
                self._cursor += 1
                if path in self._remaining:
                    self._remaining.discard(path)
                    chunk.append(path)
            return chunk


class TaggingController(QObject):
    """Owns the tagging thread. `start` replaces any run in progress; results arrive through the run's
    `ready` signal and `TagRun.take`."""

    engine_ready = Signal(object)  # EngineInfo, once per options: the model and vectors are loaded
    engine_failed = Signal(str)

    def __init__(self, engine: EngineProcess) -> None:
        super().__init__()
        self.engine = engine
        self.run: TagRun | None = None
        self._queue: queue.Queue[TagRun | TagOptions | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="tagging", daemon=True)
        self._thread.start()

    def load(self, options: TagOptions) -> None:
        """Load the model, vectors and vocabulary for `options` in the background (at start-up)."""
        self._queue.put(options)

    def start(self, run: TagRun) -> TagRun:
        self.cancel()
        self.run = run
        self._queue.put(run)
        return run

    def cancel(self) -> None:
        if self.run is not None:
            self.run.cancel()

    def shutdown(self, timeout: float = 30.0) -> None:
        self.cancel()
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        loaded: set[TagOptions] = set()
        while True:
            task = self._queue.get()
            if task is None:
                return
            self.engine.restart_if_dead()
            if isinstance(task, TagOptions):
                if task not in loaded and self._load(task):
                    loaded.add(task)
                continue
            if task.cancelled():
                task.finish()
                continue
            if task.options not in loaded:
                task.report(0, task.total, "Loading the model and word vectors…")
                if not self._load(task.options):
                    task.finish("the model or word vectors could not be loaded")
                    continue
                loaded.add(task.options)
            self._execute(task)
            if not self.engine.alive():
                loaded.clear()  # a new engine process loads again

    def _load(self, options: TagOptions) -> bool:
        try:
            info = self.engine.load(options)
        except Exception as exc:  # a bad vocabulary file or vectors file: tell the user, keep running
            log.error("loading %s failed: %s", options, exc)
            self.engine_failed.emit(str(exc))
            return False
        self.engine_ready.emit(info)
        return True

    def _execute(self, run: TagRun) -> None:
        error: str | None = None
        done = 0
        try:
            while chunk := run.next_chunk(CHUNK):
                offset = done
                self.engine.tag(
                    chunk,
                    run.options,
                    on_results=run.post,
                    on_progress=lambda n, offset=offset: run.report(offset + n, run.total),  # type: ignore[misc]
                    cancelled=run.cancelled,
                )
                done += len(chunk)
        except Cancelled:
            pass
        except Exception as exc:
            log.error("tagging failed: %s", exc)
            error = str(exc)
        run.finish(error)


def tag_options(**fields: Any) -> TagOptions:
    """The options the window tags with: enough labels that 9 remain after the user turns some down."""
    return TagOptions(top=15, **fields)
