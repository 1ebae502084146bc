"""How responsive the window stays while it tags a large folder.

Opens the real main window on N generated images (10,000 by default), scrolls a page every quarter
second, and measures while tagging runs:

- the longest stall of the Qt event loop: a 10 ms timer measures its own lateness (target: < 50 ms);
- the time from opening the folder to the first thumbnail in the grid (target: < 1 s);
- after each scroll, the time until every image on screen shows its thumbnail;
- tagging throughput;
- the same stalls for --after-seconds after tagging ends (what the window does once a run is over);
- with --retrain N: N top labels are accepted at once (not measured), then the stalls while the window
  retrains a projection from them and re-ranks the folder.

    python benchmarks/bench_gui_responsiveness.py [--images 10000] [--max-seconds 900]

Runs offscreen unless QT_QPA_PLATFORM is set. Generated images are kept (in --folder) for the next run;
the store, the thumbnail cache and the settings are fresh each run, so every thumbnail is made cold.
Figures drift run to run with the machine's load: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def generate(folder: Path, count: int) -> list[Path]:
    """`count` 320x240 JPEGs of gradients, noise and colour blocks (kept between runs)."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i // 1000:02d}" / f"img{i:06d}.jpg" for i in range(count)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"generating {len(missing)} images in {folder} …", file=sys.stderr)
    rng = random.Random(7)
    for i, path in enumerate(missing):
        path.parent.mkdir(exist_ok=True)
        if i % 3 == 0:
            image = Image.effect_noise((320, 240), 40 + i % 50).convert("RGB")
        else:
            image = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            for _ in range(6):
                x, y = rng.randrange(300), rng.randrange(220)
                draw.rectangle((x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 120)),
                               fill=tuple(rng.randrange(256) for _ in range(3)))
        image.save(path, quality=85)
    return paths


class StallWatchdog:
    """Samples the GUI thread's stack from another thread while the event loop is late, so a stall
    can be blamed on the code that held the loop (or on nothing: the thread was not scheduled)."""

    def __init__(self, last_tick: Callable[[], float], late: float = 0.025) -> None:
        self.last_tick, self.late = last_tick, late
        self.main = threading.main_thread().ident
        self.samples: Counter[str] = Counter()
        self.others: Counter[str] = Counter()
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while self.running:
            time.sleep(0.005)
            last = self.last_tick()
            if last and time.perf_counter() - last > self.late:
                frames = sys._current_frames()
                stack = traceback.extract_stack(frames[self.main])[-6:] if self.main in frames else []
                self.samples[" <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack))] += 1
                names = {thread.ident: thread.name for thread in threading.enumerate()}
                for ident, frame in frames.items():  # where the other threads were: one of them may hold the GIL
                    if ident not in (self.main, threading.get_ident()):
                        top = traceback.extract_stack(frame)[-1]
                        self.others[f"{names.get(ident, ident)}: {Path(top.filename).name}:{top.lineno} {top.name}"] += 1

    def stop(self) -> None:
        self.running = False
        self.thread.join()

    def report(self) -> None:
        print(f"stall samples           {sum(self.samples.values())} (5 ms each), most frequent stacks:")
        for stack, count in self.samples.most_common(8):
            print(f"  {count:4d}  {stack}")
        print("other threads meanwhile, most frequent places:")
        for place, count in self.others.most_common(10):
            print(f"  {count:4d}  {place}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, help="where the generated images are kept (default: a temp dir)")
    parser.add_argument("--max-seconds", type=float, default=900, help="stop measuring after this long")
    parser.add_argument("--no-scroll", action="store_true", help="do not scroll while tagging")
    parser.add_argument("--after-seconds", type=float, default=3.0,
                        help="go on measuring this long after tagging ends (the window's own work after a run)")
    parser.add_argument("--retrain", type=int, default=0, metavar="N",
                        help="once tagged, accept the top label of N images, retrain and re-rank, measuring on")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="write a cProfile of the GUI thread to FILE")
    parser.add_argument("--trace-stalls", action="store_true",
                        help="sample the GUI thread's stack whenever the loop is 25 ms late; print where it was")
    args = parser.parse_args()

    folder = args.folder or Path(tempfile.gettempdir()) / f"tagsight-bench-{args.images}"
    generate(folder, args.images)
    scratch = Path(tempfile.mkdtemp(prefix="tagsight-bench-"))
    os.environ["TAGSIGHT_DATA_DIR"] = str(scratch / "data")
    os.environ.setdefault("TAGSIGHT_CACHE_DIR", str(Path(tempfile.gettempdir()) / "tagsight-bench-cache"))

    from PySide6.QtCore import QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from tagsight.desktop.app import application
    from tagsight.desktop.settings import WindowSettings
    from tagsight.desktop.window import MainWindow
    from tagsight.engine.service import TaggingService

    app: QApplication = application()
    settings = WindowSettings(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    service = TaggingService(db_path=scratch / "tagsight.db")
    window = MainWindow(service, settings, thumbnail_cache=scratch / "thumbnails")
    window.resize(1280, 800)
    window.show()
    # Measure from a window that is up: its own first paint (styles, fonts) is start-up, not tagging.
    from PySide6.QtTest import QTest

    QTest.qWaitForWindowExposed(window)
    app.processEvents()

    import gc

    collections: list[tuple[int, float, float, str]] = []  # (generation, seconds, when, thread) of each GC pass
    collected = [0]
    gc_started = [0.0]

    state = {"last": 0.0, "opened": 0.0, "first_thumbnail": None, "tagging_started": None, "done": None,
             "retrain": None, "retrained": None}
    first_run: list = [None]
    page: dict = {"paths": [], "scrolled": 0.0}  # the images a scroll brought on screen, and when
    fills: list[float] = []  # per scroll: seconds until every image on screen had its thumbnail
    unfilled = [0]  # scrolls whose page was not complete before the next scroll

    def gc_callback(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            now = time.perf_counter()
            collections.append((info["generation"], now - gc_started[0], now - (state["opened"] or now),
                                threading.current_thread().name))
            collected[0] += info["collected"]

    gc.callbacks.append(gc_callback)
    stalls: list[float] = []
    moments: list[float] = []  # when each tick came, seconds after opening

    def tick() -> None:
        now = time.perf_counter()
        if state["last"]:
            stalls.append(max(0.0, now - state["last"] - 0.010))
            moments.append(now - state["opened"])
        state["last"] = now
        if state["first_thumbnail"] is None and any(window.model.has_thumbnail(i.path) for i in window.model.items[:40]):
            state["first_thumbnail"] = now - state["opened"]
        if page["paths"] and all(window.model.has_thumbnail(p) for p in page["paths"]):
            fills.append(now - page["scrolled"])
            page["paths"] = []
        run = window.run
        if state["tagging_started"] is None and run is not None and run.done > 0:
            state["tagging_started"] = now - state["opened"]
        if run is not None and window.tagging_done() and state["done"] is None:
            state["done"] = now - state["opened"]
            first_run[0] = run
        if args.retrain and state["done"] is not None and state["retrain"] is None:
            retrain(now - state["opened"])
        if (state["retrain"] or -1) >= 0 and state["retrained"] is None and window.run is not first_run[0] \
                and window.tagging_done():
            state["retrained"] = now - state["opened"]
        ended = state["retrained"] if args.retrain else state["done"]
        if ended is not None and now - state["opened"] > ended + args.after_seconds:
            stop()
        elif now - state["opened"] > args.max_seconds:
            stop()

    def retrain(when: float) -> None:
        """Accept the top suggestion of --retrain images in one go (on the window's store thread), then,
        measured from there, retrain from the window's menu action, which re-ranks the folder after."""
        state["retrain"] = -1.0  # corrections being saved: a burst no user makes, so not measured
        corrected = [item for item in window.model.items if item.labels][: args.retrain]

        def correct() -> None:
            store = window.service.store
            store.add_corrections([(item.path, item.labels[0][0], "accept", None) for item in corrected], source="gui")

        def saved(_: object) -> None:
            state["retrain"] = time.perf_counter() - state["opened"]
            window.retrain()

        window.store_worker.submit(correct, on_done=saved)

    def stop() -> None:
        state["last"] = 0.0  # quitting closes the window: not a stall of the running application
        app.quit()

    def scroll() -> None:
        unfilled[0] += bool(page["paths"])
        bar = window.grid.verticalScrollBar()
        bar.setValue(bar.value() + bar.pageStep() if bar.value() < bar.maximum() else 0)
        page["paths"], page["scrolled"] = window.visible_paths(), time.perf_counter()

    def start() -> None:
        state["opened"] = time.perf_counter()
        window.open_folder(folder)
        timer.start(10)
        if not args.no_scroll:
            scroller.start(250)

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    scroller = QTimer()
    scroller.timeout.connect(scroll)
    QTimer.singleShot(0, start)
    watchdog = StallWatchdog(lambda: state["last"]) if args.trace_stalls else None
    if args.profile:
        import cProfile

        cProfile.runctx("app.exec()", globals(), {"app": app}, str(args.profile))
    else:
        app.exec()
    timer.stop()
    scroller.stop()
    if watchdog is not None:
        watchdog.stop()  # closing the window below is not part of the measurement
    tagged = sum(item.tagged for item in window.model.items)
    tracked, frozen = len(gc.get_objects()), gc.get_freeze_count()
    provider = window.engine_info.provider if window.engine_info else "?"
    window.close()
    service.close()

    stalls_ms = sorted(s * 1000 for s in stalls)
    p99 = stalls_ms[int(len(stalls_ms) * 0.99)] if stalls_ms else float("nan")
    elapsed = state["done"] or args.max_seconds
    print(f"images                  {args.images} ({tagged} tagged, provider {provider}, {os.cpu_count()} CPUs)")
    print(f"first thumbnail         {state['first_thumbnail'] * 1000 if state['first_thumbnail'] else float('nan'):.0f} ms after opening (target < 1000)")
    print(f"first tagging results   {(state['tagging_started'] or float('nan')) * 1000:.0f} ms after opening")
    if fills:
        fills_ms = sorted(f * 1000 for f in fills)
        print(f"page of thumbnails      filled {fills_ms[len(fills_ms) // 2]:.0f} ms after a scroll (median),"
              f" {fills_ms[int(len(fills_ms) * 0.9)]:.0f} ms (90th pct); {unfilled[0]} of {len(fills) + unfilled[0]}"
              " pages not filled before the next scroll")
    print(f"tagging time            {elapsed:.1f} s ({tagged / elapsed:.0f} images/s, scrolling: {not args.no_scroll})")
    print(f"event-loop ticks        {len(stalls_ms)}")
    print(f"longest stall           {stalls_ms[-1] if stalls_ms else float('nan'):.1f} ms (target < 50)")
    print(f"99th percentile stall   {p99:.1f} ms; median {statistics.median(stalls_ms) if stalls_ms else float('nan'):.1f} ms")
    if state["retrained"] is not None:
        during = [s * 1000 for s, t in zip(stalls, moments) if state["retrain"] < t <= state["retrained"]]
        print(f"retrain and re-rank     {state['retrained'] - state['retrain']:.1f} s ({args.retrain} corrections);"
              f" longest stall meanwhile {max(during, default=float('nan')):.1f} ms")
    ended = state["retrained"] if args.retrain else state["done"]
    if ended is not None:
        after = [s * 1000 for s, t in zip(stalls, moments) if t > ended]
        print(f"after the last run      longest stall {max(after, default=float('nan')):.1f} ms"
              f" in the {args.after_seconds:.0f} s measured after it (the window's own work after a run)")
    full = sorted(((s, t, thread) for g, s, t, thread in collections if g == 2), reverse=True)
    longest = f"longest full {full[0][0] * 1000:.0f} ms at {full[0][1]:.1f} s in {full[0][2]}" if full else "no full pass"
    print(f"cyclic GC               {len(collections)} passes, {len(full)} full, {longest};"
          f" {collected[0]} objects in cycles freed; {tracked} tracked, {frozen} frozen at the end")
    worst = sorted(zip(stalls, moments), reverse=True)[:8]
    print("worst stalls            " + ", ".join(f"{s * 1000:.0f} ms at {t:.1f} s" for s, t in worst))
    if watchdog is not None:
        watchdog.report()
    return 0 if stalls_ms and stalls_ms[-1] < 50 and (state["first_thumbnail"] or 99) < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
