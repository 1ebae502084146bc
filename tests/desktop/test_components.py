"""The window's parts on their own: the grid model under qtmodeltester, the tagging worker's signals
and cancellation, thumbnails, export, the screenshot command, and the guard against a PySide bug."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QThread
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from tagsight.desktop.grid_model import FilterMode, ImageFilterProxy, ImageListModel
from tagsight.desktop.tagging import TaggingController, TagRun, tag_options
from tagsight.desktop.thumbnails import ImageLoader, Loaded, cache_file
from tagsight.engine.preprocess import ImageDecodeError, open_rgb
from tagsight.engine.ranking import LabelScore
from tagsight.engine.service import ImageResult, TaggingService


def test_grid_model_and_filter_pass_qtmodeltester(qapp, qtmodeltester, tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.jpg" for i in range(6)]
    model = ImageListModel()
    model.set_files(paths)
    model.add_results([ImageResult(paths[0], (LabelScore("dog", 0.9, ("beagle",)),)), ImageResult(paths[1], error="corrupt")])
    image = QImage(8, 8, QImage.Format.Format_RGB888)
    image.fill(0)
    model.add_thumbnails([Loaded(paths[2], image), Loaded(paths[3], None, "truncated")])
    qtmodeltester.check(model, force_py=True)
    proxy = ImageFilterProxy(model)
    proxy.set_filter(text="do")
    assert proxy.rowCount() == 1
    proxy.set_filter(text="u")  # in the flags of every unreviewed row, in no label
    assert proxy.rowCount() == 0
    proxy.set_filter(text="Beagle")  # a CNN class is not a label
    assert proxy.rowCount() == 0
    proxy.set_filter(text="DOG", mode=FilterMode.UNREVIEWED)
    assert proxy.rowCount() == 1
    model.set_threshold(0.95)  # the suggestion is no longer shown: nor is its image
    assert proxy.rowCount() == 0
    model.set_threshold(0.0)
    assert proxy.rowCount() == 1
    proxy.set_filter(text="", mode=FilterMode.UNREADABLE)
    assert proxy.rowCount() == 2  # the engine's error and the thumbnail's
    qtmodeltester.check(proxy, force_py=True)
    proxy.set_filter(mode=FilterMode.ALL)
    assert proxy.rowCount() == 6


def test_visible_images_are_tagged_first(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.jpg" for i in range(10)]
    run = TagRun(paths, tag_options())
    run.prioritize([paths[7], paths[8]])
    assert run.next_chunk(4) == [paths[7], paths[8], paths[0], paths[1]]
    run.prioritize([paths[1], paths[9]])  # 1 is done already
    assert run.next_chunk(3) == [paths[9], paths[2], paths[3]]


def test_worker_results_arrive_through_signals_on_the_gui_thread(qtbot, engine, tmp_path: Path, make_images) -> None:
    files = make_images(tmp_path / "photos", 20)
    controller = TaggingController(engine)
    run = TagRun(files, tag_options())
    received: list[ImageResult] = []
    threads: set[object] = set()

    def take() -> None:
        threads.add(QThread.currentThread())
        received.extend(run.take())

    run.ready.connect(take)
    with qtbot.waitSignal(run.finished, timeout=30_000):
        controller.start(run)
    qtbot.waitUntil(lambda: len(received) == len(files), timeout=5_000)
    controller.shutdown()
    assert threads == {QApplication.instance().thread()}
    assert {r.path for r in received} == set(files)
    assert sum(r.error is not None for r in received) == 1  # the corrupt file, reported, not fatal
    assert all(len(r.labels) == 15 for r in received if r.error is None)
    assert run.done == run.total == len(files) and not run.was_cancelled


def test_cancel_stops_a_run_within_a_batch(qtbot, engine, tmp_path: Path, make_images) -> None:
    files = make_images(tmp_path / "many", 240, broken=False)
    controller = TaggingController(engine)
    run = TagRun(files, tag_options())
    received: list[ImageResult] = []
    run.ready.connect(lambda: received.extend(run.take()))
    controller.start(run)
    qtbot.waitUntil(lambda: len(received) > 0, timeout=30_000)
    with qtbot.waitSignal(run.finished, timeout=10_000):
        run.cancel()
    received.extend(run.take())
    assert run.was_cancelled and run.error is None
    assert 0 < len(received) < len(files)
    assert len(received) % 16 == 0  # whole batches only: each one was committed before it was sent
    # the engine is free for the next run at once
    again = TagRun(files[:5], tag_options())
    with qtbot.waitSignal(again.finished, timeout=30_000):
        controller.start(again)
    assert again.error is None and len(again.take()) == 5
    controller.shutdown()


def test_thumbnails_are_upright_cached_and_explain_failures(qtbot, tmp_path: Path) -> None:
    photo = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: the camera was turned, show rotated by 90 degrees
    Image.new("RGB", (400, 200), (200, 30, 30)).save(photo, exif=exif)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    loader = ImageLoader(160, workers=2, cache_root=tmp_path / "cache")
    results: dict[Path, Loaded] = {}
    loader.loaded.connect(lambda: results.update({r.path: r for r in loader.take()}))
    loader.request(photo)
    loader.request(broken)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10_000)
    loader.shutdown()
    image = results[photo].image
    assert image is not None and (image.width(), image.height()) == (80, 160)  # portrait: rotated
    with pytest.raises(ImageDecodeError) as reason:
        open_rgb(broken, 160)
    assert results[broken].image is None and results[broken].error == str(reason.value)
    cached = cache_file(tmp_path / "cache", photo, 160)
    assert cached is not None and cached.exists()
    Image.new("RGB", (80, 160), (0, 0, 255)).save(cached)  # a second loader must read the cache, not the file
    second = ImageLoader(160, workers=1, cache_root=tmp_path / "cache")
    again: list[Loaded] = []
    second.loaded.connect(lambda: again.extend(second.take()))
    second.request(photo)
    qtbot.waitUntil(lambda: len(again) == 1, timeout=10_000)
    second.shutdown()
    assert again[0].image is not None and again[0].image.pixelColor(40, 80).blue() > 200


def test_export_menu_writes_the_confirmed_tags(qtbot, open_window, folder: Path, tmp_path: Path) -> None:
    from tagsight.desktop.export_menu import export

    window = open_window(folder)
    window.grid.setCurrentIndex(window.proxy.index(2, 0))
    window.correct("add", "lighthouse")
    qtbot.waitUntil(lambda: not window.saving())
    assert [a.text() for a in window.export_menu.actions()][:4] == [
        "CSV into a Folder…", "JSONL into a Folder…", "XMP into a Folder…", "XMP Sidecars next to the Images"
    ]
    summaries = []
    export(window, "jsonl", tmp_path / "out", False, done=summaries.append)
    qtbot.waitUntil(lambda: bool(summaries), timeout=10_000)
    records = [json.loads(line) for line in (tmp_path / "out" / "tags.jsonl").read_text().splitlines()]
    mine = [r for r in records if Path(r["path"]) == window.model.items[2].path]
    assert mine == [{"path": str(window.model.items[2].path), "tags": ["lighthouse"]}]


def test_screenshot_command_saves_the_window(tmp_path: Path, make_images) -> None:
    make_images(tmp_path / "photos", 5)
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TAGSIGHT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "tagsight", "gui", str(tmp_path / "photos"), "--screenshot", str(shot)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert image.width() >= 1280 and image.height() >= 800
    assert not (tmp_path / "data").exists()  # a screenshot leaves the user's store alone


def test_the_window_tags_with_the_precision_it_is_given(qtbot, tmp_path: Path, make_images, settings) -> None:
    from tagsight.desktop.window import MainWindow
    from tagsight.engine.model import default_model_spec

    make_images(tmp_path / "photos", 3, broken=False)
    service = TaggingService(db_path=tmp_path / "int8.db", model_spec=default_model_spec("int8"))
    window = MainWindow(service, settings, thumbnail_cache=tmp_path / "thumbs")
    try:
        window.show()
        window.open_folder(tmp_path / "photos")
        qtbot.waitUntil(lambda: window.run is not None and window.tagging_done(), timeout=60_000)
        assert window.engine_info is not None and window.engine_info.model.endswith("-int8")
        assert "-int8" in window.engine_label.text()
        assert all(item.tagged and item.labels for item in window.model.items)
    finally:
        window.close()
        service.close()


def test_void_qt_calls_keep_none_alive() -> None:
    from PySide6.QtCore import QRect

    from tagsight.desktop.qtfix import protect_none

    protect_none()
    rect = QRect()
    before = sys.getrefcount(None)
    for _ in range(10_000):
        rect.setWidth(1)
    dropped = before - sys.getrefcount(None)
    # either this PySide keeps its references (6.12.0 on Python 3.11 drops one per call), or the guard
    # has put None's count out of reach of any session's worth of calls
    assert dropped < 100 or sys.getrefcount(None) > 1 << 50
