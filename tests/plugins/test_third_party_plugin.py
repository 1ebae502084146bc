"""A third-party plugin as an installed distribution (a real dist-info with entry points on sys.path),
driven end to end through the `tagsight` command; broken plugins are reported and left out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tagsight.engine import plugins
from tagsight.engine.backends import available_backends
from tagsight.engine.hookspecs import hookimpl
from tagsight.engine.vocabulary import Vocabulary, available_vocabularies, load_vocabulary

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def install(site: Path, dist: str, module: str, source: str, entry_point: str | None = None) -> None:
    """Lay out what `pip install` leaves behind: the module and a dist-info with entry points."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[tagsight]\n{entry_point or module} = {module}\n", encoding="utf-8")


def guide_module_source() -> str:
    """The plugin module exactly as docs/plugins.md shows it."""
    blocks = re.findall(r"`tagsight_colours.py`:\n\n```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    return blocks[0]


def run(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(site), **env}
    return subprocess.run([sys.executable, "-m", "tagsight", *args], capture_output=True, text=True,
                          env=environment, timeout=300)


def test_the_guide_plugin_works_end_to_end(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install(site, "tagsight-colours", "tagsight_colours", guide_module_source(), "colours")
    listed = json.loads(run(site, "plugins", "--json").stdout)
    colours = next(p for p in listed if p["name"] == "colours")
    assert colours["source"] == "tagsight-colours" and colours["version"] == "0.1.0"
    assert colours["hooks"] == ["register_backends", "register_vocabularies"] and colours["error"] is None

    image = tmp_path / "red.png"
    Image.new("RGB", (200, 200), (220, 20, 20)).save(image)
    done = run(site, "tag", str(image), "--vocab", "colours", "--backend", "glove-lowercase", "--jsonl", "--top", "11")
    assert done.returncode == 0, done.stderr
    labels = [label["label"] for label in json.loads(done.stdout)["labels"]]
    assert sorted(labels) == sorted(("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
                                     "black", "white", "grey"))


def test_broken_plugins_are_reported_and_disabled(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install(site, "tagsight-explodes", "explodes_on_import", "raise RuntimeError('boom at import')\n")
    install(site, "tagsight-typo", "typo_hook",
            "from tagsight.engine.hookspecs import hookimpl\n\n@hookimpl\ndef register_backend(register):\n    pass\n")
    install(site, "tagsight-raises", "raises_in_hook",
            "from tagsight.engine.hookspecs import hookimpl\n\n@hookimpl\n"
            "def register_vocabularies(register):\n    raise ValueError('bad vocabulary plugin')\n")
    listed = {p["name"]: p for p in json.loads(run(site, "plugins", "--json").stdout)}
    assert "boom at import" in listed["explodes_on_import"]["error"]
    assert "register_backend" in listed["typo_hook"]["error"]  # a misspelt hook fails loudly
    assert listed["glove"]["error"] is None
    # The hook raising is found when vocabularies are collected: reported, and the others still answer.
    done = run(site, "tag", str(Path(__file__)), "--vocab", "imagenet1k", "--jsonl")
    assert "raises_in_hook disabled" in done.stderr and "bad vocabulary plugin" in done.stderr
    assert "Traceback" not in done.stderr


def test_plugins_can_be_blocked_by_name(tmp_path: Path) -> None:
    listed = json.loads(run(tmp_path, "plugins", "--json", TAGSIGHT_DISABLE_PLUGINS="word2vec").stdout)
    assert "word2vec" not in {p["name"] for p in listed}
    done = run(tmp_path, "tag", str(tmp_path), "--backend", "word2vec", TAGSIGHT_DISABLE_PLUGINS="word2vec")
    assert done.returncode == 2 and "unknown backend 'word2vec'" in done.stderr


class _FakeVocabularyPlugin:
    @hookimpl
    def register_vocabularies(self, register):
        register("fruit", lambda: Vocabulary("fruit", ("apple", "banana", "cherry")))


@pytest.fixture
def fruit_plugin():
    plugins.register_plugin(_FakeVocabularyPlugin(), name="fruit")
    yield
    plugins.unregister_plugin("fruit")


def test_a_plugin_registered_in_process(fruit_plugin: None) -> None:
    assert "fruit" in available_vocabularies()
    assert load_vocabulary("fruit").labels == ("apple", "banana", "cherry")
    assert {"glove", "word2vec"} <= set(available_backends())


class _WrongTypesPlugin:
    @hookimpl
    def register_backends(self, register):
        register("glove but a string")

    @hookimpl
    def register_vocabularies(self, register):
        register("a name without a loader")

    @hookimpl
    def register_exporters(self, register):
        register(42)


def test_a_plugin_registering_the_wrong_types_is_disabled_and_the_rest_still_works() -> None:
    from tagsight.engine.export import available_exporters

    plugins.register_plugin(_WrongTypesPlugin(), name="wrong-types")
    try:
        assert {"glove", "word2vec"} <= set(available_backends())
        info = next(i for i in plugins.plugin_infos() if i.name == "wrong-types")
        assert "register_backends" in info.error and "expected EmbeddingBackend" in info.error
        assert "imagenet1k" in available_vocabularies() and "jsonl" in available_exporters()
    finally:
        plugins.unregister_plugin("wrong-types")
    plugins.register_plugin(_WrongTypesPlugin(), name="wrong-types")
    try:
        assert "default" in available_vocabularies()  # vocabularies asked first this time
        info = next(i for i in plugins.plugin_infos() if i.name == "wrong-types")
        assert "expected (name, load)" in info.error
    finally:
        plugins.unregister_plugin("wrong-types")
