"""Small text facts shared by the layers: nearest names, UTF-8 with a line, dotted parents."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice nearest to `word`, if one is close enough to be a likely typo."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


def closest_dotted(word: str, choices: Iterable[str], cutoff: float = 0.75) -> str | None:
    """The dotted name nearest to `word`, judged on the parts that differ, not on a shared prefix.

    'pkg.core.tensr' is close to 'pkg.core.tensor'; 'pkg.core.losses' is not close to
    'pkg.core.layers', however long the shared 'pkg.core.' is.
    """
    parts = word.split(".")
    best: tuple[float, str] | None = None
    for choice in choices:
        other = choice.split(".")
        n = 0
        while n < min(len(parts), len(other)) and parts[n] == other[n]:
            n += 1
        mine, theirs = ".".join(parts[n:]), ".".join(other[n:])
        if not mine or not theirs:
            continue
        score = difflib.SequenceMatcher(None, mine, theirs).ratio()
        if score >= cutoff and (best is None or score > best[0]):
            best = (score, choice)
    return best[1] if best else None


class BadEncoding(ValueError):
    """Bytes that are not UTF-8: the line (1-based) and the first bad byte."""

    def __init__(self, line: int, byte: int) -> None:
        super().__init__(f"line {line}: byte {byte:#04x}")
        self.line = line
        self.byte = byte


def utf8(raw: bytes) -> str:
    """UTF-8 text (a BOM is dropped); BadEncoding names the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadEncoding(raw[: exc.start].count(b"\n") + 1, raw[exc.start]) from None


def parents(dotted: str) -> list[str]:
    """The packages that contain a dotted module: 'a.b.c' -> ['a', 'a.b']."""
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]
