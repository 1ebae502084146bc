"""The main window: thumbnail grid, image panel, pickers, menus, status bar, and the keys.

Threads: tagging runs in `TaggingController`'s thread, thumbnails and previews in `ImageLoader` threads,
store calls in one `SerialWorker` (in order, so corrections are saved in the order they were made). The GUI
thread only updates models and paints. Corrections are shown at once and saved in the background; the
window waits for every pending save before it closes.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QToolBar,
)

from tagsight.desktop import dialogs
from tagsight.desktop.delegate import CELL_HEIGHT, CELL_WIDTH, ThumbnailDelegate
from tagsight.desktop.grid_model import FilterMode, ImageFilterProxy, ImageItem, ImageListModel
from tagsight.desktop.jobs import SerialWorker
from tagsight.desktop.panel import ImagePanel, is_typing_key
from tagsight.desktop.qtfix import protect_none
from tagsight.desktop.settings import WindowSettings
from tagsight.desktop.store_adapter import Action, StoreAdapter
from tagsight.engine.store import TagState, apply_event
from tagsight.desktop.engine_process import EngineInfo, EngineProcess
from tagsight.desktop.export_menu import fill_export_menu
from tagsight.desktop.tagging import TaggingController, TagRun, tag_options
from tagsight.desktop.thumbnails import THUMBNAIL_SIZE, ImageLoader
from tagsight.engine.paths import cache_dir
from tagsight.engine.service import ScanResult, TaggingService, TagOptions, scan
from tagsight.engine.vocabulary import available_vocabularies

log = logging.getLogger(__name__)

PREVIEW_SIZE = 1024
OTHER_FILE = "Other file…"


# Half the cores make thumbnails: the GUI thread keeps one to itself. On two cores, two thumbnail threads
# put the event loop's 99th-percentile lateness at 20-24 ms and one at 14-16 ms while a screenful still
# fills 62 vs 89 ms after a scroll (bench_gui_responsiveness.py --max-seconds 40).
THUMBNAIL_WORKERS = max(1, (os.cpu_count() or 2) // 2)


class MainWindow(QMainWindow):
    folder_loaded = Signal(Path)  # the folder's files are in the grid (tagging may still run)
    corrections_saved = Signal()  # every correction made so far is in the store

    def __init__(
        self,
        service: TaggingService | None = None,
        settings: WindowSettings | None = None,
        thumbnail_cache: Path | None = None,
        engine: EngineProcess | None = None,
    ) -> None:
        """`service` holds the store the window records corrections in; `engine` tags (in a child process
        over the same store). A window closes the engine it started itself, never one it was given."""
        protect_none()
        super().__init__()
        self.setWindowTitle("tagsight")
        self.setAcceptDrops(True)
        self.service = service or TaggingService()
        self.settings = settings or WindowSettings()
        self.store = StoreAdapter(self.service)
        self.store_worker = SerialWorker("store")
        self.io_worker = SerialWorker("io")  # folder scans, nearest-word look-ups
        self.thumbnails = ImageLoader(THUMBNAIL_SIZE, THUMBNAIL_WORKERS, thumbnail_cache or cache_dir() / "thumbnails")
        self.previews = ImageLoader(PREVIEW_SIZE, 1, None, max_pending=1)
        self._own_engine = engine is None
        self.engine = engine or EngineProcess(self.service.db_path, self.service.model_spec)
        self.tagging = TaggingController(self.engine)
        self.options: TagOptions = tag_options(
            backend=self.settings.backend, vectors_file=self.settings.vectors_file, vocabulary=self.settings.vocabulary
        )
        self.folder: Path | None = None
        self.engine_info: EngineInfo | None = None
        self.run: TagRun | None = None
        self._finished_run: TagRun | None = None
        self._pending_writes = 0
        self._answered: dict[Path, TagState] = {}  # store answers held back while writes are queued
        self._review_order: dict[Path, int] = {}  # place in `tagsight review-queue` order, refreshed after each run
        self._closing = False

        self.model = ImageListModel(self.thumbnails.request)
        self.proxy = ImageFilterProxy(self.model)
        self.grid = self._make_grid()
        self.panel = ImagePanel()
        splitter = QSplitter()
        splitter.addWidget(self.grid)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([760, 520])
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self._make_toolbar()
        self._make_status_bar()
        self._make_actions()

        self.thumbnails.loaded.connect(self._thumbnails_loaded)
        self.previews.loaded.connect(self._preview_loaded)
        self.tagging.engine_ready.connect(self._engine_ready)
        self.tagging.engine_failed.connect(self._engine_failed)
        self.model.dataChanged.connect(self._rows_changed)
        self._typing_targets = (self.grid, self.panel.suggestion_list, self.panel.tag_list)
        for view in self._typing_targets[1:]:
            view.installEventFilter(self)
        self.panel.editor.submitted.connect(self._editor_submitted)
        self.panel.editor.closed.connect(lambda: self.grid.setFocus())
        self.panel.editor.wants_neighbours.connect(self._look_up_neighbours)
        self._thumbnail_timer = QTimer(self, singleShot=True, interval=30)
        self._thumbnail_timer.timeout.connect(self._add_thumbnails)
        self._prioritize_timer = QTimer(self, singleShot=True, interval=120)
        self._prioritize_timer.timeout.connect(self._prioritize_visible)
        self.grid.verticalScrollBar().valueChanged.connect(lambda _: self._prioritize_timer.start())

        self.resize(1280, 800)
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
        if self.settings.splitter is not None:
            splitter.restoreState(self.settings.splitter)
        self._apply_threshold(self.settings.threshold)
        self.tagging.load(self.options)  # model and vectors load while the window is already up
        self.grid.setFocus()
        gc.freeze()  # modules, widgets: long-lived; a full collection walking them stalled opening a folder

    # construction
    def _make_grid(self) -> QListView:
        grid = QListView()
        grid.setModel(self.proxy)
        self.delegate = ThumbnailDelegate(grid)
        grid.setItemDelegate(self.delegate)
        grid.setViewMode(QListView.ViewMode.IconMode)
        grid.setMovement(QListView.Movement.Static)  # static + uniform sizes: Qt's fast list layout
        grid.setResizeMode(QListView.ResizeMode.Adjust)
        grid.setUniformItemSizes(True)
        grid.setLayoutMode(QListView.LayoutMode.Batched)
        grid.setBatchSize(500)
        grid.setSpacing(2)
        grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        grid.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        grid.verticalScrollBar().setSingleStep(40)
        grid.setMinimumWidth(THUMBNAIL_SIZE + 60)
        grid.installEventFilter(self)
        grid.selectionModel().currentChanged.connect(lambda *_: self._current_changed())
        grid.selectionModel().selectionChanged.connect(lambda *_: self._refresh_panel())
        return grid

    def _make_toolbar(self) -> None:
        bar = QToolBar("Tagging")
        bar.setObjectName("tagging-toolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.backend_box = QComboBox()
        self.backend_box.setToolTip("Word-vector backend: switching re-ranks every image from the cached CNN outputs")
        self.vocabulary_box = QComboBox()
        self.vocabulary_box.setToolTip("Labels to rank: built-in vocabularies or a text file, one label per line")
        self._fill_pickers()
        self.backend_box.activated.connect(lambda _: self._backend_picked())
        self.vocabulary_box.activated.connect(lambda _: self._vocabulary_picked())
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setFixedWidth(140)
        self.threshold_slider.setToolTip("Hide suggestions scoring below this cosine")
        self.threshold_label = QLabel()
        self.threshold_slider.valueChanged.connect(lambda v: self._apply_threshold(v / 100))
        self.filter_box = QLineEdit()
        self.filter_box.setPlaceholderText("Filter by tag…  (Ctrl+F)")
        self.filter_box.setClearButtonEnabled(True)
        self.filter_box.setFixedWidth(200)
        self.filter_box.installEventFilter(self)
        self._filter_timer = QTimer(self, singleShot=True, interval=200)
        self._filter_timer.timeout.connect(lambda: self.proxy.set_filter(text=self.filter_box.text()))
        self.filter_box.textChanged.connect(lambda _: self._filter_timer.start())
        self.mode_box = QComboBox()
        for mode in FilterMode:
            self.mode_box.addItem(mode.value, mode)
        self.mode_box.currentIndexChanged.connect(lambda _: self.proxy.set_filter(mode=self.mode_box.currentData()))
        for text, widget in (
            ("Backend ", self.backend_box),
            ("  Vocabulary ", self.vocabulary_box),
            ("  Threshold ", self.threshold_slider),
        ):
            bar.addWidget(QLabel(text))
            bar.addWidget(widget)
        bar.addWidget(self.threshold_label)
        bar.addWidget(QLabel("   "))
        bar.addWidget(self.filter_box)
        bar.addWidget(self.mode_box)

    def _fill_pickers(self) -> None:
        from tagsight.engine.backends import available_backends

        self.backend_box.clear()
        for name, backend in sorted(available_backends().items()):
            self.backend_box.addItem(name, name)
            self.backend_box.setItemData(self.backend_box.count() - 1, backend.description, Qt.ItemDataRole.ToolTipRole)
        self.backend_box.setCurrentIndex(max(0, self.backend_box.findData(self.options.backend)))
        self.vocabulary_box.clear()
        named = sorted(available_vocabularies())
        for name in named:
            self.vocabulary_box.addItem(name, name)
        if self.options.vocabulary not in named:
            self.vocabulary_box.addItem(Path(self.options.vocabulary).name, self.options.vocabulary)
        self.vocabulary_box.addItem(OTHER_FILE, None)
        self.vocabulary_box.setCurrentIndex(max(0, self.vocabulary_box.findData(self.options.vocabulary)))

    def _make_status_bar(self) -> None:
        status = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setFormat("%v / %m tagged")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop tagging; the images done so far keep their suggestions")
        self.cancel_button.clicked.connect(self.cancel_tagging)
        self.engine_label = QLabel("Loading the model…")
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.engine_label)
        self.progress.hide()
        self.cancel_button.hide()

    def _action(self, menu: QMenu, text: str, slot: Callable[[], Any], *keys: str | QKeySequence) -> QAction:
        action = QAction(text, self)
        if keys:
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        self.addAction(action)  # shortcuts work while the menu bar is hidden too
        return action

    def _make_actions(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open Folder…", self.choose_folder, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        file.addSeparator()
        self.export_menu = file.addMenu("&Export Tags of All Images")
        fill_export_menu(self, self.export_menu)
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = bar.addMenu("&Edit")
        self._action(edit, "&Undo Correction", self.undo, "Ctrl+Z")
        self._action(edit, "&Redo Correction", self.redo, "Ctrl+Shift+Z", "Ctrl+Y")
        edit.addSeparator()
        self._action(edit, "Select &All Images", self.grid.selectAll, QKeySequence.StandardKey.SelectAll)
        self._action(edit, "&Filter by Tag", self._focus_filter, "Ctrl+F")

        tags = bar.addMenu("&Tags")
        self._action(tags, "Accept &Top Suggestion", lambda: self.accept_suggestion(0), "Return", "Enter")
        accept = tags.addMenu("&Accept Suggestion")
        reject = tags.addMenu("&Reject Suggestion")
        for k in range(1, 10):
            self._action(accept, f"Suggestion {k}", lambda k=k: self.accept_suggestion(k - 1), str(k))
            self._action(reject, f"Suggestion {k}", lambda k=k: self.reject_suggestion(k - 1), f"Shift+{k}")
        self._action(tags, "Reject / Remove the &Focused Label", self.reject_focused, "Delete")
        self._action(tags, "A&dd Tag…", lambda: self.panel.editor.open(), "T")
        self._action(tags, "Re&name Tag…", self.rename_focused, "F2")
        tags.addSeparator()
        self._action(tags, "Tag &Untagged Images", self.tag_untagged)
        self._action(tags, "&Retrain from Corrections", self.retrain)
        self._action(tags, "&Cancel Tagging", self.cancel_tagging)

        go = bar.addMenu("&Go")
        self._action(go, "&Previous Image", lambda: self.move(-1), "Left", "K")
        self._action(go, "&Next Image", lambda: self.move(1), "Right", "J")
        self._action(go, "Next &Unreviewed Image", self.next_unreviewed, "N")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard Shortcuts", lambda: dialogs.shortcuts_dialog(self).open(), "?")
        self._action(help_menu, "&Plugins…", lambda: dialogs.plugins_dialog(self).open())
        self._action(
            help_menu,
            "&About tagsight",
            lambda: dialogs.about_dialog(
                self, self.service.model_spec.id, self.engine_info.provider if self.engine_info else None
            ).open(),
        )

    # folders
    def choose_folder(self) -> None:
        start = str(self.folder or self.settings.last_folder or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", start)
        if folder:
            self.open_folder(Path(folder))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_folders
        for folder in recent:
            action = self.recent_menu.addAction(str(folder))
            action.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", self.settings.clear_recent)
        self.recent_menu.setEnabled(bool(recent))

    def open_folder(self, folder: Path) -> None:
        """Scan `folder` in the background, then fill the grid and start tagging."""
        folder = Path(os.path.normpath(folder.expanduser().absolute()))  # the store's form of a path
        self.statusBar().showMessage(f"Reading {folder}…")
        def read() -> tuple[ScanResult, Any, set[Path]]:
            found = scan([folder])
            return found, ImageListModel.prepare(found.files), set(found.files)

        self.io_worker.submit(
            read,
            on_done=lambda result: self._folder_scanned(folder, *result),
            on_error=lambda message: self.show_error(f"Cannot read {folder}", message),
        )

    def _folder_scanned(self, folder: Path, found: ScanResult, prepared: Any, remaining: set[Path]) -> None:
        if found.errors and not found.files:
            self.show_error(f"Cannot open {folder}", "; ".join(reason for _, reason in found.errors))
            return
        self.tagging.cancel()
        self.thumbnails.forget_pending()
        self.folder = folder
        self.setWindowTitle(f"{folder.name} — tagsight")
        self.settings.add_recent(folder)
        self.model.set_files(found.files, prepared)
        # The rows (and everything loaded so far) live until the next folder: keep the cycle collector
        # from walking them on every full pass. They are still freed by reference counting when replaced.
        gc.freeze()
        self.panel.show_item(None, 0)
        if found.files:
            self.grid.setCurrentIndex(self.proxy.index(0, 0))
        self.statusBar().showMessage(f"{len(found.files)} images in {folder}", 5000)
        paths = self.model.paths()
        self.store_worker.submit(lambda: self.store.states(paths, corrected_only=True), on_done=self.model.set_states)
        self._start_run(TagRun(paths, self.options, remaining))
        self.folder_loaded.emit(folder)

    # tagging
    def _start_run(self, run: TagRun) -> None:
        if self.run is not None:
            for signal in (self.run.ready, self.run.progressed, self.run.finished):
                signal.disconnect()
        self.run = run
        run.ready.connect(self._take_results)
        run.progressed.connect(self._progressed)
        run.finished.connect(self._run_finished)
        run.prioritize(self.visible_paths())
        self.progress.setRange(0, max(1, run.total))
        self.progress.setValue(0)
        self.progress.setVisible(run.total > 0)
        self.cancel_button.setVisible(run.total > 0)
        self.tagging.start(run)

    def _take_results(self) -> None:
        if self.run is None:
            return
        results = self.run.take()
        self.model.add_results(results)
        # The labels just stored live until the next folder. Left in the collector's generations they
        # made its full passes walk every result so far: 50-70 ms of held GIL, in any thread, at 10,000
        # images. Frozen, they are still freed by reference counting when the rows are replaced.
        gc.freeze()
        self.progress.setValue(self.progress.value() + len(results))  # counts what the grid shows
        if results and self.engine_info is not None:
            provider = next((r.provider for r in results if r.provider), None)
            if provider and provider != self.engine_info.provider:
                self.engine_info = EngineInfo(**{**self.engine_info.__dict__, "provider": provider})
                self._show_engine()

    def _progressed(self, done: int, total: int, message: str) -> None:
        if message:
            self.statusBar().showMessage(message)

    def _run_finished(self) -> None:
        run = self.run
        if run is None:
            return
        self._finished_run = run
        self._take_results()
        self.progress.hide()
        self.cancel_button.hide()
        if run.error:
            self.show_error("Tagging stopped", run.error)
        elif run.was_cancelled:
            self.statusBar().showMessage(
                f"Tagging cancelled: {run.done} of {run.total} done. Tags ▸ Tag Untagged Images resumes."
            )
        else:
            self.statusBar().showMessage(f"Tagged {run.total} images.", 5000)
            self._refresh_review_order()

    def tagging_done(self) -> bool:
        """The last run has ended and the window has shown its end (results, status bar)."""
        return self.run is None or self._finished_run is self.run

    def cancel_tagging(self) -> None:
        if self.run is not None and not self.run.is_finished():
            self.run.cancel()
            self.statusBar().showMessage("Cancelling…")

    def tag_untagged(self) -> None:
        todo = [item.path for item in self.model.items if not item.tagged]
        if todo:
            self._start_run(TagRun(todo, self.options))

    def visible_paths(self) -> list[Path]:
        """The images on screen now, top to bottom."""
        viewport = self.grid.viewport().rect()
        row = 0
        for y in range(2, min(viewport.height(), 2 * CELL_HEIGHT), 12):  # the top edge may fall in a gap
            first = self.grid.indexAt(QPoint(CELL_WIDTH // 2, y))
            if first.isValid():
                row = first.row()
                break
        paths: list[Path] = []
        while row < self.proxy.rowCount():
            index = self.proxy.index(row, 0)
            rect = self.grid.visualRect(index)
            if rect.top() > viewport.bottom() or len(paths) > 200:
                break
            if rect.intersects(viewport) or not rect.isValid():
                paths.append(self.model.items[self.proxy.mapToSource(index).row()].path)
            row += 1
        return paths

    def _prioritize_visible(self) -> None:
        if self.run is not None and not self.run.is_finished():
            self.run.prioritize(self.visible_paths())

    def _engine_ready(self, info: EngineInfo) -> None:
        if info.backend != self.options.backend or info.vocabulary != self.options.vocabulary:
            return  # a load for options the user has since left
        self.engine_info = info
        # remembered only once they work: a broken vocabulary file must not break the next start too
        self.settings.set_tagging(self.options.backend, self.options.vectors_file, self.options.vocabulary)
        self.panel.editor.set_vocabulary(info.vocabulary_labels, info.vocabulary_lowered)
        self._show_engine()

    def _show_engine(self) -> None:
        info = self.engine_info
        if info is None:
            return
        self.engine_label.setText(f"{info.provider} · {info.model} · {info.vectors} · {Path(info.vocabulary).name}")
        self.engine_label.setToolTip(
            f"Provider in use: {info.provider} (available: {', '.join(info.available_providers)})\n"
            f"Model: {info.model}\nBackend: {info.backend} ({info.vectors})\n"
            f"Vocabulary: {info.vocabulary} ({len(info.vocabulary_labels)} labels with vectors)"
        )

    def _engine_failed(self, message: str) -> None:
        self.engine_label.setText("Model or vectors not loaded")
        self.show_error("Cannot load the model, word vectors or vocabulary", message)

    # thumbnails and the panel
    def _thumbnails_loaded(self) -> None:
        if not self._thumbnail_timer.isActive():
            self._thumbnail_timer.start()  # gather what arrives in the next few ms: one update, one repaint

    def _add_thumbnails(self) -> None:
        self.model.add_thumbnails(self.thumbnails.take())

    def _preview_loaded(self) -> None:
        for loaded in self.previews.take():
            self.panel.show_preview(loaded.path, loaded.image, loaded.error)

    def current_item(self) -> ImageItem | None:
        index = self.grid.currentIndex()
        if not index.isValid():
            return None
        return self.model.items[self.proxy.mapToSource(index).row()]

    def selected_paths(self) -> list[Path]:
        """The images a correction applies to: the selection, or the current image."""
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.grid.selectionModel().selectedIndexes()})
        if rows:
            return [self.model.items[r].path for r in rows]
        item = self.current_item()
        return [item.path] if item else []

    def _current_changed(self) -> None:
        item = self.current_item()
        if item is not None and not item.unreadable:
            self.previews.forget_pending()
            self.previews.request(item.path)
        self._refresh_panel()

    def _refresh_panel(self) -> None:
        self.panel.threshold = self.model.threshold
        self.panel.show_item(self.current_item(), len(self.grid.selectionModel().selectedIndexes()))

    def _rows_changed(self, top: QModelIndex, bottom: QModelIndex, roles: Sequence[int] = ()) -> None:
        item = self.current_item()
        if item is None:
            return
        row = self.model.row_of(item.path)
        if row is not None and top.row() <= row <= bottom.row() and Qt.ItemDataRole.DecorationRole not in roles:
            self._refresh_panel()

    def _apply_threshold(self, threshold: float) -> None:
        threshold = round(max(0.0, min(1.0, threshold)), 2)
        self.threshold_label.setText(f"{threshold:.2f}")
        if self.threshold_slider.value() != round(threshold * 100):
            self.threshold_slider.setValue(round(threshold * 100))
        self.delegate.threshold = threshold
        self.model.set_threshold(threshold)
        self.settings.threshold = threshold
        self._refresh_panel()

    def _focus_filter(self) -> None:
        self.filter_box.setFocus()
        self.filter_box.selectAll()

    # moving
    def move(self, step: int) -> None:
        count = self.proxy.rowCount()
        if not count:
            return
        row = self.grid.currentIndex().row()
        self._go_to(max(0, min(count - 1, row + step if row >= 0 else 0)))

    def _refresh_review_order(self) -> None:
        options, paths = self.options, self.model.paths()

        def order() -> dict[Path, int]:
            return {path: i for i, path in enumerate(self.engine.review_order(options, paths))}

        def found(order: dict[Path, int]) -> None:
            if not self._closing:
                self._review_order = order

        # Only speed is lost if it fails (the engine restarting, the window closing): N then goes in grid order.
        self.io_worker.submit(order, on_done=found, on_error=lambda message: None)

    def next_unreviewed(self) -> None:
        """The next unreviewed image in `tagsight review-queue` order (the correction that would teach
        the most first), going on after the current one; in grid order while that order is unknown."""
        current = self.grid.currentIndex().row()
        here = self.current_item()
        order = list(self._review_order)  # the grid's paths are already in the store's form
        if here is not None and here.state.review == "unreviewed" and here.path in self._review_order:
            at = self._review_order[here.path] + 1  # skipping this one: go on after it
            order = order[at:] + order[:at]
        for path in order:
            source = self.model.row_of(path)
            if source is None:
                continue
            item = self.model.items[source]
            row = self.proxy.mapFromSource(self.model.index(source, 0)).row()
            if row >= 0 and row != current and item.state.review == "unreviewed" and not item.unreadable:
                self._go_to(row)
                return
        count = self.proxy.rowCount()
        for offset in range(1, count + 1):
            row = (current + offset) % count
            item = self.model.items[self.proxy.mapToSource(self.proxy.index(row, 0)).row()]
            if item.state.review == "unreviewed" and not item.unreadable:
                self._go_to(row)
                return
        self.statusBar().showMessage("Every image shown has been reviewed.", 5000)

    def _go_to(self, row: int) -> None:
        index = self.proxy.index(row, 0)
        self.grid.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(index)

    # corrections
    def accept_suggestion(self, k: int) -> None:
        label = self.panel.suggestion(k)
        if label is None:
            self.statusBar().showMessage(f"There is no suggestion {k + 1}.", 3000)
            return
        self.correct("accept", label.label)

    def reject_suggestion(self, k: int) -> None:
        label = self.panel.suggestion(k)
        if label is None:
            self.statusBar().showMessage(f"There is no suggestion {k + 1}.", 3000)
            return
        self.correct("reject", label.label)

    def reject_focused(self) -> None:
        focused = self.panel.focused_label()
        if focused is not None:
            self.correct("reject", focused[0])

    def rename_focused(self) -> None:
        focused = self.panel.focused_label()
        if focused is None:
            self.statusBar().showMessage("No tag or suggestion to rename.", 3000)
            return
        self.panel.editor.open(focused[0], previous=focused[0])
        self.panel.editor.selectAll()

    def _editor_submitted(self, text: str, previous: str) -> None:
        if previous:
            if text != previous:
                self.correct("rename", text, previous)
        else:
            self.correct("add", text)

    def correct(self, action: Action, label: str, previous: str | None = None) -> None:
        """Record one correction for the selected images: shown now, saved in the background."""
        paths = self.selected_paths()
        if not paths:
            self.statusBar().showMessage("Select an image first.", 3000)
            return
        shown = {p: apply_event(self.model.items[self.model.row_of(p)].state, action, label, previous) for p in paths}  # type: ignore[index]
        self.model.set_states(shown)
        self._save(lambda: (self.store.record(paths, label, action, previous), self.store.states(paths))[1])
        verb = {"accept": "Accepted", "reject": "Rejected", "add": "Added", "rename": "Renamed"}[action]
        what = f"“{previous}” to “{label}”" if action == "rename" else f"“{label}”"
        where = f" for {len(paths)} images" if len(paths) > 1 else ""
        self.statusBar().showMessage(f"{verb} {what}{where}. Ctrl+Z undoes.", 4000)

    def undo(self) -> None:
        self._save(lambda: self._after_history(self.store.undo(), "Undone", "Nothing to undo."))

    def redo(self) -> None:
        self._save(lambda: self._after_history(self.store.redo(), "Redone", "Nothing to redo."))

    def _after_history(self, touched: list[Path], done: str, nothing: str) -> tuple[dict[Path, TagState], str]:
        """Runs on the store thread: the states to show after an undo or redo, and what to say. The step
        may concern images of another folder (the log is global): then nothing in this grid changes."""
        if not touched:
            return {}, nothing
        here = [p for p in touched if self.model.row_of(p) is not None]
        note = "" if len(here) == len(touched) else f" ({len(touched) - len(here)} of them outside this folder)"
        return self.store.states(touched), f"{done}: {len(touched)} image{'s' if len(touched) > 1 else ''}{note}."

    def _save(self, call: Callable[[], dict[Path, TagState] | tuple[dict[Path, TagState], str]]) -> None:
        """Run a store write on the store thread, then show the states it returns. While later writes are
        still queued their optimistic states stay on screen; the answers are applied together at the end."""
        self._pending_writes += 1

        def saved(result: dict[Path, TagState] | tuple[dict[Path, TagState], str]) -> None:
            self._pending_writes -= 1
            states, message = result if isinstance(result, tuple) else (result, "")
            if message:
                self.statusBar().showMessage(message, 4000)
            self._answered.update(states)
            if self._pending_writes == 0:
                self.model.set_states(self._answered)
                self._answered = {}
                self.corrections_saved.emit()

        def failed(message: str) -> None:
            self._pending_writes -= 1
            self.show_error("The correction could not be saved", message)
            paths = self.model.paths()
            self.store_worker.submit(lambda: self.store.states(paths), on_done=self.model.set_states)

        self.store_worker.submit(call, on_done=saved, on_error=failed)

    def saving(self) -> bool:
        return self._pending_writes > 0

    def _look_up_neighbours(self, word: str) -> None:
        options = self.options

        def look_up() -> list[str]:
            return [w for w, _ in self.engine.similar(word, options.backend, options.vectors_file, top=8)]

        # a failed look-up (engine restarting) only costs the completion list its neighbours
        self.io_worker.submit(look_up, on_done=lambda words: self.panel.editor.set_neighbours(word, words))

    # switching backend and vocabulary
    def _backend_picked(self) -> None:
        backend = self.backend_box.currentData()
        vectors_file: Path | None = None
        if backend != "glove":
            chosen, _ = QFileDialog.getOpenFileName(
                self, f"Vectors file for {backend}", str(Path.home()), "Word vectors (*.bin *.txt *.vec *.gz);;All files (*)"
            )
            if not chosen:
                self.backend_box.setCurrentIndex(max(0, self.backend_box.findData(self.options.backend)))
                return
            vectors_file = Path(chosen)
        self.set_options(backend=backend, vectors_file=vectors_file)

    def _vocabulary_picked(self) -> None:
        vocabulary = self.vocabulary_box.currentData()
        if vocabulary is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Vocabulary: one label per line", str(Path.home()), "Text (*.txt);;All files (*)")
            if not chosen:
                self.vocabulary_box.setCurrentIndex(max(0, self.vocabulary_box.findData(self.options.vocabulary)))
                return
            vocabulary = chosen
        self.set_options(vocabulary=vocabulary)

    def retrain(self) -> None:
        """Fit a new projection from the corrections in the background, then re-rank the folder with it."""
        options = self.options
        self.statusBar().showMessage("Retraining from your corrections…")

        def retrained(report: Any) -> None:
            self.statusBar().showMessage(
                f"Projection version {report.version} learned from {report.summary.get('images', '?')} images; re-ranking…",
                8000,
            )
            self.rerank()

        # The io thread, not the store thread: corrections made meanwhile are saved without waiting.
        self.io_worker.submit(lambda: self.store.service.retrain(options), on_done=retrained,
                              on_error=lambda message: self.show_error("Retraining failed", message))

    def rerank(self) -> None:
        """Tag everything again with the current options: cached CNN outputs make tagged images quick."""
        paths = [i.path for i in self.model.items if i.tagged] + [i.path for i in self.model.items if not i.tagged]
        if paths:
            self._start_run(TagRun(paths, self.options))

    def set_options(self, **changes: Any) -> None:
        """Switch backend and/or vocabulary: re-rank what is tagged, then tag the rest."""
        fields = {"backend": self.options.backend, "vectors_file": self.options.vectors_file, "vocabulary": self.options.vocabulary}
        fields.update(changes)
        options = tag_options(**fields)
        if options == self.options:
            return
        self.options = options
        self._fill_pickers()
        self.engine_info = None
        self.engine_label.setText(f"Loading {options.backend} · {Path(options.vocabulary).name}…")
        self.tagging.load(options)
        self.rerank()

    # events
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and watched is self.filter_box:
            if is_typing_key(event):  # type: ignore[arg-type]
                event.accept()  # keys typed into the filter are text, not shortcuts
            return False
        if event.type() == QEvent.Type.KeyPress and watched in self._typing_targets:
            key: QKeyEvent = event  # type: ignore[assignment]
            text = key.text()
            if text.isalpha() and not key.modifiers() & ~Qt.KeyboardModifier.ShiftModifier:
                self.panel.editor.open(text)  # typing a word starts adding it as a tag
                return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_folder(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = _dropped_folder(event)
        if folder is not None:
            event.acceptProposedAction()
            self.open_folder(folder)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            self._closing = True
            self.settings.geometry = self.saveGeometry()
            self.settings.splitter = self.splitter.saveState()
            self.settings.sync()
            self.tagging.shutdown()
            if self._own_engine:
                self.engine.close()
            self.store_worker.shutdown()  # every correction reaches the store before the window goes
            self.io_worker.shutdown()
            self.thumbnails.shutdown()
            self.previews.shutdown()
        super().closeEvent(event)

    def show_error(self, title: str, message: str) -> None:
        log.error("%s: %s", title, message)
        self.statusBar().showMessage(f"{title}: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not exec(): the event loop, and the background work, go on



def _dropped_folder(event: QDragEnterEvent | QDropEvent) -> Path | None:
    for url in event.mimeData().urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir():
                return path
            if path.is_file():
                return path.parent
    return None
