"""Shared fixtures: every test runs with its own data directory; caches are shared per session."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "imagenet-dev"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, session_cache: Path) -> None:
    """Nothing a test does touches the user's real tagsight directories."""
    monkeypatch.setenv("TAGSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TAGSIGHT_CACHE_DIR", str(session_cache))


@pytest.fixture(scope="session")
def shared_eval() -> Path:
    """The shared ImageNet evaluation images; tests using them skip in a clone without ../shared."""
    if not (SHARED_EVAL / "labels.csv").is_file():
        pytest.skip(f"evaluation images not present at {SHARED_EVAL}")
    return SHARED_EVAL
