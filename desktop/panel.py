"""The right-hand panel: the selected image large, its ranked suggestions with score bars, its tags as
chips, and the field that adds or renames a tag.

The panel only shows and asks; the window decides what a key does and records corrections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QKeyEvent, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QLabel,
    QLineEdit,
    QListView,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from tagsight.desktop.delegate import CONFIRMED, draw_broken
from tagsight.desktop.grid_model import ImageItem, Suggestion, suggestions

AnyIndex = QModelIndex | QPersistentModelIndex
LabelRole = Qt.ItemDataRole.UserRole + 1


class PreviewWidget(QWidget):
    """The selected image scaled to fit, or why it cannot be shown."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._pixmap: QPixmap | None = None
        self._message = "Open a folder to start: File ▸ Open Folder (Ctrl+O), or drop one here."
        self._broken = False

    def show_image(self, image: QImage) -> None:
        self._pixmap, self._message, self._broken = QPixmap.fromImage(image), "", False
        self.update()

    def show_message(self, message: str, broken: bool = False) -> None:
        self._pixmap, self._message, self._broken = None, message, broken
        self.update()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = self.rect().adjusted(8, 8, -8, -8)
        if self._pixmap is not None:
            size = self._pixmap.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(area.center())
            painter.drawPixmap(target, self._pixmap)
            return
        if self._broken:
            box = QRect(0, 0, 160, 160)
            box.moveCenter(area.center())
            box.translate(0, -30)
            draw_broken(painter, box)
            area = area.adjusted(0, box.bottom() - area.top() - 10, 0, 0)
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)


class SuggestionModel(QAbstractListModel):
    """The suggestions of the shown image, best first; row k is what key k+1 accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[Suggestion] = []

    def set_labels(self, labels: list[Suggestion]) -> None:
        self.beginResetModel()
        self.labels = labels
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.labels)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.labels):
            return None
        label = self.labels[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return label.label
        if role == LabelRole:
            return label
        if role == Qt.ItemDataRole.ToolTipRole:
            sources = ", ".join(label.sources) or "none above zero"
            key = index.row() + 1
            return (
                f"{label.label}: cosine {label.score:.3f}\n"
                f"From the CNN classes: {sources}\n"
                f"{key} accepts, Shift+{key} rejects, F2 renames"
            )
        return None


class SuggestionDelegate(QStyledItemDelegate):
    """Key number, label, score bar, score."""

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return QSize(200, QFontMetrics(option.font).height() + 12)  # type: ignore[attr-defined]

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        label: Suggestion | None = index.data(LabelRole)
        if label is None:
            return
        rect: QRect = option.rect  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight).lighter(170))
        metrics = QFontMetrics(option.font)  # type: ignore[attr-defined]
        key = QRectF(rect.x() + 6, rect.y() + 4, metrics.height() + 4, rect.height() - 8)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Mid).lighter(130))
        painter.drawRoundedRect(key, 3, 3)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        bold = QFont(option.font)  # type: ignore[attr-defined]
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(key, Qt.AlignmentFlag.AlignCenter, str(index.row() + 1))
        painter.setFont(option.font)  # type: ignore[attr-defined]
        score_width = metrics.horizontalAdvance("0.000") + 6
        bar_width = max(40, min(140, rect.width() // 3))
        text_rect = QRect(int(key.right()) + 8, rect.y(), rect.width() - bar_width - score_width - int(key.width()) - 26, rect.height())
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            metrics.elidedText(label.label, Qt.TextElideMode.ElideRight, text_rect.width()),
        )
        bar = QRectF(text_rect.right() + 8, rect.center().y() - 4, bar_width, 8)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Mid).lighter(150))
        painter.drawRoundedRect(bar, 4, 4)
        filled = QRectF(bar)
        filled.setWidth(bar.width() * max(0.0, min(1.0, label.score)))
        painter.setBrush(QColor(25, 118, 210))
        painter.drawRoundedRect(filled, 4, 4)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(
            QRectF(bar.right() + 4, rect.y(), score_width, rect.height()),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            f"{label.score:.3f}",
        )
        painter.restore()


class ChipDelegate(QStyledItemDelegate):
    """A confirmed tag as a filled chip."""

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        metrics = QFontMetrics(option.font)  # type: ignore[attr-defined]
        return QSize(metrics.horizontalAdvance(str(index.data())) + 26, metrics.height() + 12)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        rect = QRectF(option.rect).adjusted(2, 2, -2, -2)  # type: ignore[attr-defined]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        color = CONFIRMED.darker(130) if option.state & QStyle.StateFlag.State_Selected else CONFIRMED  # type: ignore[attr-defined]
        painter.setBrush(color)
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        if option.state & QStyle.StateFlag.State_HasFocus:  # type: ignore[attr-defined]
            painter.setPen(Qt.GlobalColor.black)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        painter.setPen(Qt.GlobalColor.white)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(index.data()))
        painter.restore()


class TagEditor(QLineEdit):
    """The add / rename field. Enter submits, Escape closes; completion from the vocabulary and from
    the backend's nearest words of what is typed."""

    submitted = Signal(str, str)  # text, previous label ("" when adding)
    closed = Signal()
    wants_neighbours = Signal(str)  # ask the window for the backend's nearest words

    def __init__(self) -> None:
        super().__init__()
        self.previous = ""
        self.vocabulary: list[str] = []
        self._lower: list[str] = []
        self._neighbours: list[str] = []
        self._completions = QStringListModel()
        completer = QCompleter(self._completions, self)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setMaxVisibleItems(12)
        self.setCompleter(completer)
        self.textEdited.connect(self._update_completions)
        self.returnPressed.connect(self._submit)
        self.hide()

    def set_vocabulary(self, labels: Sequence[str], lowered: Sequence[str]) -> None:
        """`labels` sorted by `lowered`, their lower-case forms (sorted by the engine process: 20,000
        labels are too many to sort on the GUI thread)."""
        self._lower = list(lowered)
        self.vocabulary = list(labels)

    def open(self, text: str = "", previous: str = "") -> None:
        self.previous = previous
        self.setPlaceholderText(f"Rename “{previous}” to…" if previous else "Add a tag… (Enter adds, Esc closes)")
        self.setText(text)
        self.show()
        self.setFocus(Qt.FocusReason.OtherFocusReason)  # a shortcut reason would select the first letter typed
        self._update_completions(text)

    def set_neighbours(self, word: str, neighbours: list[str]) -> None:
        if word.strip().lower() != self.text().strip().lower():
            return  # the user typed on meanwhile
        self._neighbours = neighbours
        self._show(self._prefix_matches(word))

    def completions(self) -> list[str]:
        return self._completions.stringList()

    def _prefix_matches(self, text: str, limit: int = 12) -> list[str]:
        from bisect import bisect_left

        low = text.strip().lower()
        if not low:
            return []
        start = bisect_left(self._lower, low)
        found: list[str] = []
        for i in range(start, min(len(self._lower), start + 200)):
            if not self._lower[i].startswith(low) or len(found) >= limit:
                break
            found.append(self.vocabulary[i])
        return found

    def _update_completions(self, text: str) -> None:
        self._neighbours = []
        self._show(self._prefix_matches(text))
        if text.strip():
            self.wants_neighbours.emit(text.strip())

    def _show(self, prefix: list[str]) -> None:
        items = list(dict.fromkeys([*prefix, *self._neighbours]))
        self._completions.setStringList(items)
        if items and self.hasFocus() and self.isVisible():
            self.completer().complete()

    def _submit(self) -> None:
        if self.completer().popup().isVisible():
            self.completer().popup().hide()
        text = " ".join(self.text().split())
        if text:
            self.submitted.emit(text, self.previous)
        self.close_editor()

    def close_editor(self) -> None:
        self.completer().popup().hide()
        self.hide()
        self.clear()
        self.closed.emit()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and is_typing_key(event):  # type: ignore[arg-type]
            event.accept()  # digits, Enter and Delete are text editing here, not the window's shortcuts
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close_editor()
            return
        super().keyPressEvent(event)


class HintListView(QListView):
    """A list that says what to do while it is empty."""

    def __init__(self, hint: str) -> None:
        super().__init__()
        self.hint = hint

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0 and self.hint:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                self.viewport().rect().adjusted(8, 4, -8, -4),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                self.hint,
            )


class ImagePanel(QWidget):
    """Shows one `ImageItem`. `focused_label()` is the label Delete and F2 act on."""

    def __init__(self) -> None:
        super().__init__()
        self.item: ImageItem | None = None
        self.threshold = 0.0
        self.preview = PreviewWidget()
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        self.selection_note = QLabel()
        self.selection_note.setStyleSheet("color: #1565c0; font-weight: bold")
        self.suggestions_model = SuggestionModel()
        self.suggestion_list = HintListView("")
        self.suggestion_list.setModel(self.suggestions_model)
        self.suggestion_list.setItemDelegate(SuggestionDelegate(self.suggestion_list))
        self.suggestion_list.setUniformItemSizes(True)
        self.suggestion_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.suggestion_list.setMinimumHeight(120)
        self.tags_model = QStringListModel()
        self.tag_list = HintListView("No tags yet: accept a suggestion with 1–9 or Enter, or press T to add one.")
        self.tag_list.setModel(self.tags_model)
        self.tag_list.setItemDelegate(ChipDelegate(self.tag_list))
        self.tag_list.setFlow(QListView.Flow.LeftToRight)
        self.tag_list.setWrapping(True)
        self.tag_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.tag_list.setSpacing(2)
        self.tag_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tag_list.setMaximumHeight(90)
        self.editor = TagEditor()
        self._last_list: QListView = self.suggestion_list
        for view in (self.suggestion_list, self.tag_list):
            view.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.addWidget(self.preview, 5)
        layout.addWidget(self.title)
        layout.addWidget(self.selection_note)
        layout.addWidget(_heading("Suggestions  (1–9 accept · Shift+1–9 reject · Enter accepts the top one)"))
        layout.addWidget(self.suggestion_list, 3)
        layout.addWidget(_heading("Tags  (T adds · F2 renames · Delete removes)"))
        layout.addWidget(self.tag_list, 1)
        layout.addWidget(self.editor)
        self.show_item(None, 0)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusIn and isinstance(watched, QListView):
            self._last_list = watched
        return False

    def show_item(self, item: ImageItem | None, selected: int) -> None:
        """Show `item` (the current image); `selected` images are the ones corrections apply to."""
        previous_path = self.item.path if self.item else None
        keep_row = self.suggestion_list.currentIndex().row()
        keep_tag = self.tag_list.currentIndex().row()
        self.item = item
        self.selection_note.setText(f"{selected} images selected: corrections apply to all of them" if selected > 1 else "")
        self.selection_note.setVisible(selected > 1)
        if item is None:
            self.title.setText("")
            self.suggestions_model.set_labels([])
            self.tags_model.setStringList([])
            if previous_path is not None:
                self.preview.show_message("No image selected.")
            return
        self.title.setText(f"<b>{_escape(item.name)}</b><br><small>{_escape(str(item.path.parent))}</small>")
        self.title.setToolTip(str(item.path))
        if item.unreadable:
            self.preview.show_message(f"Cannot read this image:\n{item.unreadable}", broken=True)
        elif previous_path != item.path:
            self.preview.show_message("Loading…")
        self.suggestions_model.set_labels(suggestions(item, self.threshold) if item.tagged else [])
        self.tags_model.setStringList(list(item.state.tags))
        same = previous_path == item.path
        self._restore_row(self.suggestion_list, keep_row if same else 0)
        self._restore_row(self.tag_list, keep_tag if same else 0)
        self.suggestion_list.hint = (
            "" if item.unreadable else "Tagging this image…" if not item.tagged else "No suggestions above the threshold."
        )
        self.suggestion_list.viewport().update()

    def show_preview(self, path: Path, image: QImage | None, error: str | None) -> None:
        if self.item is None or self.item.path != path:
            return
        if image is not None:
            self.preview.show_image(image)
        else:
            self.preview.show_message(f"Cannot read this image:\n{error}", broken=True)

    def suggestion(self, k: int) -> Suggestion | None:
        """The k-th suggestion (0-based), if there is one."""
        labels = self.suggestions_model.labels
        return labels[k] if 0 <= k < len(labels) else None

    def focused_label(self) -> tuple[str, bool] | None:
        """The label Delete and F2 act on, and whether it is a confirmed tag (else a suggestion)."""
        for view, is_tag in ((self._last_list, self._last_list is self.tag_list), (self.suggestion_list, False)):
            row = view.currentIndex().row()
            model = view.model()
            if 0 <= row < model.rowCount():
                return str(model.index(row, 0).data()), is_tag
        return None

    @staticmethod
    def _restore_row(view: QListView, row: int) -> None:
        count = view.model().rowCount()
        if count:
            view.setCurrentIndex(view.model().index(max(0, min(row, count - 1)), 0))


def is_typing_key(event: QKeyEvent) -> bool:
    """Whether a key is text editing in a line edit (so it must not trigger a window shortcut)."""
    if event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
        return False
    return bool(event.text() and event.text().isprintable()) or event.key() in _EDITING_KEYS


_EDITING_KEYS = frozenset(
    {
        Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_Left,
        Qt.Key.Key_Right, Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_Escape, Qt.Key.Key_F2,
    }
)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 0.9)
    label.setFont(font)
    label.setStyleSheet("color: palette(mid); margin-top: 4px")
    return label


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

