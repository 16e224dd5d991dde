"""Run by tests/scale/test_remote_browser.py with ``--browser-ws`` (named explicitly; not collected otherwise).

One person's visit and sign-in through a browser that a Playwright server launched, with the
beacons landing in this session's store. Writes what it saw to $REMOTE_PROBE_OUT.
"""

from __future__ import annotations

import json
import os


def test_visit_and_identify_through_a_remote_browser(new_device, beacons, browser, pytestconfig) -> None:
    assert pytestconfig.getoption("--browser-ws"), "this scenario is meant to run against a browser server"
    device = new_device("desktop")
    device.visit("/")
    page = beacons.one(type="page")
    device.identify("remote-user-1", {"plan": "grid"})
    identify = beacons.one(type="identify", userId="remote-user-1")
    assert identify["anonymousId"] == page["anonymousId"] == device.anonymous_id()
    assert identify["traits"]["plan"] == "grid"
    with open(os.environ["REMOTE_PROBE_OUT"], "w") as fh:
        json.dump({"browser_version": browser.version, "user_agent": identify["context"]["userAgent"],
                   "device": identify["_meta"]["device"]}, fh)
