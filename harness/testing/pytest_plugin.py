"""pytest plugin (``pytest11`` entry point): a harness server, captured beacons and devices.

Layered by scope like pytest-playwright: ``harness_server`` (session) -> ``beacons`` (function,
emptied per test) and ``new_device`` (function-scoped factory on pytest-playwright's
``new_context``). Every option is a flag; the browser is the one :mod:`harness.browser` finds.

pytest-playwright's conventions hold: ``base_url`` is the harness (``--base-url`` overrides),
artifacts go to its ``--output`` folder under its per-test slug, and a mistake in an option is
one ``pytest.UsageError`` at configure time, never an error per test.
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from harness import browser as browser_mod
from harness import timebase
from harness.identity.matrix import DECLARED
from harness.keys import Config
from harness.server import HarnessServer, is_loopback
from harness.sites.intercept import Interceptor, vendor_hosts
from harness.sites.sitemap import (
    SHOP_MAP,
    MissingFlow,
    People,
    Person,
    SiteMap,
    SiteMapError,
    load_site_map,
    new_run_id,
)
from harness.sites.snippet import DEFAULT_PROFILE, ProfileError, SnippetProfile, library_mismatch, load_profile
from harness.sites.steps import StepFailed, ready_script, run_steps
from harness.testing.capture import Beacons
from harness.testing.conformance import annotate, claims_of
from harness.testing.device import Device, context_options
from harness.testing.matchers import MeasuredDifference
from harness.testing.snapshot import SnapshotCollision
from harness.tools.usage import UsageProblem, check_store_path, one_line

SNAPSHOT_INI = "harness_snapshot_dir"
NEUTRAL_INI = "harness_library_neutral"
DEFAULT_SNAPSHOT_FOLDER = "__snapshots__"  # beside each test file, like syrupy's
SNAPSHOT_ENV = "HARNESS_SNAPSHOT_DIR"
BEACONS_PROPERTY = "harness_beacons"  # JUnit XML <property> naming a failed test's beacons.json


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "Intilery identity harness")
    group.addoption("--snippet", default=os.environ.get("HARNESS_SNIPPET") or None,
                    help="snippet profile name or folder (default: intilery; with --site-url, the site map's "
                         "[site] library, else analytics-next); A,B,C: one session, every test with A and the "
                         "library-neutral ones (ini harness_library_neutral) with B and C too, sharing browsers")
    group.addoption("--site-url", default=os.environ.get("HARNESS_SITE_URL") or None,
                    help="test this site unchanged (env HARNESS_SITE_URL): devices open it, and its vendor "
                         "traffic is captured by interception")
    group.addoption("--site-map", default=None, metavar="PATH",
                    help="TOML site map of --site-url: pages, sign-up/login/logout forms (harness/sites/sitemap.py)")
    group.addoption("--site-allow", action="append", default=[], metavar="HOST",
                    help="with --site-url, pass requests to HOST (the site's own API or asset host; no port = any "
                         "port; glob) through untouched, as the site map's [site] allow does; repeatable")
    group.addoption("--capture-host", action="append", default=[], metavar="HOST",
                    help="with --site-url, also capture requests to HOST (glob) as beacons; repeatable")
    group.addoption("--tracking-plan", default=None, help="tracking plan (YAML/JSON) to validate beacons against")
    group.addoption("--browser-ws", default=os.environ.get("HARNESS_BROWSER_WS"),
                    help="connect to a running Playwright browser server (ws://HOST:PORT/) instead of launching")
    group.addoption("--harness-host", default=os.environ.get("HARNESS_HOST", "127.0.0.1"),
                    help="address the browser reaches the harness server on (default 127.0.0.1)")
    group.addoption("--snapshot-update", action="store_true", default=False,
                    help="rewrite golden payload files used by beacons.match_snapshot()")
    group.addoption("--harness-db", default=None, help="SQLite file for the session's store (default: a temp file)")
    group.addoption("--harness-start-time", default=os.environ.get(timebase.START_ENV) or None,
                    help="ISO-8601 instant every device clock and the collector's clock start at, per test "
                         "(env HARNESS_START_TIME; default: the real now)")
    group.addoption("--harness-timezone", default=os.environ.get("HARNESS_TIMEZONE") or None,
                    help="IANA time zone of every device's browser (env HARNESS_TIMEZONE; default: the machine's)")
    group.addoption("--conformance-out", default=None, metavar="PATH",
                    help="write what each claims test did for this --snippet as JSON (harness conformance reads it)")
    group.addoption("--conformance-check", default=None, metavar="PATH",
                    help="fail the run when this --snippet's column in PATH (docs/conformance.md) is stale")
    group.addoption("--harness-calendar", action="store_true",
                    default=os.environ.get("HARNESS_CALENDAR", "") not in ("", "0"),
                    help="run the tests marked 'clock' once at each instant of the calendar "
                         "(month and year ends, leap day, DST changes, UTC+14 and UTC-11)")
    parser.addini(NEUTRAL_INI, type="paths", default=[],
                  help="test paths run once per --snippet profile when several are given (default: every test "
                       "that uses the harness server)")
    parser.addini(SNAPSHOT_INI, default=None,
                  help="folder for beacons.match_snapshot() files, relative to the rootdir "
                       f"(default: {DEFAULT_SNAPSHOT_FOLDER}/ beside each test file; env {SNAPSHOT_ENV} wins)")


@dataclass(frozen=True)
class _Setup:
    """What the options name, loaded and checked once at configure time."""

    profile: SnippetProfile  # the first --snippet: every test runs with it
    plan: dict[str, Any] | None
    site: SiteMap | None = None  # --site-url: the site under test (None: the sample shop)
    capture_hosts: tuple[str, ...] = ()
    others: tuple[SnippetProfile, ...] = ()  # the further --snippet profiles: library-neutral tests run with each

    def by_name(self, name: str | None) -> SnippetProfile:
        """A profile of this session by name; None is the first (the one every test runs with)."""
        return next((p for p in self.others if p.name == name), self.profile)


_SETUP = pytest.StashKey[_Setup]()


def _check_options(config: pytest.Config) -> _Setup:
    """Every harness option, checked before any test runs; one UsageError line for the first mistake."""
    browsers = [b for b in (config.getoption("--browser", default=None) or []) if b != "chromium"]
    if browsers:
        raise pytest.UsageError(
            f"the harness drives Chromium only: --browser {browsers[0]} is not supported "
            "(omit --browser or pass --browser chromium; -p no:harness runs other Playwright tests without it)")
    _check_browser_options(config)
    site = _check_site(config)
    snippet = config.getoption("--snippet") or (site and (site.library or "analytics-next")) or DEFAULT_PROFILE
    profiles: list[SnippetProfile] = []
    for name in snippet_names(snippet):
        try:
            profile = load_profile(name)
        except ProfileError as exc:
            raise pytest.UsageError(f"--snippet: {one_line(exc)}") from None
        if any(p.name == profile.name for p in profiles):
            raise pytest.UsageError(f"--snippet: profile {profile.name!r} is named twice in {snippet!r}")
        profiles.append(profile)
    plan = None
    if path := config.getoption("--tracking-plan"):
        from harness.identity.plan import load_plan

        try:
            plan = load_plan(path)
        except (OSError, ValueError) as exc:
            raise pytest.UsageError(f"--tracking-plan: {one_line(exc)}") from None
    if db := config.getoption("--harness-db"):
        try:
            check_store_path(db, what="--harness-db")
        except UsageProblem as exc:
            raise pytest.UsageError(str(exc)) from None
    local = not config.getoption("--browser-ws") and not config.getoption("--browser-channel", default=None)
    if local and os.environ.get("HARNESS_CHROMIUM"):  # a setting the user made: check it now
        try:
            browser_mod.find_chromium(not config.getoption("--headed", default=False))
        except browser_mod.BrowserNotFound as exc:
            raise pytest.UsageError(str(exc)) from None
    return _Setup(profiles[0], plan, site, tuple(config.getoption("--capture-host") or ()), tuple(profiles[1:]))


# Where Playwright looks for a branded channel's browser (its registry's fixed install paths)
_CHANNEL_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "linux": {
        "chrome": ("/opt/google/chrome/chrome",), "chrome-beta": ("/opt/google/chrome-beta/chrome",),
        "chrome-dev": ("/opt/google/chrome-unstable/chrome",), "msedge": ("/opt/microsoft/msedge/msedge",),
        "msedge-beta": ("/opt/microsoft/msedge-beta/msedge",), "msedge-dev": ("/opt/microsoft/msedge-dev/msedge",),
    },
    "darwin": {
        "chrome": ("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",),
        "chrome-beta": ("/Applications/Google Chrome Beta.app/Contents/MacOS/Google Chrome Beta",),
        "chrome-dev": ("/Applications/Google Chrome Dev.app/Contents/MacOS/Google Chrome Dev",),
        "chrome-canary": ("/Applications/Google Chrome Canary.app/Contents/MacOS/Google Chrome Canary",),
        "msedge": ("/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",),
        "msedge-beta": ("/Applications/Microsoft Edge Beta.app/Contents/MacOS/Microsoft Edge Beta",),
        "msedge-dev": ("/Applications/Microsoft Edge Dev.app/Contents/MacOS/Microsoft Edge Dev",),
        "msedge-canary": ("/Applications/Microsoft Edge Canary.app/Contents/MacOS/Microsoft Edge Canary",),
    },
}
_WINDOWS_CHANNELS = {"chrome": r"Google\Chrome\Application\chrome.exe",
                     "chrome-beta": r"Google\Chrome Beta\Application\chrome.exe",
                     "chrome-dev": r"Google\Chrome Dev\Application\chrome.exe",
                     "chrome-canary": r"Google\Chrome SxS\Application\chrome.exe",
                     "msedge": r"Microsoft\Edge\Application\msedge.exe",
                     "msedge-beta": r"Microsoft\Edge Beta\Application\msedge.exe",
                     "msedge-dev": r"Microsoft\Edge Dev\Application\msedge.exe",
                     "msedge-canary": r"Microsoft\Edge SxS\Application\msedge.exe"}
_BUNDLED_CHANNELS = ("chromium", "chromium-headless-shell")  # Playwright's own builds, not a system install


def _channel_paths(channel: str) -> tuple[str, ...] | None:
    """Where this machine would have the channel's browser; None for a channel Playwright does not know."""
    if sys.platform == "win32":
        tail = _WINDOWS_CHANNELS.get(channel)
        roots = [os.environ.get(k, "") for k in ("LOCALAPPDATA", "PROGRAMFILES", "PROGRAMFILES(X86)")]
        return None if tail is None else tuple(str(Path(root) / tail) for root in roots if root)
    table = _CHANNEL_PATHS["darwin" if sys.platform == "darwin" else "linux"]
    known = set(_CHANNEL_PATHS["linux"]) | set(_CHANNEL_PATHS["darwin"]) | set(_WINDOWS_CHANNELS)
    return table.get(channel, ()) if channel in known else None


def _check_browser_options(config: pytest.Config) -> None:
    """--harness-timezone, --headed and --browser-channel: checked once here, or every test fails on its own."""
    zone = config.getoption("--harness-timezone", default=None)
    if zone:
        _check_timezone(zone)
    remote = bool(config.getoption("--browser-ws", default=None))
    if (config.getoption("--headed", default=False) and not remote and sys.platform.startswith("linux")
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        raise pytest.UsageError("--headed needs a display, and neither $DISPLAY nor $WAYLAND_DISPLAY is set "
                                "(run under xvfb-run, or drop --headed)")
    channel = config.getoption("--browser-channel", default=None)
    if channel and not remote and channel not in _BUNDLED_CHANNELS:
        paths = _channel_paths(channel)
        if paths is None:
            known = sorted({*_CHANNEL_PATHS["linux"], *_CHANNEL_PATHS["darwin"], *_BUNDLED_CHANNELS})
            raise pytest.UsageError(f"--browser-channel {channel}: not a Chromium channel Playwright knows "
                                    f"({', '.join(known)})")
        if not any(Path(p).is_file() for p in paths):
            where = f" (looked at {paths[0]})" if paths else ""
            raise pytest.UsageError(f"--browser-channel {channel}: that browser is not installed on this "
                                    f"machine{where}; install it, or omit --browser-channel to use the "
                                    "harness's Chromium")


def _check_timezone(zone: str) -> None:
    """An IANA zone name the browser knows; checked against the tz database when this machine has one."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(zone)
        return
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if not zoneinfo.available_timezones():  # no tz database here to judge by: the browser decides
            return
    raise pytest.UsageError(f"--harness-timezone {zone}: not an IANA time zone (e.g. Europe/London, "
                            "America/New_York, UTC)")


def snippet_names(value: str) -> list[str]:
    """``--snippet A,B,C`` -> the names (or folders) in order; a folder whose path holds a comma is one name."""
    if "," not in value or Path(value).exists():
        return [value]
    names = [part.strip() for part in value.split(",")]
    if not all(names):
        raise pytest.UsageError(f"--snippet {value!r}: an empty name between commas")
    return names


def _check_site(config: pytest.Config) -> SiteMap | None:
    """--site-url / --site-map: the site under test, or None for the sample shop."""
    url, path = config.getoption("--site-url"), config.getoption("--site-map")
    if path:
        try:
            site = load_site_map(path)
        except SiteMapError as exc:
            raise pytest.UsageError(f"--site-map: {one_line(exc)}") from None
        site = site.with_url(url).with_allow(config.getoption("--site-allow") or [])
        if not site.url:
            raise pytest.UsageError(f"--site-map {path}: no [site] url; pass --site-url URL")
        return site
    if url:
        return SiteMap(name=url, url=url.rstrip("/")).with_allow(config.getoption("--site-allow") or [])
    if config.getoption("--site-allow"):
        raise pytest.UsageError("--site-allow needs --site-url (the sample shop has no other hosts)")
    if config.getoption("--capture-host"):
        raise pytest.UsageError("--capture-host needs --site-url (the harness's own shop sends to the harness)")
    return None

REMOTE_CHROMIUM_ENV = "HARNESS_REMOTE_CHROMIUM"  # Chromium path on the browser server; "" = the server's own
LAUNCH_HEADER = "x-playwright-launch-options"
# The Playwright server reads camelCase launch options (it keeps executablePath/args only when run with --unsafe).
_WIRE_NAMES = {"executable_path": "executablePath", "slow_mo": "slowMo", "chromium_sandbox": "chromiumSandbox",
               "ignore_default_args": "ignoreDefaultArgs", "ignore_all_default_args": "ignoreAllDefaultArgs"}


def _remote_chromium(headless: bool) -> str | None:
    """The browser server's Chromium: $HARNESS_REMOTE_CHROMIUM, else the one found here (same image)."""
    path = os.environ.get(REMOTE_CHROMIUM_ENV)
    if path is not None:
        return path or None
    try:
        return browser_mod.find_chromium(headless)
    except browser_mod.BrowserNotFound:
        return None  # the server launches its own managed browser


@pytest.fixture(scope="session")
def _harness_launch_args(browser_type_launch_args: dict[str, Any], pytestconfig: pytest.Config) -> dict[str, Any]:
    """pytest-playwright's launch args plus the found Chromium and the quiet flags (also sent to a browser server)."""
    args = dict(browser_type_launch_args)
    remote = pytestconfig.getoption("--browser-ws")
    # a remote browser reaches the harness (and its *.shop.test names) on --harness-host
    target = pytestconfig.getoption("--harness-host") if remote else "127.0.0.1"
    site = _setup(pytestconfig).site
    # with --site-url, every host name but the site's, its allowed ones and the harness's resolves nowhere:
    # what the routes cannot see (a beacon sent as the page is left) cannot leave the machine either
    sealed = browser_mod.seal_hosts(site.url, *site.allow, target) if site is not None else None
    extra = [browser_mod.resolver_rules([f"*.shop.test {target}"], sealed)]
    if args.get("channel"):
        return args  # the user picked a branded channel
    if remote:
        path = _remote_chromium(args.get("headless", True))
        found: dict[str, Any] = {"args": [*browser_mod.QUIET_FLAGS, *extra], "headless": args.get("headless", True),
                                 **({"executable_path": path} if path else {})}
    else:
        try:
            found = browser_mod.launch_args(headless=args.get("headless", True), extra_args=extra)
        except browser_mod.BrowserNotFound as exc:  # once, not an error per test (tests without a browser ran)
            pytest.exit(f"harness: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    found["args"] = [*found["args"], *args.pop("args", [])]
    return {**found, **args}


def _connect_endpoint_name() -> str:
    """``BrowserType.connect``'s endpoint keyword: ``ws_endpoint`` in older Playwright, ``endpoint`` in newer."""
    from playwright.sync_api import BrowserType

    return "ws_endpoint" if "ws_endpoint" in inspect.signature(BrowserType.connect).parameters else "endpoint"


class _Overrides:
    """Overrides of pytest-playwright fixtures, registered in pytest_configure so they win.

    Static methods keep pytest from treating them as per-instance class fixtures.
    """

    @pytest.fixture(scope="session")
    @staticmethod
    def browser_type_launch_args(_harness_launch_args: dict[str, Any]) -> dict[str, Any]:
        return _harness_launch_args

    @pytest.fixture(scope="session")
    @staticmethod
    def connect_options(pytestconfig: pytest.Config, browser_type_launch_args: dict[str, Any]
                        ) -> dict[str, Any] | None:
        """--browser-ws: connect, sending the launch options in the camelCase the browser server reads."""
        ws = pytestconfig.getoption("--browser-ws")
        if not ws:
            return None
        wire = {_WIRE_NAMES.get(k, k): v for k, v in browser_type_launch_args.items()}
        return {_connect_endpoint_name(): ws, "headers": {LAUNCH_HEADER: json.dumps(wire)}}

    @pytest.fixture
    @staticmethod
    def context(harness_device: Device) -> Any:
        """pytest-playwright's ``context``, made a device (see ``harness_device``)."""
        return harness_device.context

    @pytest.fixture
    @staticmethod
    def page(harness_device: Device) -> Any:
        """pytest-playwright's ``page``: the device's tab, in the device's context."""
        return harness_device.tab

    @pytest.fixture(scope="session")
    @staticmethod
    def base_url(pytestconfig: pytest.Config, request: pytest.FixtureRequest, harness_profile: SnippetProfile) -> str:
        """pytest-playwright's base URL: ``--base-url`` / the ``base_url`` ini value, else the harness.

        So ``page.goto("/products/p2")`` reaches the sample shop. Replaces pytest-playwright's
        own fixture (an instance method pytest warns about), so no deprecation warning is printed.
        ``harness_profile``: made again with the server when a test of another --snippet profile comes.
        """
        given = pytestconfig.getoption("--base-url", default=None)
        if not given:
            try:
                given = pytestconfig.getini("base_url")
            except ValueError:  # no plugin registered the ini value
                given = None
        if given:
            return str(given)
        server: HarnessServer = request.getfixturevalue("harness_server")
        return server.base_url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claims(*ids): claims-table rows (C1..C26) this test proves")
    config.addinivalue_line("markers", "long(seconds): runs for about that long; started first, longest "
                                       "first, so it never leaves a tail")
    config.addinivalue_line("markers", "clock: depends on the calendar; run at every CALENDAR instant by "
                                       "--harness-calendar")
    config.addinivalue_line("markers", "shop(reason=''): needs the sample shop itself (its pages, flows or "
                                       "server); skipped, with the reason, under --site-url")
    config.addinivalue_line("markers", "library(*names, reason=''): a test of these libraries' own behaviour "
                                       "(options, wire details); skipped, with the reason, when --snippet "
                                       "embeds another library")
    config.addinivalue_line("markers", "differs(*names, reason, issue=''): these libraries really behave "
                                       "otherwise than the claim (reason quotes the measurement): a strict xfail "
                                       "when --snippet embeds one of them, passing only on the MeasuredDifference "
                                       "that harness.testing.measured() raises; a normal test otherwise")
    if config.option.help or config.option.version:
        return
    config.stash[_SETUP] = _check_options(config)
    text = config.getoption("--harness-start-time", None)
    try:
        start = timebase.parse_instant(text) if text else None
    except timebase.BadInstant as exc:
        raise pytest.UsageError(f"--harness-start-time: {exc}") from None
    config.stash[_INSTANT] = Instant(start, config.getoption("--harness-timezone", None))
    out, check = config.getoption("--conformance-out", None), config.getoption("--conformance-check", None)
    if (out or check) and not hasattr(config, "workerinput"):  # the controller collects the xdist reports
        from harness.testing.conformance import Recorder

        names = [p.name for p in session_profiles(config)]
        config.pluginmanager.register(Recorder(names, Path(out) if out else None, Path(check) if check else None),
                                      "harness-conformance")
    config.pluginmanager.register(_Overrides(), "harness-overrides")
    if config.stash[_SETUP].site is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_BlockedSummary(), "harness-blocked")


def _setup(config: pytest.Config) -> _Setup:
    if _SETUP not in config.stash:
        config.stash[_SETUP] = _check_options(config)
    return config.stash[_SETUP]


def session_profiles(config: pytest.Config) -> list[SnippetProfile]:
    """Every --snippet profile of the session, the first first."""
    setup = _setup(config)
    return [setup.profile, *setup.others]


def item_profile(item: pytest.Item) -> SnippetProfile:
    """The profile a collected test runs with: its ``harness_profile`` parameter, else the first --snippet."""
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("harness_profile") if callspec is not None else None
    return _setup(item.config).by_name(name)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.library("intilery", reason=...)``: run only when the selected profile embeds that library;
    otherwise skipped, and the skip names the library, the reason and the profile.

    ``@pytest.mark.differs("rudderstack", reason=..., issue=...)``: a measured, real difference between that
    library and the claim the test proves. For that library the test is a strict xfail that only a
    :class:`~harness.testing.matchers.MeasuredDifference` satisfies (raised by ``measured(...)`` where the test
    measures the difference), so a WaitTimeout, a broken test or any other assertion still fails, and a library
    that starts to conform turns the run red until the mark goes; for every other library it is a normal test.
    """
    for item in items:
        for mark in item.iter_markers("library"):
            profile = item_profile(item)
            if profile.library not in mark.args:
                why = mark.kwargs.get("reason") or "a test of that library's own behaviour"
                item.add_marker(pytest.mark.skip(
                    reason=f"{'/'.join(mark.args)} only ({why}); --snippet {profile.name} embeds {profile.library}"))
                break
        for mark in item.iter_markers("differs"):
            _apply_differs(item, mark, item_profile(item))
    # after pytest grouped the tests by their session-scoped parameters (trylast): tests marked ``long`` go
    # first, in a stable order, so with xdist none of them starts last and leaves a tail
    items[:] = sorted(items, key=_long_first)


def _long_first(item: pytest.Item) -> float:
    """Sort key: ``@pytest.mark.long(seconds)`` by its expected seconds, longest first; every other test after."""
    mark = item.get_closest_marker("long")
    return -float(mark.args[0]) if mark is not None and mark.args else -1.0 if mark is not None else 0.0


def differs_reason(library: str, reason: str, issue: str = "", declared: bool = False) -> str:
    """The xfail reason of a ``differs`` mark (or a profile's ``[differs]``): the library, what was measured, and
    where it is known upstream."""
    return f"{library} differs{DECLARED if declared else ''}: {reason}" + (f" (upstream: {issue})" if issue else "")




def _apply_differs(item: pytest.Item, mark: pytest.Mark, profile: SnippetProfile) -> None:
    reason = str(mark.kwargs.get("reason") or "").strip()
    if not mark.args or not reason:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.differs needs library names and a reason= that "
                                "quotes the measured behaviour")
    if profile.library not in mark.args:
        return
    issue = str(mark.kwargs.get("issue") or "")
    raises = mark.kwargs.get("raises", MeasuredDifference)
    if not (isinstance(raises, type) and issubclass(raises, MeasuredDifference)):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.differs accepts only a MeasuredDifference (raised by "
                                f"harness.testing.measured() where the test measures it), not raises={raises!r}")
    item.add_marker(pytest.mark.xfail(strict=True, raises=raises,
                                      reason=differs_reason(profile.library, reason, issue)))


@dataclass(frozen=True)
class Instant:
    """When a test starts (None: the real now) and the time zone its browsers live in (None: the machine's)."""

    start: datetime | None
    timezone: str | None = None

    @property
    def label(self) -> str:
        when = self.start.strftime("%Y-%m-%dT%H:%MZ") if self.start else "now"
        return f"{when}@{self.timezone}" if self.timezone else when


_INSTANT = pytest.StashKey[Instant]()

# The calendar the clock-sensitive tests must survive (issue 11): month, year and leap-day rolls, both
# DST changes, and the two far ends of the time-zone range, each a few minutes before the change.
CALENDAR: tuple[Instant, ...] = (Instant(None),) + tuple(Instant(timebase.parse_instant(at), tz) for at, tz in (
    ("2026-11-28T12:00:00Z", None),                      # three days before a month end
    ("2027-01-31T23:30:00Z", None),                      # month and day roll within the test
    ("2027-12-31T23:59:00Z", None),                      # year end
    ("2028-02-28T23:00:00Z", None),                      # leap day next
    ("2027-03-14T06:30:00Z", "America/New_York"),        # 01:30 EST, DST starts at 02:00
    ("2027-10-31T00:30:00Z", "Europe/London"),           # 01:30 BST, DST ends at 02:00
    ("2027-01-31T10:30:00Z", "Pacific/Kiritimati"),      # UTC+14: already 1 February in the browser
    ("2027-03-01T05:00:00Z", "Pacific/Pago_Pago"),       # UTC-11: still 28 February in the browser
))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """--harness-calendar: every test marked ``clock`` once per CALENDAR instant (the real now included).

    Several --snippet profiles: a library-neutral test (:data:`NEUTRAL_INI`) that uses the server once per
    profile, as a session-scoped parameter, so pytest runs each profile's tests together on one server per
    worker and every profile shares the worker's browser. The calendar runs with the first profile only
    (the time machine does not depend on the library).
    """
    pinned = any("harness_instant" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize"))
    calendar = (metafunc.config.getoption("--harness-calendar") and metafunc.definition.get_closest_marker("clock")
                and "harness_instant" in metafunc.fixturenames and not pinned)
    setup = _setup(metafunc.config)
    every_library = bool(setup.others) and "harness_profile" in metafunc.fixturenames and _neutral(metafunc)
    if every_library and pinned:  # the test pins its own instant: only the library is a parameter
        names = [None, *(p.name for p in setup.others)]
        metafunc.parametrize("harness_profile", names, ids=[setup.by_name(n).name for n in names], indirect=True,
                             scope="session")
    elif every_library:
        instants: tuple[Instant | None, ...] = CALENDAR if calendar else (None,)
        combos = [(None, i) for i in instants] + [(p.name, None) for p in setup.others]
        ids = [setup.profile.name + (f"-{i.label}" if i else "") for i in instants] + [p.name for p in setup.others]
        metafunc.parametrize(("harness_profile", "harness_instant"), combos, ids=ids, indirect=True, scope="session")
    elif calendar:
        metafunc.parametrize("harness_instant", CALENDAR, ids=[i.label for i in CALENDAR], indirect=True)


def _neutral(metafunc: pytest.Metafunc) -> bool:
    """Whether the test runs with every --snippet profile: it is under a harness_library_neutral path (none: all)."""
    paths: list[Path] = metafunc.config.getini(NEUTRAL_INI)
    here = metafunc.definition.path
    return not paths or any(here == p or p in here.parents for p in paths)


@pytest.fixture(autouse=True)
def harness_instant(request: pytest.FixtureRequest) -> Instant:
    """The test's start instant and time zone; pins the harness clock (collector, analysis) to it."""
    instant: Instant = getattr(request, "param", None) or request.config.stash.get(_INSTANT, Instant(None))
    timebase.pin(instant.start)
    return instant


@pytest.fixture(scope="session")
def harness_profile(request: pytest.FixtureRequest) -> SnippetProfile:
    """The snippet profile the test's server embeds: the --snippet one (with several, this test's parameter)."""
    return _setup(request.config).by_name(getattr(request, "param", None))


@pytest.fixture(scope="session")
def harness_server(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory,
                   harness_profile: SnippetProfile) -> Generator[HarnessServer, None, None]:
    """The running server (site + collector + API) on a free port, with a real SQLite file."""
    public = pytestconfig.getoption("--harness-host")
    bind = "127.0.0.1" if is_loopback(public) else "0.0.0.0"
    setup = _setup(pytestconfig)
    db = pytestconfig.getoption("--harness-db") or str(tmp_path_factory.mktemp("harness") / "beacons.sqlite")
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # pytest -n: one file per worker, never a shared store
    if db != ":memory:" and pytestconfig.getoption("--harness-db"):
        tags = [*([worker] if worker else []), *([harness_profile.name] if setup.others else [])]
        db = str(Path(db).with_name(".".join([Path(db).stem, *tags]) + Path(db).suffix))
    config = Config(tracking_plan=setup.plan)
    server = HarnessServer(host=bind, db=db, config=config, snippet=harness_profile, public_host=public).start()
    yield server
    server.stop()


def snapshot_dir(request: pytest.FixtureRequest, profile: SnippetProfile) -> Path:
    """Where this test's golden files live: $HARNESS_SNAPSHOT_DIR, the ini value, or beside the test file,
    then one folder per library (``intilery/``, ``analytics-next/``): each library's own golden payloads.

    Always in the user's project, never inside the installed package.
    """
    return _snapshot_root(request) / (profile.snapshots or profile.library or profile.name)


def _snapshot_root(request: pytest.FixtureRequest) -> Path:
    if env := os.environ.get(SNAPSHOT_ENV):
        return Path(env)
    config = request.config
    if configured := config.getini(SNAPSHOT_INI):
        base = config.inipath.parent if config.inipath else config.rootpath
        return base / str(configured)
    return Path(request.node.path).parent / DEFAULT_SNAPSHOT_FOLDER


LIBRARY_OPTIONS = ("--snippet", "--site-url", "--site-map")  # what chooses the library a test runs


def _node_arg(config: pytest.Config, node: pytest.Item) -> str:
    """The test's node id as a command-line argument from where pytest was started."""
    try:
        where = str(Path(node.path).resolve().relative_to(config.invocation_params.dir.resolve()))
    except ValueError:
        where = str(node.path)
    rest = node.nodeid.split("::", 1)[1] if "::" in node.nodeid else ""
    return f"{where}::{rest}" if rest else where


def rerun_command(config: pytest.Config, node: pytest.Item) -> str:
    """The command that re-records this test's snapshots: the test's id and every option that chose its
    library (``--snippet``, also from $HARNESS_SNIPPET; ``--site-url``/``--site-map``, whose map names one).
    Without them the command would record the default library's payloads and the test would keep failing."""
    args = [_node_arg(config, node)]
    for option in LIBRARY_OPTIONS:
        value = config.getoption(option, default=None)
        if value:
            args += [option, str(value)]
    return "pytest " + " ".join(shlex.quote(a) for a in args) + " --snapshot-update"


@pytest.fixture(scope="session")
def _snapshot_claims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """--snapshot-update: the folder recording which test wrote which snapshot, shared by every xdist worker
    of the run (their base temp folders are siblings), so two tests writing one file are caught."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "harness-snapshot-claims"


@pytest.fixture
def beacons(harness_server: HarnessServer, request: pytest.FixtureRequest,
            output_path: str) -> Generator[Beacons, None, None]:
    """The store, emptied (and faults cleared) before the test.

    After a test whose devices ran the profile's snippet (``new_device``), the library the beacons name
    (``context.library.name``) must be the profile's: a result is reported under the library that ran,
    or the test fails loudly. (A test that feeds the server from elsewhere, e.g. ``harness browse`` on
    another site, is not one of the profile's results.)
    """
    harness_server.clear()
    harness_server.faults.clear()
    captured = Beacons(harness_server.store, harness_server.config.tracking_plan)
    captured.snapshot_update = bool(request.config.getoption("--snapshot-update"))
    captured.snapshot_dir = snapshot_dir(request, harness_server.profile)
    captured.test_name = request.node.name
    captured.test_id = _node_arg(request.config, request.node)
    captured.rerun = rerun_command(request.config, request.node)
    if captured.snapshot_update:
        captured.snapshot_claims = request.getfixturevalue("_snapshot_claims")
    captured.artifact_dir = Path(output_path)  # pytest-playwright's --output folder and slug for this test
    yield captured
    if "new_device" in request.fixturenames:
        problem = library_mismatch(harness_server.profile, captured.all())
        if problem:
            pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def site(pytestconfig: pytest.Config, request: pytest.FixtureRequest, harness_profile: SnippetProfile) -> SiteMap:
    """Where the devices browse: the --site-url site through its site map, or the sample shop's map
    (made again with the server for a test of another --snippet profile)."""
    setup = _setup(pytestconfig)
    if setup.site is not None:
        _preflight(request, setup.site, harness_profile)
        return setup.site
    server: HarnessServer = request.getfixturevalue("harness_server")
    return load_site_map(SHOP_MAP).with_url(server.base_url)


PREFLIGHT_MS = 15_000


def _preflight(request: pytest.FixtureRequest, site: SiteMap, profile: SnippetProfile) -> None:
    """Once per session on --site-url: open the landing page (with the map's [before] steps) and ask the
    library for ready(). A page with no library ends the run with one line, instead of every test failing
    with "no window.analytics"."""
    server: HarnessServer = request.getfixturevalue("harness_server")
    browser = request.getfixturevalue("browser")
    interceptor = _interceptor(request.config, server, site)
    context = interceptor.attach(browser.new_context(service_workers="block"))
    if profile.api.script is not None:  # the profile's adapter ([api] script), as every device runs it
        context.add_init_script(path=profile.api.script)
    page = context.new_page()
    problem = ""
    try:
        page.goto(site.url + site.landing)
        run_steps(page, site.before, Person(), site.url, ready_script(profile))
        if not page.evaluate(ready_script(profile), PREFLIGHT_MS):
            problem = f"window.{profile.api.global_name} never became a ready library within {PREFLIGHT_MS} ms"
    except StepFailed as exc:
        problem = f"the site map's [before] {exc}"
    except Exception as exc:  # a page that never loaded
        problem = one_line(exc)
    finally:
        context.close()
    if problem:
        blocked = ", ".join(f"{host} ×{n}" for host, n in interceptor.blocked.most_common(5))
        pytest.exit(f"no library on this page: {site.url}{site.landing} with --snippet {profile.name}: {problem}"
                    + (f" (blocked: {blocked}; a first-party host? add it to [site] allow or --site-allow)"
                       if blocked else ""), returncode=1)


def _interceptor(config: pytest.Config, server: HarnessServer, site: SiteMap) -> Interceptor:
    """The vendor stand-in for one test's contexts: the session's profiles' vendor hosts, the map's allow."""
    setup = _setup(config)
    hosts = vendor_hosts(preferred=server.profile)  # the bundled ones; the selected profile wins every host it declares
    return Interceptor(harness_url=server.base_url, site_url=site.url, vendors=hosts,
                       capture_hosts=setup.capture_hosts, write_key=server.config.write_key or "harness-dev-key",
                       allow=site.allow)


@pytest.fixture
def interception(pytestconfig: pytest.Config, harness_server: HarnessServer, site: SiteMap,
                 beacons: Beacons, request: pytest.FixtureRequest) -> Generator[Interceptor | None, None, None]:
    """With --site-url: the vendor stand-in every device's context is routed through (None for the shop).

    Waits on ``beacons`` hand the thread to Playwright meanwhile, so route handlers can deliver.
    """
    setup = _setup(pytestconfig)
    if setup.site is None:
        yield None
        return
    interceptor = _interceptor(pytestconfig, harness_server, site)
    beacons.pump = interceptor.pump
    request.node.stash[_INTERCEPTOR] = interceptor
    yield interceptor


_INTERCEPTOR = pytest.StashKey[Interceptor]()
BLOCKED_PROPERTY = "harness_blocked"  # per test: host -> blocked requests (summed in the terminal summary)


@pytest.fixture(autouse=True)
def _shop_only(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.shop(reason=...)``: skipped, with the reason, when --site-url points the suite elsewhere."""
    mark = request.node.get_closest_marker("shop")
    site_map = _setup(request.config).site if mark is not None else None
    if mark is not None and site_map is not None:
        why = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "uses the sample shop's own pages")
        pytest.skip(f"sample shop only ({why}); --site-url tests {site_map.url}")


@pytest.fixture(scope="session")
def harness_people() -> People:
    """The session's people: every sign-up is a new person (``harness+<run>-<n>@example.test``), unique
    across xdist workers: each worker's run id is its own, and a run id pinned with ``HARNESS_RUN_ID`` gets
    the worker's name (``gw0``) appended."""
    run = new_run_id()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return People(f"{run}{worker}" if os.environ.get("HARNESS_RUN_ID") else run)


@pytest.fixture
def new_device(new_context: Callable[..., Any], playwright: Any, harness_server: HarnessServer, harness_people: People,
               beacons: Beacons, harness_instant: Instant, site: SiteMap,
               interception: Interceptor | None) -> Callable[..., Device]:
    """Factory: ``new_device("desktop" | "mobile")`` -> a new browser context (one person's device).

    Every device starts on the harness clock (the pinned start instant plus the test's elapsed time)
    in the test's time zone, unless ``timezone_id=`` says otherwise. With --site-url it opens that
    site and its vendor traffic is intercepted (:mod:`harness.sites.intercept`).
    """
    made: list[Device] = []
    accounts: list[Person] = []  # the accounts this test's sign-ups made, shared by its devices

    def make(kind: str = "desktop", name: str = "", **context_args: Any) -> Device:
        options = {**context_options(playwright, kind), **context_args}
        device = _open_device(new_context, options, harness_server, harness_people, harness_instant, site,
                              interception, kind, name or f"{kind}-{len(made) + 1}", accounts)
        made.append(device)
        return device

    return make


def _open_device(new_context: Callable[..., Any], options: dict[str, Any], server: HarnessServer, people: People,
                 instant: Instant, site: SiteMap, interception: Interceptor | None, kind: str, name: str,
                 accounts: list[Person]) -> Device:
    """A browser context made a device: the test's time zone (unless ``options`` names one), the harness
    clock, the observed transport and, with --site-url, the vendor interception."""
    options = dict(options)
    if instant.timezone:
        options.setdefault("timezone_id", instant.timezone)
    if interception is not None:
        options.setdefault("service_workers", "block")  # every request must pass the routes
    start = timebase.now() if instant.start is not None else None
    context = new_context(**options)
    if interception is not None:
        interception.attach(context)
    return Device(context, site.url, server.profile, kind, name, start=start, site=site, people=people,
                  accounts=accounts)


@pytest.fixture
def harness_device(new_context: Callable[..., Any], harness_server: HarnessServer, harness_people: People,
                   harness_instant: Instant, site: SiteMap, interception: Interceptor | None,
                   browser_context_args: dict[str, Any]) -> Device:
    """The device behind pytest-playwright's ``context`` and ``page``: like ``new_device``'s (observed transport,
    ``--harness-timezone``, the harness clock, interception) but with pytest-playwright's own context options
    (``browser_context_args``, ``--device``), so ``page`` is a device too; ``harness_device.advance(days=1)``
    moves its clock."""
    kind = "mobile" if browser_context_args.get("is_mobile") else "desktop"
    return _open_device(new_context, {}, harness_server, harness_people, harness_instant, site, interception,
                        kind, "page", [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that needs a flow the site map lacks (``device.sign_up()`` on a site without [signup]) skips,
    naming the missing section, instead of failing."""
    try:
        return (yield)
    except MissingFlow as exc:
        pytest.skip(str(exc))
    except SnapshotCollision as exc:  # one line: the two tests and the file, no traceback
        pytest.fail(str(exc), pytrace=False)
    except MeasuredDifference as exc:
        declared = declared_differences(item)
        if not declared or item.get_closest_marker("xfail") is not None:
            raise
        profile = item_profile(item)
        raise pytest.xfail.Exception(differs_reason(profile.library, "; ".join(
            f"{cid} {why}" for cid, why in declared.items()), declared=True)) from exc


def declared_differences(item: pytest.Item) -> dict[str, str]:
    """The claims of this test its profile's ``[differs]`` table declares, with the reasons.

    A declared claim's tests need no mark: for that library a :class:`MeasuredDifference` (``measured()``)
    is the known difference, an xfail shown as *differs (declared)* in the matrix; any other failure still
    fails, and a pass is a pass.
    """
    differs = item_profile(item).differs
    return {cid: differs[cid] for cid in claims_of(item) if cid in differs}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """On failure, write the test's beacons to beacons.json beside pytest-playwright's artifacts
    (``--output``/<test slug>/), summarise them, and name the file in the JUnit XML."""
    outcome = yield
    report = outcome.get_result()
    interceptor = item.stash.get(_INTERCEPTOR, None)
    if interceptor is not None:
        _report_blocked(report, interceptor)
    if item.config.getoption("--conformance-out") or item.config.getoption("--conformance-check"):
        annotate(item, report, call, item_profile(item).name, declared_differences(item))
    if report.when != "call" or not report.failed:
        return
    captured = getattr(item, "funcargs", {}).get("beacons")
    if not isinstance(captured, Beacons) or captured.artifact_dir is None:
        return
    path = captured.dump(captured.artifact_dir / "beacons.json")
    report.sections.append(("captured beacons", f"{captured.summary()}\n(full JSON: {path})"))
    shown = _path_for_report(item.config, path)  # as pytest-playwright names its trace, video, screenshot
    item.user_properties.append((BEACONS_PROPERTY, shown))  # the teardown report feeds --junitxml
    report.user_properties.append((BEACONS_PROPERTY, shown))


def _report_blocked(report: pytest.TestReport, interceptor: Interceptor) -> None:
    """Name what the routes blocked: in a failing test's report (the page may have waited on it), and per
    test for the terminal summary (a user property, so it crosses from xdist workers)."""
    if report.when == "call" and report.failed and interceptor.blocked_requests:
        lines = [f"{method} {url} ({kind}) was blocked" for method, url, kind in interceptor.blocked_requests[:20]]
        hosts = sorted(interceptor.blocked)
        report.sections.append(("blocked requests", "\n".join(lines) + "\nIf the page waited on one of these, "
                                f"it is the site's own host: add it to [site] allow (or --site-allow): "
                                f"{', '.join(hosts)}"))
    if report.when == "teardown" and interceptor.blocked:
        report.user_properties.append((BLOCKED_PROPERTY, dict(interceptor.blocked)))


class _BlockedSummary:
    """Sums the blocked hosts of every test (workers' too) and lists them once at the end of the run."""

    def __init__(self) -> None:
        self.hosts: dict[str, int] = {}
        self.tests: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == BLOCKED_PROPERTY and isinstance(value, dict):
                for host, n in value.items():
                    self.hosts[host] = self.hosts.get(host, 0) + int(n)
                    self.tests[host] = self.tests.get(host, 0) + 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.hosts:
            return
        terminalreporter.section("hosts blocked by the harness (not the site, not a vendor it stands in for)")
        for host, n in sorted(self.hosts.items(), key=lambda kv: (-kv[1], kv[0])):
            terminalreporter.write_line(f"{host}: {n} request(s) in {self.tests[host]} test(s)")
        terminalreporter.write_line("a first-party host among them? pass it through: [site] allow = [...] in the "
                                    "site map, or --site-allow HOST")


def _path_for_report(config: pytest.Config, path: Path) -> str:
    """Relative to where pytest was started when inside it, absolute otherwise."""
    try:
        return str(path.resolve().relative_to(config.invocation_params.dir.resolve()))
    except ValueError:
        return str(path)
