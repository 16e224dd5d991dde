"""Seeds: 'ID expiration and overwriting' (reset) and the logout step of the identity flowchart."""

from __future__ import annotations

import uuid

import pytest

from harness.suite.support import PETER, PH_RESET_SRC, RS_API_DOC, is_uuid, path_of
from harness.testing import measured

PH_RESET = ("reset() clears distinct_id (a new one is generated), $user_state, person and group properties, but "
            "keeps $device_id, the anonymousId (only reset(true) regenerates it)")
RS_RESET = ("reset() clears userId, traits, groupId and group traits and starts a new session, but keeps the "
            "anonymousId (only reset(true) regenerates it)")


@pytest.mark.claims("C9")
@pytest.mark.differs("rudderstack", reason=RS_RESET, issue=RS_API_DOC)
@pytest.mark.differs("posthog", reason=PH_RESET, issue=PH_RESET_SRC)
def test_reset_removes_user_id_anonymous_id_and_traits(desktop, beacons) -> None:
    """C9: reset() removes userId, anonymousId and traits; the next call has a new anonymousId."""
    desktop.land()
    desktop.identify("97980cfea0067", PETER)
    old_anon = desktop.anonymous_id()
    desktop.reset()
    keys = desktop.profile.keys
    (cookie_user, _), (cookie_anon, local_anon) = desktop.stored("user_id"), desktop.stored("anonymous_id")
    assert cookie_user in (None, ""), f"cookie {keys['user_id']} survived reset: {cookie_user!r}"
    measured(cookie_anon in (None, "") or cookie_anon != old_anon,
             f"cookie {keys['anonymous_id']} survived reset: it still holds the old anonymousId {cookie_anon!r}")
    for key in ("user_id", "user_traits"):
        left = desktop.stored(key)[1]
        assert left in (None, {}, ""), f"localStorage {keys[key]} survived reset: {left!r}"
    assert local_anon in (None, "") or local_anon != old_anon
    desktop.track("After Reset")
    after = beacons.one(event="After Reset")
    assert after["userId"] in (None, ""), \
        f"the track call made on the same page right after reset() carries userId {after['userId']!r}"
    assert is_uuid(after["anonymousId"]), f"the call after reset() has anonymousId {after['anonymousId']!r}"
    measured(after["anonymousId"] != old_anon,
             f"the track call made on the same page right after reset() carries the old anonymousId {old_anon!r}")


@pytest.mark.claims("C9")
@pytest.mark.differs("rudderstack", reason=RS_RESET, issue=RS_API_DOC)
@pytest.mark.differs("posthog", reason=PH_RESET, issue=PH_RESET_SRC)
def test_logout_page_resets_and_next_visit_is_anonymous(desktop, beacons) -> None:
    """C9 through the site: log in (identify), log out (the site calls reset), come back anonymous."""
    user_id = desktop.log_in()  # the site map's userId, or whatever the site identifies the person with
    login = beacons.one(type="identify", **({"userId": user_id} if user_id else {}))
    before = beacons.mark()
    desktop.log_out()
    logout = desktop.site.require("logout")
    # a person reads the logged-out page before coming back: its page call (queued before its reset() while
    # the library loads) arrives, so reset() has run too; leaving at once races the library (analytics-next
    # replays queued calls a task after it is ready)
    landed = logout.after or logout.url
    beacons.wait_for(type="page", since=before, **({"context__page__path": path_of(landed)} if landed else {}))
    # the next visit is a new navigation, told apart from any call the logged-out page made by a query token
    token = f"after-logout={uuid.uuid4().hex[:12]}"
    desktop.land(("&" if "?" in desktop.site.landing else "?") + token)
    home = beacons.expect(type="page", context__page=lambda page: token in str(page))[-1]
    visit = f"the next visit's page call (a new navigation to {path_of(desktop.site.landing)}?{token})"
    assert home["userId"] in (None, ""), f"{visit} still carries userId {home['userId']!r}"
    measured(home["anonymousId"] != login["anonymousId"],
             f"{visit} carries the logged-in anonymousId {home['anonymousId']!r} again")
    assert desktop.user_id() in (None, "")
