"""Missing sign-ups on *your* site: the seeds' experiment on a site the harness does not serve.

Each trial is a new person (a new browser context, its own device id) on the site under test. Its
vendor traffic is intercepted as in :mod:`harness.sites.intercept`: the library and its settings come from
the bundled profile's npm package, its beacons go to the collector. The person opens the site map's
``[signup]`` page, fills the form and submits it either at DOMContentLoaded while the vendor CDN is
still holding the library back (*early*) or once the library is ready (*ready*), then stays on the
page the site redirects to. Delivered = an identify and the sign-up event from that device were
stored before the settle window ran out.

``--latency-ms`` is the vendor's network: every CDN answer and every beacon reaches the "vendor"
only that long after the browser sent it. A beacon the browser aborts meanwhile (a navigation
cancelling a plain fetch) never reaches it: lost, as on the real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.collecting.transport import observe_async
from harness.sites.intercept import Interceptor, vendor_hosts
from harness.sites.sitemap import Person, SiteMap
from harness.sites.snippet import SnippetProfile, available, load_profile
from harness.tools.repro import GRACE_MS, SUBMITS, Cell, LossReport, Trial, ready_js

FLOW = "site"
DEFAULT_PARALLEL = 4


@dataclass
class _DeviceWatch:
    """The store, seen per device id: which trial's identify and sign-up event arrived, and re-sends."""

    loop: asyncio.AbstractEventLoop
    event: str
    seen: dict[str, set[str]] = field(default_factory=dict)
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    by_message: dict[Any, str] = field(default_factory=dict)
    transports: dict[str, Counter[str]] = field(default_factory=dict)
    duplicates: Counter[str] = field(default_factory=Counter)

    def expect(self, device: str) -> asyncio.Event:
        self.seen[device], self.done[device], self.transports[device] = set(), asyncio.Event(), Counter()
        return self.done[device]

    def listener(self, record: dict[str, Any]) -> None:
        """In the server thread, for every stored beacon."""
        meta = record.get("_meta") or {}
        device = meta.get("device")
        if device not in self.seen:
            return
        self.by_message[record.get("messageId")] = device
        kind = "identify" if record.get("type") == "identify" else (
            "signed_up" if record.get("type") == "track" and record.get("event") == self.event else None)
        self.loop.call_soon_threadsafe(self._note, device, kind, str(meta.get("transport") or "?"))

    def duplicate(self, message_id: Any) -> None:
        if (device := self.by_message.get(message_id)) is not None:
            self.loop.call_soon_threadsafe(self.duplicates.update, [device])

    def _note(self, device: str, kind: str | None, transport: str) -> None:
        seen = self.seen.get(device)
        if seen is None:
            return
        if kind:
            seen.add(kind)
            self.transports[device][transport] += 1
        if {"identify", "signed_up"} <= seen:
            self.done[device].set()


async def run_site_trial(browser: Any, site: SiteMap, interceptor: Interceptor,
                         watch: _DeviceWatch, submit: str, latency_ms: int, settle_ms: int,
                         library: SnippetProfile) -> Trial:
    """One person signs up on the site; delivered when identify and the sign-up event arrived in time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    device = uuid.uuid4().hex
    trial = Trial(user_id=device)
    arrived = watch.expect(device)
    form = site.signup
    assert form is not None
    person = Person(name="Repro Person", email=f"{device[:12]}@repro.example", user_id=device[:13])
    signup_path = urlsplit(person.fill(form.url)).path
    left = asyncio.Event()
    aborted: set[Any] = set()
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    try:
        await observe_async(context)
        context.on("requestfailed", lambda request: aborted.add(request))

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
                    if latency_ms:
                        await asyncio.sleep(latency_ms / 1000)  # on its way to the vendor
                    if request in aborted:
                        interceptor.note("aborted", request.url)
                        return  # the browser gave up first: the vendor never received it
                    target, headers = interceptor.forward(decision.tail, request.headers, device)
                    reply = await route.fetch(url=target, method=request.method, headers=headers,
                                              post_data=request.post_data_buffer, max_redirects=0)
                    interceptor.note("captured", request.url)
                    await route.fulfill(response=reply)

        await context.route("**/*", handle)
        page = await context.new_page()
        navigate_ms = 15_000 + 4 * latency_ms
        await page.goto(site.url + person.fill(form.url), wait_until="domcontentloaded", timeout=navigate_ms)
        if submit == "ready":
            await page.evaluate(ready_js(library), navigate_ms)
        with contextlib.suppress(Exception):
            trial.library_at_submit = not await page.evaluate(f"() => !!({library.not_loaded})")
        for selector, value in form.fields.items():
            await page.fill(selector, person.fill(value))
        await page.click(form.submit, no_wait_after=True)
        if form.after:
            await page.wait_for_url(form.after, wait_until="commit", timeout=navigate_ms)
        left.set()
        ready = asyncio.ensure_future(_ready(page, navigate_ms, ready_js(library)))
        both = asyncio.ensure_future(arrived.wait())

        async def window() -> None:
            await asyncio.shield(ready)
            await asyncio.sleep(settle_ms / 1000)

        expiry = asyncio.ensure_future(window())
        try:
            await asyncio.wait({both, expiry}, return_when=asyncio.FIRST_COMPLETED)
            trial.delivered = arrived.is_set()
            if trial.delivered:  # stay while the destination re-sends what it saved (counted as duplicates)
                await asyncio.wait_for(asyncio.shield(ready), navigate_ms / 1000)
                await asyncio.sleep(GRACE_MS / 1000)
        finally:
            for task in (both, expiry, ready):
                task.cancel()
    except Exception as exc:  # a trial that could not run is an error, never a loss
        trial.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        left.set()
        await context.close()
    trial.transports = [name for name, n in watch.transports.get(device, Counter()).items() for _ in range(n)]
    trial.seconds = round(loop.time() - started, 3)
    return trial


async def _ready(page: Any, ms: int, script: str) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end and not page.is_closed():
        try:
            await page.evaluate(script, int((end - time.monotonic()) * 1000))
            return
        except Exception:  # evaluated in the document being replaced: ask the new one
            await asyncio.sleep(0.05)


def _profiles(library: SnippetProfile) -> list[SnippetProfile]:
    found = [load_profile(name) for name in available() if name != "none"]
    return found if library.name in {p.name for p in found} else [*found, library]


async def _run(server: Any, site: SiteMap, library: SnippetProfile, submits: Sequence[str], latencies: Sequence[int],
               trials: int, parallel: int, headless: bool, event: str, capture_hosts: Sequence[str],
               progress: Callable[[str, int, int], None] | None) -> tuple[list[Cell], Interceptor]:
    from playwright.async_api import async_playwright

    from harness.browser import launch_args

    interceptor = Interceptor(harness_url=server.base_url, site_url=site.url, vendors=vendor_hosts(_profiles(library)),
                              capture_hosts=tuple(capture_hosts))
    watch = _DeviceWatch(asyncio.get_running_loop(), event)
    unsubscribe = server.store.subscribe(watch.listener)
    unsubscribe_duplicates = server.store.subscribe_duplicates(watch.duplicate)
    cells: list[Cell] = []
    settle = GRACE_MS
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(**launch_args(headless=headless))
            gate = asyncio.Semaphore(max(1, parallel))
            try:
                for latency in latencies:
                    for submit in submits:
                        done = 0

                        async def one(submit: str = submit, latency: int = latency) -> Trial:
                            nonlocal done
                            async with gate:
                                trial = await run_site_trial(browser, site, interceptor, watch,
                                                             submit, latency, settle, library)
                            done += 1
                            if progress:
                                progress(f"{submit}@{latency}ms", done, trials)
                            return trial

                        began = time.monotonic()
                        results = await asyncio.gather(*(one() for _ in range(trials)))
                        cells.append(_cell(results, watch, submit, latency, settle, site,
                                           time.monotonic() - began))
            finally:
                await browser.close()
    finally:
        unsubscribe()
        unsubscribe_duplicates()
    return cells, interceptor


def _cell(trials: list[Trial], watch: _DeviceWatch, submit: str, latency: int, settle: int, site: SiteMap,
          seconds: float) -> Cell:
    cell = Cell("as shipped", FLOW, submit, latency, settle, trials=len(trials))
    for trial in trials:
        if trial.error:
            cell.errors += 1
        elif trial.delivered:
            cell.delivered += 1
        else:
            cell.lost += 1
        cell.library_at_submit += bool(trial.library_at_submit)
        cell.duplicated += watch.duplicates.get(trial.user_id, 0)
        for name in trial.transports:
            cell.transports[name] = cell.transports.get(name, 0) + 1
    cell.seconds = round(seconds, 2)
    counted = cell.trials - cell.errors
    moment = ("submitted at DOMContentLoaded while the vendor CDN still held the library (the snippet's "
              "queue dies with the page)" if submit == "early" else "submitted once the library was ready")
    outcome = f"{cell.lost} of {counted} lost" if cell.lost else f"none of {counted} lost"
    cell.why = f"{site.name}'s sign-up, {moment}, then the site's redirect: {outcome}"
    if cell.duplicated:
        cell.why += f"; {cell.duplicated} re-sent with the same messageId (stored once)"
    return cell


def run_site_signup_loss(site: SiteMap, library: SnippetProfile, submits: Sequence[str] = SUBMITS,
                         latencies: Sequence[int] = (0,), trials: int = 5, parallel: int | None = None,
                         headless: bool = True, event: str = "Signed Up", capture_hosts: Sequence[str] = (),
                         progress: Callable[[str, int, int], None] | None = None) -> LossReport:
    """The experiment on ``site`` (its site map needs a [signup] section); a harness server of its own."""
    from harness.server import HarnessServer, run_in_thread

    if site.signup is None:
        raise ValueError(f"the site map of {site.name} has no [signup] section: nothing to sign up with")
    parallel = parallel or min(trials, DEFAULT_PARALLEL)
    server = HarnessServer(port=0, db=":memory:", snippet=library).start()
    began = time.monotonic()
    try:
        cells, interceptor = run_in_thread(_run(server, site, library, submits, latencies, trials, parallel,
                                                headless, event, capture_hosts, progress), "site-signup-loss")
    finally:
        server.stop()
    settings = {
        "trials": trials, "site": {"name": site.name, "url": site.url, "signup": site.signup.url},
        "modes": ["as shipped"], "flows": [FLOW], "submit": list(submits), "latency_ms": list(latencies),
        "parallel": parallel, "snippet": library.name,
        "library": {"name": library.library, "version": library.library_version},
        "delivery": {"as shipped": "whatever the site's own embed configures; the harness only stands in for the "
                                   "vendor's CDN and API (interception)"},
        "latency_applies_to": ["every vendor CDN answer", "every beacon on its way to the vendor"],
        "delivered_means": f"identify AND track {event!r} stored from the trial's browser (its device id)",
        "interception": interceptor.summary(),
    }
    return LossReport(settings, cells, time.monotonic() - began)
