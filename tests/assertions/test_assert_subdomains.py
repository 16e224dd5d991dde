"""One identity across www.shop.test and app.shop.test: the cookie domain rule libraries get wrong.

Chromium resolves *.shop.test to 127.0.0.1 (the plugin's --host-resolver-rules), so both host
names reach the same harness server. A correct setup sets the id cookies on the registrable
domain (.shop.test); the same library misconfigured with host-only cookies (cookie_scope "host")
leaves Domain off, so each subdomain mints its own anonymousId and one person becomes two profiles.
"""

from __future__ import annotations

import re

import pytest
from assertions_support import captured, shop_url

from harness.testing import measured
from harness.testing.capture import Beacons
from harness.testing.device import Device


def browse_www_then_app(device: Device, server, beacons: Beacons) -> tuple[str | None, str | None]:
    """Land on www, move to app (a link to another subdomain): the anonymousId each one uses."""
    device.visit(f"{shop_url(server, 'www')}/")
    on_www = device.anonymous_id()
    beacons.expect(type="page", context__page__url=re.compile(r"^http://www\.shop\.test:\d+/$"))
    device.visit(f"{shop_url(server, 'app')}/cart")
    on_app = device.anonymous_id()
    beacons.expect(type="page", context__page__url=re.compile(r"^http://app\.shop\.test:\d+/cart$"))
    return on_www, on_app


def assert_one_identity(beacons: Beacons, anonymous_id: str | None, timeout: float = 5.0) -> None:
    """What a correct setup shows: both hosts' beacons carry one anonymousId, one profile, no lint warning."""
    beacons.expect(type="page", count=2, anonymousId=anonymous_id, timeout=timeout)
    profiles = beacons.profiles()
    assert len(profiles) == 1, f"expected one profile, got {[p.anonymous_ids for p in profiles]}"
    assert profiles[0].anonymous_ids == [anonymous_id]
    assert not [f for f in beacons.lint() if f.rule == "two-anonymous-ids-one-device"]


@pytest.mark.differs("posthog", reason="identified on app.shop.test, the next page on www.shop.test is anonymous "
                     "again: www's own localStorage record (written on the earlier visit) wins over the shared "
                     "cookie unless cookieWinsOnConflict is on, which posthog-js enables only for defaults "
                     ">= 2026-08-29 (the profile's embed uses 2025-11-30)",
                     issue="https://github.com/PostHog/posthog-js/blob/9b2a1b18db64f9f6b331cbded543c5ead3ccf0cb/"
                           "packages/browser/src/posthog-core.ts#L238 (cookieWinsOnConflict by defaults date; "
                           "posthog-persistence.ts#L228 the localStorage+cookie merge)")
def test_one_identity_across_subdomains(new_device, harness_server, beacons) -> None:
    device = new_device("desktop")
    on_www, on_app = browse_www_then_app(device, harness_server, beacons)
    assert on_www == on_app, "the anonymousId set on www.shop.test is the one app.shop.test sees"
    cookie = device.cookie("anonymous_id")
    assert cookie is not None and cookie["domain"] == ".shop.test", cookie
    assert_one_identity(beacons, on_www)

    device.identify("97980cfea0067", {"email": "peter@initech.example"})  # sign in on app ...
    before = beacons.mark()
    device.visit(f"{shop_url(harness_server, 'www')}/products/p1")  # ... still known on www
    [page] = beacons.wait_for(type="page", since=before)
    assert re.match(r"^http://www\.", page["context"]["page"]["url"]) and page["anonymousId"] == on_www, page
    measured(page["userId"] == "97980cfea0067",
             f"signed in on app.shop.test, the next page on www.shop.test carries userId {page['userId']!r}")
    [person] = beacons.profiles()
    assert person.user_ids == ["97980cfea0067"] and person.anonymous_ids == [on_www]


def test_host_only_cookies_split_the_person(device_on, hostonly_server) -> None:
    beacons = captured(hostonly_server)
    device = device_on(hostonly_server, shop_url(hostonly_server, "www"))
    on_www, on_app = browse_www_then_app(device, hostonly_server, beacons)
    assert on_www and on_app and on_www != on_app, "host-only cookies: app.shop.test mints a second id"
    assert device.cookie("anonymous_id")["domain"] == "app.shop.test"  # no leading dot: host-only

    profiles = beacons.profiles()
    assert sorted(p.anonymous_ids[0] for p in profiles) == sorted([on_www, on_app])
    assert all(len(p.anonymous_ids) == 1 for p in profiles), "two people where there is one"
    [finding] = [f for f in beacons.lint() if f.rule == "two-anonymous-ids-one-device"]
    assert f"earlier {on_www} then later {on_app}" in finding.message
    assert "moving www.shop.test -> app.shop.test (host-only id cookie?)" in finding.message
    assert "parent domain" in finding.fix

    with pytest.raises(AssertionError, match=r"found 1 among \d+ captured"):  # passes for intilery, fails here
        assert_one_identity(beacons, on_www, timeout=0.5)
