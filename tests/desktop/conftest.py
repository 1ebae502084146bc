"""Fixtures for driving the real window offscreen with the real model: generated image folders,
isolated settings, and one engine service per session (the model and vectors load once)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable, Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from tagsight.desktop.engine_process import EngineProcess  # noqa: E402
from tagsight.desktop.qtfix import protect_none  # noqa: E402
from tagsight.desktop.settings import WindowSettings  # noqa: E402
from tagsight.engine.service import TaggingService  # noqa: E402

protect_none()  # before any Qt call of any test: PySide6 6.12.0 on Python 3.11 would abort the run

BROKEN_NAME = "zz-broken.jpg"


def _make_images(folder: Path, count: int, size: tuple[int, int] = (160, 120), broken: bool = True) -> list[Path]:
    """`count` small images (solid colours, gradients, noise) and, with `broken`, one corrupt JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count)
    paths: list[Path] = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        elif kind == 1:
            image = Image.linear_gradient("L").resize(size).convert("RGB")
        else:
            image = Image.effect_noise(size, 60).convert("RGB")
        path = folder / f"img{i:05d}.{'png' if i % 4 == 3 else 'jpg'}"
        image.save(path)
        paths.append(path)
    if broken:
        bad = folder / BROKEN_NAME
        bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
        paths.append(bad)
    return paths


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaggingService]:
    """One service (model, vectors, rankers, store) for all desktop tests: loading it takes seconds.
    Tests share its store, so each works in a folder of its own and looks only at its own images."""
    service = TaggingService(db_path=tmp_path_factory.mktemp("store") / "tagsight.db")
    yield service
    service.close()


@pytest.fixture(scope="session")
def engine(service: TaggingService) -> Iterator[EngineProcess]:
    """One engine process over the same store for all desktop tests (it loads the model once)."""
    engine = EngineProcess(service.db_path)
    yield engine
    engine.close()


@pytest.fixture
def settings(tmp_path: Path) -> WindowSettings:
    return WindowSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _make_images(tmp_path / "photos", 8)
    return tmp_path / "photos"


@pytest.fixture
def open_window(
    qtbot, service: TaggingService, engine: EngineProcess, settings: WindowSettings, tmp_path: Path
) -> Iterator[Callable]:
    """Opens the real main window on a folder and waits until every image is tagged."""
    from tagsight.desktop.window import MainWindow

    windows: list[MainWindow] = []

    def open_(folder: Path, wait: bool = True) -> MainWindow:
        window = MainWindow(service, settings, thumbnail_cache=tmp_path / "thumbs", engine=engine)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        with qtbot.waitSignal(window.folder_loaded, timeout=10_000):
            window.open_folder(folder)
        if wait:
            _wait_tagged(qtbot, window)
        window.grid.setFocus()
        return window

    yield open_
    for window in windows:
        window.close()


def _wait_tagged(qtbot, window) -> None:
    """Until the run is finished and its results are in the grid, and the store has answered."""
    qtbot.waitUntil(lambda: window.run is not None and window.tagging_done(), timeout=30_000)
    qtbot.waitUntil(lambda: all(item.tagged for item in window.model.items), timeout=10_000)
    qtbot.waitUntil(lambda: not window.store_worker.busy(), timeout=10_000)


_make_images.broken_name = BROKEN_NAME  # type: ignore[attr-defined]


@pytest.fixture
def make_images() -> Callable[..., list[Path]]:
    return _make_images


@pytest.fixture
def wait_tagged() -> Callable[..., None]:
    return _wait_tagged
