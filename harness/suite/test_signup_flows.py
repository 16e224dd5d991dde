"""Seed 000: 'Missing sign-ups', measured in a real browser for the selected library.

The seeds' claims, not one library's cells: a redirect right after the calls *can* lose them (some
submit moment and delivery the library offers loses them), the welcome-page fix loses none, and so
does every delivery mode the profile declares unload-safe. tests/repro runs the full experiment.
"""

from __future__ import annotations

import pytest

from harness.testing.capture import Beacons
from harness.testing.device import Device

pytestmark = pytest.mark.shop(reason="the shop's sign-up flows and delivery modes; on your own site "
                                     "`harness repro signup-loss --site-url` measures the loss")

SETTLE_S = 1.0  # after a call made on the destination page arrived: the sign-up had every chance by then
SLOW_CDN = {"script_delay_ms": 300}  # holds the library (every script, chunk, settings) so calls queue in the stub


def submit_signup(device: Device, flow: str, uid: str, delivery: str | None = None, early: bool = False,
                  harness_server=None) -> None:
    """Open /signup, submit (``early``: at DOMContentLoaded, while a slow CDN still holds the library), follow."""
    query = f"flow={flow}&uid={uid}" + (f"&delivery={delivery}" if delivery else "")
    if early:
        harness_server.faults.configure(SLOW_CDN)
        device.visit(f"/signup?{query}", wait_ready=False, wait_until="domcontentloaded")
        assert device.library_pending(), "the library loaded before the early submit: nothing would be queued"
    else:
        device.visit(f"/signup?{query}")
    device.tab.click("#signup-submit")
    device.tab.wait_for_url("**/?signed_up=1" if flow in ("js-redirect", "form-post") else "**/welcome?**")
    if harness_server is not None:
        harness_server.faults.clear()
    device.ready()


def arrived(device: Device, beacons: Beacons, uid: str, hold_ms: int) -> bool:
    """Did identify and "Signed Up" arrive? Decided once a later call from the destination page was stored."""
    device.track("Settled", {"uid": uid})
    beacons.one(event="Settled", timeout=5 + hold_ms / 1000)  # the collector was reachable all along
    try:
        beacons.wait_for(type="identify", userId=uid, timeout=SETTLE_S + hold_ms / 1000)
        beacons.wait_for(event="Signed Up", userId=uid, timeout=SETTLE_S)
    except AssertionError:
        return False
    return True


@pytest.mark.claims("C23")
def test_redirect_right_after_the_calls_can_lose_the_sign_up(new_device, beacons, harness_server) -> None:
    """C23: identify + "Signed Up" then an immediate redirect: for this library, some submit moment and delivery
    mode loses the sign-up, although the next page's calls (and a later call) do arrive."""
    profile = harness_server.profile
    modes = [profile.default_delivery] + [m for m in profile.delivery_modes if m != profile.default_delivery]
    tried: list[str] = []
    for mode in modes:
        hold = profile.mode(mode).hold_ms if profile.mode(mode) else 0
        for early in (True, False):
            device = new_device("desktop")
            uid = f"lost{len(tried):09d}"
            submit_signup(device, "js-redirect", uid, mode, early, harness_server)
            lost = not arrived(device, beacons, uid, hold)
            tried.append(f"{mode or 'default'}/{'early' if early else 'ready'}: {'lost' if lost else 'delivered'}")
            if lost:
                beacons.one(type="page", context__page__path="/", timeout=5)  # the next page's own call did arrive
                print(f"{profile.library}: {'; '.join(tried)}")
                return
    pytest.fail(f"no lost sign-up with {profile.library}: {'; '.join(tried)}")


@pytest.mark.claims("C23")
def test_welcome_page_loses_nothing(desktop, beacons) -> None:
    """C23: the seeds' fix: the server redirects to a welcome page, which makes the calls; none is lost."""
    submit_signup(desktop, "welcome-page", "safewelcome01")
    beacons.one(type="identify", userId="safewelcome01", timeout=10)
    beacons.one(event="Signed Up", userId="safewelcome01", timeout=10)
    assert len(beacons.all(event="Signed Up", userId="safewelcome01")) == 1, "stored exactly once"


@pytest.mark.claims("C23")
def test_unload_safe_delivery_loses_nothing(desktop, beacons, unload_safe_mode: str) -> None:
    """C23: a delivery mode the profile declares unload-safe keeps a js-redirect sign-up (stored once)."""
    uid = f"safe{unload_safe_mode[:9]}"
    submit_signup(desktop, "js-redirect", uid, unload_safe_mode)
    beacons.one(type="identify", userId=uid, timeout=10)
    beacons.one(event="Signed Up", userId=uid, timeout=10)
    assert len(beacons.all(event="Signed Up", userId=uid)) == 1, "stored exactly once"


@pytest.mark.claims("C23")
@pytest.mark.library("intilery", reason="uses static/intilery.js's delivery=batch option")
def test_batch_mode_redirect_always_loses_the_sign_up(desktop, beacons) -> None:
    """C23, deterministic: intilery's in-memory batch never flushes before the page leaves."""
    submit_signup(desktop, "js-redirect", "lost0000001", "batch")
    home = beacons.one(type="page", context__page__path="/")  # the next page's calls do arrive...
    assert home["userId"] == "lost0000001", "the identity was saved locally before the page left"
    desktop.track("Settled")  # ...and a later call is delivered too, so the sign-up had its chance
    beacons.one(event="Settled", timeout=5)
    assert not beacons.all(type="identify"), "identify died with the page"
    assert not beacons.all(event="Signed Up"), "Signed Up died with the page: a missing sign-up"


@pytest.mark.claims("C23")
def test_lost_sign_up_is_flagged_by_lint(desktop, beacons) -> None:
    """C23: when only part of a sign-up arrives, lint reports the missing half."""
    desktop.visit("/signup?flow=welcome-page")
    desktop.identify("a1b2c3d4e5f60", {"email": "x@example.com"})  # identify on the sign-up page, no Signed Up
    beacons.one(type="identify")
    assert [f for f in beacons.lint() if f.claim == "C23"], f"lint: {[f.rule for f in beacons.lint()]}"
