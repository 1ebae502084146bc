"""The real main window, offscreen, on generated folders, with the real model: tagging, keyboard
corrections and the correction log, undo/redo, multi-select, navigation, filters, switching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QDialog, QTableWidget

BROKEN_NAME = "zz-broken.jpg"  # the corrupt file the folder fixture adds


def log_entries(window: Any) -> list[tuple[str, str, str | None, str]]:
    """The store's correction log for the window's folder, as (action, label, previous, file name)."""
    return [
        (event.action, event.label, event.previous, event.path.name)
        for event in window.store.corrections()
        if event.path.parent == window.folder
    ]


def select_row(window: Any, row: int) -> None:
    index = window.proxy.index(row, 0)
    window.grid.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)


def test_opening_a_folder_tags_every_image_and_marks_the_unreadable_one(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    items = {item.name: item for item in window.model.items}
    assert len(items) == 9
    good = [item for name, item in items.items() if name != BROKEN_NAME]
    assert all(item.labels and item.error is None for item in good)
    assert all(len(item.labels) >= 9 for item in good)  # enough left for keys 1-9
    broken = items[BROKEN_NAME]
    assert broken.error and not broken.labels
    tooltip = window.model.data(window.model.index(window.model.row_of(broken.path)), Qt.ItemDataRole.ToolTipRole)
    assert "Cannot read this image" in tooltip and broken.error in tooltip
    assert window.engine_info is not None and window.engine_info.provider == "CPU"
    assert "CPU" in window.engine_label.text() and "glove" in window.engine_label.text()
    qtbot.waitUntil(lambda: all(window.model.has_thumbnail(i.path) for i in good), timeout=10_000)
    assert not window.progress.isVisible() and not window.cancel_button.isVisible()


def test_keyboard_corrections_reach_the_log_and_undo_redo_walks_it(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    select_row(window, 0)
    name = window.current_item().name
    first, second = window.panel.suggestion(0).label, window.panel.suggestion(1).label

    qtbot.keyClick(window.grid, Qt.Key.Key_1)
    assert window.current_item().state.tags == (first,)
    assert window.panel.suggestion(0).label == second  # the accepted one left the suggestions

    third = window.panel.suggestion(1).label
    qtbot.keyClick(window.grid, Qt.Key.Key_2, Qt.KeyboardModifier.ShiftModifier)  # reject suggestion 2
    assert third in window.current_item().state.blocked
    assert third not in [window.panel.suggestion(k).label for k in range(5)]

    qtbot.keyClick(window.grid, Qt.Key.Key_T)
    assert window.panel.editor.isVisible() and window.panel.editor.hasFocus()
    qtbot.keyClicks(window.panel.editor, "sunset")
    qtbot.keyClick(window.panel.editor, Qt.Key.Key_Return)
    assert window.current_item().state.tags == (first, "sunset")
    assert not window.panel.editor.isVisible()

    window.panel.tag_list.setFocus()
    window.panel.tag_list.setCurrentIndex(window.panel.tags_model.index(1, 0))  # "sunset"
    qtbot.keyClick(window.panel.tag_list, Qt.Key.Key_F2)
    assert window.panel.editor.text() == "sunset"
    window.panel.editor.clear()
    qtbot.keyClicks(window.panel.editor, "dusk")
    qtbot.keyClick(window.panel.editor, Qt.Key.Key_Return)
    assert window.current_item().state.tags == (first, "dusk")
    qtbot.waitUntil(lambda: not window.saving())

    assert log_entries(window) == [
        ("accept", first, None, name),
        ("reject", third, None, name),
        ("add", "sunset", None, name),
        ("rename", "dusk", "sunset", name),
    ]

    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.current_item().state.tags == (first, "sunset"))
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.current_item().state.tags == (first,))
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.current_item().state.tags == (first, "sunset"))
    undo_rename, undo_add, redo_add = [e for e in window.store.corrections() if e.path.parent == window.folder][4:]
    assert (undo_rename.action, undo_rename.label) == ("undo", "dusk")
    assert (undo_add.action, undo_add.label) == ("undo", "sunset")
    assert redo_add.action == "undo" and redo_add.undoes == undo_add.uid  # a redo undoes the undo
    assert window.current_item().state.review == "confirmed"


def test_enter_accepts_the_top_suggestion_and_delete_rejects_the_focused_one(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    select_row(window, 1)
    top = window.panel.suggestion(0).label
    qtbot.keyClick(window.grid, Qt.Key.Key_Return)
    assert window.current_item().state.tags == (top,)
    window.panel.suggestion_list.setFocus()
    window.panel.suggestion_list.setCurrentIndex(window.panel.suggestions_model.index(2, 0))
    focused = window.panel.suggestion(2).label
    qtbot.keyClick(window.panel.suggestion_list, Qt.Key.Key_Delete)
    assert focused in window.current_item().state.blocked
    window.panel.tag_list.setFocus()
    window.panel.tag_list.setCurrentIndex(window.panel.tags_model.index(0, 0))
    qtbot.keyClick(window.panel.tag_list, Qt.Key.Key_Delete)  # on a tag: removes it
    assert window.current_item().state.tags == ()
    qtbot.waitUntil(lambda: not window.saving())
    assert [e[:2] for e in log_entries(window)] == [("accept", top), ("reject", focused), ("reject", top)]


def test_typing_a_letter_opens_the_add_field_with_completion(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    select_row(window, 0)
    qtbot.keyClick(window.grid, "d")
    editor = window.panel.editor
    assert editor.isVisible() and editor.text() == "d"
    qtbot.keyClicks(editor, "og")
    assert "dog" in editor.completions()
    # the backend's nearest words of "dog" join the vocabulary's prefix matches
    qtbot.waitUntil(lambda: any(w in editor.completions() for w in ("dogs", "cat", "puppy")), timeout=10_000)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert not editor.isVisible()
    assert log_entries(window) == []


def test_a_correction_on_a_multi_selection_applies_to_all_and_is_one_undo_step(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    select_row(window, 0)
    for row in (1, 2):
        window.grid.selectionModel().select(window.proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select)
    assert "3 images selected" in window.panel.selection_note.text()
    qtbot.keyClick(window.grid, Qt.Key.Key_T)
    qtbot.keyClicks(window.panel.editor, "holiday")
    qtbot.keyClick(window.panel.editor, Qt.Key.Key_Return)
    tagged = [window.model.items[r] for r in range(3)]
    assert all(item.state.tags == ("holiday",) for item in tagged)
    qtbot.waitUntil(lambda: not window.saving())
    assert sorted(e[3] for e in log_entries(window) if e[0] == "add") == sorted(i.name for i in tagged)
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: all(item.state.tags == () for item in tagged))
    assert all(item.state.review == "unreviewed" for item in window.model.items)


def test_moving_and_jumping_to_the_next_unreviewed_image(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    select_row(window, 0)
    for k, row in ((Qt.Key.Key_Right, 1), (Qt.Key.Key_J, 2), (Qt.Key.Key_K, 1), (Qt.Key.Key_Left, 0), (Qt.Key.Key_Left, 0)):
        qtbot.keyClick(window.grid, k)
        assert window.grid.currentIndex().row() == row
    qtbot.keyClick(window.grid, Qt.Key.Key_1)  # image 0 reviewed
    select_row(window, 2)
    qtbot.keyClick(window.grid, Qt.Key.Key_1)  # image 2 reviewed
    qtbot.waitUntil(lambda: window.tagging_done() and not window.saving()
                    and all(item.tagged or item.error for item in window.model.items), timeout=20_000)
    # N follows `tagsight review-queue`'s order (most to learn first), skipping reviewed images.
    queue = [item.path for item in window.store.service.review_queue(window.options, paths=window.model.paths())]
    assert len(queue) >= 3 and all(window.model.items[r].path.resolve() not in queue for r in (0, 2))
    qtbot.waitUntil(lambda: set(queue) <= set(window._review_order), timeout=20_000)
    select_row(window, 0)
    for expected in queue[:3]:
        qtbot.keyClick(window.grid, Qt.Key.Key_N)
        assert window.current_item().path.resolve() == expected


def test_filters_threshold_and_unreadable_only(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    select_row(window, 0)
    qtbot.keyClick(window.grid, Qt.Key.Key_T)
    qtbot.keyClicks(window.panel.editor, "zebrafinch")
    qtbot.keyClick(window.panel.editor, Qt.Key.Key_Return)
    window.filter_box.setFocus()
    qtbot.keyClicks(window.filter_box, "zebrafin")
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    assert window.proxy.index(0, 0).data() == window.model.items[0].name
    window.filter_box.clear()
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 9)

    window.mode_box.setCurrentIndex(window.mode_box.findText("Unreadable only"))
    assert [window.proxy.index(r, 0).data() for r in range(window.proxy.rowCount())] == [BROKEN_NAME]
    window.mode_box.setCurrentIndex(window.mode_box.findText("Unreviewed only"))
    assert window.proxy.rowCount() == 8
    window.mode_box.setCurrentIndex(window.mode_box.findText("All images"))

    select_row(window, 1)
    before = len(window.panel.suggestions_model.labels)
    top = window.panel.suggestion(0).score
    window.threshold_slider.setValue(int(top * 100))
    assert 1 <= len(window.panel.suggestions_model.labels) < before
    assert all(s.score >= window.model.threshold for s in window.panel.suggestions_model.labels)
    window.threshold_slider.setValue(100 if top < 1 else 0)


def test_switching_vocabulary_reranks_every_image(qtbot, open_window, folder: Path) -> None:
    from tagsight.engine.vocabulary import imagenet_classes

    window = open_window(folder)
    window.vocabulary_box.setCurrentIndex(window.vocabulary_box.findData("imagenet1k"))
    window.vocabulary_box.activated.emit(window.vocabulary_box.currentIndex())
    assert window.options.vocabulary == "imagenet1k"
    qtbot.waitUntil(lambda: window.tagging_done() and window.engine_info is not None, timeout=30_000)
    classes = set(imagenet_classes())
    readable = [item for item in window.model.items if not item.error]
    qtbot.waitUntil(lambda: all(all(raw[0] in classes for raw in item.labels) for item in readable), timeout=10_000)
    assert "imagenet1k" in window.engine_label.text()
    assert window.settings.vocabulary == "imagenet1k"


def test_cancel_in_the_status_bar_stops_tagging(qtbot, open_window, tmp_path: Path, make_images) -> None:
    make_images(tmp_path / "many", 300, broken=False)
    window = open_window(tmp_path / "many", wait=False)
    window.grid.scrollToBottom()  # what is on screen is tagged next, before the rows in between
    qtbot.waitUntil(lambda: window.model.items[-1].path in window.visible_paths())
    window._prioritize_visible()
    qtbot.waitUntil(lambda: window.model.items[-1].tagged, timeout=60_000)
    assert not all(item.tagged for item in window.model.items[150:250])
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.tagging_done, timeout=10_000)
    assert window.run.was_cancelled and window.run.error is None
    tagged = sum(item.tagged for item in window.model.items)
    assert 0 < tagged < 300
    assert "cancelled" in window.statusBar().currentMessage()
    assert not window.cancel_button.isVisible()
    cancelled = window.run
    window.tag_untagged()  # Tags > Tag Untagged Images resumes with the rest
    assert window.run is not cancelled and window.run.total == 300 - tagged
    qtbot.waitUntil(lambda: sum(item.tagged for item in window.model.items) > tagged, timeout=30_000)


def test_settings_are_remembered(qtbot, open_window, folder: Path, settings) -> None:
    window = open_window(folder)
    window.resize(700, 560)  # the offscreen screen is 800 px wide: stay inside it
    window.threshold_slider.setValue(63)
    window.close()
    assert settings.last_folder == folder and settings.recent_folders[0] == folder
    again = open_window(folder)
    assert again.threshold_slider.value() == 63 and again.model.threshold == 0.63
    assert again.size().width() == 700 and abs(again.size().height() - 560) <= 20  # the frame may count
    assert again.recent_menu.actions()[0].text() == str(folder)


def test_dropping_a_folder_opens_it(qtbot, open_window, folder: Path, tmp_path: Path, make_images) -> None:
    window = open_window(folder)
    other = tmp_path / "dropped"
    make_images(other, 3, broken=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    drop = QDropEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.folder_loaded, timeout=10_000):
        window.dropEvent(drop)
    assert window.folder == other and window.model.rowCount() == 3


def test_help_plugins_and_about(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    qtbot.keyClick(window.grid, "?")
    dialogs = [w for w in window.findChildren(QDialog) if w.isVisible()]
    assert [d.windowTitle() for d in dialogs] == ["Keyboard shortcuts"]
    keys = dialogs[0].findChild(QTableWidget)
    assert "Shift+1 – 9" in [keys.item(r, 0).text() for r in range(keys.rowCount())]
    dialogs[0].close()
    window.menuBar().actions()  # the Help menu holds Plugins and About
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    next(a for a in help_menu.actions() if a.text() == "&Plugins…").trigger()
    plugins = next(w for w in window.findChildren(QDialog) if w.isVisible() and w.windowTitle() == "Plugins")
    table = plugins.findChild(QTableWidget)
    names = {table.item(r, 0).text() for r in range(table.rowCount())}
    assert {"glove", "word2vec"} <= names
    plugins.close()
    next(a for a in help_menu.actions() if a.text() == "&About tagsight").trigger()
    about = next(w for w in window.findChildren(QDialog) if w.isVisible() and w.windowTitle() == "About tagsight")
    assert "onnxruntime" in about.findChild(type(window.engine_label)).text()


def test_a_broken_vocabulary_file_is_reported_and_not_remembered(qtbot, open_window, folder: Path, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = open_window(folder)
    before = [item.labels for item in window.model.items]
    bad = tmp_path / "labels.txt"
    bad.write_text("qqxqzz\nzzqxqq\n", encoding="utf-8")  # no word of it has a vector
    window.set_options(vocabulary=str(bad))
    qtbot.waitUntil(window.tagging_done, timeout=30_000)
    assert window.run.error
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "labels.txt" in " ".join(b.text() for b in boxes)
    assert window.settings.vocabulary == "default"  # the next start uses what worked
    assert [item.labels for item in window.model.items] == before  # the grid keeps its suggestions


def test_retrain_learns_from_the_corrections_then_reranks(qtbot, open_window, folder: Path) -> None:
    window = open_window(folder)
    select_row(window, 0)
    for row in (1, 2):
        window.grid.selectionModel().select(window.proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select)
    qtbot.keyClick(window.grid, Qt.Key.Key_T)
    qtbot.keyClicks(window.panel.editor, "holiday")
    qtbot.keyClick(window.panel.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.saving())
    window.retrain()
    qtbot.waitUntil(lambda: len(window.store.service.projections()) == 1, timeout=60_000)
    qtbot.waitUntil(lambda: "re-ranking" in window.statusBar().currentMessage() or window.tagging_done(), timeout=10_000)
    qtbot.waitUntil(window.tagging_done, timeout=60_000)
    corrected = [window.model.items[r] for r in range(3)]
    qtbot.waitUntil(lambda: all("holiday" in [raw[0] for raw in item.labels] for item in corrected), timeout=30_000)
