"""Console output: levels and colour, respecting NO_COLOR and non-terminals."""

from __future__ import annotations

import os
import sys
from typing import Literal, TextIO

Level = Literal["error", "warning", "note", "ok"]
_COLOURS = {"error": "31", "warning": "33", "note": "36", "ok": "32"}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def paint(text: str, level: Level, stream: TextIO = sys.stderr) -> str:
    if not use_colour(stream):
        return text
    return f"\033[{_COLOURS[level]}m{text}\033[0m"


def emit(level: Level, message: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    stream.write(f"{paint(level + ':', level, stream)} {message}\n")
    stream.flush()


def warn(message: str) -> None:
    emit("warning", message)
