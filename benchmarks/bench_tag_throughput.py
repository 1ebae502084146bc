"""Images/second of `tagsight tag` end to end next to the limit the machine allows, in one run.

    python benchmarks/bench_tag_throughput.py [--images 1000] [--rounds 3]

Generates ImageNet-size JPEGs (500x375) in a temporary folder, then, in each round:
  I  the model alone on prepared tensors (batch 16), all cores: the better of one run whose
     operators use every core (onnxruntime's default options) and one single-threaded run per
     core at once (the product's way, benchmarks/bench_model_options.py),
  D  decode + resize + crop on one core,
  E  `tagsight tag FOLDER --jsonl` as a fresh process (start-up included) with an empty store,
and prints the best of each over the rounds (a shared machine's load changes between them), E
next to I and to the limit cores / (cores/I + 1/D) (DESIGN.md, issue 8).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def model_rate(batch: np.ndarray, cores: int) -> tuple[float, float]:
    """(one run on every core with onnxruntime's default options, `cores` single-threaded runs at once)."""
    import onnxruntime as ort

    spec = default_model_spec()
    default = ort.SessionOptions()
    default.log_severity_level = 3
    rates = []
    for model, at_once in ((ImageModel(spec, options=default), 1), (ImageModel(spec), cores)):
        repeats = max(1, 128 // (len(batch) * at_once))

        def work(_: int) -> None:
            for _ in range(repeats):
                model.run(batch)

        model.run(batch)  # warm-up
        with ThreadPoolExecutor(at_once) as pool:
            start = time.perf_counter()
            list(pool.map(work, range(at_once)))
            rates.append(repeats * len(batch) * at_once / (time.perf_counter() - start))
    return rates[0], rates[1]


def decode_rate(paths: list[Path]) -> float:
    spec = default_model_spec().preprocess
    start = time.perf_counter()
    for path in paths:
        load_tensor(path, spec)
    return len(paths) / (time.perf_counter() - start)


def tag_rate(folder: Path, tmp: Path) -> tuple[int, float]:
    """(images tagged, seconds) of `tagsight tag FOLDER --jsonl` as a new process with a new store."""
    data = Path(tempfile.mkdtemp(dir=tmp))
    env = {**os.environ, "TAGSIGHT_DATA_DIR": str(data / "data")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tagsight", "tag", str(folder), "--jsonl", "--db", str(data / "bench.db")],
        capture_output=True, text=True, env=env,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return len(done.stdout.splitlines()), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    spec = default_model_spec()
    best = {"all": 0.0, "each": 0.0, "D": 0.0, "E": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        paths = make_images(folder, args.images)
        batch = np.stack([load_tensor(p, spec.preprocess) for p in paths[:16]])
        for _ in range(args.rounds):
            one_run, per_core = model_rate(batch, cores)
            tagged, elapsed = tag_rate(folder, Path(tmp))
            for key, value in (("all", one_run), ("each", per_core), ("D", decode_rate(paths[:200])),
                               ("E", tagged / elapsed)):
                best[key] = max(best[key], value)
    model = max(best["all"], best["each"])
    limit = cores / (cores / model + 1 / best["D"])
    print(f"images: {tagged} generated 500x375 JPEGs, {cores} cores, best of {args.rounds} rounds, "
          f"load average now {os.getloadavg()[0]:.1f}")
    print(f"   model, one run on {cores} threads (default options): {best['all']:7.1f} img/s")
    print(f"   model, {cores} single-threaded runs at once:         {best['each']:7.1f} img/s")
    print(f"I  model on prepared tensors (batch 16), the better:  {model:7.1f} img/s")
    print(f"D  decode+resize+crop, one core:                      {best['D']:7.1f} img/s")
    print(f"   limit cores/(cores/I + 1/D):                       {limit:7.1f} img/s")
    print(f"E  tagsight tag, whole process:                       {best['E']:7.1f} img/s "
          f"({tagged / best['E']:.2f} s)")
    print(f"E / I = {best['E'] / model:.2f}   E / limit = {best['E'] / limit:.2f}")


if __name__ == "__main__":
    main()
