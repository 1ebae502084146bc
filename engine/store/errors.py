"""Errors the store raises. Each message names the database file and says what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: the database cannot be used as asked. The file was not modified."""


class NotADatabaseError(StoreError):
    """The file exists but is not an SQLite database."""


class CorruptDatabaseError(StoreError):
    """The file is an SQLite database that fails its integrity check."""


class ForeignDatabaseError(StoreError):
    """The file is an SQLite database made by some other program."""


class NewerSchemaError(StoreError):
    """The file was written by a newer tagsight, with migrations this version does not know."""


class ReadOnlyLocationError(StoreError):
    """The database file or its folder cannot be written (permissions, read-only file system)."""


class CorrectionError(StoreError):
    """A correction was refused (unknown action, empty label, nothing to undo...)."""
