"""Scaled-down images made in worker threads, most recently requested first, cached on disk.

Workers decode with Pillow (draft mode, EXIF orientation, via the engine's `open_rgb`) and hand back
`QImage`s; only the GUI thread turns them into `QPixmap`s (calibre's cover cache does the same: pixmaps
belong to the GUI thread). The view asks for the rows it paints, so the visible rows are always the newest
requests and are served first; requests for rows scrolled out of sight age out of a bounded queue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from tagsight.desktop.jobs import lower_thread_priority
from tagsight.engine.preprocess import ImageDecodeError, open_rgb

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 160
_CACHE_FORMAT_VERSION = 1  # bump when the way thumbnails are made changes


@dataclass(frozen=True)
class Loaded:
    """A finished request: the image, or why the file could not be shown."""

    path: Path
    image: QImage | None
    error: str | None = None


def cache_file(root: Path, path: Path, size: int) -> Path | None:
    """Where the thumbnail of `path` at `size` is kept; None when the file cannot be stat'ed. The key holds
    the file's mtime and size, so an edited image gets a new thumbnail."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = f"{_CACHE_FORMAT_VERSION}|{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}|{size}"
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()
    return root / str(size) / digest[:2] / f"{digest}.jpg"


def scaled_image(path: Path, size: int) -> Image.Image:
    """The file as RGB, upright, fitting in size x size; raises ImageDecodeError with a reason."""
    image = open_rgb(path, size)
    image.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return image


def to_qimage(image: Image.Image) -> QImage:
    """An RGB Pillow image as a QImage that owns its pixels."""
    data = image.tobytes("raw", "RGB")
    width, height = image.size
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ImageLoader(QObject):
    """Loads images scaled to `size` in `workers` threads. Call `request` from the GUI thread; `loaded` is
    emitted (queued) when results are waiting, and `take` hands them all over at once."""

    loaded = Signal()

    def __init__(self, size: int, workers: int = 2, cache_root: Path | None = None, max_pending: int = 400) -> None:
        super().__init__()
        self.size = size
        self.cache_root = cache_root
        self.max_pending = max_pending
        self._pending: OrderedDict[Path, None] = OrderedDict()
        self._in_progress: set[Path] = set()
        self._done: list[Loaded] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"thumbnails-{size}-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def request(self, path: Path) -> None:
        """Ask for `path`; asking again moves it to the front of the queue."""
        with self._cond:
            if path in self._in_progress:
                return
            if path in self._pending:
                self._pending.move_to_end(path)
                return
            self._pending[path] = None
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)  # scrolled past long ago
            self._cond.notify()

    def forget_pending(self) -> None:
        """Drop every request not yet started (a new folder was opened)."""
        with self._cond:
            self._pending.clear()

    def take(self) -> list[Loaded]:
        with self._cond:
            done, self._done = self._done, []
        return done

    def shutdown(self) -> None:
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        lower_thread_priority(5)
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                path, _ = self._pending.popitem(last=True)  # newest first: what is on screen now
                self._in_progress.add(path)
            result = self._load(path)
            with self._cond:
                self._in_progress.discard(path)
                notify = not self._done
                self._done.append(result)
            if notify:
                self.loaded.emit()

    def _load(self, path: Path) -> Loaded:
        cached = cache_file(self.cache_root, path, self.size) if self.cache_root else None
        if cached is not None and cached.exists():
            image = QImage(str(cached))
            if not image.isNull():
                return Loaded(path, image)
        try:
            scaled = scaled_image(path, self.size)
        except ImageDecodeError as exc:
            return Loaded(path, None, str(exc))
        except Exception as exc:  # a decoder bug must cost one thumbnail, not the worker thread
            log.exception("thumbnail of %s failed", path)
            return Loaded(path, None, f"cannot make a thumbnail: {type(exc).__name__}: {exc}")
        if cached is not None:
            _write_cache(cached, scaled)
        return Loaded(path, to_qimage(scaled))


def _write_cache(target: Path, image: Image.Image) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        image.save(tmp, "JPEG", quality=85)
        os.replace(tmp, target)
    except OSError as exc:  # a full or read-only cache only makes the next visit slower
        log.warning("cannot cache thumbnail %s: %s", target, exc)
