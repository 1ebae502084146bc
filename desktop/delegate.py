"""How one grid cell is drawn: thumbnail, file name, top tags as chips, a review / unreadable mark.

Painting reads the row's `ImageItem` directly and draws with QPainter primitives only, so a repaint of a
screenful of cells stays cheap however large the folder is.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from tagsight.desktop.grid_model import ImageItem, ItemRole, suggestions
from tagsight.desktop.thumbnails import THUMBNAIL_SIZE

CELL_WIDTH = THUMBNAIL_SIZE + 24
CELL_HEIGHT = THUMBNAIL_SIZE + 64
CHIPS_SHOWN = 3

CONFIRMED = QColor(46, 125, 50)
REVIEWED = QColor(96, 125, 139)
BROKEN = QColor(198, 40, 40)


class ThumbnailDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.threshold = 0.0

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(CELL_WIDTH, CELL_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        item: ImageItem | None = index.data(ItemRole)
        if item is None:
            return
        palette = option.palette  # type: ignore[attr-defined]
        rect: QRect = option.rect  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        cell = QRectF(rect).adjusted(3, 3, -3, -3)
        if state & QStyle.StateFlag.State_Selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight).lighter(160))
            painter.drawRoundedRect(cell, 6, 6)
        if state & QStyle.StateFlag.State_HasFocus:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell, 6, 6)

        box = QRect(rect.x() + (rect.width() - THUMBNAIL_SIZE) // 2, rect.y() + 8, THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if item.unreadable:
            draw_broken(painter, box)
        elif pixmap is not None and not pixmap.isNull():
            size = pixmap.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(box.center())
            painter.drawPixmap(target, pixmap)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Mid).lighter(150))
            painter.drawRoundedRect(QRectF(box).adjusted(12, 12, -12, -12), 4, 4)
        _draw_mark(painter, item, box)

        text_color = palette.color(QPalette.ColorRole.Text)  # the selection fill is light: normal text reads
        font = QFont(option.font)  # type: ignore[attr-defined]
        metrics = QFontMetrics(font)
        name_rect = QRect(rect.x() + 8, box.bottom() + 6, rect.width() - 16, metrics.height())
        painter.setFont(font)
        painter.setPen(text_color)
        painter.drawText(
            name_rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(item.name, Qt.TextElideMode.ElideMiddle, name_rect.width()),
        )
        chip_font = QFont(font)
        chip_font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        _draw_chips(painter, item, self.threshold, chip_font, QRect(rect.x() + 6, name_rect.bottom() + 5, rect.width() - 12, 0), palette)
        painter.restore()


def _draw_chips(painter: QPainter, item: ImageItem, threshold: float, font: QFont, area: QRect, palette: QPalette) -> None:
    """Confirmed tags as filled chips, then the best suggestions as outlined ones, on one line."""
    chips = [(tag, True) for tag in item.state.tags]
    # a synonym list ("tench, Tinca tinca") shows its first name; the tooltip and the panel show all
    chips += [(s.label.split(", ")[0], False) for s in suggestions(item, threshold)]
    if not chips:
        return
    metrics = QFontMetrics(font)
    painter.setFont(font)
    height = metrics.height() + 4
    x, right = area.x(), area.x() + area.width()
    for text, confirmed in chips[:CHIPS_SHOWN]:
        room = right - x
        if room < 30:
            break
        label = metrics.elidedText(text, Qt.TextElideMode.ElideRight, min(room - 10, 110))
        chip = QRectF(x, area.y(), metrics.horizontalAdvance(label) + 10, height)
        if confirmed:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(CONFIRMED)
            painter.drawRoundedRect(chip, height / 2, height / 2)
            painter.setPen(Qt.GlobalColor.white)
        else:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
            painter.setBrush(palette.color(QPalette.ColorRole.Base))
            painter.drawRoundedRect(chip, height / 2, height / 2)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, label)
        x = int(chip.right()) + 4


def _draw_mark(painter: QPainter, item: ImageItem, box: QRect) -> None:
    """A round badge in the thumbnail's corner: a tick for reviewed, a double tick for confirmed."""
    review = item.state.review
    if review == "unreviewed":
        return
    badge = QRectF(box.right() - 24, box.top() + 4, 20, 20)
    painter.setPen(QPen(Qt.GlobalColor.white, 1.5))
    painter.setBrush(CONFIRMED if review == "confirmed" else REVIEWED)
    painter.drawEllipse(badge)
    painter.setPen(QPen(Qt.GlobalColor.white, 2.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    tick = QPainterPath(QPointF(badge.left() + 5, badge.center().y()))
    tick.lineTo(badge.left() + 9, badge.bottom() - 6)
    tick.lineTo(badge.right() - 5, badge.top() + 6)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(tick)
    if review == "confirmed":
        painter.drawPath(tick.translated(0, -4))


def draw_broken(painter: QPainter, box: QRect) -> None:
    """A torn picture frame: the file could not be read (the tooltip says why)."""
    frame = QRectF(box).adjusted(30, 36, -30, -36)
    painter.setBrush(QColor(250, 235, 235))
    painter.setPen(QPen(BROKEN, 2.5))
    crack = QPainterPath()
    crack.moveTo(frame.center().x() - 6, frame.top())
    crack.lineTo(frame.center().x() + 6, frame.top() + frame.height() * 0.35)
    crack.lineTo(frame.center().x() - 6, frame.top() + frame.height() * 0.65)
    crack.lineTo(frame.center().x() + 4, frame.bottom())
    left = QPainterPath(frame.topLeft())
    left.lineTo(crack.elementAt(0).x, crack.elementAt(0).y)
    for i in range(1, crack.elementCount()):
        left.lineTo(crack.elementAt(i).x, crack.elementAt(i).y)
    left.lineTo(frame.bottomLeft())
    left.closeSubpath()
    painter.drawPath(left.translated(-4, 0))
    right = QPainterPath(frame.topRight())
    right.lineTo(crack.elementAt(0).x, crack.elementAt(0).y)
    for i in range(1, crack.elementCount()):
        right.lineTo(crack.elementAt(i).x, crack.elementAt(i).y)
    right.lineTo(frame.bottomRight())
    right.closeSubpath()
    painter.drawPath(right.translated(4, 0))
    painter.setBrush(BROKEN)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(QPointF(frame.left() + 14, frame.top() + 14), 5, 5)
