"""A guard against a PySide6 bug that kills the process.

shiboken6 6.12.0 returns `None` from wrapped C++ methods that return void without taking a new reference.
From Python 3.12 on `None` is immortal and nothing happens; on Python 3.11 every `setText`, `update`,
`painter.drawRect`… lowers None's reference count by one, and after a few seconds of painting the
interpreter aborts with "none_dealloc: deallocating None". The project pins PySide6 away from that release;
this guard covers an environment that has it anyway.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

_checked = False


def void_calls_leak_none() -> bool:
    """Whether void Qt calls drop a reference to None here (measured, not guessed from versions)."""
    from PySide6.QtCore import QRect

    rect = QRect()
    before = sys.getrefcount(None)
    for _ in range(200):
        rect.setWidth(1)
    return before - sys.getrefcount(None) >= 150


def protect_none() -> None:
    """On an affected interpreter, make None practically immortal, as Python 3.12 does. Idempotent."""
    global _checked
    if _checked or sys.version_info >= (3, 12):
        return
    _checked = True
    if void_calls_leak_none():
        import ctypes

        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 60
        log.warning("this PySide6 build leaks references to None (6.12.0 on Python < 3.12); worked around it")
