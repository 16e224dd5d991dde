"""The time machine (issue 11): a device's days pass for its pages *and* its cookie jar.

Chromium's jar compares expiries with the wall clock while pages read the device clock; these tests
write cookies the way libraries do (an ``expires=`` computed from the page's own ``Date``) and check
that the jar agrees with the page about what has expired. They use a probe cookie, not a library, so
they hold for every snippet profile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harness.testing.pytest_plugin import Instant
from harness.timebase import parse_instant

pytestmark = pytest.mark.clock

DAY_MS = 86_400_000
# js-cookie's way: expires = the page's now + N days (N = -1 deletes the cookie)
WRITE_JS = f"""([name, value, days]) => {{
  document.cookie = name + '=' + value + '; path=/; expires=' + new Date(Date.now() + days * {DAY_MS}).toUTCString();
}}"""


def page_cookie(device, name: str) -> str | None:
    """The value the page itself reads from document.cookie (what a library sees)."""
    return device.tab.evaluate("""(name) => {
      const hit = document.cookie.split('; ').find((c) => c.startsWith(name + '='));
      return hit === undefined ? null : hit.slice(name.length + 1);
    }""", name)


def test_a_page_deleting_a_cookie_with_yesterday_by_its_clock_deletes_it_after_days_passed(desktop, beacons) -> None:
    """Regression: after advance(days=2), ``expires=<page-now minus one day>`` must delete the cookie."""
    desktop.land()
    desktop.advance(days=2)
    desktop.tab.evaluate(WRITE_JS, ["probe", "alive", 30])
    assert page_cookie(desktop, "probe") == "alive"
    desktop.tab.evaluate(WRITE_JS, ["probe", "", -1])
    assert page_cookie(desktop, "probe") is None, "the page deleted the cookie by its own clock"
    assert desktop.cookie("probe") is None, f"the jar still holds it: {desktop.cookie('probe')}"


def test_a_cookie_written_after_days_passed_expires_on_the_device_clock(desktop, beacons) -> None:
    """A one-day cookie written two days on reads one day on the device clock and dies a day later."""
    desktop.land()
    desktop.advance(days=2)
    desktop.tab.evaluate(WRITE_JS, ["probe", "day", 1])
    cookie = desktop.cookie("probe")
    assert cookie is not None
    left = timedelta(seconds=cookie["expires"] - desktop.now().timestamp())
    assert timedelta(hours=23) < left <= timedelta(days=1), f"expires in {left} by the device clock"
    desktop.advance(hours=23)
    assert page_cookie(desktop, "probe") == "day", "23 hours on, the one-day cookie is alive"
    desktop.advance(hours=2)
    assert desktop.cookie("probe") is None and page_cookie(desktop, "probe") is None, "25 hours on, it has expired"


def test_cookies_written_before_the_jump_age_with_it(desktop, beacons) -> None:
    """Cookies stored before an advance expire when the device clock passes their expiry, not the wall's."""
    desktop.land()
    desktop.tab.evaluate(WRITE_JS, ["short", "1", 1])
    desktop.tab.evaluate(WRITE_JS, ["long", "1", 10])
    desktop.tab.evaluate("() => { document.cookie = 'session=1; path=/'; }")
    desktop.advance(days=3)
    assert page_cookie(desktop, "short") is None, "a one-day cookie is gone three days on"
    assert page_cookie(desktop, "long") == "1" and page_cookie(desktop, "session") == "1"
    cookie = desktop.cookie("long")
    left = timedelta(seconds=cookie["expires"] - desktop.now().timestamp())
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7), f"ten-day cookie has {left} left"


@pytest.mark.parametrize("harness_instant", [Instant(parse_instant("2027-12-31T23:59:00Z"), "Pacific/Kiritimati")],
                         indirect=True, ids=["year-end-utc+14"])
def test_a_pinned_start_sets_the_page_clock_the_collector_clock_and_the_time_zone(harness_instant, desktop,
                                                                                  beacons) -> None:
    """--harness-start-time pins the page's Date and the collector's receivedAt; the zone is the browser's."""
    desktop.land()
    page_now = datetime.fromtimestamp(desktop.tab.evaluate("Date.now()") / 1000, UTC)
    assert abs(page_now - harness_instant.start) < timedelta(minutes=1), f"page clock reads {page_now}"
    assert desktop.tab.evaluate("new Date().getTimezoneOffset()") == -14 * 60
    first = beacons.one(type="page")
    assert first["timestamp"].startswith("2027-12-31T23:5"), first["timestamp"]
    assert first["receivedAt"].startswith("2027-12-31T23:5") or first["receivedAt"].startswith("2028-01-01T00:0")
    assert list(beacons.mtu()) in (["2027-12"], ["2027-12", "2028-01"]), "MTU months are UTC, not the browser's"
    desktop.advance(days=1)
    desktop.browse()
    later = beacons.wait_for(type="page", count=2)[-1]
    assert later["timestamp"].startswith("2028-01-01"), later["timestamp"]
