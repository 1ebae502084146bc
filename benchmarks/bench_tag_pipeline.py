"""`TaggingService.tag` in this process on generated ImageNet-size JPEGs: the product's pipeline
against other ways to split the work over the cores, batch sizes and onnxruntime session options.

    python benchmarks/bench_tag_pipeline.py [--images 300] [--rounds 3] [--tables pipelines,batch,options]

Every variant tags the same files into a fresh store (vectors and model loaded beforehand); rounds
visit the variants in turn and each keeps its best, so a shared machine's changing load hits them
alike. Pipelines compared:
  workers     each worker thread decodes a whole batch, then runs the CNN on it with one core (product)
  threads     a decoding thread pool two batches ahead of a CNN run that uses every core itself
  processes   the same with a process pool for decoding (started before timing: its start-up is
              printed apart)
Batch size: images per CNN run, per worker task and per store commit.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import onnxruntime as ort

from bench_tag_throughput import make_images
from tagsight.engine.model import ImageModel, default_model_spec
from tagsight.engine.service import TaggingService, TagOptions, _Item, _needs_decoding, read_and_decode


def session_options(threads: int, spinning: bool) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


class WithModel(TaggingService):
    """The product's pipeline over a model with other session options."""

    def __init__(self, db_path: Path, model: ImageModel) -> None:
        super().__init__(db_path, model.spec)
        self._model = model

    @property
    def model(self) -> ImageModel:
        return self._model


class DecodingPool(WithModel):
    """A decoding pool (threads or processes) two batches ahead; the CNN runs in the calling thread."""

    def __init__(self, db_path: Path, model: ImageModel, decoders: Executor) -> None:
        super().__init__(db_path, model)
        self.decoders = decoders

    def _computed(self, pool: ThreadPoolExecutor, files: Sequence[Path], size: int) -> Iterator[list[_Item]]:
        pending: deque[tuple[list[_Item], list[tuple[_Item, Future[Any]]]]] = deque()
        spec = self.model_spec.preprocess
        for start in range(0, len(files), size):
            items = self._from_cache(files[start:start + size])
            decoding = [(i, self.decoders.submit(read_and_decode, i.path, spec)) for i in items if _needs_decoding(i)]
            pending.append((items, decoding))
            if len(pending) > 2:
                yield self._finish(*pending.popleft())
        while pending:
            yield self._finish(*pending.popleft())

    def _finish(self, items: list[_Item], decoding: list[tuple[_Item, Future[Any]]]) -> list[_Item]:
        for item, future in decoding:
            item.sha256, item.tensor, item.error = future.result()
        self._fill_outputs([item for item in items if item.tensor is not None])
        self._run_model(items)
        return items


def tag_rate(make: Callable[[Path], TaggingService], files: list[Path], batch: int) -> float:
    """Images/second of one whole `tag` over `files` into a fresh store."""
    folder = Path(tempfile.mkdtemp())
    try:
        with make(folder / "bench.db") as service:
            options = TagOptions(batch_size=batch)
            service.ranker(options)
            start = time.perf_counter()
            done = sum(1 for result in service.tag(files, options) if result.error is None)
            elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(folder)
    assert done == len(files), f"{len(files) - done} images failed"
    return done / elapsed


def measure(variants: dict[str, tuple[Callable[[Path], TaggingService], int]], files: list[Path], rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, (make, batch) in variants.items():
            best[name] = max(best.get(name, 0.0), tag_rate(make, files, batch))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tables", default="pipelines,batch,options")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    spec = default_model_spec()
    product = ImageModel(spec)
    models = {
        (threads, spinning): ImageModel(spec, options=session_options(threads, spinning))
        for threads in (1, cores) for spinning in (False, True)
    }
    start = time.perf_counter()
    processes = ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn"))
    list(processes.map(time.sleep, [0.01] * cores))  # started and importing done
    process_start = time.perf_counter() - start
    threads = ThreadPoolExecutor(cores)

    def plain(model: ImageModel) -> Callable[[Path], TaggingService]:
        return lambda db: WithModel(db, model)

    def pooled(model: ImageModel, decoders: Executor) -> Callable[[Path], TaggingService]:
        return lambda db: DecodingPool(db, model, decoders)

    batch = TagOptions().batch_size
    tables = {
        "pipelines": {
            "workers, 1 thread per run, no spinning (product)": (plain(product), batch),
            f"threads, CNN on {cores} threads, spinning": (pooled(models[cores, True], threads), batch),
            f"threads, CNN on {cores} threads, no spinning": (pooled(models[cores, False], threads), batch),
            f"processes, CNN on {cores} threads, spinning": (pooled(models[cores, True], processes), batch),
            f"processes, CNN on {cores} threads, no spinning": (pooled(models[cores, False], processes), batch),
        },
        "batch": {f"product pipeline, batch {b}": (plain(product), b) for b in (1, 4, 8, 16, 32, 64)},
        "options": {
            "workers, 1 thread per run, no spinning (product)": (plain(product), batch),
            "workers, 1 thread per run, spinning": (plain(models[1, True]), batch),
            f"workers, {cores} threads per run, no spinning": (plain(models[cores, False]), batch),
            f"workers, {cores} threads per run, spinning": (plain(models[cores, True]), batch),
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        files = make_images(Path(tmp), args.images)
        print(f"{args.images} generated 500x375 JPEGs, {cores} cores, best of {args.rounds} rounds; "
              f"process pool start-up (not in the figures): {process_start:.2f} s")
        for table in args.tables.split(","):
            best = measure(tables[table], files, args.rounds)
            print(f"\n{table}:")
            for name, rate in best.items():
                print(f"  {name:55s} {rate:6.1f} img/s")
    processes.shutdown()
    threads.shutdown()


if __name__ == "__main__":
    main()
