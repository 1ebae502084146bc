"""What the window remembers between runs, typed, over one QSettings object (tests pass their own)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


class WindowSettings:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else QSettings()

    def _str(self, key: str, default: str = "") -> str:
        value = self.qsettings.value(key, default)
        return str(value) if value is not None else default

    @property
    def geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", value)

    @property
    def splitter(self) -> QByteArray | None:
        value = self.qsettings.value("window/splitter")
        return value if isinstance(value, QByteArray) else None

    @splitter.setter
    def splitter(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/splitter", value)

    @property
    def last_folder(self) -> Path | None:
        value = self._str("folders/last")
        return Path(value) if value else None

    @property
    def recent_folders(self) -> list[Path]:
        value = self.qsettings.value("folders/recent", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list in INI files
            value = [value]
        return [Path(v) for v in (value or []) if v]

    def add_recent(self, folder: Path) -> None:
        recent = [folder, *(p for p in self.recent_folders if p != folder)][:MAX_RECENT]
        self.qsettings.setValue("folders/recent", [str(p) for p in recent])
        self.qsettings.setValue("folders/last", str(folder))

    def clear_recent(self) -> None:
        self.qsettings.setValue("folders/recent", [])

    @property
    def backend(self) -> str:
        return self._str("tagging/backend", "glove")

    @property
    def vectors_file(self) -> Path | None:
        value = self._str("tagging/vectors_file")
        return Path(value) if value else None

    @property
    def vocabulary(self) -> str:
        return self._str("tagging/vocabulary", "default")

    def set_tagging(self, backend: str, vectors_file: Path | None, vocabulary: str) -> None:
        self.qsettings.setValue("tagging/backend", backend)
        self.qsettings.setValue("tagging/vectors_file", str(vectors_file) if vectors_file else "")
        self.qsettings.setValue("tagging/vocabulary", vocabulary)

    @property
    def threshold(self) -> float:
        try:
            return float(self.qsettings.value("tagging/threshold", 0.5))
        except (TypeError, ValueError):
            return 0.5

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.qsettings.setValue("tagging/threshold", float(value))

    def sync(self) -> None:
        self.qsettings.sync()
