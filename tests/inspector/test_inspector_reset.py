"""The inspector's "Reset store" button, and its device count agreeing with the API and the CLI."""

from __future__ import annotations

import json
import urllib.request
import uuid

from inspector_helpers import CHROME_UA, message, open_inspector, post
from playwright.sync_api import expect


def test_reset_store_button_empties_the_store_after_a_confirmation(page, harness_server, beacons) -> None:
    base = harness_server.base_url
    assert post(base, message("track", event="Before Reset")) == 200
    assert post(base, b"not json", path="/v1/track") == 400
    confirmed: list[str] = []
    page.on("dialog", lambda d: (confirmed.append(d.message), d.accept()))  # "OK"
    page.goto(f"{base}/inspector")
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#beacon-rows tr", has_text="Before Reset")).to_be_visible()

    page.click("#reset-store")
    expect(page.locator("#beacon-rows tr")).to_have_count(0)
    expect(page.locator("#beacons-empty")).to_have_text("Waiting for beacons…")
    expect(page.locator("#stats .stat-stored dd")).to_have_text("0")
    assert confirmed and "Delete every captured beacon" in confirmed[0]
    assert beacons.all() == [] and beacons.bad() == []

    assert post(base, message("track", event="After Reset")) == 200  # the stream keeps going
    expect(page.locator("#beacon-rows tr", has_text="After Reset")).to_be_visible()


def test_reset_store_is_cancelled_when_not_confirmed(page, harness_server, beacons) -> None:
    base = harness_server.base_url
    assert post(base, message("track", event="Kept")) == 200
    inspector = open_inspector(page, base)  # its dialog handler dismisses: "Cancel"
    expect(inspector.row("Kept")).to_be_visible()
    page.click("#reset-store")
    expect(inspector.row("Kept")).to_be_visible()
    assert len(beacons.all()) == 1
    assert inspector.dialogs and "Delete every captured beacon" in inspector.dialogs[0]


def test_device_count_is_the_apis_not_the_number_of_anonymous_ids(page, harness_server, beacons) -> None:
    """One browser, reset between two visits: 2 anonymousIds, 1 device in the API, the CLI and the inspector."""
    base = harness_server.base_url
    device = uuid.uuid4().hex
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for anon in (first, second):
        body = message("identify", anonymous_id=anon, user_id="97980cfea0067", traits={"name": "Peter"})
        request = urllib.request.Request(f"{base}/v1/identify", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "text/plain", "User-Agent": CHROME_UA,
                                                  "Origin": base,  # a browser's request, not a server library's
                                                  "Cookie": f"hx_device={device}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    beacons.wait_for(type="identify", count=2)
    with urllib.request.urlopen(f"{base}/api/profiles", timeout=10) as response:
        [profile] = json.loads(response.read())["profiles"]
    assert len(profile["devices"]) == 1 and len(profile["anonymous_ids"]) == 2

    inspector = open_inspector(page, base)
    expect(page.locator("#timeline .person-sub")).to_have_text("Peter · 1 device · 2 anonymousIds · 2 messages")
    inspector.assert_clean()
