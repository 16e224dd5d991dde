"""The harness clock and start instants: parsing refuses what would be ambiguous, pinning shifts 'now'."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from harness import timebase


def test_an_instant_with_z_or_an_offset_is_read_as_utc() -> None:
    assert timebase.parse_instant("2026-11-28T23:30:00Z") == datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert timebase.parse_instant("2027-03-14T01:30:00-05:00") == datetime(2027, 3, 14, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-11-28T23:30:00", "tomorrow", "", "2026-13-01T00:00:00Z"])
def test_a_naive_or_unreadable_instant_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(timebase.BadInstant, match="start time"):
        timebase.parse_instant(text)


def test_pinning_moves_the_harness_clock_and_unpinning_restores_real_time() -> None:
    start = datetime(2028, 2, 28, 23, 0, tzinfo=UTC)
    try:
        timebase.pin(start)
        assert abs(timebase.now() - start) < timedelta(seconds=5)
        assert timebase.now_iso().startswith("2028-02-28T23:0")
    finally:
        timebase.pin(None)
    assert abs(timebase.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_a_bad_start_time_is_one_usage_line_not_an_error_per_test() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "--harness-start-time", "yesterday", "-p", "no:xdist",
                           "--collect-only", "-q", "tests/unit/test_timebase.py"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--harness-start-time: start time 'yesterday' is not ISO-8601" in done.stderr
    assert done.stderr.count("\n") <= 3, done.stderr
