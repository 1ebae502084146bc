"""The engine in a child process, so that its Python work never competes with the GUI thread.

Tagging is mostly C (decoding, onnxruntime) but not only: ranking, the store's SQLAlchemy writes and the
model and vector loading run Python code that holds the GIL. In a thread of the window's process that
code made every Qt call of the GUI thread wait for the GIL: the stall benchmark measured event-loop
stalls of 100-460 ms while tagging. In a child process it costs the GUI nothing, and a crash of the
engine (a GPU driver, a decoder) cannot take the window and the user's work down with it.

Two pipes: one carries tagging (long requests, results streamed back batch by batch), the other queries
(nearest words, the review order), answered by a second thread in the child so that they never wait
behind a batch.
Only the tagging writes happen in the child; the window records corrections in its own process (SQLite in
WAL mode lets both write, one at a time).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Sequence

from tagsight.engine.model import ModelSpec
from tagsight.engine.progress import Cancelled
from tagsight.engine.service import ImageResult, TagOptions

log = logging.getLogger(__name__)

CHILD_NICENESS = 5  # the window comes first when the CPU is short


class EngineDied(RuntimeError):
    """The child process ended without answering."""


@dataclass(frozen=True)
class EngineInfo:
    """What the status bar shows: the provider really in use, the model, the backend and vocabulary."""

    provider: str
    available_providers: tuple[str, ...]
    model: str
    backend: str
    vectors: str
    vocabulary: str
    vocabulary_labels: tuple[str, ...]  # sorted by their lower-case forms, for completion
    vocabulary_lowered: tuple[str, ...]


class EngineProcess:
    """A `TaggingService` over the store at `db_path` and the model `model_spec` (None: the bundled
    fp32 one), running in a child process.

    `load` and `tag` are meant for one thread (the window's tagging thread), the queries (`similar`,
    `review_order`) for another; each blocks until the child answers. Start it early: the child loads in
    the background.
    """

    def __init__(self, db_path: Path | None, model_spec: ModelSpec | None = None) -> None:
        self.db_path = db_path
        self.model_spec = model_spec
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._process: Any = None
        self._start()

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs Qt and threads
        self._tag_conn, child_tag = ctx.Pipe()
        self._query_conn, child_query = ctx.Pipe()
        self._cancel = ctx.Event()
        self._process = ctx.Process(
            target=_child_main,
            args=(child_tag, child_query, self._cancel, self.db_path, self.model_spec),
            name="tagsight-engine",
            daemon=True,
        )
        self._process.start()
        # Lowered from here, at once: the child's own imports (numpy, onnxruntime) come before any line
        # of it could, and at normal priority they took the CPU from the window while it opened a folder.
        try:
            os.setpriority(os.PRIO_PROCESS, self._process.pid, os.getpriority(os.PRIO_PROCESS, 0) + CHILD_NICENESS)
        except (AttributeError, OSError):  # no setpriority on Windows
            pass
        child_tag.close()
        child_query.close()

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def restart_if_dead(self) -> None:
        with self._lock:
            if not self.alive():
                log.warning("the engine process had stopped (exit code %s); starting a new one", self._process.exitcode)
                self._start()

    def load(self, options: TagOptions) -> EngineInfo:
        """Load the model, vectors and vocabulary for `options` (raises with the child's message)."""
        with self._lock:
            self._send(self._tag_conn, ("load", options))
            return self._reply(self._tag_conn)

    def tag(
        self,
        paths: Sequence[Path],
        options: TagOptions,
        on_results: Callable[[list[ImageResult]], None],
        on_progress: Callable[[int], None],
        cancelled: Callable[[], bool],
    ) -> None:
        """Tag `paths`; results come batch by batch through `on_results`. Raises `Cancelled` if
        `cancelled()` became true (what was finished before still arrives)."""
        with self._lock:
            self._cancel.clear()
            self._send(self._tag_conn, ("tag", (list(paths), options)))
            while True:
                if cancelled():
                    self._cancel.set()
                if not self._tag_conn.poll(0.05):
                    if not self._process.is_alive():
                        raise EngineDied(f"the tagging process stopped (exit code {self._process.exitcode})")
                    continue
                kind, payload = self._recv(self._tag_conn)
                if kind == "results":
                    on_results(payload)
                elif kind == "progress":
                    on_progress(payload)
                elif kind == "done":
                    return
                elif kind == "cancelled":
                    raise Cancelled()
                else:
                    raise RuntimeError(payload)

    def similar(self, word: str, backend: str, vectors_file: Path | None, top: int) -> list[tuple[str, float]]:
        """The backend's nearest words to `word` ([] for a word it does not know)."""
        return self._query("similar", word, backend, vectors_file, top)

    def review_order(self, options: TagOptions, paths: Sequence[Path]) -> list[Path]:
        """The unreviewed images of `paths` that have cached outputs, the correction that would teach the
        most first (`tagsight review-queue`). In the child: for 2,000 images, ranking them twice and
        building the queue held the window process's GIL long enough for 107 ms stalls."""
        return self._query("review_order", options, list(paths))

    def _query(self, kind: str, *args: Any) -> Any:
        with self._query_lock:
            self._send(self._query_conn, (kind, args))
            return self._reply(self._query_conn)

    def close(self, timeout: float = 15.0) -> None:
        """Ask the child to finish (it stops after the batch in progress, which is committed) and wait."""
        if self._process is None:
            return
        self._cancel.set()
        try:
            with self._query_lock:
                self._query_conn.send(None)
            with self._lock:
                self._tag_conn.send(None)
        except (OSError, EOFError):
            pass
        self._process.join(timeout)
        if self._process.is_alive():
            log.warning("the engine process did not stop in %.0f s; terminating it", timeout)
            self._process.terminate()
            self._process.join(5)
        self._process = None
        self._tag_conn.close()
        self._query_conn.close()
        del self._cancel  # its semaphores are released now, not reported as leaked at exit

    def _send(self, conn: Connection, message: Any) -> None:
        try:
            conn.send(message)
        except (OSError, EOFError):
            raise EngineDied(f"the tagging process is gone (exit code {self._process.exitcode})") from None

    def _recv(self, conn: Connection) -> Any:
        try:
            return conn.recv()
        except (OSError, EOFError):
            raise EngineDied(f"the tagging process stopped (exit code {self._process.exitcode})") from None

    def _reply(self, conn: Connection) -> Any:
        kind, payload = self._recv(conn)
        if kind == "error":
            raise RuntimeError(payload)
        return payload


# -- the child --------------------------------------------------------------------------------------


class _ChildProgress:
    def __init__(self, conn: Connection, cancel: Any) -> None:
        self.conn, self.cancel = conn, cancel

    def report(self, done: int, total: int, message: str = "") -> None:
        self.conn.send(("progress", done))

    def cancelled(self) -> bool:
        return self.cancel.is_set()


def _child_main(
    tag_conn: Connection, query_conn: Connection, cancel: Any, db_path: Path | None, model_spec: ModelSpec | None
) -> None:
    from tagsight.engine.service import TaggingService

    service = TaggingService(db_path=db_path, model_spec=model_spec)
    threading.Thread(target=_serve_queries, args=(query_conn, service), daemon=True).start()
    try:
        while True:
            try:
                message = tag_conn.recv()
            except EOFError:
                return  # the window is gone
            if message is None:
                return
            kind, payload = message
            try:
                if kind == "load":
                    tag_conn.send(("ok", _load(service, payload)))
                elif kind == "tag":
                    _tag(service, tag_conn, cancel, *payload)
            except Cancelled:
                tag_conn.send(("cancelled", None))
            except Exception as exc:
                logging.getLogger(__name__).exception("engine request %s failed", kind)
                tag_conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        service.close()


def _load(service: Any, options: TagOptions) -> EngineInfo:
    import onnxruntime

    ranker = service.ranker(options)
    pairs = sorted((label.lower(), label) for label in ranker.vocabulary.labels)
    return EngineInfo(
        provider=service.model.provider,
        available_providers=tuple(onnxruntime.get_available_providers()),
        model=service.model_spec.id,
        backend=options.backend,
        vectors=service.vectors(options.backend, options.vectors_file).name,
        vocabulary=options.vocabulary,
        vocabulary_labels=tuple(label for _, label in pairs),
        vocabulary_lowered=tuple(low for low, _ in pairs),
    )


def _tag(service: Any, conn: Connection, cancel: Any, paths: list[Path], options: TagOptions) -> None:
    batch: list[ImageResult] = []
    results = service.tag(paths, options, _ChildProgress(conn, cancel))
    try:
        for result in results:
            batch.append(result)
            if len(batch) >= options.batch_size:
                conn.send(("results", batch))
                batch = []
    finally:
        if batch:
            conn.send(("results", batch))  # committed already: the window shows them even after a cancel
        results.close()
    conn.send(("done", None))


def _serve_queries(conn: Connection, service: Any) -> None:
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        kind, args = message
        try:
            conn.send(("ok", _QUERIES[kind](service, *args)))
        except Exception as exc:
            logging.getLogger(__name__).exception("engine query %s failed", kind)
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _similar(service: Any, word: str, backend: str, vectors_file: Path | None, top: int) -> list[tuple[str, float]]:
    try:
        return service.similar(word, backend, vectors_file, top)
    except KeyError:
        return []  # a word the backend does not know has no neighbours


def _review_order(service: Any, options: TagOptions, paths: list[Path]) -> list[Path]:
    return [item.path for item in service.review_queue(options, paths=paths)]


_QUERIES: dict[str, Callable[..., Any]] = {"similar": _similar, "review_order": _review_order}
