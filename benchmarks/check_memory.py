"""Memory of `tagsight tag` over a very large folder: RSS must stay flat (streaming) and under 1 GB.

    python benchmarks/check_memory.py [--images 100000] [--distinct 2000] [--folder DIR]

Makes a folder of --images small JPEG files (kept in --folder for the next run), of which only
--distinct have different pixels: the other files repeat those contents byte for byte, so the CNN runs
--distinct times and every other file goes the whole way through the content-hash cache (hashing,
store lookups, ranking, one store write per image, one JSON line each). That keeps a 100,000-file run
within minutes on two cores while every per-file structure is exercised; the CNN's own memory is per
batch. Runs `tagsight tag FOLDER --jsonl` as a child process with a fresh store, samples its RSS every
half second, and prints the RSS after the first tenth of the files, the peak, and the growth over the
last 90% of the run. Exit status 0 when the peak is under 1 GB and the growth under 10%.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(folder: Path, images: int, distinct: int) -> list[Path]:
    """`images` JPEGs in subfolders of 1,000; file i has the pixels of pattern i mod `distinct`."""
    paths = [folder / f"{i // 1000:03d}" / f"img{i:06d}.jpg" for i in range(images)]
    if all(p.exists() for p in paths[-1:]):
        return paths
    print(f"writing {images} files ({distinct} distinct) in {folder} …", file=sys.stderr)
    rng = np.random.default_rng(5)
    contents = []
    for _ in range(distinct):
        image = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((96, 72), Image.Resampling.BICUBIC)
        path = folder / "pattern.jpg"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)
        contents.append(path.read_bytes())
    (folder / "pattern.jpg").unlink()
    for i, path in enumerate(paths):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(contents[i % distinct])
    return paths


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=2_000)
    parser.add_argument("--folder", type=Path, help="where the files are kept (default: a temp dir)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.gettempdir()) / f"tagsight-memory-{args.images}-{args.distinct}"
    make_folder(folder, args.images, args.distinct)

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TAGSIGHT_DATA_DIR": str(Path(tmp) / "data")}
        command = [sys.executable, "-m", "tagsight", "tag", str(folder), "--jsonl", "--db", str(Path(tmp) / "store.db")]
        samples: list[tuple[int, int]] = []  # (lines printed so far, RSS)
        start = time.perf_counter()
        with open(Path(tmp) / "out.jsonl", "wb") as out, open(Path(tmp) / "out.jsonl", "rb") as progress:
            child = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
            lines = 0
            while child.poll() is None:
                try:
                    rss = rss_bytes(child.pid)
                except OSError:
                    break
                lines += progress.read().count(b"\n")  # only what was written since the last sample
                samples.append((lines, rss))
                time.sleep(0.5)
            elapsed = time.perf_counter() - start
            done = lines + progress.read().count(b"\n")
        if child.returncode != 0:
            print(f"tagsight tag exited {child.returncode}", file=sys.stderr)
            return 1

    warm = [rss for lines, rss in samples if lines >= args.images // 10]
    if not warm:
        print("the run ended before a tenth of the files were tagged; use more --images")
        return 1
    peak = max(rss for _, rss in samples)
    growth = (max(warm) - warm[0]) / warm[0]
    mib = 1024 * 1024
    print(f"files                  {done} tagged of {args.images} ({args.distinct} distinct contents) in {elapsed:.0f} s")
    print(f"RSS at 10% of files    {warm[0] / mib:.0f} MiB")
    print(f"RSS peak               {peak / mib:.0f} MiB (target < 1024)")
    print(f"growth over last 90%   {growth * 100:+.1f} % (max {max(warm) / mib:.0f} MiB, at end {warm[-1] / mib:.0f} MiB)")
    steps = [samples[int(i * (len(samples) - 1) / 8)] for i in range(9)]
    print("RSS along the run      " + ", ".join(f"{lines}: {rss / mib:.0f}" for lines, rss in steps))
    return 0 if done == args.images and peak < 1024 * mib and growth < 0.10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
