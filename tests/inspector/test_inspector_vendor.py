"""The inspector names the library that sent a beacon and shows a decoded vendor wire's own message (PostHog's)."""

from __future__ import annotations

import gzip
import json

from inspector_helpers import open_inspector, post
from playwright.sync_api import expect

from harness.tools import views

EVENT = {"uuid": "01a247f1-cf54-7c17-99f8-0fd29b2ec9dd", "event": "Signed Up", "timestamp": "2026-12-05T20:42:39.316Z",
         "properties": {"distinct_id": "u-1", "$device_id": "01a247f1-cebe-7422", "$is_identified": True,
                        "$lib": "web", "$lib_version": "1.449.2", "$pathname": "/", "plan": "premium"}}


def test_a_posthog_beacon_names_its_vendor_and_opens_its_own_message(page, harness_server, beacons) -> None:
    inspector = open_inspector(page, harness_server.base_url)
    body = gzip.compress(json.dumps({"api_key": "k", "batch": [EVENT], "sent_at": EVENT["timestamp"]}).encode())
    assert post(harness_server.base_url, body, path="/posthog/e/?compression=gzip-js") == 200
    row = inspector.row("Signed Up")
    expect(row).to_contain_text("u-1")
    row.click()
    expect(page.locator("#detail-facts")).to_contain_text("posthog web 1.449.2")
    own = page.locator("#detail-notes details.vendor")
    expect(own.locator("summary")).to_contain_text("posthog's own message (/posthog/e/)")
    own.locator("summary").click()
    assert json.loads(own.locator("pre").text_content() or "") == EVENT, "the event exactly as PostHog sent it"
    inspector.assert_clean()
    assert views.library(beacons.one(event="Signed Up")) == "posthog web 1.449.2", "the CLI's library column"
