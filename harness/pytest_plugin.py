"""pytest plugin (``pytest11`` entry point): a harness server, captured beacons and devices.

Layered by scope like pytest-playwright: ``harness_server`` (session) -> ``beacons`` (function,
emptied per test) and ``new_device`` (function-scoped factory on pytest-playwright's
``new_context``). Every option is a flag; the browser is the one :mod:`harness.browser` finds.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from harness import browser as browser_mod
from harness.capture import Beacons
from harness.device import Device, context_options
from harness.keys import Config
from harness.server import HarnessServer, is_loopback
from harness.snippet import ProfileError, SnippetProfile, load_profile


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "Intilery identity harness")
    group.addoption("--snippet", default=os.environ.get("HARNESS_SNIPPET", "intilery"),
                    help="snippet profile name or folder (default: intilery)")
    group.addoption("--tracking-plan", default=None, help="tracking plan (YAML/JSON) to validate beacons against")
    group.addoption("--browser-ws", default=os.environ.get("HARNESS_BROWSER_WS"),
                    help="connect to a running Playwright browser server (ws://HOST:PORT/) instead of launching")
    group.addoption("--harness-host", default=os.environ.get("HARNESS_HOST", "127.0.0.1"),
                    help="address the browser reaches the harness server on (default 127.0.0.1)")
    group.addoption("--snapshot-update", action="store_true", default=False,
                    help="rewrite golden payload files used by beacons.match_snapshot()")
    group.addoption("--harness-db", default=None, help="SQLite file for the session's store (default: a temp file)")


def _load_plan(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    from harness.plan import load_plan

    return load_plan(path)


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
    extra = [f"--host-resolver-rules=MAP *.shop.test {target}"]
    if args.get("channel"):
        return args  # the user picked a branded channel
    if remote:
        path = _remote_chromium(args.get("headless", True))
        found: dict[str, Any] = {"args": [*browser_mod.QUIET_FLAGS, *extra], "headless": args.get("headless", True),
                                 **({"executable_path": path} if path else {})}
    else:
        try:
            found = browser_mod.launch_args(headless=args.get("headless", True), extra_args=extra)
        except browser_mod.BrowserNotFound as exc:
            raise pytest.UsageError(str(exc)) from None
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


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Overrides(), "harness-overrides")
    config.addinivalue_line("markers", "claims(*ids): claims-table rows (C1..C26) this test proves")
    config.addinivalue_line("markers", "library(*names, reason=''): a test of these libraries' own behaviour "
                                       "(options, wire details); skipped, with the reason, when --snippet "
                                       "embeds another library")


def selected_profile(config: pytest.Config) -> SnippetProfile:
    """The --snippet profile, loaded once per session (a bad one is a usage error)."""
    cached = getattr(config, "_harness_profile", None)
    if cached is None:
        try:
            cached = load_profile(config.getoption("--snippet"))
        except ProfileError as exc:
            raise pytest.UsageError(str(exc)) from None
        config._harness_profile = cached  # type: ignore[attr-defined]
    return cached


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.library("intilery", reason=...)``: run only when the selected profile embeds that library;
    otherwise skipped, and the skip names the library, the reason and the profile."""
    for item in items:
        for mark in item.iter_markers("library"):
            profile = selected_profile(config)
            if profile.library not in mark.args:
                why = mark.kwargs.get("reason") or "a test of that library's own behaviour"
                item.add_marker(pytest.mark.skip(
                    reason=f"{'/'.join(mark.args)} only ({why}); --snippet {profile.name} embeds {profile.library}"))
                break


@pytest.fixture(scope="session")
def harness_server(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
                   ) -> Generator[HarnessServer, None, None]:
    """The running server (site + collector + API) on a free port, with a real SQLite file."""
    public = pytestconfig.getoption("--harness-host")
    bind = "127.0.0.1" if is_loopback(public) else "0.0.0.0"
    profile = selected_profile(pytestconfig)
    db = pytestconfig.getoption("--harness-db") or str(tmp_path_factory.mktemp("harness") / "beacons.sqlite")
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # pytest -n: one file per worker, never a shared store
    if worker and db != ":memory:" and pytestconfig.getoption("--harness-db"):
        db = str(Path(db).with_name(f"{Path(db).stem}.{worker}{Path(db).suffix}"))
    config = Config(tracking_plan=_load_plan(pytestconfig.getoption("--tracking-plan")))
    server = HarnessServer(host=bind, db=db, config=config, snippet=profile, public_host=public).start()
    yield server
    server.stop()


def snapshot_dir(profile: SnippetProfile) -> Path:
    """Golden payloads are per library: <snapshot root>/<profile's snapshots name>/ (e.g. intilery/)."""
    from harness.snapshot import default_dir

    return default_dir() / (profile.snapshots or profile.library or profile.name)


@pytest.fixture
def beacons(harness_server: HarnessServer, request: pytest.FixtureRequest) -> Beacons:
    """The store, emptied (and faults cleared) before the test."""
    harness_server.store.clear()
    harness_server.faults.clear()
    captured = Beacons(harness_server.store, harness_server.config.tracking_plan)
    captured.snapshot_update = bool(request.config.getoption("--snapshot-update"))
    captured.snapshot_dir = snapshot_dir(harness_server.profile)
    captured.test_name = request.node.name
    return captured


@pytest.fixture
def new_device(new_context: Callable[..., Any], playwright: Any, harness_server: HarnessServer,
               beacons: Beacons) -> Callable[..., Device]:
    """Factory: ``new_device("desktop" | "mobile")`` -> a new browser context (one person's device)."""
    made: list[Device] = []

    def make(kind: str = "desktop", name: str = "", **context_args: Any) -> Device:
        options = {**context_options(playwright, kind), **context_args}
        device = Device(new_context(**options), harness_server.base_url, harness_server.profile, kind,
                        name or f"{kind}-{len(made) + 1}")
        made.append(device)
        return device

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """On failure, write the test's beacons to test-results/<test>/beacons.json and summarise them."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    captured = getattr(item, "funcargs", {}).get("beacons")
    if not isinstance(captured, Beacons):
        return
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", item.nodeid).strip("-")[:150]
    path = captured.dump(Path(item.config.rootpath) / "test-results" / slug / "beacons.json")
    report.sections.append(("captured beacons", f"{captured.summary()}\n(full JSON: {path})"))
