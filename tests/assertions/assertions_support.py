"""Helpers for the assertion tests (imported by test modules and conftest)."""

from __future__ import annotations

from pathlib import Path

from harness.server import HarnessServer
from harness.testing.capture import Beacons

ROOT = Path(__file__).resolve().parents[2]
SHOP_PLAN = ROOT / "fixtures" / "plans" / "shop.yaml"
STABLE_CONTEXT = {"locale": "en-US", "timezone_id": "UTC"}  # golden payloads must not depend on the machine


def shop_url(server: HarnessServer, sub: str = "www") -> str:
    """The server under a *.shop.test host name (same port, loopback address)."""
    return f"http://{sub}.shop.test:{server.port}"


def captured(server: HarnessServer) -> Beacons:
    """A Beacons view of another server's store, emptied first (what the ``beacons`` fixture does)."""
    server.store.clear()
    server.faults.clear()
    return Beacons(server.store, server.config.tracking_plan)
