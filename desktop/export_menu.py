"""File ▸ Export: the store's exporters (plugins, the built-in jsonl, csv and xmp among them), run on
the store thread behind a progress dialog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QProgressDialog

if TYPE_CHECKING:
    from tagsight.desktop.window import MainWindow
    from tagsight.engine.export import ExportSummary

SIDECARS_BESIDE_IMAGES = "xmp"  # the exporter that, given no folder, writes next to each image


def fill_export_menu(window: "MainWindow", menu: QMenu) -> None:
    """One entry per exporter, writing into a chosen folder; XMP also next to the images."""
    from tagsight.engine.export import available_exporters

    menu.clear()
    predictions = QAction("Include Suggestions with Scores", menu, checkable=True)
    predictions.setToolTip("Also export each image's ranked suggestions, not only its confirmed tags")
    for name, exporter in sorted(available_exporters().items()):
        action = menu.addAction(f"{name.upper()} into a Folder…")
        action.setToolTip(exporter.description)
        action.triggered.connect(lambda _=False, n=name: _ask_folder(window, n, predictions.isChecked()))
        if name == SIDECARS_BESIDE_IMAGES:
            beside = menu.addAction("XMP Sidecars next to the Images")
            beside.setToolTip("NAME.xmp beside each image, merged into an existing sidecar; photo tools read these")
            beside.triggered.connect(lambda _=False: export(window, SIDECARS_BESIDE_IMAGES, None, predictions.isChecked()))
    menu.addSeparator()
    menu.addAction(predictions)


def _ask_folder(window: "MainWindow", name: str, with_predictions: bool) -> None:
    start = str(window.folder or Path.home())
    folder = QFileDialog.getExistingDirectory(window, f"Export {name.upper()} into", start)
    if folder:
        export(window, name, Path(folder), with_predictions)


def export(
    window: "MainWindow",
    name: str,
    out: Path | None,
    with_predictions: bool,
    done: Callable[["ExportSummary"], None] | None = None,
) -> QProgressDialog:
    """Export the tags of every image in the store with exporter `name` into `out`, off the GUI thread."""
    dialog = QProgressDialog(f"Exporting {name.upper()}…", "", 0, 0, window)
    dialog.setWindowTitle("Export")
    dialog.setCancelButton(None)  # an export is short and writes atomically: nothing to stop halfway
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.show()

    def finished(summary: "ExportSummary") -> None:
        dialog.close()
        lines = [f"Exported {summary.images} image(s) to {len(summary.written)} file(s)."]
        if summary.written:
            lines.append(f"First: {summary.written[0]}")
        lines += [f"{path}: {reason}" for path, reason in summary.errors[:10]]
        lines += list(summary.notes[:5])
        icon = QMessageBox.Icon.Warning if summary.errors else QMessageBox.Icon.Information
        box = QMessageBox(icon, "Export", "\n".join(lines), QMessageBox.StandardButton.Ok, window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        window.statusBar().showMessage(lines[0], 8000)
        if done is not None:
            done(summary)

    def failed(message: str) -> None:
        dialog.close()
        window.show_error("Export failed", message)

    window.store_worker.submit(
        lambda: window.service.export_tags(name, out, with_predictions), on_done=finished, on_error=failed
    )
    return dialog
