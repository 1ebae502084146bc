"""Exporters: JSON Lines, CSV and XMP sidecars. Each takes `ExportRecord`s (path, confirmed tags
as "parent|child" paths, optional predictions) and an output location. `Store.export_records`
makes the records; `Exporter` is what the `register_exporters` plugin hook registers, and
`BUILTIN_EXPORTERS` are the three below in that form.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TextIO

from tagsight.engine.atomicfile import atomic_open
from tagsight.engine.store.types import ExportRecord, PredictionRow
from tagsight.engine.xmp import XmpError, sidecar_path, write_sidecar

CSV_COLUMNS = ("path", "label", "kind", "score", "rank")

__all__ = [
    "BUILTIN_EXPORTERS",
    "available_exporters",
    "get_exporter",
    "CSV_COLUMNS",
    "ExportRecord",
    "ExportSummary",
    "Exporter",
    "XmpReport",
    "export_csv",
    "export_jsonl",
    "export_xmp",
]


def _record_json(record: ExportRecord) -> dict:
    data: dict = {"path": str(record.path), "tags": list(record.tags)}
    if record.predictions is not None:
        data["predictions"] = [{"label": p.label, "score": p.score, "rank": p.rank} for p in record.predictions]
    return data


def export_jsonl(records: Iterable[ExportRecord], out: Path | TextIO) -> int:
    """One JSON object per image: {"path", "tags", ["predictions": [{"label","score","rank"}]]}."""

    def write(f: TextIO) -> int:
        count = 0
        for record in records:
            f.write(json.dumps(_record_json(record), ensure_ascii=False) + "\n")
            count += 1
        return count

    if isinstance(out, (str, Path)):
        with atomic_open(Path(out), "w") as f:
            return write(f)
    return write(out)


def export_csv(records: Iterable[ExportRecord], out: Path | TextIO) -> int:
    """One row per (image, label): path,label,kind,score,rank with kind "tag" (confirmed; no
    score) or "prediction". Returns the number of images written."""

    def write(f: TextIO) -> int:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        for record in records:
            for tag in record.tags:
                writer.writerow([str(record.path), tag, "tag", "", ""])
            for p in record.predictions or ():
                writer.writerow([str(record.path), p.label, "prediction", f"{p.score:.6g}", p.rank])
            count += 1
        return count

    if isinstance(out, (str, Path)):
        with atomic_open(Path(out), "w", newline="") as f:
            return write(f)
    return write(out)


@dataclass
class XmpReport:
    written: list[Path] = field(default_factory=list)
    unchanged: int = 0  # records with nothing to write (no tags and no sidecar yet)
    errors: list[tuple[Path, str]] = field(default_factory=list)  # (image, why); sidecar untouched
    # Images whose NAME.xmp would be shared with another image: they got NAME.ext.xmp.
    full_names: list[Path] = field(default_factory=list)


def export_xmp(records: Iterable[ExportRecord], out_dir: Path | None = None) -> XmpReport:
    """Write or merge one sidecar per image (see `tagsight.engine.xmp`). Keywords are the
    confirmed tags, plus predicted labels when the records carry predictions (the caller asked for
    them with a minimum score). With `out_dir`, sidecars mirror the images' folders below their
    common parent. One bad sidecar is reported and never stops the others."""
    records = list(records)
    root = None
    if out_dir is not None and records:
        root = Path(os.path.commonpath([str(r.path.parent) for r in records]))
    shared: dict[Path, list[Path]] = defaultdict(list)
    for record in records:
        shared[sidecar_path(record.path, out_dir=out_dir, root=root)].append(record.path)
    crowded = {p for paths in shared.values() if len(paths) > 1 for p in paths}
    report = XmpReport(full_names=sorted(crowded))
    for record in records:
        keywords = list(record.tags) + [p.label for p in _predictions(record)]
        try:
            written = write_sidecar(
                record.path, keywords, out_dir=out_dir, root=root, keep_extension=record.path in crowded
            )
        except (XmpError, OSError) as exc:
            report.errors.append((record.path, str(exc)))
            continue
        if written is None:
            report.unchanged += 1
        else:
            report.written.append(written)
    return report


def _predictions(record: ExportRecord) -> tuple[PredictionRow, ...]:
    return record.predictions or ()


@dataclass(frozen=True)
class ExportSummary:
    """What an exporter did: `images` exported, the files it wrote, the images it could not export."""

    images: int
    written: tuple[Path, ...] = ()
    errors: tuple[tuple[Path, str], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exporter:
    """An export format. `write(records, out)`: `out` is the `--out` folder or file, or None (stdout
    for one-file formats, next to the images for sidecars)."""

    name: str
    description: str
    write: Callable[[list[ExportRecord], Path | None], ExportSummary]


def _one_file(name: str, suffix: str, fn: Callable[[Iterable[ExportRecord], Path | TextIO], int]) -> Exporter:
    def write(records: list[ExportRecord], out: Path | None) -> ExportSummary:
        if out is None:
            return ExportSummary(fn(records, sys.stdout))
        if out.is_dir() or not out.suffix:  # --out DIR (made if missing); a name with a suffix is a file
            out.mkdir(parents=True, exist_ok=True)
            out = out / f"tags{suffix}"
        target = out
        return ExportSummary(fn(records, target), (target,))

    return Exporter(name, f"one {suffix} file (stdout without --out; --out DIR writes DIR/tags{suffix})", write)


def _xmp_write(records: list[ExportRecord], out: Path | None) -> ExportSummary:
    report = export_xmp(records, out)
    notes = tuple(f"{p}: shares NAME.xmp with another image, written as NAME.ext.xmp" for p in report.full_names)
    return ExportSummary(len(records) - len(report.errors), tuple(report.written), tuple(report.errors), notes)


BUILTIN_EXPORTERS = (
    _one_file("jsonl", ".jsonl", export_jsonl),
    _one_file("csv", ".csv", export_csv),
    Exporter("xmp", "XMP sidecars (NAME.xmp next to each image, or mirrored under --out), merged", _xmp_write),
)


def available_exporters() -> dict[str, Exporter]:
    """Export formats by name, offered by plugins (the built-in jsonl, csv and xmp among them)."""
    from tagsight.engine.plugins import collect_by_name

    return collect_by_name("register_exporters", Exporter, lambda exporter: exporter.name)


def get_exporter(name: str) -> Exporter:
    exporters = available_exporters()
    if name not in exporters:
        raise ValueError(f"unknown export format {name!r} (available: {', '.join(sorted(exporters))})")
    return exporters[name]
