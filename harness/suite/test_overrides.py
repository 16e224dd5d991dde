"""Seeds: 'Override the Anonymous ID', 'Override Anonymous IDs using the options object', overwriting."""

from __future__ import annotations

import pytest

from harness.suite.support import PH_CAPTURE_SRC, RS_API_DOC, is_uuid, needs_api, path_of
from harness.testing import measured


def open_before_library_loads(device, harness_server, path: str = "/") -> None:
    """Open a page whose library files (every script, chunk and settings document) are held back, so calls
    land in the loader stub's queue. "Not loaded yet" is what the profile declares (its [library] not_loaded)."""
    harness_server.faults.configure({"script_delay_ms": 800})
    device.visit(path, wait_ready=False, wait_until="domcontentloaded")
    assert device.library_pending(), "the library loaded before the test could call the stub"


@pytest.mark.shop(reason="holds the library back with the harness's CDN fault; interception answers at once")
@pytest.mark.claims("C11", "C22")
def test_set_anonymous_id_before_ready_is_used_and_persists(desktop, beacons, harness_server) -> None:
    """C11: setAnonymousId works before ready returns, applies to queued calls and persists."""
    needs_api(desktop, "set_anonymous_id")
    open_before_library_loads(desktop, harness_server)
    desktop.set_anonymous_id("ABC-123-XYZ")
    desktop.tab.evaluate("(g) => { window[g].track('Queued Before Ready'); }", desktop.api_global)
    desktop.ready()
    assert desktop.anonymous_id() == "ABC-123-XYZ"
    assert beacons.one(event="Queued Before Ready")["anonymousId"] == "ABC-123-XYZ"
    harness_server.faults.clear()
    desktop.browse()
    assert desktop.anonymous_id() == "ABC-123-XYZ"
    cookie, local = desktop.stored("anonymous_id")  # where each library keeps it (both: C1)
    assert cookie == "ABC-123-XYZ" and local in (None, "ABC-123-XYZ"), f"(cookie, localStorage) = {(cookie, local)}"


@pytest.mark.claims("C11")
def test_user_anonymous_id_setter_persists(desktop, beacons) -> None:
    """C11: analytics.user().anonymousId(id) sets the id too, and it survives a reload."""
    needs_api(desktop, "user_set_anonymous_id")
    desktop.land()
    desktop.set_user_anonymous_id("custom-anon-42")
    desktop.browse()
    assert desktop.anonymous_id() == "custom-anon-42"
    assert beacons.one(type="page", context__page__path=path_of(desktop.site.second))["anonymousId"] == "custom-anon-42"


@pytest.mark.claims("C12")
@pytest.mark.differs("rudderstack", reason="options.anonymousId applies to that one call only; the next call carries "
                     "the stored anonymousId again", issue=RS_API_DOC)
@pytest.mark.differs("posthog", reason="capture() and identify() take no per-call id: the call made with "
                     "options.anonymousId carries $device_id", issue=PH_CAPTURE_SRC)
@pytest.mark.parametrize("method", ["identify", "page", "track"])
def test_options_anonymous_id_overrides_and_persists(desktop, beacons, method: str) -> None:
    """C12: options.anonymousId on identify/page/track overrides, and later calls keep it."""
    desktop.land()
    before = beacons.mark()
    if method == "identify":
        desktop.identify("user_123", {"name": "Jane Kim"}, {"anonymousId": "ABC-123-XYZ"})
    elif method == "page":
        desktop.page(None, {}, {"anonymousId": "ABC-123-XYZ"})
    else:
        desktop.track("Email Clicked", {"callToAction": "Signup"}, {"anonymousId": "ABC-123-XYZ"})
    call = beacons.wait_for(type=method, since=before)[-1]
    measured(call["anonymousId"] == "ABC-123-XYZ",
             f"{method}(..., {{anonymousId: 'ABC-123-XYZ'}}) carries anonymousId {call['anonymousId']!r}")
    desktop.track("Later Call")
    later = beacons.one(event="Later Call")["anonymousId"]
    measured(later == "ABC-123-XYZ", f"the call after {method}(..., {{anonymousId: 'ABC-123-XYZ'}}) carries {later!r}")
    desktop.browse()
    assert desktop.anonymous_id() == "ABC-123-XYZ"


@pytest.mark.claims("C13")
def test_call_before_set_anonymous_id_gives_two_ids_and_lint_flags_it(desktop, beacons) -> None:
    """C13: a call made before an explicit setAnonymousId -> two anonymousIds for one user; lint flags it."""
    needs_api(desktop, "set_anonymous_id")
    desktop.land()  # the snippet's page() call runs with the auto-generated id
    auto = beacons.one(type="page")["anonymousId"]
    desktop.set_anonymous_id("crm-visitor-1234")
    desktop.track("Newsletter Opened")
    later = beacons.one(event="Newsletter Opened")
    assert is_uuid(auto) and later["anonymousId"] == "crm-visitor-1234"
    flagged = [f for f in beacons.lint() if f.claim == "C13"]
    assert flagged, f"lint should report two anonymousIds on one device; got {[f.rule for f in beacons.lint()]}"
    assert len(beacons.profiles()) == 2, "the person is split in two profiles"


@pytest.mark.shop(reason="the shop's /offer page mints the anonymousId on the server")
@pytest.mark.claims("C15")
def test_server_generated_anonymous_id_overwrites_the_browsers(desktop, beacons) -> None:
    """C15: a server-minted anonymousId passed to the browser overwrites the existing one; flagged."""
    needs_api(desktop, "set_anonymous_id")  # the /offer page calls setAnonymousId itself
    desktop.land()
    browser_anon = desktop.anonymous_id()
    desktop.visit("/offer")
    server_call = beacons.one(event="Offer Viewed")
    assert server_call["_meta"]["transport"] == "server"
    clicked = beacons.one(event="Offer Clicked")
    assert clicked["anonymousId"] == server_call["anonymousId"] != browser_anon
    assert desktop.anonymous_id() == server_call["anonymousId"], "the browser's id was overwritten"
    flagged = [f for f in beacons.lint() if f.claim == "C15"]
    assert flagged and flagged[0].severity == "error", f"findings: {[f.rule for f in beacons.lint()]}"


@pytest.mark.shop(reason="the shop's server-side sign-up sends with the harness's Python server library")
@pytest.mark.claims("C16")
def test_server_library_events_carry_a_manual_anonymous_id(desktop, beacons) -> None:
    """C16: the server-side sign-up sends with an anonymousId the server supplied (the browser's)."""
    desktop.land()
    anon = desktop.anonymous_id()
    desktop.visit("/signup?flow=server-side&uid=97980cfea0067", wait_ready=False)
    desktop.tab.click("#signup-submit")
    desktop.tab.wait_for_url("**/welcome?flow=server-side")
    signed_up = beacons.one(event="Signed Up", userId="97980cfea0067")
    assert signed_up["_meta"]["transport"] == "server"
    assert signed_up["anonymousId"] == anon, "the server passed the browser's anonymousId manually"
    assert len(beacons.profiles()) == 1, "so the server event joins the browser's profile"
