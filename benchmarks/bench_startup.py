"""Start-up times a user waits for, each a fresh process, median of --runs after one warm-up run.

    python benchmarks/bench_startup.py [--runs 5]

- `tagsight --help` (target < 0.3 s);
- `tagsight tag ONE_IMAGE` with a fresh store each time (target < 1.5 s);
- `tagsight gui`: from starting the process to the main window's first paint (target < 1.5 s; the
  model and vectors load in the engine process while the window is already up).

The warm-up run fills what a user's first run leaves behind (compiled bytecode, the vocabulary's
embedding cache). PYTHONDONTWRITEBYTECODE is removed from the children's environment: pip compiles
bytecode when it installs tagsight, so a user never pays for compiling, and neither should this.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "chelsea.jpg"

# Runs the real `tagsight gui` command line and prints the monotonic time of the window's first paint.
GUI_DRIVER = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from tagsight.desktop.app import application
from tagsight.desktop.window import MainWindow
from tagsight.engine.cli import main

app = application()

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and isinstance(watched, MainWindow):
            print(time.monotonic(), flush=True)
            app.removeEventFilter(self)
            QTimer.singleShot(0, app.quit)
        return False

first_paint = FirstPaint()
app.installEventFilter(first_paint)
sys.exit(main(["gui", "--db", sys.argv[1]]))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def gui_first_paint(env: dict[str, str], db: Path) -> float:
    start = time.monotonic()  # CLOCK_MONOTONIC is one clock for every process on the machine
    done = subprocess.run([sys.executable, "-c", GUI_DRIVER, str(db)], env=env, check=True,
                          capture_output=True, text=True, timeout=60)
    return float(done.stdout.split()[0]) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(TAGSIGHT_DATA_DIR=str(Path(tmp) / "data"), QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"),
                   XDG_CONFIG_HOME=str(Path(tmp) / "config"))  # the GUI's settings: fresh, the user's left alone
        tagsight = [sys.executable, "-m", "tagsight"]

        def tag_once(i: int) -> float:
            return timed([*tagsight, "tag", str(SAMPLE), "--db", str(Path(tmp) / f"one{i}.db")], env)

        measures = {
            "tagsight --help": lambda i: timed([*tagsight, "--help"], env),
            "tagsight tag ONE_IMAGE": tag_once,
            "tagsight gui, first paint": lambda i: gui_first_paint(env, Path(tmp) / f"gui{i}.db"),
        }
        targets = {"tagsight --help": 0.3, "tagsight tag ONE_IMAGE": 1.5, "tagsight gui, first paint": 1.5}
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; median of {args.runs} runs after a warm-up")
        for name, measure in measures.items():
            measure(-1)
            times = [measure(i) for i in range(args.runs)]
            print(f"{name:<27} median {statistics.median(times):.2f} s, best {min(times):.2f} s "
                  f"(target < {targets[name]} s)")


if __name__ == "__main__":
    main()
