"""Issue 20: validation's fast paths give exactly the reasons the full checks gave.

``beacon.time_error`` skips ``datetime.fromisoformat`` unless a time starts with year 0001 or 9999 (or
whitespace): only those can overflow once converted to UTC. Hypothesis compares it with the full check
(``time_error_full``, the code before issue 20), over ISO-looking text around the calendar's edges, offsets, whitespace,
other digits and junk.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.collecting.beacon import time_error, time_error_full

EXPLORE = bool(os.environ.get("HARNESS_EXPLORE"))


years = st.sampled_from(["0000", "0001", "0002", "9998", "9999", "2026", "٠٠٠١", "0001 ", "+001"])
dates = st.sampled_from(["-01-01", "-12-31", "0101", "1231", "-W01-1", "-001", "-366", "-13-01", ""])
clock = st.sampled_from(["", "T00:00:00", "T23:59:59.999", "T00:00", " 12:00:00.123456", "T24:00:00"])
zones = st.sampled_from(["", "Z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59:59.999999", "+2400", "z"])
pad = st.sampled_from(["", " ", "\t", "\u2003", "\n"])
iso_like = st.builds(lambda a, y, d, c, z, b: a + y + d + c + z + b, pad, years, dates, clock, zones, pad)


@settings(max_examples=2000, deadline=None, derandomize=not EXPLORE)
@given(value=iso_like | st.text(max_size=30) | st.integers() | st.none())
@example(value="0001-01-01T00:00:00+01:00")
@example(value="9999-12-31T23:59:59-01:00")
@example(value=" 0001-01-01T00:00:00+01:00")
def test_time_error_gives_the_reference_reason(value: Any) -> None:
    assert time_error("timestamp", value) == time_error_full("timestamp", value)


def test_the_edges_are_still_refused() -> None:
    assert time_error("sentAt", "0001-01-01T00:00:00+01:00") is not None
    assert time_error("sentAt", "\t9999-12-31T23:30:00-01:00") is not None
    assert time_error("sentAt", "2026-11-28T17:48:34.000Z") is None
