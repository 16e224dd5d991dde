"""The sample shop's login: a person logs in with what they were shown (their email or their user id)."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def sign_up(device) -> str:
    """The welcome-page flow; returns the user id the welcome page shows."""
    device.visit("/signup?flow=welcome-page")
    with device.tab.expect_navigation():
        device.tab.click("#signup-submit")
    shown = device.tab.locator("#welcome-user-id")
    expect(shown).to_have_text(re.compile(r"^[0-9a-f]{13}$"))
    return shown.text_content() or ""


def test_log_in_with_the_sign_up_email_identifies_the_same_user(new_device, beacons) -> None:
    first = new_device("desktop")
    uid = sign_up(first)
    beacons.one(type="identify", userId=uid)

    later = new_device("desktop")  # another browser: the person only knows their email
    later.visit("/login")
    expect(later.tab.locator("#login-accounts")).to_contain_text(uid)
    later.tab.fill("#login-uid", "peter@initech.example")
    later.tab.click("#login-submit")
    later.tab.wait_for_url("**/account?login=1")
    expect(later.tab.locator("#account-user-id")).to_have_text(uid)
    beacons.expect("identify", userId=uid, anonymousId=later.anonymous_id())


def test_a_new_email_gets_a_database_style_user_id_not_the_email(new_device, beacons) -> None:
    device = new_device("desktop")
    device.visit("/login")
    device.tab.fill("#login-uid", "michael@initech.example")
    device.tab.click("#login-submit")
    device.tab.wait_for_url("**/account?login=1")
    uid = device.tab.locator("#account-user-id").text_content() or ""
    assert re.fullmatch(r"[0-9a-f]{13}", uid), uid
    [identify] = beacons.expect("identify", userId=uid)
    assert identify["traits"]["email"] == "michael@initech.example"
