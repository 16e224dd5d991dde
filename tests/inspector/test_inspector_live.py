"""The inspector in a real Chromium: live beacons, full JSON, filters, bad list, plan violations, escaping, CSP."""

from __future__ import annotations

import json

from inspector_helpers import message, open_inspector, post
from playwright.sync_api import expect

XSS_IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'
XSS_SCRIPT = "<script>window.__pwned=2;alert(2)</script>"
XSS_SVG = "<svg onload=alert(3)><b>bold</b></svg>"


def test_a_posted_beacon_appears_live_and_opens_as_json(page, harness_server, beacons) -> None:
    inspector = open_inspector(page, harness_server.base_url)
    expect(page.locator("#beacons-empty")).to_have_text("Waiting for beacons…")
    page.evaluate("() => { window.__sameDocument = true; }")

    sent = message("track", user_id="97980cfea0067", event="Signed Up", properties={"plan": "premium"})
    assert post(harness_server.base_url, sent) == 200
    row = inspector.row("Signed Up")
    expect(row).to_be_visible()
    expect(row).to_contain_text("97980cfea0067")
    expect(row).to_contain_text("beacon")  # the transport it travelled by
    assert page.evaluate("() => window.__sameDocument") is True, "the page reloaded"

    row.click()
    expect(page.locator("#detail-title")).to_contain_text("Signed Up")
    detail = page.locator("#detail-json")
    expect(detail).to_contain_text('"plan": "premium"')
    assert json.loads(detail.text_content() or "") == beacons.one(event="Signed Up")  # the full record, pretty

    assert post(harness_server.base_url, message("page", name="Second")) == 200
    expect(page.locator("#beacon-rows tr")).to_have_count(2)
    expect(page.locator("#beacon-count")).to_have_text("2 beacons")
    expect(page.locator("#stats .stat-stored dd")).to_have_text("2")
    expect(page.locator("#beacon-rows tr").first).to_contain_text("Second")  # newest first
    inspector.assert_clean()


def test_payload_text_is_shown_literally_and_runs_nothing(page, harness_server, beacons) -> None:
    base = harness_server.base_url
    assert post(base, XSS_IMG.encode(), path="/v1/track") == 400  # a rejected body is shown too
    inspector = open_inspector(page, base)
    anon = "anon-<img src=x onerror=alert(4)>"
    assert post(base, message("identify", anonymous_id=anon, user_id=XSS_SVG,
                              traits={"name": XSS_SCRIPT, "plan": XSS_IMG})) == 200
    assert post(base, message("track", anonymous_id=anon, user_id=XSS_SVG, event=XSS_IMG,
                              properties={"note": XSS_SCRIPT, "img": XSS_IMG, "svg": XSS_SVG},
                              context={"page": {"path": XSS_SCRIPT}})) == 200

    row = inspector.row(XSS_IMG)
    expect(row).to_be_visible()
    expect(row).to_contain_text(XSS_SVG)
    row.click()
    detail = page.locator("#detail-json")
    expect(detail).to_contain_text(json.dumps(XSS_SCRIPT))
    expect(detail).to_contain_text(json.dumps(XSS_IMG))
    expect(page.locator("#detail-title")).to_contain_text(XSS_IMG)
    expect(page.locator("#timeline")).to_contain_text(XSS_SVG)  # the person's name in the SVG picture
    expect(page.locator("#bad")).to_contain_text(XSS_IMG)  # the rejected body, as text
    expect(page.locator("#lint")).not_to_be_empty()

    # Nothing injected: no payload element exists anywhere, no handler attribute, nothing ran.
    assert page.locator("img").count() == 0
    assert page.locator("b").count() == 0
    assert page.locator("[onerror], [onload]").count() == 0
    assert page.locator("svg svg").count() == 0
    assert page.locator("script").count() == 1  # only /static/inspector.js
    assert page.locator("script").get_attribute("src") == "/static/inspector.js"
    assert page.evaluate("() => window.__pwned") is None
    inspector.assert_clean()


def test_csp_forbids_inline_script(page, harness_server, beacons) -> None:
    inspector = open_inspector(page, harness_server.base_url)
    csp = inspector.response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "object-src 'none'" in csp
    assert inspector.response.headers.get("x-content-type-options") == "nosniff"
    # The policy really is in force: an inline script added now does not run.
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1';
                            document.body.append(s); }""")
    assert page.evaluate("() => window.__inline") is None
    inspector.errors.clear()  # the refused inline script is reported on the console, as it should be
    inspector.assert_clean()


def test_filters_narrow_the_list(page, harness_server, beacons) -> None:
    base = harness_server.base_url
    inspector = open_inspector(page, base)
    phone = "0b2c2f1e-4d0c-4a5e-9a8e-2f63f5b6a1c9"
    for body in (message("page", name="Home"),
                 message("identify", user_id="u-42", traits={"plan": "free"}),
                 message("track", user_id="u-42", event="Order Completed", transport="fetch-keepalive"),
                 message("track", anonymous_id=phone, event="Product Viewed", transport="xhr")):
        assert post(base, body) == 200
    rows = page.locator("#beacon-rows tr")
    expect(rows).to_have_count(4)
    page.select_option("#f-type", "track")
    expect(rows).to_have_count(2)
    page.fill("#f-event", "order")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("fetch-keepalive")
    page.click("#f-clear")
    expect(rows).to_have_count(4)
    page.fill("#f-user", "u-42")
    expect(rows).to_have_count(2)
    page.click("#f-clear")
    page.fill("#f-anon", phone[:8])
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Product Viewed")
    expect(page.locator("#beacon-count")).to_have_text("1 of 4 beacons")
    page.fill("#f-anon", "no-such-id")
    expect(page.locator("#beacons-empty")).to_have_text("No beacon matches these filters.")
    inspector.assert_clean()


def test_bad_list_and_stats(page, harness_server, beacons) -> None:
    base = harness_server.base_url
    assert post(base, b"{oops", path="/v1/track") == 400
    assert post(base, {"type": "track", "anonymousId": "a-1"}) == 400  # no event
    inspector = open_inspector(page, base)
    bad = page.locator("#bad tbody tr")
    expect(bad).to_have_count(2)
    expect(bad.nth(0)).to_contain_text("event")  # newest first, with the collector's reason
    expect(bad.nth(1)).to_contain_text("malformed JSON")
    expect(page.locator("#stats .stat-bad dd")).to_have_text("2")
    inspector.assert_clean()


def test_tracking_plan_violations_are_listed_and_marked(page, harness_server, beacons, monkeypatch) -> None:
    plan = {"events": {"Signed Up": {"properties": {"type": "object", "required": ["plan"]}}}}
    monkeypatch.setattr(harness_server.config, "tracking_plan", plan)
    base = harness_server.base_url
    inspector = open_inspector(page, base)
    assert post(base, message("track", user_id="u-7", event="Signed Up", properties={})) == 200
    violations = page.locator("#violations tbody tr")
    expect(violations).to_have_count(1)
    expect(violations.first).to_contain_text("properties.plan")
    row = inspector.row("Signed Up")
    expect(row.locator(".badge.warn")).to_have_text("plan")
    row.click()
    expect(page.locator("#detail-notes")).to_contain_text("Tracking plan: properties.plan")
    inspector.assert_clean()


def test_works_behind_an_api_token(page, harness_server, beacons, monkeypatch) -> None:
    """`serve --api-token`: /inspector?token=... sets a cookie that the API calls and the stream then carry."""
    monkeypatch.setattr(harness_server.config, "api_token", "t0ken")
    base = harness_server.base_url
    assert page.request.get(f"{base}/inspector").status == 401
    assert page.request.get(f"{base}/api/beacons").status == 401
    inspector = open_inspector(page, base, "?token=t0ken")
    assert post(base, message("track", event="Behind Token")) == 200
    expect(inspector.row("Behind Token")).to_be_visible()
    expect(page.locator("#stats .stat-stored dd")).to_have_text("1")
    inspector.assert_clean()
