"""Pages reached by a click: a single-page app's client-side routes make their own page() calls.

Most sites today change "pages" without a new document (history.pushState); the library only sees the
route change when the app calls ``page()``. A site map marks such a page ``via = "click"``: the device
clicks the app's link instead of navigating, so the route's page call is exercised as a person makes it.
"""

from __future__ import annotations

import pytest

from harness.suite.support import is_uuid, path_of

MARK_JS = "() => { window.__harnessSameDocument = true; }"
SAME_DOCUMENT_JS = "() => window.__harnessSameDocument === true"


@pytest.mark.claims("C3")
def test_a_page_reached_by_a_click_sends_its_page_call_with_the_same_ids(desktop, beacons) -> None:
    """C3 across routes: the second page, reached as the site map says (a click for a client-side route),
    sends a page call for its own path carrying the landing page's anonymousId."""
    desktop.land()
    landing = beacons.wait_for(type="page", context__page__path=path_of(desktop.site.landing))[-1]
    before = beacons.mark()
    clicked = "second" in desktop.site.clicks
    desktop.tab.evaluate(MARK_JS)
    desktop.browse()
    route = beacons.wait_for(type="page", since=before, context__page__path=path_of(desktop.site.second))[-1]
    assert is_uuid(route["anonymousId"]) and route["anonymousId"] == landing["anonymousId"], (
        f"the {'client-side route' if clicked else 'second page'} {desktop.site.second} carried anonymousId "
        f"{route['anonymousId']!r}, the landing page {landing['anonymousId']!r}")
    if clicked and desktop.tab.evaluate(SAME_DOCUMENT_JS):
        # a real client-side route: no new document, so this page call came from the app's router
        assert route["context"]["page"]["path"] == path_of(desktop.site.second)
        assert desktop.library_pending() is False
