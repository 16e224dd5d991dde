"""Issue 20: the orjson fast path accepts, refuses and reads exactly what the standard-library path does.

``beacon.parse_json`` (orjson, falling back to the standard library) against ``beacon.parse_json_stdlib``
(the reference, the code before issue 20): the same accept/refuse, the same reason and status, and where
both accept the same value -- compared by repr(), so int vs float, -0.0, key order and duplicate keys
count. ``store.to_json_fast`` against ``store.to_json``: the same stored text, character for character.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.collecting.beacon import MAX_DEPTH, Rejected, parse_json, parse_json_stdlib
from harness.collecting.store import to_json, to_json_fast

EDGES = [
    "NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "1e-999", "-0", "-0.0", "0.0", "1.0",
    "1e-5", "1e-7", "1e16", "5e-324", "1.7976931348623157e308", "9223372036854775807", "9223372036854775808",
    "18446744073709551615", "18446744073709551616", "-9223372036854775809", "1" * 40, "1" * 5000,
    '"\\ud800"', '"\\udc00"', '"\\ud83d\\ude00"', '"\\ud83d"', '"\\u0000"', '"\x7f"', '"\u00e9"', '"\x01"',
    '"\\/"', "true", "false", "null", "01", "1.", ".5", "+1", "0x10", "'a'", '"a', "[1,]", '{"a":1,}',
    "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[" * MAX_DEPTH + "]" * MAX_DEPTH, "[" * 2000 + "]" * 2000,
]
WRAPS = ["{}", '{"k": {}}', "[{}]", '{"batch": [{}]}', "{}  ", " \t\r\n{}", "{}x", "{}\x0c", "\x0c{}",
         "\ufeff{}", "{}\ufeff", '{"a": {}, "a": 2}', '{"a": 1, "b": {}, "a": {}}']
BYTE_EDGES = [b"", b" ", b"\x0b", b"\xef\xbb\xbf", b"\xef\xbb\xbf{}", b"\xed\xa0\x80", b'"\xed\xa0\x80"', b'"\xff"',
              b'"\xc3"', b'{"a":"\xf0\x9f\x98\x80"}', b"\x00", b'{"a":1}\x00']


def outcome(parse: Any, raw: bytes) -> tuple[Any, ...]:
    try:
        value = parse(raw)
    except Rejected as exc:
        return ("rejected", exc.reason, exc.status)
    return ("accepted", repr(value))


def same(raw: bytes) -> None:
    assert outcome(parse_json, raw) == outcome(parse_json_stdlib, raw), raw[:200]


scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text() | st.sampled_from(EDGES))
keys = st.sampled_from(["a", "b", "type", "userId", "\u00e9", "\\ud800", ""]) | st.text(max_size=5)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """JSON text written by hand, so it can hold what json.dumps never writes (duplicate keys, NaN, ...)."""
    def render(depth: int) -> str:
        kind = draw(st.integers(0, 3 if depth < 4 else 0))
        if kind == 0:
            item = draw(scalars)
            if isinstance(item, str) and item in EDGES:
                return item
            return json.dumps(item, ensure_ascii=draw(st.booleans()))
        if kind == 1:
            return "[" + ",".join(render(depth + 1) for _ in range(draw(st.integers(0, 4)))) + "]"
        pairs = [f"{json.dumps(draw(keys))}:{render(depth + 1)}" for _ in range(draw(st.integers(0, 4)))]
        return "{" + ", ".join(pairs) + "}"

    text = render(0)
    wrap = draw(st.sampled_from(["{}", *WRAPS]))
    if draw(st.booleans()):
        text = wrap.replace("{}", text, 1)
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # a byte-level cut or splice
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.sampled_from(BYTE_EDGES)) + raw[cut:]
    return raw


@pytest.mark.parametrize("raw", [e.encode("utf-8", "surrogatepass") for e in EDGES]
                         + [w.encode("utf-8") for w in WRAPS] + BYTE_EDGES)
def test_edge_cases_same_outcome(raw: bytes) -> None:
    same(raw)
    same(b'{"type": "track", "x": ' + raw + b"}")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
@example(b'{"a": 1, "a": 2, "b": 3}')
@example(b'{"n": 18446744073709551616}')
@example(b"\xef\xbb\xbf{}")
def test_random_documents_same_outcome(raw: bytes) -> None:
    same(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_same_outcome(raw: bytes) -> None:
    same(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=600, deadline=None)
@given(json_values)
@example({"a": 1e-5, "b": 1.5e-7, "c": "\x7f\x01\u00e9", "d": 2**64, "e": "\ud800", "f": "9e-4"})
def test_stored_text_is_the_same(value: Any) -> None:
    try:
        expected = to_json(value)
    except ValueError:  # not reachable from parsed JSON; the fast path refuses alike
        with pytest.raises(ValueError):
            to_json_fast(value)
        return
    assert to_json_fast(value) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
@example(b"1e-7")  # a number that is the whole document: found by this search once (json writes 1e-07)
@example(b"-1e-7")
def test_stored_text_of_parsed_documents(raw: bytes) -> None:
    try:
        value = parse_json_stdlib(raw)
    except Rejected:
        return
    assert to_json_fast(value) == to_json(value)
