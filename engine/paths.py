"""Where tagsight keeps its files: the user's data directory (the store) and cache directory.

`TAGSIGHT_DATA_DIR` and `TAGSIGHT_CACHE_DIR` override them (tests, portable installs).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("TAGSIGHT_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("tagsight", appauthor=False))


def cache_dir() -> Path:
    override = os.environ.get("TAGSIGHT_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tagsight", appauthor=False))


def default_db_path() -> Path:
    return data_dir() / "tagsight.db"
