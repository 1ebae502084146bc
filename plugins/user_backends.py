"""Backends the user registered by name (e.g. vectors trained with `tagsight train-vectors --register`)."""

from __future__ import annotations

from pathlib import Path

from tagsight.engine.hookspecs import hookimpl


@hookimpl
def register_backends(register) -> None:
    from tagsight.engine.backends import EmbeddingBackend, get_backend
    from tagsight.engine.user_backends import registered_backends

    for name, entry in registered_backends().items():
        file, reader = Path(entry["file"]), entry.get("reader", "word2vec")

        def load(vectors_file: Path | None, file: Path = file, reader: str = reader, name: str = name):
            vectors = get_backend(reader).load(vectors_file or file)
            vectors.name = name
            return vectors

        register(EmbeddingBackend(name, f"{reader} vectors registered by the user: {file}", load))
