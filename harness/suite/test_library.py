"""Properties of our own library (static/intilery.js) that the conformance claims rely on."""

from __future__ import annotations

import gzip

import pytest

from harness.resources import STATIC_DIR
from harness.server import HarnessServer
from harness.testing.device import Device

SITE_PAGES = ["/", "/products/p1", "/cart", "/signup", "/signup?flow=js-redirect", "/welcome", "/login",
              "/logout", "/checkout/complete", "/offer"]


# These tests are about static/intilery.js itself (its size, globals, argument checks, persist outbox),
# not the analytics.js conformance claims.
pytestmark = pytest.mark.library("intilery", reason="properties of static/intilery.js itself")


def test_library_is_small() -> None:
    """Issue 3: static/intilery.js gzipped (-9) is at most 6 KB."""
    size = len(gzip.compress((STATIC_DIR / "intilery.js").read_bytes(), compresslevel=9))
    assert size <= 6 * 1024, f"gzipped library is {size} bytes"


def test_no_console_errors_on_any_site_page(desktop, beacons) -> None:
    """Every page of the sample site loads the snippet without a console error or page exception."""
    for path in SITE_PAGES:
        desktop.visit(path)
    assert desktop.console_errors == [], desktop.console_errors


def test_only_global_is_analytics(new_context, desktop, beacons) -> None:
    """The library adds no global other than `analytics` (compared with the same page without it)."""
    with HarnessServer(snippet="none") as bare:  # same device clock as desktop: only the library differs
        plain = Device(new_context(), bare.base_url, bare.profile, start=desktop.now() if desktop.skew else None)
        plain.visit("/", wait_ready=False)
        baseline = set(plain.tab.evaluate("Object.keys(window)"))
    desktop.visit("/")
    added = set(desktop.tab.evaluate("Object.keys(window)")) - baseline
    assert added == {"analytics"}, f"unexpected globals: {sorted(added)}"


@pytest.mark.parametrize("call", [
    "analytics.track()", "analytics.track(null, 5)", "analytics.identify({}, 'x', 7)", "analytics.group()",
    "analytics.page(1, 2, 3, 4)", "analytics.alias()", "analytics.user().traits(42)",
])
def test_bad_arguments_never_throw_into_the_page(desktop, beacons, call: str) -> None:
    """Bad arguments log a warning and send nothing invalid; no exception reaches the host page."""
    desktop.visit("/")
    beacons.one(type="page")
    error = desktop.tab.evaluate(f"() => {{ try {{ {call}; return null; }} catch (e) {{ return String(e); }} }}")
    assert error is None, f"{call} threw {error}"
    desktop.track("Still Working")
    beacons.one(event="Still Working")
    assert beacons.bad() == [], f"{call} reached the collector as an invalid message: {beacons.bad()}"


@pytest.mark.claims("C23")
def test_persist_delivers_through_503s_and_dropped_connections(desktop, beacons, harness_server) -> None:
    """persist mode: with the collector answering 503, then dropping connections, every message is
    delivered once it recovers — and stored exactly once each."""
    desktop.visit("/?delivery=persist")
    beacons.one(type="page")
    harness_server.faults.configure({"status": 503, "count": 3})
    for i in range(5):
        desktop.track(f"Through Faults {i}")
    harness_server.faults.configure({"drop": True, "count": 2})
    desktop.track("After Drops")
    desktop.visit("/cart")  # the outbox is flushed on every load as well
    events = [f"Through Faults {i}" for i in range(5)] + ["After Drops"]
    for event in events:
        beacons.one(event=event, timeout=20)
    for event in events:
        assert len(beacons.all(event=event)) == 1, f"{event} stored more than once"
    assert harness_server.faults.to_dict()["applied"] >= 5, "the faults really happened"
    beacons.one(type="page", context__page__path="/cart", timeout=20)
    desktop.tab.wait_for_function("() => JSON.parse(localStorage.getItem('intilery_outbox') || '[]').length === 0")
