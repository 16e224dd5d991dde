"""Reproduce the seeds' "Missing sign-ups" and measure it: real sign-ups in Chromium, counted in the store.

It runs against the library of any snippet profile (``--snippet``): the delivery modes are the ones
the profile declares, the "library not loaded yet" test is the profile's, and the explanation of
each cell is built from what was measured (losses, whether the library had loaded at submit, the
observed transports, re-sends) and from the profile's own description of that delivery mode.

Each cell (delivery mode x sign-up flow x submit moment x latency) runs N trials. A trial is one new
browser context (a new person) in one shared browser: it opens ``/signup?flow=F&uid=U&delivery=M``,
a tiny in-page user script submits the form (``early``: at DOMContentLoaded, while a slow library may
still be loading; ``ready``: once the library's ``ready`` fired), and the trial waits for the flow's
destination URL. The person then *stays* on the destination page (the seeds' bug is the redirect
itself, not a user closing the tab), while the store is watched for that userId's identify and
"Signed Up". Delivered = both arrived within the settle window; lost = either missing. The window
is event-based: it ends the moment both are stored (then, so re-sends are counted, once the
destination's library is ready and no collector request is in flight); a lost trial waits it out.

Duplicates are the store's duplicate notifications, counted per trial (by the trial's userId, or
its anonymousId before identify), so cells of one latency can run side by side. ``--latency-ms``
delays both the collector's replies and every library file (script, chunks, settings: a slow CDN).
Everything here is library code usable from pytest; ``repro`` is the click group.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import click

from harness.collecting.transport import is_collector_path, observe_async
from harness.sites.site import DELIVERY_COOKIE, FLOWS, LIBRARY_FILE
from harness.sites.snippet import ASSET_PREFIX, SnippetProfile, load_profile
from harness.tools.usage import parse_int

SUBMITS = ("early", "ready")
DEFAULT_LATENCY_MS = 300
DEFAULT_TRIALS = 5
DEFAULT_MODE = "default"  # the one mode of a profile that declares none
GRACE_MS = 1000  # after the destination's library is ready: sending + storing takes ms; a loaded box, ~300
REQUEST_SETTLE_S = 0.05  # let Playwright report requests the page issued just before ready() returned
SIGNED_UP = "Signed Up"
DEFAULT_PARALLEL = 10  # contexts at once in the one browser: ~0.2 CPU-s each in the headless shell; 2 cores keep up

# The simulated person. Runs in every page of the trial's context; acts once, on the sign-up form.
# __GLOBAL__ is the profile's API global, __READY__ its ready expression (a function of [callback]).
USER_SCRIPT = """(() => {
  const submit = __SUBMIT__;
  if (location.pathname !== '/signup' || sessionStorage.getItem('hx_repro_submit')) return;
  const go = () => {
    const button = document.getElementById('signup-submit');
    if (!button) return;
    let loaded = null;
    try { loaded = !(__NOT_LOADED__); } catch (e) { /* the profile's test failed: unknown */ }
    sessionStorage.setItem('hx_repro_submit', JSON.stringify({library: loaded, at: performance.now()}));
    button.click();
  };
  document.addEventListener('DOMContentLoaded', () => {
    const lib = window[__GLOBAL__];
    if (submit === 'early' || !lib || !lib.ready) go();
    else (__READY__)([go]);
  }, {once: true});
})();"""
# Resolves when the page's library is ready; a page evaluated right at commit has no snippet yet: wait for DOM.
READY_TEMPLATE = """(ms) => new Promise((resolve) => {
  const timer = setTimeout(() => resolve(false), ms);
  const go = () => {
    const lib = window[__GLOBAL__];
    if (!lib || !lib.ready) { clearTimeout(timer); resolve(false); return; }
    (__READY__)([() => { clearTimeout(timer); resolve(true); }]);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', go, {once: true});
  else go();
})"""


def user_script(profile: SnippetProfile, submit: str) -> str:
    """:data:`USER_SCRIPT` for this profile's library (its not-loaded test, API global and ready)."""
    return (USER_SCRIPT.replace("__SUBMIT__", json.dumps(submit)).replace("__NOT_LOADED__", profile.not_loaded)
            .replace("__GLOBAL__", json.dumps(profile.api.global_name))
            .replace("__READY__", profile.api.js("ready", "callback")))


def ready_js(profile: SnippetProfile) -> str:
    """:data:`READY_TEMPLATE` for this profile's library (its API global and ready expression)."""
    return (READY_TEMPLATE.replace("__GLOBAL__", json.dumps(profile.api.global_name))
            .replace("__READY__", profile.api.js("ready", "callback")))




SUBMITTED_JS = "() => JSON.parse(sessionStorage.getItem('hx_repro_submit') || 'null')"

# What the sample site's flows do (the harness's own pages, not any library); the rest of each cell's
# explanation is measured, or quoted from the profile's [delivery.modes.X] summary.
FLOW_FACTS = {
    "js-redirect": "identify + track, then location.href at once",
    "form-post": "identify + track on submit, then the browser posts the form and follows a 302",
    "welcome-page": "the server redirects to /welcome, which makes the calls; the person stays there",
    "server-side": "the server's own library sends both before it redirects; no browser delivery involved",
}


@dataclass
class Trial:
    """One sign-up by one new person."""

    user_id: str
    delivered: bool = False
    late: bool = False  # arrived, but only after the settle window
    arrival_ms: float | None = None  # from reaching the destination to both stored (negative: before it)
    ready_ms: float | None = None  # from reaching the destination to its library being ready
    library_at_submit: bool | None = None
    stored_identify: int = 0
    stored_signed_up: int = 0
    transports: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Cell:
    """Counts for one mode x flow x submit x latency."""

    mode: str
    flow: str
    submit: str
    latency_ms: int
    settle_ms: int
    trials: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    late: int = 0
    errors: int = 0
    stored_twice: int = 0  # userIds with an identify or "Signed Up" stored more than once (must stay 0)
    library_at_submit: int = 0
    transports: dict[str, int] = field(default_factory=dict)
    arrival_ms_max: float | None = None  # slowest delivered trial, from reaching the destination
    after_ready_ms_max: float | None = None  # ... and from the destination's library being ready (vs settle_ms)
    seconds: float = 0.0
    why: str = ""
    details: list[Trial] = field(default_factory=list, repr=False)  # per trial; not in the JSON

    @property
    def loss_pct(self) -> float:
        counted = self.trials - self.errors
        return round(100.0 * self.lost / counted, 1) if counted else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "loss_pct": self.loss_pct}
        del out["details"]
        return out


@dataclass
class LossReport:
    """A whole run: the settings it ran with and one Cell per combination."""

    settings: dict[str, Any]
    cells: list[Cell]
    seconds: float = 0.0

    def cell(self, mode: str, flow: str, submit: str | None = None, latency_ms: int | None = None) -> Cell:
        for c in self.cells:
            if c.mode == mode and c.flow == flow and submit in (None, c.submit) and latency_ms in (None, c.latency_ms):
                return c
        raise KeyError(f"no cell {mode}/{flow}/{submit}/{latency_ms}")

    def to_dict(self) -> dict[str, Any]:
        lossy = [c for c in self.cells if c.lost]
        return {
            "settings": self.settings,
            "cells": [c.to_dict() for c in self.cells],
            "summary": {"cells": len(self.cells), "lossy_cells": len(lossy),
                        "trials": sum(c.trials for c in self.cells), "lost": sum(c.lost for c in self.cells),
                        "duplicated": sum(c.duplicated for c in self.cells), "seconds": round(self.seconds, 1)},
        }


def settle_ms(hold_ms: int = 0) -> int:
    """How long, once the destination page's library is ready, a trial may take before it counts as lost.

    Anchored on the library being ready (an event), not on a clock: a slow CDN or a busy CPU delays
    the welcome page's calls and re-sends by exactly that much. A mode the profile declares to hold
    calls (a batching timer, ``hold_ms``) gets that long on top of the grace.
    """
    return hold_ms + GRACE_MS


def modes_of(profile: SnippetProfile) -> list[str]:
    """The delivery modes a profile declares, its default first; ``default`` when it declares none."""
    names = list(profile.delivery_modes)
    if profile.default_delivery in names:
        names.remove(profile.default_delivery)
        names.insert(0, profile.default_delivery)
    return names or [DEFAULT_MODE]


def explain(cell: Cell) -> str:
    """Why this cell came out as it did: what the flow does and what was measured (the profile's own
    description of the delivery mode is printed once per mode, see :func:`render_reasons`)."""
    counted = cell.trials - cell.errors
    parts = [f"{cell.flow} ({FLOW_FACTS.get(cell.flow, cell.flow)})"]
    outcome = f"{cell.lost} of {counted} lost" if cell.lost else f"none of {counted} lost"
    if cell.late:
        outcome += f" ({cell.late} arrived after the settle window)"
    parts.append(outcome)
    if cell.flow in ("js-redirect", "form-post"):
        if cell.submit == "early" and cell.library_at_submit == 0:
            parts.append("every submit came before the library loaded, so the calls were in the loader "
                         "stub's queue when the page left" + (": they died with it" if cell.lost == counted else ""))
        elif cell.library_at_submit == counted:
            parts.append("the library had loaded at every submit")
    if cell.transports:
        parts.append("arrived by " + _transports_text(cell.transports))
    if cell.duplicated:
        parts.append(f"{cell.duplicated} re-sent with the same messageId (stored once)")
    return "; ".join(parts)


def _at_destination(flow: str) -> Callable[[str], bool]:
    """URL predicate for where each flow ends up."""
    def check(url: str) -> bool:
        parts = urlsplit(url)
        if flow in ("js-redirect", "form-post"):
            return parts.path == "/" and "signed_up=1" in parts.query
        return parts.path == "/welcome"
    return check


def parse_list(value: str, allowed: Sequence[str], what: str) -> list[str]:
    """Comma-separated choices; ``all`` means every one. Raises ValueError naming the bad one."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items or items == ["all"]:
        return list(allowed)
    bad = [v for v in items if v not in allowed]
    if bad:
        raise ValueError(f"unknown {what} {', '.join(bad)}; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def parse_latencies(value: str | int) -> list[int]:
    """``300`` or ``0,300``: milliseconds, 0..60000."""
    out: list[int] = []
    for part in str(value).split(","):
        part = part.strip()
        if not part:
            continue
        out.append(parse_int(part, "--latency-ms", 0, 60_000))  # a UsageProblem (ValueError) names the option
    if not out:
        raise ValueError("give at least one latency")
    return list(dict.fromkeys(out))


class _Watch:
    """Routes stored beacons (from the server thread) to the trials waiting on this loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.seen: dict[str, set[str]] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.arrived_ms: dict[str, float] = {}
        # duplicates, per trial: messageId -> (userId, anonymousId) of every stored beacon, and each
        # trial's anonymousId once a beacon links it to the trial's userId (page calls carry only that)
        self.users: set[str] = set()
        self.sender: dict[Any, tuple[Any, Any]] = {}
        self.anonymous: dict[Any, str] = {}
        self.repeated: list[Any] = []

    def expect(self, user_id: str) -> asyncio.Event:
        self.users.add(user_id)
        self.seen[user_id] = set()
        self.events[user_id] = asyncio.Event()
        return self.events[user_id]

    def forget(self, user_id: str) -> None:
        self.seen.pop(user_id, None)
        self.events.pop(user_id, None)
        self.arrived_ms.pop(user_id, None)

    def listener(self, record: dict[str, Any]) -> None:
        """Called in the server thread for every stored beacon."""
        user_id = record.get("userId")
        self.sender[record.get("messageId")] = (user_id, record.get("anonymousId"))
        if user_id in self.users:
            self.anonymous[record.get("anonymousId")] = user_id
        if isinstance(user_id, str) and user_id in self.seen:
            kind = "identify" if record.get("type") == "identify" else (
                "signed_up" if record.get("type") == "track" and record.get("event") == SIGNED_UP else None)
            if kind:
                received = float(record.get("_meta", {}).get("received_ms") or time.time() * 1000)
                self.loop.call_soon_threadsafe(self._note, user_id, kind, received)

    def duplicate(self, message_id: Any) -> None:
        """Called in the server thread for every re-sent message (``store.subscribe_duplicates``)."""
        self.repeated.append(message_id)

    def duplicates_of(self, user_id: str) -> int:
        """Re-sent messages of one trial: its userId's, or its anonymousId's before identify."""
        count = 0
        for mid in self.repeated:
            uid, anonymous_id = self.sender.get(mid, (None, None))
            count += uid == user_id or (uid not in self.users and self.anonymous.get(anonymous_id) == user_id)
        return count

    def _note(self, user_id: str, kind: str, received_ms: float) -> None:
        seen = self.seen.get(user_id)
        if seen is None:
            return
        seen.add(kind)
        if len(seen) == 2 and user_id in self.events:
            self.arrived_ms[user_id] = received_ms
            self.events[user_id].set()


async def run_trial(browser: Any, base_url: str, watch: _Watch, mode: str, flow: str, submit: str,
                    latency_ms: int, profile: SnippetProfile | None = None, settle: int | None = None) -> Trial:
    """One person signs up; returns whether both calls arrived within the settle window."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    trial = Trial(user_id=uuid.uuid4().hex[:13])
    arrived = watch.expect(trial.user_id)
    profile = profile or load_profile()
    settle = settle_ms() if settle is None else settle
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        await context.add_cookies([{"name": DELIVERY_COOKIE, "value": mode, "url": base_url}])
        await observe_async(context)  # how each call leaves the page, observed (harness.collecting.transport)
        await context.add_init_script(user_script(profile, submit))
        page = await context.new_page()
        inflight: set[Any] = set()
        idle = asyncio.Event()

        def started_request(request: Any) -> None:
            if is_collector_path(urlsplit(request.url).path):
                inflight.add(request)

        def ended_request(request: Any) -> None:
            inflight.discard(request)
            if not inflight:
                idle.set()

        page.on("request", started_request)
        page.on("requestfinished", ended_request)
        page.on("requestfailed", ended_request)
        left = asyncio.Event()
        if submit == "early":
            await page.route(is_library_file, _hold_on_signup(left))
        navigate_ms = 15_000 + 4 * latency_ms
        await page.goto(f"{base_url}/signup?flow={flow}&uid={trial.user_id}" +
                        (f"&delivery={mode}" if mode != DEFAULT_MODE else ""),
                        wait_until="commit", timeout=navigate_ms)
        await page.wait_for_url(_at_destination(flow), wait_until="commit", timeout=navigate_ms)
        left.set()
        at_destination = loop.time()
        at_destination_ms = time.time() * 1000
        ready_at: list[float] = []

        async def library_ready() -> None:
            end = loop.time() + navigate_ms / 1000
            while loop.time() < end and not page.is_closed():
                try:
                    await page.evaluate(ready_js(profile), int((end - loop.time()) * 1000))
                    break
                except Exception:  # evaluated in the document that was just replaced: ask the new one
                    await asyncio.sleep(0.05)
            ready_at.append(loop.time())

        async def expiry(ready: asyncio.Future[None]) -> None:
            await asyncio.shield(ready)
            await asyncio.sleep(settle / 1000)

        ready = asyncio.ensure_future(library_ready())
        both = asyncio.ensure_future(arrived.wait())
        window = asyncio.ensure_future(expiry(ready))
        try:
            await asyncio.wait({both, window}, return_when=asyncio.FIRST_COMPLETED)
            if arrived.is_set():
                trial.delivered = True
                trial.arrival_ms = round(watch.arrived_ms[trial.user_id] - at_destination_ms, 1)
                # stay until the destination sent what it will (persist re-sends: the duplicates)
                await asyncio.wait_for(asyncio.shield(ready), navigate_ms / 1000)
                await asyncio.sleep(REQUEST_SETTLE_S)
                if inflight:
                    idle.clear()
                    await asyncio.wait_for(idle.wait(), settle / 1000)
        except TimeoutError:
            pass
        finally:
            for task in (both, window, ready):
                task.cancel()
        if ready_at:
            trial.ready_ms = round((ready_at[0] - at_destination) * 1000, 1)
        try:
            submitted = await page.evaluate(SUBMITTED_JS)
            trial.library_at_submit = bool(submitted["library"]) if submitted else None
        except Exception:  # informational only
            trial.library_at_submit = None
    except Exception as exc:  # a trial that could not run is an error, never a loss
        trial.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        watch.forget(trial.user_id)
        await context.close()
    trial.seconds = round(loop.time() - started, 3)
    return trial


def is_library_file(url: str) -> bool:
    """A file of the tracking library (our script, or anything a profile serves as its CDN: chunks, settings)."""
    path = urlsplit(url).path
    return path == f"/static/{LIBRARY_FILE}" or path.startswith(ASSET_PREFIX)


def _hold_on_signup(left: asyncio.Event) -> Callable[[Any], Any]:
    """Route handler: the sign-up page's library arrives only after the person left (a CDN slower than
    the person), so an ``early`` submit always meets the loader stub; every other page loads normally."""
    async def handle(route: Any) -> None:
        if urlsplit(route.request.frame.url).path == "/signup" and not left.is_set():
            await left.wait()
            with contextlib.suppress(Exception):  # the page that asked is gone
                await route.abort()
            return
        with contextlib.suppress(Exception):
            await route.continue_()
    return handle


def _tally(cell: Cell, trials: list[Trial], store: Any) -> None:
    """Fill a cell from its trials and from what the store holds for their userIds (after the fact)."""
    transports: Counter[str] = Counter()
    arrivals: list[float] = []
    after_ready: list[float] = []
    cell.details = list(trials)
    for trial in trials:
        cell.trials += 1
        if trial.error:
            cell.errors += 1
            continue
        identify = store.query(type="identify", userId=trial.user_id)
        signed_up = store.query(type="track", event=SIGNED_UP, userId=trial.user_id)
        trial.stored_identify, trial.stored_signed_up = len(identify), len(signed_up)
        trial.transports = [str(r.get("_meta", {}).get("transport")) for r in identify + signed_up]
        transports.update(trial.transports)
        if len(identify) > 1 or len(signed_up) > 1:
            cell.stored_twice += 1
        if trial.delivered:
            cell.delivered += 1
            if trial.arrival_ms is not None:
                arrivals.append(trial.arrival_ms)
                if trial.ready_ms is not None:
                    after_ready.append(round(trial.arrival_ms - trial.ready_ms, 1))
        else:
            cell.lost += 1
            if identify and signed_up:
                trial.late = True
                cell.late += 1
        if trial.library_at_submit:
            cell.library_at_submit += 1
    cell.transports = dict(sorted(transports.items()))
    cell.arrival_ms_max = max(arrivals) if arrivals else None
    cell.after_ready_ms_max = max(after_ready) if after_ready else None


@dataclass(frozen=True)
class CellSpec:
    mode: str
    flow: str
    submit: str
    latency_ms: int


def plan_cells(modes: Iterable[str], flows: Iterable[str], submits: Iterable[str],
               latencies: Iterable[int]) -> list[CellSpec]:
    """Every combination, in table order (latency, mode, flow, submit)."""
    return [CellSpec(m, f, s, lat) for lat in latencies for m in modes for f in flows for s in submits]


Progress = Callable[[CellSpec, int, int], None]  # (cell, trials done in the cell, trials per cell)


async def run_cells_async(server: Any, cells: Sequence[CellSpec], trials: int, parallel: int,
                          progress: Progress | None = None, headless: bool = True,
                          faults: dict[str, Any] | None = None) -> list[Cell]:
    """Run the cells with a single browser, ``parallel`` contexts at a time.

    Cells that share a latency run as one group (trials of the next cell start as soon as a context
    is free), so no cell waits for the slowest trial of the one before. Duplicates are counted per
    trial from the store's duplicate notifications, so cells running side by side keep their own.
    """
    from playwright.async_api import async_playwright

    from harness.browser import launch_args

    watch = _Watch(asyncio.get_running_loop())
    unsubscribe = server.store.subscribe(watch.listener)
    unsubscribe_duplicates = server.store.subscribe_duplicates(watch.duplicate)
    results: list[Cell] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(**launch_args(headless=headless))
            try:
                for _, group in itertools.groupby(cells, key=lambda spec: spec.latency_ms):
                    results += await _run_group(browser, server, watch, list(group), trials, parallel, progress,
                                                faults)
            finally:
                await browser.close()
    finally:
        unsubscribe()
        unsubscribe_duplicates()
        server.faults.clear()
    return results


async def _run_group(browser: Any, server: Any, watch: _Watch, specs: list[CellSpec], trials: int, parallel: int,
                     progress: Progress | None, extra_faults: dict[str, Any] | None = None) -> list[Cell]:
    """Cells of one latency: set the latency (and any extra) faults once, run every trial, count from the store."""
    faults, loop = server.faults, asyncio.get_running_loop()
    faults.clear()
    if specs[0].latency_ms:
        faults.configure({"delay_ms": specs[0].latency_ms, "script_delay_ms": specs[0].latency_ms})
    if extra_faults:
        faults.configure(extra_faults)
    profile: SnippetProfile = server.profile
    gate = asyncio.Semaphore(max(1, parallel))
    done: Counter[int] = Counter()
    spans: dict[int, list[float]] = {i: [] for i in range(len(specs))}

    async def one(index: int, spec: CellSpec) -> Trial:
        async with gate:
            spans[index].append(loop.time())
            trial = await run_trial(browser, server.base_url, watch, spec.mode, spec.flow, spec.submit,
                                    spec.latency_ms, profile, _settle(profile, spec.mode))
            spans[index].append(loop.time())
        done[index] += 1
        if progress:
            progress(spec, done[index], trials)
        return trial

    finished = await asyncio.gather(*(one(i, spec) for i, spec in enumerate(specs) for _ in range(trials)))
    cells: list[Cell] = []
    for index, spec in enumerate(specs):
        cell = Cell(spec.mode, spec.flow, spec.submit, spec.latency_ms, _settle(profile, spec.mode))
        own = list(finished[index * trials:(index + 1) * trials])
        cell.duplicated = sum(watch.duplicates_of(trial.user_id) for trial in own)
        _tally(cell, own, server.store)
        cell.seconds = round(max(spans[index]) - min(spans[index]), 2)
        cell.why = explain(cell)
        cells.append(cell)
    return cells


def _settle(profile: SnippetProfile, mode: str) -> int:
    declared = profile.mode(None if mode == DEFAULT_MODE else mode)
    return settle_ms(declared.hold_ms if declared else 0)


def run_signup_loss(modes: Sequence[str] | None = None, flows: Sequence[str] = FLOWS,
                    submits: Sequence[str] = SUBMITS, latencies: Sequence[int] = (DEFAULT_LATENCY_MS,),
                    trials: int = DEFAULT_TRIALS, parallel: int | None = None, server: Any = None,
                    progress: Progress | None = None, headless: bool = True,
                    faults: dict[str, Any] | None = None, snippet: SnippetProfile | str | None = None) -> LossReport:
    """The experiment over every combination of the given modes (default: every mode the profile
    declares), flows, submit moments and latencies."""
    profile = server.profile if server is not None else _profile(snippet)
    cells = plan_cells(modes or modes_of(profile), flows, submits, latencies)
    return run_cells(cells, trials, parallel, server, progress, headless, faults, profile)


def _profile(snippet: SnippetProfile | str | None) -> SnippetProfile:
    return snippet if isinstance(snippet, SnippetProfile) else load_profile(snippet)


def run_cells(cells: Sequence[CellSpec], trials: int = DEFAULT_TRIALS, parallel: int | None = None,
              server: Any = None, progress: Progress | None = None, headless: bool = True,
              faults: dict[str, Any] | None = None, snippet: SnippetProfile | str | None = None) -> LossReport:
    """Run these cells, synchronously. Starts its own :class:`HarnessServer` (with ``snippet``) unless given one.

    The async Playwright work runs in a thread of its own, so this is safe to call from code that
    already drives Playwright's sync API (pytest-playwright) or has an event loop. ``faults`` is an
    extra ``/api/faults`` body applied at the start of every cell, after the latency.
    """
    from harness.server import HarnessServer, run_in_thread

    parallel = parallel or min(trials, DEFAULT_PARALLEL)
    own = server is None
    srv = HarnessServer(port=0, db=":memory:", snippet=_profile(snippet)).start() if own else server
    profile: SnippetProfile = srv.profile
    began = time.monotonic()
    try:
        done = run_in_thread(run_cells_async(srv, cells, trials, parallel, progress, headless, faults), "signup-loss")
    finally:
        if own:
            srv.stop()
    modes = list(dict.fromkeys(c.mode for c in cells))
    settings = {
        "trials": trials, "modes": modes, "flows": list(dict.fromkeys(c.flow for c in cells)),
        "submit": list(dict.fromkeys(c.submit for c in cells)),
        "latency_ms": list(dict.fromkeys(c.latency_ms for c in cells)), "parallel": parallel,
        "snippet": profile.name,
        "library": {"name": profile.library, "version": profile.library_version},
        "delivery": {m: (d.summary if (d := profile.mode(None if m == DEFAULT_MODE else m)) else "")
                     for m in modes},
        "settle_ms": {m: _settle(profile, m) for m in modes},
        "settle_rule": f"after the destination page's library is ready (its ready callback): {GRACE_MS} ms, plus "
                       "the mode's declared hold_ms (a batching timer); ends early once both calls are stored",
        "latency_applies_to": ["collector reply (delay_ms)",
                               "every library file: script, chunks, settings (script_delay_ms)"],
        "transports": "observed in the browser (harness.collecting.transport), not reported by the library",
        "extra_faults": faults,
        "user": "a new browser context per trial; submits at DOMContentLoaded (early) or on the library's ready "
                "(ready); stays on the destination page through the settle window",
        "delivered_means": "identify AND track 'Signed Up' stored for the trial's userId",
    }
    return LossReport(settings, done, time.monotonic() - began)


# ---- presentation -------------------------------------------------------------------------------
def _transports_text(transports: dict[str, int]) -> str:
    return ", ".join(f"{name}×{n}" for name, n in transports.items()) or "-"


def render_table(report: LossReport) -> Any:
    """A rich Table: rows = mode x flow x submit (x latency)."""
    from rich.table import Table

    many_latencies = len(report.settings.get("latency_ms", [])) > 1
    extra = any(c.late or c.errors or c.stored_twice for c in report.cells)
    library = report.settings.get("library", {})
    title = f"Missing sign-ups with {library.get('name', '?')} {library.get('version', '')}".rstrip()
    table = Table(title=f"{title}: delivered / lost per delivery mode and flow", title_justify="left")
    for name in ("mode", "flow", "submit"):
        table.add_column(name, no_wrap=True)
    if many_latencies:
        table.add_column("latency", justify="right")
    for name in ("trials", "delivered", "lost", "loss %", "duplicated", "lib@submit"):
        table.add_column(name, justify="right")
    if extra:
        table.add_column("late/err/2x", justify="right")
    table.add_column("transports")
    for c in report.cells:
        style = "bold red" if c.lost else "green"
        row = [c.mode, c.flow, c.submit]
        if many_latencies:
            row.append(f"{c.latency_ms} ms")
        row += [str(c.trials), str(c.delivered), f"[{style}]{c.lost}[/]", f"[{style}]{c.loss_pct:g}[/]",
                str(c.duplicated), f"{c.library_at_submit}/{c.trials}"]
        if extra:
            row.append(f"{c.late}/{c.errors}/{c.stored_twice}")
        row.append(_transports_text(c.transports))
        table.add_row(*row)
    windows = dict.fromkeys((c.mode, c.settle_ms) for c in report.cells)
    slowest = max((c.after_ready_ms_max for c in report.cells if c.after_ready_ms_max is not None), default=None)
    table.caption = (
        "settle window once the destination's library is ready: "
        + ", ".join(f"{mode} {ms} ms" for mode, ms in windows)
        + (f" (slowest delivery: {slowest:.0f} ms after ready)" if slowest is not None else "")
        + f"; latency {', '.join(str(x) for x in report.settings['latency_ms'])} ms"
        + f"; {sum(c.trials for c in report.cells)} trials in {report.seconds:.0f} s"
    )
    table.caption_justify = "left"
    return table


def render_reasons(report: LossReport) -> list[str]:
    """The profile's description of each delivery mode, then one line per cell with what was measured there."""
    library = report.settings.get("library", {}).get("name", "the library")
    lines = [f"- {library} '{mode}' delivery, as its profile describes it: {text}"
             for mode, text in report.settings.get("delivery", {}).items() if text]
    many = len(report.settings.get("latency_ms", [])) > 1
    return lines + [f"- {c.mode}/{c.flow}/{c.submit}" + (f"@{c.latency_ms}ms" if many else "") + f": {c.why}"
                    for c in report.cells]


def print_report(report: LossReport, fmt: str) -> None:
    """One JSON document on stdout, or the table and one "why" line per cell."""
    from rich.console import Console

    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    out = Console()
    if not out.is_terminal:  # piped or redirected: do not squeeze the table into 80 columns
        out = Console(width=200)
    out.print(render_table(report))
    out.print("Why:")
    for line in render_reasons(report):
        out.print(line, highlight=False)


# ---- CLI ------------------------------------------------------------------------------------------
@click.group()
def repro() -> None:
    """Reproduce the seeds' identity bugs and measure them."""


@repro.command("signup-loss")
@click.option("--trials", default=DEFAULT_TRIALS, show_default=True, type=click.IntRange(1, 10_000),
              help="sign-ups per cell, each a new browser context with its own userId")
@click.option("--snippet", default=None, envvar="HARNESS_SNIPPET",
              help="snippet profile name or folder: which library signs people up (default: intilery on the shop; "
                   "with --site-url the site map's [site] library, else analytics-next, as the pytest plugin does)")
@click.option("--modes", default="all", show_default=True,
              help="comma-separated delivery modes the profile declares (intilery: persist, xhr, batch, beacon, "
                   "keepalive, fetchlater; analytics-next: standard, keepalive, batching; rudderstack: xhr, beacon, "
                   "batching)")
@click.option("--flows", default="all", show_default=True, help=f"comma-separated flows: {', '.join(FLOWS)}")
@click.option("--latency-ms", "latency", default=str(DEFAULT_LATENCY_MS), show_default=True,
              help="delay on collector replies and on the library script (ms); a comma list runs each")
@click.option("--submit", "submit", default="early,ready", show_default=True,
              help="when the person submits: early (DOMContentLoaded, library may still be loading), ready")
@click.option("--parallel", default=None, type=click.IntRange(1, 32),
              help=f"browser contexts at once; cells of one latency share them [default: min(trials, "
                   f"{DEFAULT_PARALLEL})]")
@click.option("--headed", is_flag=True, help="show the browser: watch the sign-ups get lost")
@click.option("--site-url", default=None, envvar="HARNESS_SITE_URL",
              help="measure on this site instead of the sample shop (its vendor traffic is intercepted)")
@click.option("--site-map", default=None, type=click.Path(dir_okay=False),
              help="the site's TOML site map (its [signup] form); needed with --site-url")
@click.option("--capture-host", "capture_hosts", multiple=True, help="with --site-url: also capture this host")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def signup_loss(trials: int, snippet: str | None, modes: str, flows: str, latency: str, submit: str,
                parallel: int | None, headed: bool, site_url: str | None, site_map: str | None,
                capture_hosts: tuple[str, ...], fmt: str) -> None:
    """Real-browser sign-ups per delivery mode and flow: delivered / lost / duplicated per cell."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.browser import BrowserNotFound
    from harness.sites.snippet import ProfileError

    if site_url or site_map:
        _site_signup_loss(trials, snippet, latency, submit, parallel, headed, site_url, site_map, capture_hosts,
                          fmt)
        return

    try:
        profile = load_profile(snippet or "intilery")
    except ProfileError as exc:
        raise click.BadParameter(str(exc), param_hint="--snippet") from None
    try:
        mode_list = parse_list(modes, modes_of(profile), "mode")
        flow_list = parse_list(flows, FLOWS, "flow")
        submit_list = parse_list(submit, SUBMITS, "submit moment")
        latencies = parse_latencies(latency)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    cells = plan_cells(mode_list, flow_list, submit_list, latencies)
    err = Console(stderr=True)
    with Progress(TextColumn("[bold]signup-loss[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=fmt == "json") as bar:
        task = bar.add_task("starting", total=len(cells) * trials)

        def step(spec: CellSpec, done: int, per_cell: int) -> None:
            bar.update(task, advance=1,
                       description=f"{spec.mode}/{spec.flow}/{spec.submit}@{spec.latency_ms}ms {done}/{per_cell}")

        try:
            report = run_signup_loss(mode_list, flow_list, submit_list, latencies, trials, parallel, progress=step,
                                     headless=not headed, snippet=profile)
        except BrowserNotFound as exc:
            raise click.ClickException(str(exc)) from None
    print_report(report, fmt)


def _site_signup_loss(trials: int, snippet: str | None, latency: str, submit: str, parallel: int | None, headed: bool,
                      site_url: str | None, site_map: str | None, capture_hosts: Sequence[str], fmt: str) -> None:
    """``--site-url``: the experiment on the user's own site (harness.tools.repro_site)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.browser import BrowserNotFound
    from harness.sites.sitemap import SiteMapError, load_site_map
    from harness.sites.snippet import ProfileError
    from harness.tools.repro_site import run_site_signup_loss

    if not site_map:
        raise click.BadParameter("a site map with a [signup] section is needed to sign up on your site",
                                 param_hint="--site-map")
    try:
        site = load_site_map(site_map).with_url(site_url)
    except SiteMapError as exc:
        raise click.BadParameter(str(exc), param_hint="--site-map") from None
    if not site.url or site.signup is None:
        raise click.BadParameter(f"{site_map}: needs a [site] url (or --site-url) and a [signup] section",
                                 param_hint="--site-map")
    try:
        library = load_profile(snippet or site.library or "analytics-next")
        submits = parse_list(submit, SUBMITS, "submit moment")
        latencies = parse_latencies(latency)
    except ProfileError as exc:
        raise click.BadParameter(str(exc), param_hint="--snippet") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    err = Console(stderr=True)
    with Progress(TextColumn("[bold]signup-loss[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=fmt == "json") as bar:
        task = bar.add_task(site.name, total=len(submits) * len(latencies) * trials)
        try:
            report = run_site_signup_loss(site, library, submits, latencies, trials, parallel, not headed,
                                          capture_hosts=capture_hosts,
                                          progress=lambda what, done, of: bar.update(
                                              task, advance=1, description=f"{site.name} {what} {done}/{of}"))
        except BrowserNotFound as exc:
            raise click.ClickException(str(exc)) from None
    print_report(report, fmt)
