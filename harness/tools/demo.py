"""``harness demo``: the seeds' merge scenarios #1-#3 and a short sign-up-loss run, in a real browser.

One throwaway server (``:memory:``), one Chromium. Each scenario starts from an empty store so its
profiles, MTU and lint stand alone; each device's timeline is what that browser sent (the harness's
``_meta.device`` cookie, not the library, says which browser sent a message).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from harness.collecting.collector import DEVICE_COOKIE
from harness.collecting.store import Record
from harness.tools.views import lint_view, parse_time

UID = "97980cfea0067"  # the seeds' database-style userId
WAIT_S = 15.0


@dataclass
class Scenario:
    """A seed scenario: what the people do, and how many profiles the seed says result."""

    title: str
    story: str
    expected_profiles: int
    play: Callable[[Any], list[Any]]  # (Stage) -> devices


class Stage:
    """What a scenario can use: open devices, and wait until each device's messages are stored."""

    def __init__(self, playwright: Any, browser: Any, server: Any) -> None:
        self.playwright, self.browser, self.server = playwright, browser, server
        self.sent: dict[str, int] = {}  # device name -> messages it should have sent so far

    def device(self, kind: str, name: str) -> Any:
        from harness.testing.device import Device, context_options

        context = self.browser.new_context(**context_options(self.playwright, kind))
        device = Device(context, self.server.base_url, self.server.profile, kind, name)
        self.sent[name] = 0
        return device

    def settle(self, device: Any, messages: int) -> None:
        """Wait until this device's ``messages`` more beacons are stored (event-based, bounded)."""
        self.sent[device.name] += messages
        self.server.store.wait_for(count=self.sent[device.name], timeout=WAIT_S, _meta__device=device_id(device))

    def browse(self, device: Any, *paths: str) -> None:
        for path in paths:
            device.visit(path)
            self.settle(device, 1)

    def sign_up(self, device: Any, uid: str = UID) -> None:
        """The seeds' recommended flow: the welcome page makes identify + Signed Up."""
        device.visit(f"/signup?flow=welcome-page&uid={uid}")
        device.tab.click("#signup-submit")
        device.tab.wait_for_url("**/welcome?**")
        device.ready()
        self.settle(device, 4)  # sign-up page view, welcome page view, identify, Signed Up

    def log_in(self, device: Any, uid: str = UID) -> None:
        device.visit("/login")
        device.tab.fill("#login-uid", uid)
        device.tab.click("#login-submit")
        device.tab.wait_for_url("**/account?login=1")
        device.ready()
        self.settle(device, 3)  # login page view, account page view, identify


def device_id(device: Any) -> str | None:
    """The harness's first-party device cookie for this browser (set on its first page view)."""
    return next((c["value"] for c in device.context.cookies() if c["name"] == DEVICE_COOKIE), None)


def _scenario_1(stage: Stage) -> list[Any]:
    desktop = stage.device("desktop", "desktop")
    stage.browse(desktop, "/?utm_source=ad", "/products/p1", "/products/p4")
    desktop.advance(days=2)
    stage.sign_up(desktop)
    return [desktop]


def _scenario_2(stage: Stage) -> list[Any]:
    desktop, phone = stage.device("desktop", "desktop"), stage.device("mobile", "phone")
    stage.browse(desktop, "/", "/products/p2")
    stage.browse(phone, "/", "/products/p3")
    desktop.advance(days=1)
    phone.advance(days=1)
    stage.sign_up(desktop)
    stage.browse(phone, "/cart")
    return [desktop, phone]


def _scenario_3(stage: Stage) -> list[Any]:
    desktop, phone = stage.device("desktop", "desktop"), stage.device("mobile", "phone")
    stage.browse(desktop, "/", "/products/p1")
    stage.browse(phone, "/", "/products/p2")
    stage.sign_up(desktop)
    phone.advance(days=3)
    stage.log_in(phone)
    return [desktop, phone]


SCENARIOS = [
    Scenario("Scenario #1 - multi-day, single device",
             "Arrives from an ad, browses anonymously, comes back two days later on the same desktop and "
             "signs up.", 1, _scenario_1),
    Scenario("Scenario #2 - multi-day, multi-device, single login",
             "Browses on the desktop and on the phone; signs up on the desktop only; the phone never logs in.",
             2, _scenario_2),
    Scenario("Scenario #3 - multi-day, multi-device, multiple logins",
             "Browses on both; signs up on the desktop; three days later logs in on the phone.", 1, _scenario_3),
]


# ---- presentation -------------------------------------------------------------------------------
def short(value: Any, n: int = 8) -> str:
    return "-" if value in (None, "") else str(value)[:n]


def _when(record: Record) -> str:
    stamp = record.get("timestamp") or record.get("receivedAt") or ""
    when = parse_time(stamp)
    return when.strftime("%a %d %b %H:%M:%S") if when else str(stamp)


def _what(record: Record) -> str:
    kind = record.get("type")
    if kind == "track":
        return str(record.get("event"))
    if kind == "page":
        return str((record.get("context") or {}).get("page", {}).get("path") or record.get("name") or "")
    if kind == "identify":
        traits = record.get("traits") or {}
        return ", ".join(f"{k}={v}" for k, v in traits.items() if k in ("name", "plan")) or "(no traits)"
    return str(record.get("name") or record.get("groupId") or "")


def timeline_table(device: Any, records: list[Record]) -> Table:
    """One row per message the device sent, in device time (days advanced show as later dates)."""
    table = Table(title=f"{device.name} ({device.kind}) timeline", title_justify="left")
    for name in ("time (device clock)", "type", "event / page / traits", "anonymousId", "userId"):
        table.add_column(name, no_wrap=name != "event / page / traits")
    for r in sorted(records, key=lambda r: (str(r.get("timestamp")), r.get("_meta", {}).get("seq", 0))):
        style = "bold" if r.get("type") == "identify" or r.get("event") == "Signed Up" else ""
        table.add_row(_when(r), str(r.get("type")), _what(r), short(r.get("anonymousId")),
                      str(r.get("userId") or "-"), style=style)
    return table


def profiles_table(profiles: list[Any]) -> Table:
    table = Table(title="Profiles", title_justify="left")
    for name in ("profile", "userIds", "anonymousIds", "devices", "events", "first seen", "last seen", "traits"):
        table.add_column(name)
    for p in profiles:
        table.add_row(short(p.id, 13), ", ".join(p.user_ids) or "(anonymous)",
                      ", ".join(short(a) for a in p.anonymous_ids), str(len(p.devices)), str(p.event_count),
                      short(p.first_seen, 19), short(p.last_seen, 19),
                      ", ".join(f"{k}={v}" for k, v in p.traits.items() if k in ("name", "plan")) or "-")
    return table


def show_scenario(console: Console, scenario: Scenario, devices: list[Any], records: list[Record]) -> None:
    from harness.identity.lint import lint
    from harness.identity.profile import build_profiles, mtu_report

    console.rule(f"[bold]{scenario.title}")
    console.print(scenario.story, highlight=False)
    for device in devices:
        mine = [r for r in records if r.get("_meta", {}).get("device") == device_id(device)]
        console.print(timeline_table(device, mine))
    profiles = build_profiles(records)
    verdict = "as the seed says" if len(profiles) == scenario.expected_profiles else \
        f"[bold red]the seed says {scenario.expected_profiles}[/]"
    console.print(profiles_table(profiles))
    console.print(f"{len(profiles)} profile(s), {verdict}.  "
                  + "; ".join(str(m) for m in mtu_report(records)), highlight=False)
    console.print(lint_view([f.to_dict() for f in lint(records)]))  # as `harness lint` shows it


def loss_cells(profile: Any) -> list[tuple[str, str, str]]:
    """The short loss run for this library: a submit before the library loaded, a redirect right after the
    calls in the mode most likely to hold them (declared hold_ms, not unload-safe), and the seeds' fix."""
    from harness.experiments.shop import modes_of

    modes = modes_of(profile)
    risky = [m for m in profile.delivery if not m.unload_safe]
    held = next((m.name for m in risky if m.hold_ms), risky[0].name if risky else modes[0])
    return [(modes[0], "js-redirect", "early"), (held, "js-redirect", "ready"), (modes[0], "welcome-page", "ready")]


DEMO_WINDOW_S = 5.0  # the demo's lost cells need not wait the repro's full 15 s window to show the loss


@click.command()
@click.option("--trials", default=3, show_default=True, type=click.IntRange(1, 100),
              help="sign-ups per cell in the short loss run")
@click.option("--snippet", default="intilery", show_default=True, envvar="HARNESS_SNIPPET",
              help="snippet profile name or folder: the library the pages embed")
def demo(trials: int, snippet: str) -> None:
    """Walk the seeds' scenarios #1-#3 and a short sign-up-loss run in a real browser."""
    from playwright.sync_api import sync_playwright

    from harness.browser import BrowserNotFound, launch_args
    from harness.experiments.experiment import render_reasons, render_table
    from harness.experiments.shop import DEFAULT_LATENCY_MS, CellSpec, run_cells
    from harness.server import HarnessServer
    from harness.sites.snippet import ProfileError, load_profile

    try:
        profile = load_profile(snippet)
    except ProfileError as exc:
        raise click.BadParameter(str(exc), param_hint="--snippet") from None
    try:
        launch = launch_args()
    except BrowserNotFound as exc:
        raise click.ClickException(str(exc)) from None
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    began = time.monotonic()
    server = HarnessServer(port=0, db=":memory:", snippet=profile).start()
    try:
        console.print(f"harness demo: server {server.base_url}, snippet {profile.name} ({profile.library}), "
                      f"Chromium {launch.get('executable_path') or ''}", highlight=False)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**launch)
            try:
                for scenario in SCENARIOS:
                    server.store.clear()
                    stage = Stage(pw, browser, server)
                    devices = scenario.play(stage)
                    show_scenario(console, scenario, devices, server.store.query())
                    for device in devices:
                        device.close()
            finally:
                browser.close()
        server.store.clear()
        console.rule("[bold]Missing sign-ups - a short loss run")
        console.print(f"{trials} sign-ups per cell, {DEFAULT_LATENCY_MS} ms latency on the collector and every "
                      "library file. `harness repro signup-loss` runs every mode and flow.", highlight=False)
        cells = [CellSpec(m, f, s, DEFAULT_LATENCY_MS) for m, f, s in loss_cells(profile)]
        report = run_cells(cells, trials=trials, server=server, window_s=DEMO_WINDOW_S)
        console.print(render_table(report))
        for line in render_reasons(report):
            console.print(line, highlight=False)
    finally:
        server.stop()
    console.print(f"demo finished in {time.monotonic() - began:.0f} s", highlight=False)
