"""The `gui` command: opens the desktop window. A plugin, so the engine never imports Qt."""

from __future__ import annotations

import argparse
from pathlib import Path

from tagsight.engine.cli import Command, add_precision_option
from tagsight.engine.hookspecs import hookimpl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", type=Path, metavar="FOLDER", help="folder to open (default: the last one)")
    parser.add_argument("--db", type=Path, metavar="FILE", help="store file (default: in the user data directory)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="open FOLDER, wait until the visible images are tagged and drawn, save a PNG, exit")
    add_precision_option(parser)


def run(args: argparse.Namespace) -> int:
    from tagsight.desktop.app import run_gui  # Qt is imported only when a window is wanted

    return run_gui(args.folder, args.db, args.screenshot, precision=args.precision)


@hookimpl
def register_commands(register) -> None:
    register(Command("gui", "open the desktop window (also: `tagsight` with no arguments)", add_arguments, run))
