"""The image model alone on prepared tensors: images/second by batch size and onnxruntime session
options, all cores busy either way.

    python benchmarks/bench_model_options.py [--rounds 3] [--images 128]

  one run on N threads       one `run` at a time whose operators use every core (intra-op threads)
  N runs on 1 thread each    one single-threaded `run` per core at once, from N Python threads
                             (what TaggingService.tag does)
Then, at batch 16, execution mode and graph optimization level. Rounds visit the settings in turn
and each keeps its best, so a shared machine's changing load hits them alike.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort

from tagsight.engine.model import default_model_spec

BATCHES = (1, 4, 8, 16, 32, 64)


def options(threads: int, spinning: bool = False, parallel: bool = False,
            level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL) -> ort.SessionOptions:
    result = ort.SessionOptions()
    result.log_severity_level = 3
    result.intra_op_num_threads = threads
    result.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    result.execution_mode = ort.ExecutionMode.ORT_PARALLEL if parallel else ort.ExecutionMode.ORT_SEQUENTIAL
    result.graph_optimization_level = level
    return result


def rate(session: ort.InferenceSession, batch: np.ndarray, runs_at_once: int, images: int, pool: ThreadPoolExecutor) -> float:
    """Images/second with `runs_at_once` threads each running `batch` repeatedly."""
    repeats = max(1, images // (len(batch) * runs_at_once))

    def work(_: int) -> None:
        for _ in range(repeats):
            session.run(None, {"image": batch})

    session.run(None, {"image": batch})  # warm-up
    start = time.perf_counter()
    list(pool.map(work, range(runs_at_once)))
    return repeats * len(batch) * runs_at_once / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=128, help="images per measurement")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    path = str(default_model_spec().path)
    level = ort.GraphOptimizationLevel
    # name -> (session options, runs at once)
    settings = {
        f"one run on {cores} threads, spinning": (options(cores, spinning=True), 1),
        f"one run on {cores} threads, no spinning": (options(cores), 1),
        f"{cores} runs on 1 thread each, no spinning": (options(1), cores),
    }
    extra = {
        f"{cores} runs x 1 thread, basic graph optimizations": (options(1, level=level.ORT_ENABLE_BASIC), cores),
        f"{cores} runs x 1 thread, extended graph optimizations": (options(1, level=level.ORT_ENABLE_EXTENDED), cores),
        f"one run on {cores} threads, parallel execution mode": (options(cores, parallel=True), 1),
    }
    sessions = {name: ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
                for name, (opts, _) in {**settings, **extra}.items()}
    rng = np.random.default_rng(0)
    batches = {b: rng.standard_normal((b, 3, 224, 224), dtype=np.float32) for b in BATCHES}
    cases = [(name, b) for b in BATCHES for name in settings] + [(name, 16) for name in extra]
    best: dict[tuple[str, int], float] = {}
    with ThreadPoolExecutor(cores) as pool:
        for _ in range(args.rounds):
            for name, b in cases:
                at_once = {**settings, **extra}[name][1]
                got = rate(sessions[name], batches[b], at_once, args.images, pool)
                best[name, b] = max(best.get((name, b), 0.0), got)
    print(f"model on prepared tensors, img/s, {cores} cores, best of {args.rounds} rounds of ~{args.images} images")
    print(f"{'batch':>5} " + " | ".join(f"{name:>26}" for name in settings))
    for b in BATCHES:
        print(f"{b:>5} " + " | ".join(f"{best[name, b]:26.1f}" for name in settings))
    print("\nat batch 16:")
    for name in extra:
        print(f"  {name:55s} {best[name, 16]:6.1f}")


if __name__ == "__main__":
    main()
