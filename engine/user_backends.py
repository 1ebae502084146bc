"""Backends the user named (`tagsight train-vectors --register NAME`): a small JSON file in the data
directory mapping each name to a vectors file and the built-in backend that reads it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tagsight.engine.paths import data_dir

RESERVED = frozenset({"glove", "word2vec"})


def registry_path() -> Path:
    return data_dir() / "backends.json"


def registered_backends() -> dict[str, dict[str, str]]:
    """name -> {"reader": "word2vec" | "glove", "file": absolute path}."""
    path = registry_path()
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: entry for name, entry in entries.items() if isinstance(entry, dict)}


def register_backend(name: str, vectors_file: Path, reader: str = "word2vec") -> None:
    """Remember `vectors_file` as backend `name` (written atomically)."""
    if name in RESERVED or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"{name!r} cannot name a backend (letters, digits, - and _; not {', '.join(sorted(RESERVED))})")
    entries = registered_backends()
    entries[name] = {"reader": reader, "file": str(vectors_file.resolve())}
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
