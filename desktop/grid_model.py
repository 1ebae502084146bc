"""The images of the open folder as a Qt list model, and the filter in front of it.

One `ImageItem` per file holds everything the grid and the panel show: the ranked labels from the engine,
the user's decisions from the store, and whether the file could be read. Updates arrive in groups (a batch
of tagging results, a burst of thumbnails) and are announced with one `dataChanged` per run of rows.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QPixmap

from tagsight.desktop.store_adapter import EMPTY_STATE
from tagsight.engine.store import TagState
from tagsight.desktop.thumbnails import Loaded
from tagsight.engine.service import ImageResult

MAX_SUGGESTIONS = 9  # keys 1-9
ItemRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
FilterRole = Qt.ItemDataRole.UserRole + 3

AnyIndex = QModelIndex | QPersistentModelIndex


class Suggestion(NamedTuple):
    """A ranked label: the label, its cosine score, the CNN classes it came from."""

    label: str
    score: float
    sources: tuple[str, ...]


# Rows keep their labels as plain tuples of strings and floats: Python's cycle collector stops tracking
# those, and does not stop tracking objects (dataclasses, named tuples). With 10,000 images x 15 labels
# as objects, each full collection took 150-250 ms on the GUI thread: the longest stalls measured.
RawLabel = tuple[str, float, tuple[str, ...]]


@dataclass(slots=True)
class ImageItem:
    path: Path
    name: str
    labels: tuple[RawLabel, ...] = ()
    tagged: bool = False
    error: str | None = None  # the engine could not read it
    thumbnail_error: str | None = None  # the thumbnail maker could not read it
    state: TagState = EMPTY_STATE  # shared while the image has no corrections: one object, not 10,000

    @property
    def unreadable(self) -> str | None:
        return self.error or self.thumbnail_error


def suggestions(item: ImageItem, threshold: float) -> list[Suggestion]:
    """The labels still to decide on, best first: above the threshold, neither tagged nor turned down."""
    decided = set(item.state.tags) | item.state.blocked
    shown = [Suggestion(*raw) for raw in item.labels if raw[1] >= threshold and raw[0] not in decided]
    return shown[:MAX_SUGGESTIONS]


class ImageListModel(QAbstractListModel):
    """Rows are the image files of the open folder, in scan order."""

    def __init__(self, request_thumbnail: Callable[[Path], None] | None = None, max_pixmaps: int = 2000) -> None:
        super().__init__()
        self.items: list[ImageItem] = []
        self.threshold = 0.0
        self._rows: dict[Path, int] = {}
        self._pixmaps: OrderedDict[Path, QPixmap] = OrderedDict()
        self._max_pixmaps = max_pixmaps
        self._request_thumbnail = request_thumbnail

    # Qt model interface
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        item = self.items[index.row()]
        if role == ItemRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == PathRole:
            return str(item.path)
        if role == FilterRole:
            return filter_key(item, self.threshold)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.pixmap(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item)
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    # loading
    @staticmethod
    def prepare(paths: Sequence[Path]) -> tuple[list[ImageItem], dict[Path, int]]:
        """The rows for `paths`, built in a worker thread: for 20,000 files this is real work."""
        return [ImageItem(p, p.name) for p in paths], {p: i for i, p in enumerate(paths)}

    def set_files(self, paths: Sequence[Path], prepared: tuple[list[ImageItem], dict[Path, int]] | None = None) -> None:
        items, rows = prepared if prepared is not None else self.prepare(paths)
        self.beginResetModel()
        self.items, self._rows = items, rows
        self._pixmaps.clear()
        self.endResetModel()

    def row_of(self, path: Path) -> int | None:
        return self._rows.get(path)

    def item(self, row: int) -> ImageItem:
        return self.items[row]

    def paths(self) -> list[Path]:
        return [item.path for item in self.items]

    def pixmap(self, item: ImageItem) -> QPixmap | None:
        pixmap = self._pixmaps.get(item.path)
        if pixmap is not None:
            self._pixmaps.move_to_end(item.path)
            return pixmap
        if item.thumbnail_error is None and self._request_thumbnail is not None:
            self._request_thumbnail(item.path)
        return None

    def has_thumbnail(self, path: Path) -> bool:
        return path in self._pixmaps

    def add_thumbnails(self, loaded: Iterable[Loaded]) -> None:
        rows: list[int] = []
        for result in loaded:
            row = self._rows.get(result.path)
            if row is None:
                continue  # from a folder that is no longer open
            if result.image is None:
                self.items[row].thumbnail_error = result.error
            else:
                self._pixmaps[result.path] = QPixmap.fromImage(result.image)  # GUI thread only
            rows.append(row)
        while len(self._pixmaps) > self._max_pixmaps:
            self._pixmaps.popitem(last=False)  # least recently painted; reloads from the disk cache
        self._changed(rows)

    def add_results(self, results: Iterable[ImageResult]) -> None:
        rows: list[int] = []
        for result in results:
            row = self._rows.get(result.path)
            if row is None:
                continue
            item = self.items[row]
            item.labels = tuple((s.label, s.score, tuple(s.sources)) for s in result.labels)
            item.error, item.tagged = result.error, True
            rows.append(row)
        self._changed(rows)

    def set_states(self, states: dict[Path, TagState]) -> None:
        rows: list[int] = []
        for path, state in states.items():
            row = self._rows.get(path)
            if row is not None and self.items[row].state != state:
                self.items[row].state = state
                rows.append(row)
        self._changed(rows)

    def set_threshold(self, threshold: float) -> None:
        self.threshold = threshold
        if self.items:
            self.dataChanged.emit(self.index(0), self.index(len(self.items) - 1))

    def _changed(self, rows: list[int]) -> None:
        """One dataChanged per run of consecutive rows."""
        if not rows:
            return
        rows.sort()
        start = previous = rows[0]
        for row in rows[1:] + [None]:  # type: ignore[list-item]
            if row is not None and row <= previous + 1:
                previous = row
                continue
            self.dataChanged.emit(self.index(start), self.index(previous))
            if row is not None:
                start = previous = row

    def _tooltip(self, item: ImageItem) -> str:
        lines = [str(item.path)]
        if item.unreadable:
            lines.append(f"Cannot read this image: {item.unreadable}")
        if item.state.tags:
            lines.append("Tags: " + ", ".join(item.state.tags))
        shown = suggestions(item, self.threshold)
        if shown:
            lines.append("Suggested: " + ", ".join(s.label for s in shown))
        return "\n".join(lines)


class FilterMode(enum.Enum):
    ALL = "All images"
    UNREVIEWED = "Unreviewed only"
    UNREADABLE = "Unreadable only"


class ImageFilterProxy(QSortFilterProxyModel):
    """Shows the images whose tags or suggestions contain the filter text, in the chosen mode.

    Qt does the filtering, in C++, against each row's `filter_key`: with no filter the pattern is empty
    and Qt accepts every row without asking the model, so a folder of 10,000 images fills the grid
    without 10,000 calls into Python (a Python `filterAcceptsRow` cost 19 ms of the GUI thread there).
    """

    def __init__(self, source: ImageListModel) -> None:
        super().__init__()
        self.setSourceModel(source)
        self.setDynamicSortFilter(True)
        self.setFilterRole(FilterRole)
        self.text = ""
        self.mode = FilterMode.ALL

    def set_filter(self, text: str | None = None, mode: FilterMode | None = None) -> None:
        if text is not None:
            self.text = text.strip().lower()
        if mode is not None:
            self.mode = mode
        self.setFilterRegularExpression(filter_pattern(self.text, self.mode))


def filter_key(item: ImageItem, threshold: float) -> str:
    """What the filter matches a row against: a first line of two flags ('u' unreviewed, 'x' unreadable,
    '-' not), then one lower-case line per tag and shown suggestion."""
    flags = ("u" if item.state.review == "unreviewed" else "-") + ("x" if item.unreadable else "-")
    labels = [*item.state.tags, *(s.label for s in suggestions(item, threshold))]
    return "\n".join([flags, *(label.lower() for label in labels)])


def filter_pattern(text: str, mode: FilterMode) -> str:
    """The pattern `filter_key`s must match; empty (every row, no questions asked) for no filter."""
    flags = {FilterMode.ALL: "..", FilterMode.UNREVIEWED: "u.", FilterMode.UNREADABLE: ".x"}[mode]
    if not text:
        return "" if mode is FilterMode.ALL else "^" + flags
    # The text must lie within one label line: after a line break, never in the flags line.
    return "^" + flags + r"[\s\S]*\n[^\n]*" + QRegularExpression.escape(text)
