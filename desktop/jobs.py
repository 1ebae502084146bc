"""Background work for the window: plain state objects in worker threads, signals to the GUI thread.

The pattern follows Orange3's `concurrent.py` and superqt's thread workers: a worker thread never touches
a widget; it fills a `Job` (progress, partial results, a cancel flag) and pokes the GUI thread with a
queued signal. The GUI thread drains everything that has piled up in one go, so a burst of results costs
one model update and one repaint, not one per image.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Generic, TypeVar

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")


class Job(QObject, Generic[T]):
    """Shared state of one background task. Worker side: `post`, `report`, `cancelled`, `finish`.
    GUI side: connect `ready`/`progressed`/`finished`, call `take` and `cancel`.

    It is also a `tagsight.engine.progress.Progress`, so engine calls can report into it directly.
    """

    ready = Signal()  # results were posted and not yet taken
    progressed = Signal(int, int, str)  # done, total, message
    finished = Signal()  # the task returned, failed (`error`) or was cancelled (`was_cancelled`)

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.name = name
        self.error: str | None = None
        self.was_cancelled = False
        self.done = 0
        self.total = 0
        self._lock = threading.Lock()
        self._pending: list[T] = []
        self._cancel = threading.Event()
        self._finished = threading.Event()

    # worker side
    def post(self, items: list[T]) -> None:
        """Hand results to the GUI; only the first post since the last `take` emits a signal."""
        if not items:
            return
        with self._lock:
            notify = not self._pending
            self._pending.extend(items)
        if notify:
            self.ready.emit()

    def report(self, done: int, total: int, message: str = "") -> None:
        self.done, self.total = done, total
        self.progressed.emit(done, total, message)

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def finish(self, error: str | None = None) -> None:
        self.error = error
        self.was_cancelled = self._cancel.is_set()
        self._finished.set()
        self.finished.emit()

    # GUI side
    def take(self) -> list[T]:
        with self._lock:
            items, self._pending = self._pending, []
        return items

    def cancel(self) -> None:
        self._cancel.set()

    def is_finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)


def lower_thread_priority(niceness: int) -> None:
    """Make the calling thread yield the CPU to the GUI thread (Linux: nice is per thread, and the threads
    it starts afterwards, such as onnxruntime's and the decode pool's, inherit it). Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError:
            pass


class _Bridge(QObject):
    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)  # queued: the bridge lives in the GUI thread

    @staticmethod
    def _run(fn: Callable[[], None]) -> None:
        fn()


class SerialWorker:
    """One thread that runs submitted calls strictly in order (the store's thread: writes must keep
    the order the user made them in). `on_done(result)` / `on_error(message)` run on the GUI thread.

    Create it on the GUI thread.
    """

    def __init__(self, name: str, niceness: int = 5) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=lower_thread_priority, initargs=(niceness,)
        )
        self._bridge = _Bridge()
        self._lock = threading.Lock()
        self._in_flight = 0

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> Future[Any]:
        with self._lock:
            self._in_flight += 1
        future = self._executor.submit(fn)

        def delivered(f: Future[Any]) -> None:
            with self._lock:
                self._in_flight -= 1
            exc = f.exception()
            if exc is not None:
                message = f"{type(exc).__name__}: {exc}"
                log.error("background call failed: %s", "".join(traceback.format_exception(exc)))
                if on_error is not None:
                    self._bridge.call.emit(lambda: on_error(message))
            elif on_done is not None:
                result = f.result()
                self._bridge.call.emit(lambda: on_done(result))

        future.add_done_callback(delivered)
        return future

    def busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0

    def shutdown(self) -> None:
        """Wait for every queued call: a correction the user made must reach the store before exit."""
        self._executor.shutdown(wait=True)
