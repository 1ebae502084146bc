"""Embedding backends: named sources of word vectors, offered by plugins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tagsight.engine import plugins
from tagsight.engine.vectors import WordVectors

DEFAULT_BACKEND = "glove"


class BackendError(ValueError):
    """An unknown backend or vectors it cannot load; the message says which and why."""


@dataclass(frozen=True)
class EmbeddingBackend:
    name: str
    description: str
    load: Callable[[Path | None], WordVectors]


def available_backends() -> dict[str, EmbeddingBackend]:
    return plugins.collect_by_name("register_backends", EmbeddingBackend, lambda backend: backend.name)


def get_backend(name: str) -> EmbeddingBackend:
    backends = available_backends()
    if name not in backends:
        known = ", ".join(sorted(backends)) or "none"
        raise BackendError(f"unknown backend {name!r} (available: {known})")
    return backends[name]
