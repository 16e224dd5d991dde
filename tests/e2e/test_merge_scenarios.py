"""Seed 000: 'UserID merge examples' — scenarios #1, #2 and #3 with real devices and days passing."""

from __future__ import annotations

import pytest
from support import PETER

UID = "97980cfea0067"


def browse_anonymously(device, beacons, *paths: str) -> None:
    """Visit each page and wait for its page call: a library may persist a new id only as it builds the event."""
    for path in paths:
        before = len(beacons.all(type="page"))
        device.visit(path)
        beacons.wait_for(type="page", count=before + 1)


def sign_up(device, uid: str = UID) -> None:
    """The sample site's recommended sign-up: the welcome page makes identify + Signed Up."""
    device.visit(f"/signup?flow=welcome-page&uid={uid}")
    device.tab.click("#signup-submit")
    device.tab.wait_for_url("**/welcome?**")
    device.ready()


def log_in(device, uid: str = UID) -> None:
    device.visit("/login")
    device.tab.fill("#login-uid", uid)
    device.tab.click("#login-submit")
    device.tab.wait_for_url("**/account?login=1")
    device.ready()


@pytest.mark.clock
@pytest.mark.claims("C8", "C3")
def test_scenario_1_multi_day_single_device_is_one_profile(desktop, beacons) -> None:
    """Scenario #1: anonymous from an ad, back two days later on the same device, signs up -> one profile."""
    browse_anonymously(desktop, beacons, "/?utm_source=ad", "/products/p1", "/products/p4")
    desktop.advance(days=2)
    sign_up(desktop)
    beacons.one(event="Signed Up", userId=UID)
    profiles = beacons.profiles()
    assert len(profiles) == 1, f"expected one profile, got {[p.to_dict()['anonymous_ids'] for p in profiles]}"
    person = profiles[0]
    assert person.user_ids == [UID] and len(person.anonymous_ids) == 1
    assert person.event_count >= 5, "the anonymous visits of two days ago belong to the user"


@pytest.mark.clock
@pytest.mark.claims("C8", "C26")
def test_scenario_2_web_sign_up_and_anonymous_phone_is_two_profiles(desktop, phone, beacons) -> None:
    """Scenario #2: signs up on the web, browses the phone without logging in -> two profiles."""
    browse_anonymously(desktop, beacons, "/", "/products/p2")
    browse_anonymously(phone, beacons, "/", "/products/p3")
    desktop.advance(days=1)
    phone.advance(days=1)
    sign_up(desktop)
    browse_anonymously(phone, beacons, "/cart")
    beacons.one(event="Signed Up", userId=UID)
    profiles = beacons.profiles()
    assert len(profiles) == 2, "the phone's activity stays anonymous"
    identified = [p for p in profiles if p.user_ids]
    anonymous = [p for p in profiles if not p.user_ids]
    assert len(identified) == 1 and len(anonymous) == 1
    assert anonymous[0].anonymous_ids == [phone.anonymous_id()]


@pytest.mark.clock
@pytest.mark.claims("C8", "C26", "C25")
def test_scenario_3_logged_in_on_both_devices_is_one_profile(desktop, phone, beacons) -> None:
    """Scenario #3: web and phone, logged in on both -> one profile with two anonymousIds."""
    browse_anonymously(desktop, beacons, "/", "/products/p1")
    browse_anonymously(phone, beacons, "/", "/products/p2")
    sign_up(desktop)
    phone.advance(days=3)
    log_in(phone)
    beacons.one(type="identify", userId=UID, anonymousId=phone.anonymous_id())
    profiles = beacons.profiles()
    assert len(profiles) == 1
    assert set(profiles[0].anonymous_ids) == {desktop.anonymous_id(), phone.anonymous_id()}
    # MTU is per calendar month (UTC, of each message's timestamp): the phone's login three days on may
    # fall in the next month, where the same person counts once again -- once per month, never twice.
    per_month = beacons.mtu()
    assert per_month and set(per_month.values()) == {1}, f"one tracked user in every month, got {per_month}"
    errors = [f.to_dict() for f in beacons.lint() if f.severity == "error"]
    assert not errors, f"scenario #3 follows the seeds' advice; lint errors: {errors}"
    assert PETER["name"] == profiles[0].traits.get("name")
