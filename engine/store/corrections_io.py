"""Reading and writing corrections as CSV or JSON Lines. No database here: rows in, rows out.

Columns: `path,label,action` are required on import; export adds `previous` (the old label of a
rename), `time` (ISO 8601, UTC, microseconds), `source` (gui, cli, import), `id` (the event's
uid), `undoes` (uid of the event an undo reverts) and `batch` (events of one user action, undone
together). Importing an export reproduces the same events; re-importing skips known ids.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from .schema import ACTIONS, SOURCES
from .types import CorrectionEvent, RowError, normalize_path, to_us

REQUIRED_COLUMNS = ("path", "label", "action")
EXPORT_COLUMNS = ("path", "label", "action", "previous", "time", "source", "id", "undoes", "batch")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class ParsedRow:
    line: int
    path: Path
    label: str
    action: str
    previous: str | None = None
    time_us: int | None = None
    source: str | None = None
    uid: str | None = None
    undoes: str | None = None
    batch: str | None = None


def read_rows(file: Path, base_dir: Path | None = None) -> tuple[list[ParsedRow], list[RowError]]:
    """Parse and check every row of a CSV (or .jsonl) file of corrections.

    Relative paths are taken from `base_dir` (default: the file's folder, so a CSV kept with
    its photos stays valid wherever the folder goes). Returns the good rows and the errors, each
    with the line number where its row starts (line 1 is the CSV header).
    """
    base = normalize_path(base_dir if base_dir is not None else Path(file).parent)
    try:
        if Path(file).suffix.lower() in JSONL_SUFFIXES:
            raw = list(_jsonl_records(Path(file)))
        else:
            raw = list(_csv_records(Path(file)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [RowError(0, f"cannot read {file}: {exc}")]
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    for line, record in raw:
        if isinstance(record, RowError):
            errors.append(record)
            continue
        try:
            rows.append(_parse(line, record, base))
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
    return rows, errors


def _csv_records(file: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    # utf-8-sig: spreadsheets often start CSV files with a byte-order mark.
    with open(file, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            yield 1, RowError(1, "empty file: expected a header line path,label,action")
            return
        columns = [name.strip().lower() for name in header]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            yield 1, RowError(
                1,
                f"missing column(s) {', '.join(missing)}: the first line must be a header "
                f"naming at least {','.join(REQUIRED_COLUMNS)} (got {','.join(columns)})",
            )
            return
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                yield line, RowError(line, f"{len(values)} fields, the header has {len(columns)}")
                continue
            yield line, dict(zip(columns, values))


def _jsonl_records(file: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with open(file, encoding="utf-8-sig") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line, RowError(line, f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                yield line, RowError(line, "expected a JSON object per line")
                continue
            missing = [name for name in REQUIRED_COLUMNS if name not in record]
            if missing:
                yield line, RowError(line, f"missing field(s) {', '.join(missing)}")
                continue
            yield line, {k.lower(): ("" if v is None else str(v)) for k, v in record.items()}


def _parse(line: int, record: dict[str, Any], base: Path) -> ParsedRow:
    def field(name: str) -> str | None:
        value = (record.get(name) or "").strip()
        return value or None

    action = (field("action") or "").lower()
    if action not in ACTIONS:
        shown = record.get("action", "")
        raise ValueError(f"unknown action {shown!r} (expected one of: {', '.join(ACTIONS)})")
    label = field("label") or ""
    if not label and action != "undo":
        raise ValueError("empty label")
    previous = field("previous")
    if action == "rename" and previous is None:
        raise ValueError("rename needs the old label in the 'previous' column")
    if action in ("accept", "reject", "add") and previous is not None:
        raise ValueError(f"'previous' is only for rename (action is {action})")
    raw_path = field("path")
    if raw_path is None:
        raise ValueError("empty path")
    path = normalize_path(base / Path(raw_path).expanduser())
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if not path.is_file():
        raise ValueError(f"not a file: {path}")
    time_us = None
    if (text := field("time")) is not None:
        try:
            time_us = to_us(datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(f"time {text!r} is not ISO 8601 (like 2024-05-01T12:00:00+00:00)") from None
    source = field("source")
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (expected one of: {', '.join(SOURCES)})")
    return ParsedRow(line, path, label, action, previous, time_us, source, field("id"), field("undoes"), field("batch"))


def event_record(event: CorrectionEvent, relative_to: Path | None = None) -> dict[str, str | None]:
    path = event.path
    if relative_to is not None:
        try:
            path = path.relative_to(normalize_path(relative_to))
        except ValueError:
            pass  # outside the base: keep it absolute rather than invent "../.."
    return {
        "path": str(path),
        "label": event.label,
        "action": event.action,
        "previous": event.previous,
        "time": event.time.isoformat(timespec="microseconds"),
        "source": event.source,
        "id": event.uid,
        "undoes": event.undoes,
        "batch": event.batch,
    }


def write_csv(events: Iterable[CorrectionEvent], out: TextIO, relative_to: Path | None = None) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for event in events:
        record = event_record(event, relative_to)
        writer.writerow(["" if record[c] is None else record[c] for c in EXPORT_COLUMNS])
        count += 1
    return count


def write_jsonl(events: Iterable[CorrectionEvent], out: TextIO, relative_to: Path | None = None) -> int:
    count = 0
    for event in events:
        out.write(json.dumps(event_record(event, relative_to), ensure_ascii=False) + "\n")
        count += 1
    return count
