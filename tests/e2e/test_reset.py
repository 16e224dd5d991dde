"""Seeds: 'ID expiration and overwriting' (reset) and the logout step of the identity flowchart."""

from __future__ import annotations

import pytest
from support import PETER, RS_API_DOC, is_uuid, path_of

RS_RESET = ("reset() clears userId, traits, groupId and group traits and starts a new session, but keeps the "
            "anonymousId (only reset(true) regenerates it)")


@pytest.mark.claims("C9")
@pytest.mark.differs("rudderstack", reason=RS_RESET, issue=RS_API_DOC)
def test_reset_removes_user_id_anonymous_id_and_traits(desktop, beacons) -> None:
    """C9: reset() removes userId, anonymousId and traits; the next call has a new anonymousId."""
    desktop.land()
    desktop.identify("97980cfea0067", PETER)
    old_anon = desktop.anonymous_id()
    desktop.reset()
    keys = desktop.profile.keys
    cookies, storage = desktop.cookies(), desktop.local_storage()
    for key in ("anonymous_id", "user_id"):
        assert cookies.get(keys[key]) in (None, ""), f"cookie {keys[key]} survived reset: {cookies.get(keys[key])!r}"
    for key in ("user_id", "user_traits"):
        left = storage.get(keys[key])
        assert left in (None, {}, ""), f"localStorage {keys[key]} survived reset: {left!r}"
    assert storage.get(keys["anonymous_id"]) in (None, "") or storage.get(keys["anonymous_id"]) != old_anon
    desktop.track("After Reset")
    after = beacons.one(event="After Reset")
    assert after["userId"] in (None, ""), "no userId after reset"
    assert is_uuid(after["anonymousId"]) and after["anonymousId"] != old_anon


@pytest.mark.claims("C9")
@pytest.mark.differs("rudderstack", reason=RS_RESET, issue=RS_API_DOC)
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
    desktop.land()
    home = beacons.wait_for(type="page", context__page__path=path_of(desktop.site.landing))[-1]
    assert home["userId"] in (None, ""), f"the next visit still carries userId {home['userId']!r}"
    assert home["anonymousId"] != login["anonymousId"], \
        f"the next visit after logout (reset) carries the logged-in anonymousId {home['anonymousId']!r} again"
    assert desktop.user_id() in (None, "")
