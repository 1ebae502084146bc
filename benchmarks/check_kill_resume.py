"""Durability of `tagsight tag`: SIGKILL it mid-run, run it again, check nothing reported was lost.

    python benchmarks/check_kill_resume.py [--images 1000] [--kill-after 100]

Generates distinct images, starts `tagsight tag DIR --jsonl --db DB`, kills it with SIGKILL once it has
printed --kill-after results, runs the same command again, and checks: every image is tagged, every
result printed before the kill comes back `"cached": true`, and `PRAGMA integrity_check` says ok.
Exit status 0 when all hold.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, count: int) -> None:
    rng = np.random.default_rng(1)
    for i in range(count):
        pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i:05d}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--kill-after", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder, db = Path(tmp) / "images", Path(tmp) / "store.db"
        folder.mkdir()
        make_images(folder, args.images)
        command = [sys.executable, "-m", "tagsight", "tag", str(folder), "--jsonl", "--db", str(db)]
        env = {**os.environ, "TAGSIGHT_DATA_DIR": str(Path(tmp) / "data")}

        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        printed = []
        assert first.stdout is not None
        for line in first.stdout:
            printed.append(json.loads(line)["path"])
            if len(printed) == args.kill_after:
                first.send_signal(signal.SIGKILL)
                break
        first.wait()
        killed_at = len(printed)

        second = subprocess.run(command, capture_output=True, text=True, env=env)
        results = [json.loads(line) for line in second.stdout.splitlines()]
        cached = {r["path"] for r in results if r.get("cached")}
        integrity = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]

    tagged = sum(1 for r in results if r.get("labels"))
    lost = [p for p in printed if p not in cached]
    print(f"killed (SIGKILL) after {killed_at} printed results (exit {first.returncode})")
    print(f"second run: {tagged}/{args.images} tagged, {len(cached)} cached, "
          f"{len(printed) - len(lost)}/{killed_at} of the printed ones cached; integrity_check: {integrity}")
    ok = tagged == args.images and not lost and integrity == "ok" and killed_at == args.kill_after
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
