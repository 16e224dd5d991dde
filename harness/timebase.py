"""The harness's own idea of "now": real time, or real time shifted so that it starts at a pinned instant.

Three clocks meet in a run, and this module is the one the *server side* reads:

- the **harness clock** (this module): the collector's ``receivedAt``, the server-side library's
  ``timestamp`` and the analysis "now". Real time by default; ``HARNESS_START_TIME`` (or
  ``pytest --harness-start-time``, or :func:`pin`) shifts it so that it reads the pinned instant
  at the moment it is pinned and then runs on at the real rate;
- each **device clock** (:mod:`harness.testing.device`): what pages see through ``Date``; starts at the
  same pinned instant and moves further with ``Device.advance``;
- the **wall clock**: Chromium's cookie jar and the operating system. Nothing in a test reads it;
  the device's time machine translates cookie expiries between it and the device clock.

Durations (latencies, timeouts) use monotonic or real time and are unaffected by any of this.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

START_ENV = "HARNESS_START_TIME"

_lock = threading.Lock()
_skew = timedelta(0)


class BadInstant(ValueError):
    """A start instant that is not ISO-8601 with a time zone; the message says what was given."""


def parse_instant(text: str) -> datetime:
    """``2026-11-28T23:30:00Z`` (or any ISO-8601 with an offset) -> an aware UTC datetime.

    A naive time is refused: "23:30" means a different instant in every time zone.
    """
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in "zZ" and raw else raw)
    except ValueError:
        raise BadInstant(f"start time {text!r} is not ISO-8601 (e.g. 2026-11-28T23:30:00Z)") from None
    if parsed.tzinfo is None:
        raise BadInstant(f"start time {text!r} has no time zone; add Z or an offset such as +01:00")
    return parsed.astimezone(UTC)


def pin(start: datetime | None) -> None:
    """Make the harness clock read ``start`` now (None: back to real time)."""
    global _skew
    with _lock:
        _skew = timedelta(0) if start is None else start.astimezone(UTC) - datetime.now(UTC)


def skew() -> timedelta:
    """How far the harness clock is ahead of real time (negative when pinned in the past)."""
    with _lock:
        return _skew


def now() -> datetime:
    """The harness clock's now (aware, UTC)."""
    return datetime.now(UTC) + skew()


def iso(moment: datetime) -> str:
    """The analytics.js timestamp format: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(now())


