"""The identity timeline: seed 000 scenario #3 made by two real browsers, drawn as one person.

Also produces the README's picture: ``HARNESS_INSPECTOR_SCREENSHOT=docs/inspector.png
pytest tests/inspector -k scenario_3`` writes the screenshot there (otherwise to a temp dir).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from inspector_helpers import open_inspector
from playwright.sync_api import expect

USER_ID = "97980cfea0067"


def shop(device, product: str) -> None:
    """Browse to a product and add it to the cart (page + track "Product Added")."""
    device.visit(f"/products/{product}")
    device.tab.click("#add-to-cart")


def log_in(device, beacons, user_id: str = USER_ID) -> None:
    """The sample site's login form; the account page then calls identify."""
    before = len(beacons.all(type="identify", anonymousId=device.anonymous_id()))
    device.visit("/login")
    device.tab.fill("#login-uid", user_id)
    device.tab.click("#login-submit")
    device.tab.wait_for_url("**/account?login=1")
    beacons.wait_for(type="identify", count=before + 1, anonymousId=device.anonymous_id(), userId=user_id)


@pytest.mark.clock
def test_scenario_3_two_devices_one_person(new_device, page, harness_server, beacons, tmp_path) -> None:
    desktop = new_device("desktop", name="desktop")
    phone = new_device("mobile", name="phone")

    # Day 1: browsing anonymously on the desktop.
    desktop.visit("/")
    shop(desktop, "p1")
    # Day 2: the same person, anonymously, on a phone.
    phone.advance(days=1, hours=3)
    phone.visit("/")
    shop(phone, "p3")
    phone.visit("/cart")
    # Day 3: logs in on the desktop and completes the profile.
    desktop.advance(days=2)
    log_in(desktop, beacons)
    desktop.tab.fill("input[name=name]", "Peter Gibbons")
    desktop.tab.fill("input[name=plan]", "premium")
    desktop.tab.click("#account-save")
    desktop.tab.wait_for_url("**/account?updated=1")
    beacons.wait_for(type="identify", count=2, userId=USER_ID)
    shop(desktop, "p4")
    # Day 4: logs in on the phone too, and buys.
    phone.advance(days=2)
    log_in(phone, beacons)
    phone.visit("/checkout/complete")
    beacons.wait_for(event="Order Completed")
    beacons.wait_for(event="Product Added", count=3)
    identifies = beacons.all(type="identify")
    assert len({b["anonymousId"] for b in identifies}) == 2

    page.set_viewport_size({"width": 1400, "height": 900})
    inspector = open_inspector(page, harness_server.base_url)
    timeline = page.locator("#timeline")
    expect(timeline.locator("g.person")).to_have_count(1)  # two devices, one person
    lanes = timeline.locator(".lane-label")
    expect(lanes).to_have_count(2)
    expect(lanes.nth(0)).to_contain_text(f"desktop · {desktop.anonymous_id()[:8]}")
    expect(lanes.nth(1)).to_contain_text(f"phone · {phone.anonymous_id()[:8]}")
    expect(timeline.locator("path.link:not(.implicit)")).to_have_count(len(identifies))  # identify joins lanes
    expect(timeline.locator(".person-title")).to_contain_text(USER_ID)
    expect(timeline.locator(".mark")).to_have_count(len(beacons.all()))
    expect(page.locator("#mtu")).to_contain_text("MTU 1 (would be 2 without identify)")

    # A mark opens its beacon: the phone's identify, the call that joined its lane.
    phone_identify = next(b for b in identifies if b["anonymousId"] == phone.anonymous_id())
    timeline.locator(f'.mark[data-message-id="{phone_identify["messageId"]}"]').click()
    expect(page.locator("#detail-facts")).to_contain_text(phone_identify["messageId"])
    expect(page.locator("#beacon-rows tr.selected")).to_contain_text("identify")

    target = Path(os.environ.get("HARNESS_INSPECTOR_SCREENSHOT") or tmp_path / "inspector.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    inspector.assert_clean()


@pytest.mark.clock
def test_scenario_2_phone_stays_its_own_anonymous_profile(new_device, page, harness_server, beacons) -> None:
    desktop = new_device("desktop", name="desktop")
    phone = new_device("mobile", name="phone")
    desktop.visit("/")
    phone.visit("/")
    log_in(desktop, beacons)
    phone.visit("/products/p2")
    beacons.wait_for(type="page", count=4)

    inspector = open_inspector(page, harness_server.base_url)
    people = page.locator("#timeline g.person")
    expect(people).to_have_count(2)
    expect(page.locator("#timeline g.person.anonymous .person-title")).to_contain_text("anonymous visitor")
    expect(page.locator("#timeline g.person.identified .lane-label")).to_have_count(1)
    expect(page.locator("#mtu")).to_contain_text("MTU 2 (would be 2 without identify)")
    inspector.assert_clean()
