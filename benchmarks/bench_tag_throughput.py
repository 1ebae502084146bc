"""Images/second of `tagsight tag` end to end next to the model's own throughput, in one run.

    python benchmarks/bench_tag_throughput.py [--images 300]

Generates ImageNet-size JPEGs (500x375) in a temporary folder, then measures in this order:
  I  the model alone on prepared tensors (batch 16, all cores),
  D  decode + resize + crop on one core,
  E  `tagsight tag FOLDER --jsonl` as a fresh process (start-up included) with an empty store,
and prints E next to I and to the limit cores / (cores/I + 1/D) (DESIGN.md, issue 8).
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

from tagsight.engine.model import ImageModel, default_model_spec
from tagsight.engine.preprocess import load_tensor


def make_images(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        # smooth random colour field + noise: JPEG-compresses like a photo, not like flat colour
        small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((500, 375), Image.Resampling.BICUBIC)
        noise = rng.normal(0, 12, (375, 500, 3))
        pixels = np.clip(np.asarray(image, np.float32) + noise, 0, 255).astype(np.uint8)
        path = folder / f"img_{i:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    spec = default_model_spec()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        paths = make_images(folder, args.images)

        model = ImageModel.shared(spec)
        batch = np.stack([load_tensor(p, spec.preprocess) for p in paths[:16]])
        model.run(batch)  # warm-up
        rounds = max(1, args.images // 16)
        start = time.perf_counter()
        for _ in range(rounds):
            model.run(batch)
        model_rate = rounds * 16 / (time.perf_counter() - start)

        start = time.perf_counter()
        for path in paths:
            load_tensor(path, spec.preprocess)
        decode_rate = len(paths) / (time.perf_counter() - start)

        env = {**os.environ, "TAGSIGHT_DATA_DIR": str(Path(tmp) / "data")}
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tagsight", "tag", str(folder), "--jsonl", "--db", str(Path(tmp) / "bench.db")],
            capture_output=True, text=True, env=env,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        tagged = len(done.stdout.splitlines())
        end_to_end = tagged / elapsed

    limit = cores / (cores / model_rate + 1 / decode_rate)
    print(f"images: {tagged} generated 500x375 JPEGs, {cores} cores, provider {model.provider}")
    print(f"I  model on prepared tensors (batch 16): {model_rate:7.1f} img/s")
    print(f"D  decode+resize+crop, one core:         {decode_rate:7.1f} img/s")
    print(f"   limit cores/(cores/I + 1/D):          {limit:7.1f} img/s")
    print(f"E  tagsight tag, whole process:          {end_to_end:7.1f} img/s ({elapsed:.2f} s)")
    print(f"E / I = {end_to_end / model_rate:.2f}   E / limit = {end_to_end / limit:.2f}")


if __name__ == "__main__":
    main()
