"""Fault injection: the collector answers with a status, delays replies or drops connections; the
library's own files (every script, asset and settings document the snippet loads) can be slowed,
failed or dropped too (``script_delay_ms``, ``script_status``, ``script_drop``), whichever library
the profile embeds.

Set through ``POST /api/faults`` (or directly by tests and the repro), consumed per request.
Thread-safe because tests set faults from the pytest thread while the server runs in its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class FaultAction:
    """What to do to one collector request."""

    status: int | None = None
    drop: bool = False
    delay_ms: int = 0


class Faults:
    """Counters of pending faults. ``count=None`` means 'until cleared'."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.status: int | None = None
            self.status_count: int | None = 0
            self.drop_count: int | None = 0
            self.delay_ms = 0
            self.delay_count: int | None = None
            self.script_delay_ms = 0
            self.script_status: int | None = None
            self.script_status_count: int | None = 0
            self.script_drop_count: int | None = 0
            self.applied = 0

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a /api/faults body; raises ValueError with a readable reason on bad input.

        Everything is checked before anything changes, so a rejected body leaves the faults as they were.
        """
        known = {"status", "count", "delay_ms", "drop", "script_delay_ms", "script_status", "script_drop"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(map(str, unknown)))}; "
                             f"known: {', '.join(sorted(known))}")
        if not set(spec) & (known - {"count"}):
            raise ValueError("say what to inject: 'status', 'drop', 'delay_ms', 'script_delay_ms', "
                             "'script_status' or 'script_drop'")
        count = spec.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise ValueError("'count' must be a non-negative integer or null (until cleared)")
        for prefix in ("", "script_"):
            status = spec.get(f"{prefix}status")
            if f"{prefix}status" in spec and (not isinstance(status, int) or isinstance(status, bool)
                                              or not 100 <= status <= 599):
                raise ValueError(f"'{prefix}status' must be an HTTP status code (100-599)")
            if f"{prefix}drop" in spec and not isinstance(spec[f"{prefix}drop"], bool):
                raise ValueError(f"'{prefix}drop' must be true or false")
            if spec.get(f"{prefix}drop") and f"{prefix}status" in spec:
                raise ValueError(f"give '{prefix}drop' or '{prefix}status', not both")
        status = spec.get("status")
        for key in ("delay_ms", "script_delay_ms"):
            value = spec.get(key)
            if key in spec and (not isinstance(value, int | float) or isinstance(value, bool)
                                or not 0 <= value <= 60_000):
                raise ValueError(f"'{key}' must be a number of milliseconds between 0 and 60000")
        with self._lock:
            if "status" in spec:
                self.status, self.status_count = status, count
            if "drop" in spec:
                self.drop_count = count if spec["drop"] else 0
            for key in ("delay_ms", "script_delay_ms"):
                if key in spec:
                    setattr(self, key, int(spec[key]))
            if "delay_ms" in spec:
                self.delay_count = count if "status" not in spec and not spec.get("drop") else None
            if "script_status" in spec:
                self.script_status, self.script_status_count = spec["script_status"], count
            if "script_drop" in spec:
                self.script_drop_count = count if spec["script_drop"] else 0

    def take(self) -> FaultAction:
        """Consume one request's worth of faults."""
        with self._lock:
            action = FaultAction(delay_ms=self.delay_ms if self.delay_count != 0 else 0)
            if self.delay_ms and self.delay_count:
                self.delay_count -= 1
            return self._drop_or_status(action, "")

    def take_script(self) -> FaultAction:
        """Consume one library-file request's worth of faults (scripts, assets, settings documents)."""
        with self._lock:
            return self._drop_or_status(FaultAction(delay_ms=self.script_delay_ms), "script_")

    def _drop_or_status(self, action: FaultAction, prefix: str) -> FaultAction:
        """Under the lock: a drop, else a status, from the collector's (``""``) or the library files' (``"script_"``)
        settings, each counted down when limited; the action counts as applied if it does anything."""
        drops = getattr(self, f"{prefix}drop_count")
        statuses = getattr(self, f"{prefix}status_count")
        if drops is None or drops > 0:
            action.drop = True
            if drops:
                setattr(self, f"{prefix}drop_count", drops - 1)
        elif getattr(self, f"{prefix}status") is not None and (statuses is None or statuses > 0):
            action.status = getattr(self, f"{prefix}status")
            if statuses:
                setattr(self, f"{prefix}status_count", statuses - 1)
        if action.drop or action.status or action.delay_ms:
            self.applied += 1
        return action

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "status": self.status if self.status_count != 0 else None,
                "status_count": self.status_count,
                "drop_count": self.drop_count,
                "delay_ms": self.delay_ms,
                "delay_count": self.delay_count,
                "script_delay_ms": self.script_delay_ms,
                "script_status": self.script_status if self.script_status_count != 0 else None,
                "script_status_count": self.script_status_count,
                "script_drop_count": self.script_drop_count,
                "applied": self.applied,
            }
