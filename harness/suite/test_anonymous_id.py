"""Seeds: 'AnonymousId generation', 'ID Persistence', 'Retrieve the Anonymous ID', 'ID expiration'."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness.suite.support import PH_PROPERTY_SRC, PH_UNLOAD_SRC, RS_API_DOC, RS_STORAGE_DOC, is_uuid
from harness.testing import measured


@pytest.mark.claims("C1")
@pytest.mark.differs("rudderstack", reason="the anonymousId lives in the rl_anonymous_id cookie only (365 days); "
                     "localStorage holds only the SDK's retry queues, so there is no second copy",
                     issue=RS_STORAGE_DOC)
def test_first_visit_generates_uuid_in_cookie_and_local_storage(desktop, beacons) -> None:
    """C1: a random 36-character UUID exists before any call, in the cookie AND in localStorage."""
    desktop.land()
    first = beacons.one(type="page")  # some libraries make the id while building the first call: wait for it
    cookie_id, stored_id = desktop.stored("anonymous_id")
    assert is_uuid(cookie_id), f"cookie anonymousId should be a 36-char UUID, got {cookie_id!r}"
    measured(stored_id == cookie_id, f"localStorage has {stored_id!r}, cookie has {cookie_id!r}")
    assert first["anonymousId"] == cookie_id, "the very first call already carries the generated id"


@pytest.mark.claims("C1")
def test_anonymous_ids_are_random_per_browser(new_device, beacons) -> None:
    """C1: each first visit draws a fresh random id (five browsers, five ids)."""
    ids = set()
    for _ in range(5):
        device = new_device("desktop")
        device.land()
        ids.add(device.anonymous_id())
    assert len(ids) == 5 and all(is_uuid(i) for i in ids)


@pytest.mark.clock
@pytest.mark.claims("C2")
def test_id_cookie_expires_in_one_year(desktop, beacons) -> None:
    """C2: the Intilery ID cookie is set with a one-year expiration."""
    desktop.land()
    beacons.one(type="page")  # the id exists once the first call was built
    cookie = desktop.cookie("anonymous_id")
    assert cookie is not None, f"no {desktop.profile.keys['anonymous_id']} cookie; cookies: {desktop.cookies()}"
    lifetime = timedelta(seconds=cookie["expires"] - desktop.now().timestamp())
    assert timedelta(days=364) < lifetime <= timedelta(days=366), f"cookie lives {lifetime}, expected one year"


@pytest.mark.clock
@pytest.mark.claims("C3", "C8")
def test_same_device_days_later_keeps_the_anonymous_id(desktop, beacons) -> None:
    """C3 (scenario #1): later visits and days later, every call carries the same anonymousId."""
    desktop.land()  # a person reads each page: its call is made before they move on
    beacons.wait_for(type="page", count=1)
    desktop.browse()
    beacons.wait_for(type="page", count=2)
    desktop.track("Product Added", {"product_id": "p1"})
    beacons.one(event="Product Added")
    desktop.advance(days=2)
    desktop.browse(2)
    beacons.wait_for(type="page", count=3)
    desktop.land()
    beacons.wait_for(type="page", count=4)
    calls = beacons.wait_for(count=5)
    ids = {b["anonymousId"] for b in calls}
    assert len(ids) == 1, f"expected one anonymousId over two days, saw {ids}"
    days = {b["timestamp"][:10] for b in calls}
    assert len(days) == 2, f"the calls should span two days, timestamps on {days}"


@pytest.mark.clock
@pytest.mark.claims("C4")
@pytest.mark.differs("rudderstack", reason="nothing to restore from: the id is only in the rl_anonymous_id cookie, "
                     "so once it expires (365 days) the id is gone", issue=RS_STORAGE_DOC)
def test_expired_cookie_is_restored_from_local_storage(desktop, beacons) -> None:
    """C4: a year and a day later the cookie has expired; the id comes back from localStorage."""
    desktop.land()
    beacons.one(type="page")
    original = desktop.anonymous_id()
    desktop.advance(days=366)
    cookie_id, stored_id = desktop.stored("anonymous_id")
    assert cookie_id is None, "the one-year cookie should have expired"
    measured(stored_id == original, f"localStorage holds {stored_id!r} once the cookie expired; the id was "
                                    f"{original!r}")
    desktop.browse()
    later = beacons.wait_for(type="page", count=2)[-1]  # a library may re-set the cookie as it sends
    assert later["anonymousId"] == original
    assert desktop.stored("anonymous_id") == (original, original), "the cookie is set again from localStorage"


@pytest.mark.claims("C4")
@pytest.mark.differs("rudderstack", reason="a deleted rl_anonymous_id cookie is not restored (localStorage has no "
                     "copy): the next page generates a new anonymousId", issue=RS_STORAGE_DOC)
def test_deleted_cookie_is_restored_from_local_storage(desktop, beacons) -> None:
    """C4: only the cookie is gone (e.g. a cookie cleaner): the same id is read back and re-set."""
    desktop.land()
    beacons.one(type="page")
    original = desktop.anonymous_id()
    desktop.clear_cookies()
    desktop.browse()
    later = beacons.wait_for(type="page", count=2)[-1]["anonymousId"]
    stored = desktop.stored("anonymous_id")
    measured(later == original and stored == (original, original),
             f"the next page carries {later!r} and (cookie, localStorage) = {stored} after the cookie was deleted; "
             f"the id was {original!r}")


@pytest.mark.claims("C5")
@pytest.mark.differs("posthog", reason="cookies and localStorage cleared under an open page: leaving that page "
                     "saves posthog-js's in-memory record (ph_<token>_posthog) again, so the next visit keeps the "
                     "old $device_id", issue=PH_UNLOAD_SRC)
def test_clearing_cookies_and_storage_gives_a_new_anonymous_id(desktop, beacons) -> None:
    """C5: cookies and localStorage cleared -> a completely new anonymousId on the next visit."""
    desktop.land()
    beacons.one(type="page")
    first = desktop.anonymous_id()
    desktop.clear_cookies()
    desktop.clear_storage()
    desktop.land()
    second = desktop.anonymous_id()
    assert is_uuid(second), f"the next visit's anonymousId is {second!r}"
    measured(second != first, f"after clearing cookies and localStorage the next visit has the same anonymousId "
                              f"{first!r} (cookie, localStorage) = {desktop.stored('anonymous_id')}")
    pages = beacons.wait_for(type="page", count=2)
    assert [p["anonymousId"] for p in pages] == [first, second]


@pytest.mark.claims("C10")
@pytest.mark.differs("posthog", reason="get_property('$device_id') never returns null, but with cookies and "
                     "localStorage cleared it returns the id held in memory and saves nothing until the page is left",
                     issue=PH_PROPERTY_SRC)
@pytest.mark.differs("rudderstack", reason="getAnonymousId() never returns null, but with cookies and localStorage "
                     "cleared it returns the id the SDK holds in memory and saves it nowhere", issue=RS_API_DOC)
def test_user_anonymous_id_never_returns_null(desktop, beacons) -> None:
    """C10: with no id stored, user().anonymousId() generates and saves one instead of returning null."""
    desktop.land()
    desktop.clear_cookies()
    desktop.clear_storage()
    fetched = desktop.anonymous_id()
    assert is_uuid(fetched), f"user().anonymousId() returned {fetched!r}"
    stored = desktop.stored("anonymous_id")
    measured(stored == (fetched, fetched), f"the id {fetched!r} was returned, but (cookie, localStorage) = {stored}")
    desktop.track("After Fetch")
    assert beacons.one(event="After Fetch")["anonymousId"] == fetched


@pytest.mark.claims("C26")
def test_each_device_has_its_own_anonymous_id(desktop, phone, beacons) -> None:
    """C26: if a user has multiple devices, they have different anonymousIds on each."""
    desktop.land()
    phone.land()
    pages = beacons.wait_for(type="page", count=2)
    assert pages[0]["anonymousId"] != pages[1]["anonymousId"]
    assert {p["context"]["userAgent"] for p in pages} == {
        desktop.tab.evaluate("navigator.userAgent"), phone.tab.evaluate("navigator.userAgent")}
