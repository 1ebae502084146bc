"""`tagsight gui`: the application object, the main window, and the `--screenshot` mode."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from tagsight.desktop.qtfix import protect_none
from tagsight.desktop.settings import WindowSettings
from tagsight.desktop.window import MainWindow
from tagsight.engine.model import default_model_spec
from tagsight.engine.service import TaggingService

SCREENSHOT_SIZE = (1440, 900)


def needs_display() -> str | None:
    """Why no window can be shown here, or None. Qt aborts the process without a display, so say it first."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no display (DISPLAY and WAYLAND_DISPLAY are unset); use `tagsight tag`, or set QT_QPA_PLATFORM=offscreen"


def application() -> QApplication:
    # Worker threads run Python too (ranking, the store); a shorter switch interval lets the GUI thread
    # take the GIL back sooner after each call into Qt, which is what keeps painting smooth.
    sys.setswitchinterval(0.001)
    protect_none()
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setOrganizationName("tagsight")
    app.setApplicationName("tagsight")
    return app


def run_gui(
    folder: Path | None = None,
    db: Path | None = None,
    screenshot: Path | None = None,
    timeout: float = 300.0,
    precision: str = "fp32",
) -> int:
    """Open the window (on `folder`, else the last folder) tagging with the bundled model at `precision`;
    with `screenshot`, save a PNG once the visible images are tagged and drawn, and exit."""
    if screenshot is not None and needs_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif (reason := needs_display()) is not None:
        print(f"tagsight: error: {reason}", file=sys.stderr)
        return 2
    app = application()
    settings = WindowSettings()
    scratch = None
    if screenshot is not None:  # a reproducible picture: default settings, and the user's left alone
        scratch = tempfile.TemporaryDirectory(prefix="tagsight-shot-")
        settings = WindowSettings(QSettings(str(Path(scratch.name) / "settings.ini"), QSettings.Format.IniFormat))
        db = db or Path(scratch.name) / "tagsight.db"
    service = TaggingService(db_path=db, model_spec=default_model_spec(precision))
    window = MainWindow(service, settings)
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
    window.show()
    if folder is None and screenshot is None:
        last = settings.last_folder
        folder = last if last is not None and last.is_dir() else None
    if folder is not None:
        if not folder.is_dir():
            print(f"tagsight: error: {folder}: no such folder", file=sys.stderr)
            return 2
        window.open_folder(folder)
    status = {"code": 0}
    if screenshot is not None:
        if folder is None:
            print("tagsight: error: --screenshot needs a FOLDER", file=sys.stderr)
            return 2
        _take_screenshot_when_ready(window, screenshot, timeout, status)
    code = app.exec()
    window.close()  # waits for every queued correction to reach the store
    service.close()
    if scratch is not None:
        scratch.cleanup()
    return status["code"] or code


def screen_ready(window: MainWindow) -> bool:
    """The visible images are tagged and their thumbnails drawn, and the selected one is shown large."""
    if window.engine_info is None or window.folder is None or not window.model.items:
        return False
    visible = window.visible_paths()
    if not visible:
        return False
    for path in visible:
        item = window.model.items[window.model.row_of(path)]  # type: ignore[index]
        if item.unreadable:
            continue
        if not item.tagged or not window.model.has_thumbnail(path):
            return False
    current = window.current_item()
    return current is None or bool(current.unreadable) or window.panel.preview.has_image()


def _take_screenshot_when_ready(window: MainWindow, target: Path, timeout: float, status: dict[str, int]) -> None:
    started = time.monotonic()
    timer = QTimer(window)

    def check() -> None:
        ready = screen_ready(window)
        if not ready and time.monotonic() - started < timeout:
            return
        timer.stop()
        if not ready:
            print(f"tagsight: the window was not ready after {timeout:.0f} s; saving it as it is", file=sys.stderr)
            status["code"] = 1
        window.repaint()
        if not window.grab().save(str(target), "PNG"):
            print(f"tagsight: error: cannot write {target}", file=sys.stderr)
            status["code"] = 2
        QApplication.instance().quit()  # type: ignore[union-attr]

    timer.timeout.connect(check)
    timer.start(200)
