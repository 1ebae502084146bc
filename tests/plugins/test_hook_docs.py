"""Every hook in the manager is documented, with its exact signature (as datasette checks its hooks)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from tagsight.engine import hookspecs, plugins

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
HOOK_NAMES = sorted(name for name in plugins.manager().hook.__dict__ if not name.startswith("_"))


def documented_signatures() -> dict[str, str]:
    headings = re.findall(r"^### (\w+)\((.*)\)$", GUIDE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {name: args for name, args in headings}


def test_the_manager_has_hooks() -> None:
    assert {"register_backends", "register_vocabularies", "register_exporters", "register_image_models"} <= set(
        HOOK_NAMES
    )


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    spec = getattr(hookspecs, name)
    arguments = ", ".join(inspect.signature(spec).parameters)
    assert documented_signatures().get(name) == arguments, f"docs/plugins.md lacks '### {name}({arguments})'"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hookspec_docstring_describes_each_parameter(name: str) -> None:
    spec = getattr(hookspecs, name)
    doc = inspect.getdoc(spec) or ""
    for parameter in inspect.signature(spec).parameters:
        assert f":param {parameter}:" in doc
