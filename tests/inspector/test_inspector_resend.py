"""A library's re-send of a stored message (same messageId, changed content: stock analytics-next does this)
is shown as a re-send with its diff, beside the rejections, and the header's BAD counts only rejections."""

from __future__ import annotations

from inspector_helpers import message, open_inspector, post
from playwright.sync_api import expect


def test_a_resend_shows_as_a_resend_with_its_diff(page, harness_server, beacons) -> None:
    base = harness_server.base_url
    first = message("track", event="Checkout Step", properties={"step": 1})
    assert post(base, first) == 200
    assert post(base, {**first, "properties": {"step": 2}}) == 200  # re-sent with a change
    assert post(base, {"type": "track", "anonymousId": "a-1"}) == 400  # a real rejection: no event
    inspector = open_inspector(page, base)
    rows = page.locator("#bad tbody tr.resend, #bad tbody tr.rejected")
    expect(rows).to_have_count(2)
    resend = page.locator("#bad tbody tr.resend")
    expect(resend).to_have_count(1)
    expect(resend.locator(".badge.resend")).to_have_text("re-send")
    expect(resend.locator(".badge.status")).to_have_count(0)  # not the red status of a rejection
    expect(resend.locator(".resend-diff")).to_contain_text("properties.step")
    expect(resend.locator(".resend-diff tbody tr")).to_have_text(["properties.step12"])
    expect(page.locator("#bad tbody tr.rejected")).to_contain_text("event")
    expect(page.locator("#bad-summary")).to_contain_text("1 rejected, 1 re-sent with changes")
    expect(page.locator("#stats .stat-bad dd")).to_have_text("1")
    inspector.assert_clean()
