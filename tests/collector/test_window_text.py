"""Issue 20: the store's memory window keeps each beacon as its stored JSON and decodes it when read.

A read from the window must give what a read from SQLite gives (``from_json``) and what was stored,
whatever the values: 64-bit+ integers (orjson would make floats of them), lone surrogates (orjson
refuses them), floats, non-ASCII text. Reads past the window (SQL) and from it must agree.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.collecting.store import BeaconStore, from_json, from_json_fast, to_json

EXPLORE = bool(os.environ.get("HARNESS_EXPLORE"))

odd_text = st.text(max_size=8) | st.sampled_from(["\ud800", "a\udfff b", "é", "\x7f", "\u2028", "0" * 25])
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 5, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | odd_text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
                      max_leaves=12)


@settings(max_examples=300, deadline=None, derandomize=not EXPLORE)
@given(value=values)
def test_from_json_fast_reads_what_from_json_reads(value: Any) -> None:
    text = to_json(value)
    assert repr(from_json_fast(text)) == repr(from_json(text))


@settings(max_examples=60, deadline=None, derandomize=not EXPLORE)
@given(props=st.lists(st.dictionaries(odd_text, values, max_size=4), min_size=1, max_size=6))
def test_the_window_reads_what_was_stored(props: list[dict[str, Any]]) -> None:
    store = BeaconStore(memory_limit=3)  # some records in the window, the rest only in SQLite
    records = [{"type": "track", "event": "E", "anonymousId": "a", "messageId": str(uuid.uuid4()), "properties": p}
               for p in props]
    store.add([dict(r) for r in records])
    from_window = store.query(since=max(0, len(records) - 3))  # the window covers these
    everything = store.query()  # from SQLite when the window does not hold them all
    assert repr(everything[-len(from_window):]) == repr(from_window)
    for stored, given_record in zip(everything, records, strict=True):
        assert repr({k: v for k, v in stored.items() if k != "_meta"}) == repr(given_record)
    store.close()


def test_window_reads_are_fresh_copies(tmp_path: Path) -> None:
    """A caller that edits a record it read changes nothing another reader sees."""
    store = BeaconStore(str(tmp_path / "s.sqlite"))
    store.add([{"type": "track", "event": "E", "anonymousId": "a", "messageId": "m1"}])
    first = store.query()[0]
    first["event"] = "changed"
    assert store.query()[0]["event"] == "E"
    assert store.recent(1)[0][0]["event"] == "E"
    store.close()


filter_values = st.sampled_from(["E", "F", "é", "a\"b", "\ud800", "1", "", "track"]) | st.integers(0, 2) | st.booleans()


@settings(max_examples=150, deadline=None, derandomize=not EXPLORE)
@given(events=st.lists(st.tuples(filter_values, filter_values), min_size=1, max_size=8),
       want=st.tuples(st.none() | filter_values, st.none() | filter_values))
def test_window_filters_match_what_sqlite_reads_match(events: list[tuple[Any, Any]], want: tuple[Any, Any]) -> None:
    """The window skips records whose text lacks a wanted string; it must find exactly what a full scan finds."""
    window = BeaconStore()  # every record in the memory window
    past = BeaconStore(memory_limit=1)  # every read past the window: SQL, or rows checked one by one
    for store in (window, past):
        store.add([{"type": "track", "event": e, "anonymousId": "a", "messageId": f"m{i}", "properties": {"p": p}}
                   for i, (e, p) in enumerate(events)])
    event, prop = want
    filters = {} if prop is None else {"properties__p": prop}
    got = window.page(event=event, **filters)
    assert repr(got) == repr(past.page(event=event, **filters))
    window.close()
    past.close()
