"""Seeds: 'Identifying users', 'Best options for userIds', 'Refreshing the Anonymous ID', MTU."""

from __future__ import annotations

from datetime import datetime

import pytest

from harness.suite.support import PETER, PH_IDENTIFY_SRC, RS_IDENTIFY_SRC, RS_STORAGE_DOC, is_uuid, path_of
from harness.testing import measured


@pytest.mark.claims("C6")
@pytest.mark.differs("rudderstack", reason="userId and traits are kept in cookies only (rl_user_id, rl_trait); "
                     "localStorage holds neither (later calls do carry both ids)", issue=RS_STORAGE_DOC)
def test_identify_saves_user_id_and_traits_and_later_calls_carry_both_ids(desktop, beacons) -> None:
    """C6: userId in cookie + localStorage, traits in localStorage; later page/track carry both ids."""
    desktop.land()
    anon = desktop.anonymous_id()
    desktop.identify("97980cfea0067", PETER)
    stored = desktop.stored("user_id")
    traits = desktop.stored("user_traits")[1]
    measured(stored == ("97980cfea0067", "97980cfea0067") and traits == PETER,
             f"userId (cookie, localStorage) = {stored}; localStorage traits = {traits!r}")
    assert desktop.user_id() == "97980cfea0067" and desktop.traits() == PETER
    desktop.browse()
    desktop.track("Product Viewed", {"product_id": "p1"})
    page = beacons.one(type="page", context__page__path=path_of(desktop.site.second))
    track = beacons.one(event="Product Viewed")
    for call in (page, track):
        assert (call["userId"], call["anonymousId"]) == ("97980cfea0067", anon), f"{call['type']} lacks the ids"


@pytest.mark.claims("C7", "C20")
def test_seed_example_identify_then_signed_up_share_the_anonymous_id(desktop, beacons) -> None:
    """C7: the seeds' example: identify('97980cfea0067', Peter's traits) then track('Signed Up')."""
    desktop.land()
    anon = desktop.anonymous_id()
    desktop.identify("97980cfea0067", PETER)
    desktop.track("Signed Up", {"userId": "97980cfea0067", **PETER})
    identify = beacons.one(type="identify")
    signed_up = beacons.one(event="Signed Up")
    assert identify["traits"] == PETER
    assert identify["anonymousId"] == signed_up["anonymousId"] == anon
    assert signed_up["userId"] == "97980cfea0067"
    # identify fires first: it arrived first, or (a library that sends concurrently, as RudderStack does)
    # its call time is not later
    assert identify["_meta"]["seq"] < signed_up["_meta"]["seq"] or (
        datetime.fromisoformat(identify["timestamp"]) <= datetime.fromisoformat(signed_up["timestamp"])), \
        "identify fires first, then Signed Up"
    profiles = beacons.profiles()
    assert len(profiles) == 1, "anonymous page view and identified activity merge into one profile"
    assert profiles[0].user_ids == ["97980cfea0067"] and anon in profiles[0].anonymous_ids


@pytest.mark.claims("C14")
@pytest.mark.differs("posthog", reason="identify() with a different userId keeps $device_id (the beacons' "
                     "anonymousId); only distinct_id changes", issue=PH_IDENTIFY_SRC)
@pytest.mark.differs("rudderstack", reason="identify() with a different userId resets the user (userId, traits) "
                     "but keeps the anonymousId, so both users share it", issue=RS_IDENTIFY_SRC)
def test_identify_with_a_different_user_refreshes_the_anonymous_id(desktop, beacons) -> None:
    """C14: identify() with a userId different from the cached one -> a new anonymousId; lint flags it."""
    desktop.land()
    desktop.identify("507f191e810c19729de860ea", {"plan": "free"})
    first_anon = desktop.anonymous_id()
    desktop.identify("6a1b2c3d4e5f60718293a4b5", {"plan": "pro"})
    second_anon = desktop.anonymous_id()
    assert is_uuid(second_anon), f"after identifying a second user the anonymousId is {second_anon!r}"
    measured(second_anon != first_anon,
             f"after identifying a second user the anonymousId is {second_anon!r}; the first user's was {first_anon!r}")
    assert desktop.traits() == {"plan": "pro"}, "the first user's traits must not leak to the second"
    identifies = beacons.wait_for(type="identify", count=2)
    assert identifies[1]["anonymousId"] == second_anon
    findings = [f for f in beacons.lint() if f.claim == "C14"]
    assert findings, f"lint should flag the userId change; got {[f.rule for f in beacons.lint()]}"


@pytest.mark.claims("C24")
def test_email_user_id_is_flagged_by_lint(desktop, beacons) -> None:
    """C24: an email address used as userId is flagged; a static database id is not."""
    desktop.land()
    desktop.identify("peter@initech.example", {"name": "Peter Gibbons"})
    beacons.one(type="identify")
    flagged = [f for f in beacons.lint() if f.claim == "C24"]
    assert flagged and flagged[0].severity == "error", f"findings: {[f.to_dict() for f in beacons.lint()]}"

    beacons.clear()
    desktop.reset()
    desktop.identify("97980cfea0067", {"email": "peter@initech.example"})
    beacons.one(type="identify")
    assert not [f for f in beacons.lint() if f.claim == "C24"], "a database id with email as a trait is fine"


@pytest.mark.clock
@pytest.mark.claims("C25", "C26")
def test_identify_reduces_monthly_tracked_users(desktop, phone, beacons) -> None:
    """C25: two devices, one person. Without identify two MTUs; once both identify, one."""
    desktop.land()
    phone.land()
    beacons.wait_for(type="page", count=2)
    assert max(beacons.mtu().values()) == 2, f"two unlinked anonymousIds count twice: {beacons.mtu()}"
    desktop.identify("97980cfea0067", PETER)
    phone.identify("97980cfea0067")
    beacons.wait_for(type="identify", count=2)
    assert set(beacons.mtu().values()) == {1}, f"identify ties both devices to one tracked user: {beacons.mtu()}"
