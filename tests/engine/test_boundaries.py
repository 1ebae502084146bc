"""Layering rules that keep the engine usable without a GUI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
GUI_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "tagsight.desktop")


def test_no_engine_module_imports_qt_or_the_desktop() -> None:
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(GUI_MODULES)]
    assert not offenders


def test_tagging_a_folder_loads_no_qt_and_no_torch() -> None:
    code = (
        "import sys; from tagsight.engine.service import TaggingService, TagOptions;"
        "TaggingService().ranker(TagOptions());"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','shiboken6','torch')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
