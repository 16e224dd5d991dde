"""Deep partial matching of beacon records, and the near-miss reports a failed expectation prints.

A *spec* is what a test says should have been sent: ``{"type": "track", "event": "Signed Up",
"properties": {"plan": "premium"}}``. It matches a record when every key it names matches:

- nested dicts match subsets (keys the spec leaves out are ignored);
- lists match element by element (same length; elements match partially);
- a compiled regex matches strings (``re.search``, as ``pytest.raises(match=...)`` does);
- a class is an isinstance check (``userId=str``; ``bool`` is not an ``int`` here);
- any other callable is a predicate on the value (``price=lambda p: p > 10``);
- :data:`ANY`, :data:`ABSENT`, :func:`one_of` and :func:`contains` cover the rest;
- anything else compares equal (``True`` does not equal ``1``).

Top-level keys may use ``__`` for nesting (``context__page__path="/"``), and ``transport`` is
short for ``_meta.transport`` (how the beacon travelled: "beacon", "fetch-keepalive", "xhr", ...).
A miss is explained with the closest captured messages and, per message, the fields that differ.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.collecting.store import Record, describe

ALIASES = {"transport": "_meta__transport"}
# Top-level fields of an analytics.js message (the spec, the harness's enrichment, RudderStack's
# extras). A keyword argument outside these (and outside the method's own parameters) is a
# mistake, reported as a TypeError, not silently matched as a field nobody sends.
MESSAGE_FIELDS = frozenset({
    "type", "event", "name", "category", "userId", "anonymousId", "groupId", "previousId", "messageId",
    "properties", "traits", "context", "integrations", "timestamp", "sentAt", "originalTimestamp",
    "receivedAt", "writeKey", "channel", "version", "options", "projectId", "_metadata", "_meta",
    "rudderId", "request_ip",
})
# Words that are parameters somewhere in the API: the hint names the one this method takes.
PARAMETER_HINTS = {
    "within": "a wait", "timeout": "a wait", "wait": "a wait", "seconds": "a wait", "timeout_s": "a wait",
    "count": "a count", "n": "a count", "times": "a count", "at_least": "a count",
    "since": "the start", "after": "the start",
    "mask": "extra masks", "masks": "extra masks",
    "update": "update", "snapshot_update": "update",
}


def check_keywords(method: str, partial: Mapping[str, Any], params: Mapping[str, str],
                   escape: bool = True) -> None:
    """TypeError for a keyword that is neither a message field nor a parameter of ``method``.

    ``params`` maps a kind in :data:`PARAMETER_HINTS` ("a wait", "a count", ...) to this method's
    parameter for it (``{"a wait": "timeout"}``), so ``expect(within=2)`` names ``timeout=``.
    """
    __tracebackhide__ = True
    for key in partial:
        root = ALIASES.get(key, key).replace(".", "__").split("__")[0]
        if root in MESSAGE_FIELDS and key not in PARAMETER_HINTS:
            continue
        head = f"{method}() got an unexpected keyword argument {key!r}"
        kind = PARAMETER_HINTS.get(key)
        if kind is not None and params.get(kind) == key:
            continue  # the method's own parameter, passed through **filters (all(since=...))
        if kind is not None:
            right = params.get(kind)
            if kind == "update":
                raise TypeError(f"{head}: run pytest --snapshot-update to rewrite snapshots")
            if right:
                raise TypeError(f"{head}: did you mean {right}=? ({method}() takes {right}= for {kind})")
            raise TypeError(f"{head}: {method}() has no parameter for {kind}")
        hint = (f", or match an unusual top-level field with fields={{{key!r}: ...}}" if escape else "")
        raise TypeError(f"{head}: it is not a parameter nor a field of an analytics.js message "
                        f"({', '.join(sorted(MESSAGE_FIELDS - {'_meta', '_metadata'}))}, transport); nest fields "
                        f"with __ (context__page__path=...){hint}")
NEAR_MISSES = 3
MAX_FIELDS_SHOWN = 8


class _Missing:
    """The value of a key a record does not have (distinct from an explicit ``null``)."""

    def __repr__(self) -> str:
        return "(missing)"


MISSING: Any = _Missing()


class Matcher:
    """A named check on one value; subclasses say what they want in failure messages."""

    def __init__(self, label: str, check: Callable[[Any], bool]) -> None:
        self.label = label
        self._check = check

    def check(self, actual: Any) -> bool:
        return bool(self._check(actual))

    def __repr__(self) -> str:
        return self.label


ANY = Matcher("<any value>", lambda v: v is not MISSING)
ABSENT = Matcher("<absent or null>", lambda v: v is MISSING or v is None)


def one_of(*values: Any) -> Matcher:
    """The value is one of these (each compared as a spec would)."""
    return Matcher(f"<one of {', '.join(_short(v) for v in values)}>",
                   lambda actual: any(not compare(actual, v)[2] for v in values))


def contains(*items: Any) -> Matcher:
    """The value is a list holding, for each item, an element that matches it partially."""
    def check(actual: Any) -> bool:
        return isinstance(actual, list) and all(any(not compare(a, item)[2] for a in actual) for item in items)

    return Matcher(f"<a list containing {', '.join(_short(i) for i in items)}>", check)


@dataclass(frozen=True)
class Mismatch:
    """One field where a record differs from the spec."""

    path: str
    expected: str
    actual: Any
    note: str = ""

    def __str__(self) -> str:
        got = "(missing)" if self.actual is MISSING else _short(self.actual)
        note = f" ({self.note})" if self.note else ""
        return f"{self.path or '(message)'}: expected {self.expected}, got {got}{note}"


# ---- building specs ---------------------------------------------------------------------------

def build_spec(type: str | None = None, event: str | None = None, partial: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """type/event (when given) plus the partial fields, with ``a__b`` keys and aliases nested."""
    __tracebackhide__ = True
    spec: dict[str, Any] = {}
    if type is not None:
        spec["type"] = type
    if event is not None:
        spec["event"] = event
    for key, value in (partial or {}).items():
        parts = [p for p in ALIASES.get(key, key).split("__") if p] or [key]
        _put(spec, parts, value)
    return spec


def _put(spec: dict[str, Any], parts: list[str], value: Any) -> None:
    __tracebackhide__ = True
    node = spec
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    last = parts[-1]
    if isinstance(value, Mapping) and isinstance(node.get(last), dict):
        for k, v in value.items():
            _put(node[last], [k], v)
    else:
        node[last] = dict(value) if isinstance(value, Mapping) else value


# ---- comparing ---------------------------------------------------------------------------------

def compare(actual: Any, expected: Any, path: str = "") -> tuple[int, int, list[Mismatch]]:
    """(matching leaves, leaves, mismatches) of ``actual`` against the spec value ``expected``."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return 0, leaves(expected), [Mismatch(path, "an object with " + _keys(expected), actual)]
        hits, total, found = 0, 0, []
        for key, want in expected.items():
            h, t, bad = compare(actual.get(key, MISSING), want, f"{path}.{key}" if path else str(key))
            hits += h
            total += t
            found.extend(bad)
        return hits, total or 1, found
    if isinstance(expected, list | tuple) and not isinstance(expected, str):
        if not isinstance(actual, list) or len(actual) != len(expected):
            size = f"a list of {len(expected)}" if not expected else f"{_short(list(expected))}"
            return 0, 1, [Mismatch(path, size, actual)]
        hits, found = 0, []
        for index, (a, want) in enumerate(zip(actual, expected, strict=True)):
            h, _, bad = compare(a, want, f"{path}[{index}]")
            hits += h
            found.extend(bad)
        return (1, 1, []) if not found else (0, 1, found)
    bad = _leaf(actual, expected, path)
    return (0, 1, [bad]) if bad else (1, 1, [])


def _leaf(actual: Any, expected: Any, path: str) -> Mismatch | None:
    if isinstance(expected, Matcher):
        return None if expected.check(actual) else Mismatch(path, expected.label, actual)
    if isinstance(expected, re.Pattern):
        if isinstance(actual, str) and expected.search(actual):
            return None
        return Mismatch(path, f"a string matching /{expected.pattern}/", actual)
    if isinstance(expected, type):
        ok = isinstance(actual, expected) and not (expected in (int, float) and isinstance(actual, bool))
        return None if ok else Mismatch(path, f"a {expected.__name__}", actual)
    if callable(expected):
        label = predicate_label(expected)
        if actual is MISSING:
            return Mismatch(path, f"a value for which {label} holds", actual)
        try:
            result = expected(actual)
        except Exception as exc:  # a predicate that blows up is a miss, explained
            return Mismatch(path, f"a value for which {label} holds", actual, f"raised {type(exc).__name__}: {exc}")
        return None if result else Mismatch(path, f"a value for which {label} holds", actual, "returned False")
    if actual is not MISSING and _equal(actual, expected):
        return None
    return Mismatch(path, _short(expected), actual)


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    return bool(actual == expected)


def leaves(expected: Any) -> int:
    if isinstance(expected, Mapping):
        return sum(leaves(v) for v in expected.values()) or 1
    return 1


def matches(record: Record, spec: Mapping[str, Any]) -> bool:
    """True when the record satisfies every field of the spec."""
    return not compare(record, spec)[2]


def select(records: Iterable[Record], spec: Mapping[str, Any]) -> list[Record]:
    return [r for r in records if matches(r, spec)]


# ---- explaining -------------------------------------------------------------------------------

def near_misses(records: Iterable[Record], spec: Mapping[str, Any], limit: int = NEAR_MISSES
                ) -> list[tuple[Record, int, int, list[Mismatch]]]:
    """The records closest to the spec: most matching fields first, then the latest."""
    scored = []
    for record in records:
        hits, total, bad = compare(record, spec)
        if bad:
            scored.append((record, hits, total, bad))
    scored.sort(key=lambda s: (-s[1], -_seq(s[0])))
    return scored[:limit]


def explain_near_misses(records: list[Record], spec: Mapping[str, Any], limit: int = NEAR_MISSES,
                        indent: str = "  ") -> str:
    """Readable lines: each close record, how many fields matched, and what differed."""
    closest = near_misses(records, spec, limit)
    if not closest:
        return f"{indent}(no captured messages to compare)"
    lines: list[str] = []
    for record, hits, total, bad in closest:
        lines.append(f"{indent}{describe(record)}  [{hits} of {total} field{'s' if total != 1 else ''} match]")
        for mismatch in bad[:MAX_FIELDS_SHOWN]:
            lines.append(f"{indent}    {mismatch}")
        if len(bad) > MAX_FIELDS_SHOWN:
            lines.append(f"{indent}    ... and {len(bad) - MAX_FIELDS_SHOWN} more")
    return "\n".join(lines)


def describe_spec(spec: Mapping[str, Any]) -> str:
    """``type='track', event='Signed Up', properties.plan='premium'``: the spec as flat fields."""
    flat = list(_flatten(spec))
    return ", ".join(f"{path}={_label(value)}" for path, value in flat) or "any message"


def _flatten(spec: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in spec.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, path)
        else:
            yield path, value


def _label(value: Any) -> str:
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    if isinstance(value, Matcher):
        return value.label
    if isinstance(value, type):
        return f"<{value.__name__}>"
    if callable(value):
        label = predicate_label(value)
        return label if label.startswith("<") else f"<{label}>"
    return _short(value)


def predicate_label(fn: Callable[..., Any]) -> str:
    """A lambda's own source text when it can be found (``lambda p: p > 10``), else its name."""
    name = getattr(fn, "__name__", type(fn).__name__)
    if name != "<lambda>":
        return name
    try:
        lines, _ = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return "<lambda>"
    text = " ".join(line.strip() for line in lines)[:600]
    code = fn.__code__  # type: ignore[attr-defined]
    args = list(code.co_varnames[: code.co_argcount])
    for start in [m.start() for m in re.finditer(r"\blambda\b", text)]:
        for end in range(len(text), start, -1):
            try:
                node = ast.parse(text[start:end], mode="eval").body
            except SyntaxError:
                continue
            if isinstance(node, ast.Lambda) and [a.arg for a in node.args.args] == args:
                return text[start:end].strip()
    return "<lambda>"


def _keys(expected: Mapping[str, Any]) -> str:
    return ", ".join(map(str, expected)) or "any keys"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seq(record: Record) -> int:
    seq = record.get("_meta", {}).get("seq") if isinstance(record.get("_meta"), dict) else None
    return seq if isinstance(seq, int) else 0


class MeasuredDifference(AssertionError):
    """The measurement a ``differs`` mark (or a profile's ``[differs]`` table) names was made, and the library
    behaves otherwise than the claim. The only failure a ``differs`` xfail accepts: a WaitTimeout, a bug in
    the test or any other AssertionError is a real failure."""


def measured(condition: object, what: str) -> None:
    """The point of measurement of a claim a library may differ on: raise :class:`MeasuredDifference`
    (``what``: what was measured, with the values seen) when ``condition`` is false.

    ``measured(stored == (anon, anon), f"(cookie, localStorage) = {stored}")`` in a test marked
    ``@pytest.mark.differs("lib", reason=...)`` is a known difference of ``lib`` only because that comparison failed.
    """
    __tracebackhide__ = True
    if not condition:
        raise MeasuredDifference(what)
