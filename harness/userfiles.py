"""The user's own files (profiles, site maps, step scripts, tracking plans, saved conformance runs) are input.

They are parsed through :func:`parse_bounded`, so a hostile or broken one is one ``harness:`` line: a
5,000-level TOML, JSON or YAML document gave RecursionError tracebacks of up to 3,004 lines, and one that
parsed could still make later code (a schema check, a renderer) recurse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.collecting.beacon import MAX_DEPTH, _too_deep


class NestingError(ValueError):
    """A document nested deeper than :data:`MAX_DEPTH` levels."""


TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def parse_bounded(parse: Callable[[str], Any], text: str) -> Any:
    """``parse(text)``, refusing nesting deeper than MAX_DEPTH with :class:`NestingError`, never RecursionError."""
    try:
        value = parse(text)
    except RecursionError:
        raise NestingError(TOO_DEEP) from None
    if isinstance(value, dict | list) and _too_deep(value):
        raise NestingError(TOO_DEEP)
    return value
