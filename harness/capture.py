"""The ``beacons`` fixture's object: a test's view of the store, with waits and assertions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.store import BeaconStore, Record, describe


class Beacons:
    """What the browser sent during one test. Waits block on the store's condition variable."""

    def __init__(self, store: BeaconStore, plan: dict[str, Any] | None = None) -> None:
        self.store = store
        self.plan = plan
        self.snapshot_update = False  # set from --snapshot-update by the plugin
        self.test_name = ""

    def wait_for(self, type: str | None = None, event: str | None = None, count: int = 1,
                 timeout: float = 5.0, **filters: Any) -> list[Record]:
        return self.store.wait_for(type, event, count, timeout, **filters)

    def one(self, type: str | None = None, event: str | None = None, timeout: float = 5.0,
            **filters: Any) -> Record:
        """Wait for a matching beacon and return the first one."""
        return self.wait_for(type, event, 1, timeout, **filters)[0]

    def all(self, type: str | None = None, event: str | None = None, **filters: Any) -> list[Record]:
        return self.store.query(type, event, **filters)

    def bad(self) -> list[Record]:
        return self.store.bad()

    def stats(self) -> dict[str, int]:
        return self.store.stats()

    def clear(self) -> None:
        self.store.clear()

    def profiles(self) -> list[Any]:
        from harness.profile import build_profiles

        return build_profiles(self.all())

    def mtu(self) -> dict[str, int]:
        from harness.profile import monthly_tracked_users

        return monthly_tracked_users(self.all())

    def lint(self) -> list[Any]:
        from harness.lint import lint

        return lint(self.all(), self.plan)

    def summary(self) -> str:
        """One line per captured beacon, for failure reports."""
        return "\n".join(describe(r) for r in self.all()) or "(no beacons captured)"

    def dump(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"beacons": self.all(), "bad": self.bad(), "stats": self.stats()}, indent=2))
        return path

    def __len__(self) -> int:
        return len(self.all())
