"""The user's own files (profiles, site maps, step scripts, tracking plans, saved conformance runs) are input.

They are parsed through :func:`parse_bounded`, so a hostile or broken one is one ``harness:`` line: a
5,000-level TOML, JSON or YAML document gave RecursionError tracebacks of up to 3,004 lines, and one that
parsed could still make later code (a schema check, a renderer) recurse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.collecting.beacon import MAX_DEPTH

MAX_VALUES = 200_000  # values in one document: YAML aliases can make 10^8 of a few hundred bytes (18 s to walk)


class NestingError(ValueError):
    """A document nested deeper than :data:`MAX_DEPTH` levels, or holding more than :data:`MAX_VALUES` values."""


TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def parse_bounded(parse: Callable[[str], Any], text: str) -> Any:
    """``parse(text)``, refusing nesting deeper than MAX_DEPTH with :class:`NestingError`, never RecursionError."""
    try:
        value = parse(text)
    except RecursionError:
        raise NestingError(TOO_DEEP) from None
    if isinstance(value, dict | list) and (problem := _shape_problem(value)) is not None:
        raise NestingError(problem)
    return value


def _shape_problem(value: Any) -> str | None:
    """Too deep, or too many values (an iterative walk with a budget: it cannot recurse, nor run for long)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        seen += len(children)
        if seen > MAX_VALUES:
            return f"holds more than {MAX_VALUES:,} values (YAML aliases repeating a list?)"
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    return TOO_DEEP
                stack.append((child, depth + 1))
    return None
