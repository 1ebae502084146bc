"""The `word2vec` backend: word2vec binary or text files, and fastText `.vec` files (word2vec text)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tagsight.engine.hookspecs import hookimpl
from tagsight.engine.paths import cache_dir

if TYPE_CHECKING:
    from tagsight.engine.vectors import WordVectors


def load(vectors_file: Path | None) -> WordVectors:
    from tagsight.engine.backends import BackendError
    from tagsight.engine.vectors import WordVectors

    if vectors_file is None:
        raise BackendError("the word2vec backend needs a vectors file: --vectors FILE (.bin, .txt or .vec)")
    from tagsight.engine.vector_io import load_vectors_cached

    words, matrix = load_vectors_cached(vectors_file, "word2vec", cache_dir() / "vectors")
    return WordVectors(f"word2vec:{vectors_file.name}", words, matrix)


@hookimpl
def register_backends(register) -> None:
    from tagsight.engine.backends import EmbeddingBackend

    register(EmbeddingBackend("word2vec", "word2vec binary/text and fastText .vec files (--vectors FILE)", load))
