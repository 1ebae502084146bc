"""The built-in exporters: JSON Lines, CSV and XMP sidecars."""

from __future__ import annotations

from tagsight.engine.hookspecs import hookimpl


@hookimpl
def register_exporters(register) -> None:
    from tagsight.engine.export import BUILTIN_EXPORTERS

    for exporter in BUILTIN_EXPORTERS:
        register(exporter)
