"""The slice: a real server serves a page, a real Chromium loads it, a real beacon lands in the store."""

from __future__ import annotations


def test_page_view_reaches_the_store(new_device, beacons) -> None:
    """Visiting the home page sends a page call that the collector stores in SQLite."""
    device = new_device("desktop")
    device.land()
    page = beacons.one(type="page")
    assert page["context"]["page"]["path"] == "/"
    assert page["anonymousId"] == device.anonymous_id()
    assert page["_meta"]["device"], "the harness device cookie travels with the beacon"
