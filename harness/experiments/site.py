"""Missing sign-ups on *your* site: the experiment on a site the harness does not serve.

Each trial is a new, unique person (a new browser context, its own device id, ``Person.unique(run,
n)``) on the site under test. Its vendor traffic is intercepted as in :mod:`harness.sites.intercept`:
the library and its settings come from the bundled profile's npm package, its beacons go to the
collector; the map's ``allow`` hosts pass through. The person opens the ``[signup]`` page, the map's
``[before]`` steps run (a consent click), the fields are filled, ``[signup] steps`` run, and the
submit is clicked either at once while the vendor CDN is still holding the library back (*early*)
or once the library is ready (*ready*); then the person stays on the page the site lands on for the
window. Expected calls: ``[signup] expect``, else identify + track ``event``. Outcomes: see
:mod:`harness.experiments.experiment`.

``--latency-ms`` is the vendor's network: every CDN answer and every beacon reaches the "vendor"
only that long after the browser sent it, a beacon at least :data:`TRANSIT_FLOOR_MS` (so the in-time
grace grows by as much).

Delivered means what the browser saw: the harness, standing in for the vendor, answers the beacon
(200, as the vendor's API does) and only once the browser has *finished* that request does it hand
the body to the collector. A beacon the browser gives up on first (a navigation cancelling a plain
fetch, before or while it is answered) is never stored: lost, exactly as a test's own request log
counts it. (Forwarding first and answering after stored beacons whose request the browser then saw
fail, under load about 1 in 10 on a redirect right after the calls.)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from harness.collecting.transport import observe_async
from harness.experiments.experiment import (
    AUTO_CAP,
    DEFAULT_CI_WIDTH,
    DEFAULT_WINDOW_S,
    IN_TIME_GRACE_MS,
    SIGNED_UP,
    SUBMITS,
    ArrivalWatch,
    Cell,
    Expected,
    LossReport,
    OnContext,
    RequestLog,
    Trial,
    call_hook,
    classify,
    error_text,
    expected_calls,
    follow,
    needs_more,
    outcome_rules,
    outcome_text,
    ready_at_js,
    storage_evidence,
    tally,
)
from harness.sites.intercept import WEBSOCKET_REFUSED, Interceptor, vendor_hosts
from harness.sites.sitemap import Person, SiteMap
from harness.sites.snippet import SnippetProfile
from harness.sites.steps import ready_script, run_steps_async

FLOW = "site"
MODE = "as shipped"
DEFAULT_PARALLEL = 4
TRANSIT_FLOOR_MS = 100  # a beacon's least time on its way to the vendor: a navigation can still cancel it
SIGNUP_READY_S = 10.0  # a ready submit waits this long (plus 4 x latency) for the sign-up page's library
SETTLE_IDLE_S = 2.0  # once every call arrived: at most this long for vendor requests still in flight
ANSWERED_S = 10.0  # after answering a beacon: how long the browser may take to finish (or fail) the request


class SiteWatch(ArrivalWatch):
    """Arrivals by the browser's device id; re-sends per device, and the userId the identify carried."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: Sequence[Expected]) -> None:
        super().__init__(loop, expected, lambda record: (record.get("_meta") or {}).get("device"))
        self.by_message: dict[Any, str] = {}
        self.duplicates: Counter[str] = Counter()
        self.user_ids: dict[str, str] = {}

    def listener(self, record: dict[str, Any]) -> None:
        device = (record.get("_meta") or {}).get("device")
        if device in self.arrivals:
            self.by_message[record.get("messageId")] = device
            if record.get("type") == "identify" and isinstance(record.get("userId"), str):
                self.user_ids.setdefault(device, record["userId"])
        super().listener(record)

    def duplicate(self, message_id: Any) -> None:
        if (device := self.by_message.get(message_id)) is not None:
            self.loop.call_soon_threadsafe(self.duplicates.update, [device])


def expected_for(site: SiteMap, event: str | None = None) -> tuple[Expected, ...]:
    """``[signup] expect`` when the map gives it (it wins over ``--event``), else identify + track event."""
    return expected_calls(site.signup.expect if site.signup is not None else (), event or SIGNED_UP)


async def run_site_trial(browser: Any, site: SiteMap, interceptor: Interceptor, watch: SiteWatch, submit: str,
                         latency_ms: int, library: SnippetProfile, window_s: float = DEFAULT_WINDOW_S,
                         person: Person | None = None, trial_id: str | None = None,
                         on_context: OnContext | None = None) -> Trial:
    """One unique person signs up on the site and stays on the destination for the window."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    device = uuid.uuid4().hex
    form = site.signup
    assert form is not None
    person = person or Person.unique(uuid.uuid4().hex[:8], 1)
    trial = Trial(id=trial_id or device[:12], user_id=form.user_id_for(person) or "", email=person.email,
                  device=device, expected=[c.label for c in watch.expected])
    arrived = watch.expect(device)
    signup_path = urlsplit(person.fill(form.url)).path
    left = asyncio.Event()
    aborted: set[Any] = set()
    log = RequestLog(lambda url: interceptor.decide(url).kind != "pass")
    reached_ms: float | None = None
    page = None
    ready_bool = ready_script(library)
    transit_ms = max(latency_ms, TRANSIT_FLOOR_MS)
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    ends: dict[Any, asyncio.Future[str]] = {}  # beacon requests answered, waiting for the browser's verdict

    def ended(request: Any, how: str) -> None:
        if how == "failed":
            aborted.add(request)
        future = ends.pop(request, None)
        if future is not None and not future.done():
            future.set_result(how)

    try:
        await observe_async(context)
        if library.api.script is not None:  # the profile's adapter ([api] script), as every test device runs it
            await context.add_init_script(path=library.api.script)
        context.on("requestfailed", lambda request: ended(request, "failed"))
        context.on("requestfinished", lambda request: ended(request, "finished"))
        log.attach(context)

        async def handle(route: Any, request: Any) -> None:
            decision = interceptor.decide(request.url)
            with contextlib.suppress(Exception):  # a page that is gone cannot be answered
                if decision.kind == "pass":
                    interceptor.note("passed", request.url)
                    await route.continue_()
                elif decision.kind == "block":
                    interceptor.note("blocked", request.url)
                    await route.abort("blockedbyclient")
                elif decision.kind == "cdn":
                    on_signup = urlsplit(request.frame.url).path == signup_path
                    if submit == "early" and on_signup and not left.is_set():
                        await left.wait()  # a CDN slower than the person: the library never arrives
                        await route.abort()
                        return
                    if latency_ms:
                        await asyncio.sleep(latency_ms / 1000)
                    assert decision.vendor is not None
                    await route.fulfill(**interceptor.cdn_reply(decision.vendor, decision.tail, request.method,
                                                                request.headers))
                else:
                    await asyncio.sleep(transit_ms / 1000)  # on its way to the vendor
                    if request in aborted:
                        interceptor.note("aborted", request.url)
                        return  # the browser gave up first: the vendor never received it
                    if request.method == "OPTIONS":  # a preflight: the vendor allows the page's origin
                        await route.fulfill(**interceptor.preflight_reply(request.headers))
                        return
                    body = request.post_data_buffer
                    verdict = ends[request] = loop.create_future()
                    await route.fulfill(**interceptor.ack_reply(request.headers))
                    if await asyncio.wait_for(verdict, ANSWERED_S) != "finished":
                        interceptor.note("aborted", request.url)
                        return  # answered, but the browser dropped the request: not delivered
                    target, headers = interceptor.forward(decision.tail, request.headers, device)
                    await _deliver(request.method, target, headers, body)
                    interceptor.note("captured", request.url)

        async def websocket(ws: Any) -> None:  # no vendor answers on a WebSocket: the site's own, or refused
            decision = interceptor.websocket_decision(ws.url)
            interceptor.note_websocket(ws.url, decision)
            if decision.kind == "pass":
                ws.connect_to_server()
            else:
                await ws.close(code=WEBSOCKET_REFUSED, reason="blocked by the harness")

        await context.route("**/*", handle)
        await context.route_web_socket(lambda url: True, websocket)
        await call_hook(on_context, context, trial)  # after our route: a test's own route sees requests first
        page = await context.new_page()
        navigate_ms = 15_000 + 4 * latency_ms
        await page.goto(site.url + person.fill(form.url), wait_until="domcontentloaded", timeout=navigate_ms)
        await run_steps_async(page, site.before, person, site.url, ready_bool)
        if submit == "ready":
            ok = await page.evaluate(ready_bool, int(SIGNUP_READY_S * 1000) + 4 * latency_ms)
            if not ok:
                raise RuntimeError("no library on the sign-up page at a ready submit")
        with contextlib.suppress(Exception):
            trial.library_at_submit = not await page.evaluate(f"() => !!({library.not_loaded})")
        try:
            for selector, value in form.fields.items():
                await page.fill(selector, person.fill(value), timeout=navigate_ms)
            await run_steps_async(page, form.steps, person, site.url, ready_bool)
            await page.click(form.submit, no_wait_after=True, timeout=navigate_ms)
        except Exception as exc:
            raise RuntimeError(f"the submit never happened: {error_text(exc)}") from None
        if form.after:
            try:
                await page.wait_for_url(form.after, wait_until="commit", timeout=navigate_ms)
            except Exception:
                raise RuntimeError(f"the destination ({form.after}) never came within {navigate_ms / 1000:g} s") \
                    from None
        reached_ms = time.time() * 1000
        log.mark_left()
        left.set()
        ready = await follow(page, arrived, ready_at_js(library), window_s)
        trial.ready_ms = None if ready is None else round(ready - reached_ms, 1)
        if arrived.is_set():
            await asyncio.sleep(0.05)  # let Playwright report what the page issued as the last call landed
            await log.settle(SETTLE_IDLE_S)
    except Exception as exc:  # a trial that could not run is an error, never a loss
        trial.error = error_text(exc) if not isinstance(exc, RuntimeError) else str(exc)
    finally:
        left.set()
        if page is not None and reached_ms is not None:
            trial.evidence = {"requests": log.entries, **await storage_evidence(page, context)}
        else:
            trial.evidence = {"requests": log.entries}
        watch.forget(device)
        await context.close()
    arrivals = watch.arrivals.get(device, {})
    trial.arrival_ms = {label: (round(arrivals[label] - reached_ms, 1) if label in arrivals and reached_ms else None)
                        for label in trial.expected}
    trial.user_id = trial.user_id or watch.user_ids.get(device, "")
    trial.transports = [name for name, n in watch.transports.get(device, Counter()).items() for _ in range(n)]
    trial.seconds = round(loop.time() - started, 3)
    classify(trial, IN_TIME_GRACE_MS + transit_ms)  # a beacon reaches the "vendor" transit_ms after it left
    return trial


async def _deliver(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> None:
    """Hand a beacon the browser delivered to the collector (its reply is the collector's business: a
    rejected body is kept in the bad list)."""
    async with aiohttp.request(method, url, headers=dict(headers), data=body,
                               timeout=aiohttp.ClientTimeout(total=30)) as reply:
        await reply.read()


async def _run(server: Any, site: SiteMap, library: SnippetProfile, submits: Sequence[str], latencies: Sequence[int],
               trials: int | None, parallel: int, headless: bool, expected: Sequence[Expected],
               capture_hosts: Sequence[str], progress: Callable[[str, int, int], None] | None, window_s: float,
               on_context: OnContext | None, ci_width: float, cap: int,
               run: str) -> tuple[list[Cell], Interceptor]:
    from playwright.async_api import async_playwright

    from harness.browser import launch_args, resolver_rules, seal_hosts

    interceptor = Interceptor(harness_url=server.base_url, site_url=site.url, vendors=vendor_hosts(preferred=library),
                              capture_hosts=tuple(capture_hosts), allow=site.allow)
    watch = SiteWatch(asyncio.get_running_loop(), expected)
    unsubscribe = server.store.subscribe(watch.listener)
    unsubscribe_duplicates = server.store.subscribe_duplicates(watch.duplicate)
    counter = itertools.count(1)
    cells: list[Cell] = []
    try:
        async with async_playwright() as pw:
            sealed = resolver_rules(sealed_to=seal_hosts(site.url, *site.allow, server.base_url))
            browser = await pw.chromium.launch(**launch_args(headless=headless, extra_args=[sealed]))
            gate = asyncio.Semaphore(max(1, parallel))
            try:
                for latency in latencies:
                    for submit in submits:
                        done: list[Trial] = []
                        cell = Cell(MODE, FLOW, submit, latency, window_ms=int(window_s * 1000),
                                    grace_ms=IN_TIME_GRACE_MS + max(latency, TRANSIT_FLOOR_MS))

                        async def one(submit: str = submit, latency: int = latency, done: list[Trial] = done) -> None:
                            n = next(counter)
                            async with gate:
                                trial = await run_site_trial(browser, site, interceptor, watch, submit, latency,
                                                             library, window_s, Person.unique(run, n), f"{run}-{n:04d}",
                                                             on_context)
                            done.append(trial)
                            if progress:
                                progress(f"{submit}@{latency}ms", len(done), trials or cap)

                        began = time.monotonic()
                        while True:
                            await asyncio.gather(*(one() for _ in range(trials or max(1, parallel))))
                            tally(cell, done)
                            if trials or not needs_more(cell, ci_width, cap):
                                break
                        for trial in done:
                            trial.duplicated = watch.duplicates.get(trial.device, 0)
                        tally(cell, done)
                        cell.seconds = round(time.monotonic() - began, 2)
                        cell.why = _why(cell, site)
                        cells.append(cell)
            finally:
                await browser.close()
    finally:
        unsubscribe()
        unsubscribe_duplicates()
    return cells, interceptor


def _why(cell: Cell, site: SiteMap) -> str:
    moment = ("submitted at once while the vendor CDN still held the library (the snippet's queue dies with the "
              "page unless the library saved it)" if cell.submit == "early"
              else "submitted once the library was ready")
    why = f"{site.name}'s sign-up, {moment}, then the site's redirect: {outcome_text(cell)}"
    if cell.duplicated:
        why += f"; {cell.duplicated} re-sent with the same messageId (stored once)"
    return why


def run_site_signup_loss(site: SiteMap, library: SnippetProfile, submits: Sequence[str] = SUBMITS,
                         latencies: Sequence[int] = (0,), trials: int | None = 5, parallel: int | None = None,
                         headless: bool = True, event: str | None = None, capture_hosts: Sequence[str] = (),
                         progress: Callable[[str, int, int], None] | None = None, *,
                         window_s: float = DEFAULT_WINDOW_S, on_context: OnContext | None = None,
                         ci_width: float = DEFAULT_CI_WIDTH, cap: int = AUTO_CAP,
                         run_id: str | None = None) -> LossReport:
    """The experiment on ``site`` (its map needs a [signup] section), on a harness server of its own.

    ``trials=None`` is ``--trials auto``. ``event`` names the sign-up's track event when the map has no
    ``[signup] expect``. ``on_context(context, trial)`` (awaited if awaitable) sees each trial's new
    BrowserContext after the interception route and before the first page: a route the hook adds runs
    first (Playwright runs the newest route first) and must ``fallback()`` to let the harness answer.
    """
    from harness.server import HarnessServer, run_in_thread

    if site.signup is None:
        raise ValueError(f"the site map of {site.name} has no [signup] section: nothing to sign up with")
    parallel = parallel or min(trials or DEFAULT_PARALLEL, DEFAULT_PARALLEL)
    expected = expected_for(site, event)
    run = run_id or uuid.uuid4().hex[:8]
    server = HarnessServer(port=0, db=":memory:", snippet=library).start()
    began = time.monotonic()
    try:
        cells, interceptor = run_in_thread(_run(server, site, library, submits, latencies, trials, parallel,
                                                headless, expected, capture_hosts, progress, window_s, on_context,
                                                ci_width, cap, run), "site-signup-loss")
    finally:
        server.stop()
    settings: dict[str, Any] = {
        "trials": trials if trials else "auto", "run_id": run,
        "site": {"name": site.name, "url": site.url, "signup": site.signup.url},
        "modes": [MODE], "flows": [FLOW], "submit": list(submits), "latency_ms": list(latencies),
        "parallel": parallel, "snippet": library.name,
        "library": {"name": library.library, "version": library.library_version},
        "delivery": {MODE: "whatever the site's own embed configures; the harness only stands in for the "
                           "vendor's CDN and API (interception)"},
        "window_s": window_s, "in_time_grace_ms": IN_TIME_GRACE_MS,
        "rules": {**outcome_rules(window_s, IN_TIME_GRACE_MS, expected),
                  "grace_latency": "the in-time grace grows by the cell's latency (a beacon reaches the vendor "
                                   "that much later)"},
        "expected": [_as_dict(c) for c in expected],
        "latency_applies_to": ["every vendor CDN answer", "every beacon on its way to the vendor"],
        "person": "a unique person per trial: Person.unique(run_id, n)",
        "interception": interceptor.summary(),
    }
    if trials is None:
        settings["auto"] = {"ci_width": ci_width, "cap": cap, "batch": parallel}
    return LossReport(settings, cells, time.monotonic() - began)


def _as_dict(call: Expected) -> Mapping[str, str]:
    return {"type": call.type, **({"event": call.event} if call.event else {})}
