"""The experiment on the sample shop: real sign-ups in Chromium, per delivery mode, flow, submit moment, latency.

It runs against the library of any snippet profile (``--snippet``): the delivery modes are the ones
the profile declares, the "library not loaded yet" test is the profile's, and each cell's explanation
is built from what was measured and from the profile's own description of that delivery mode.

A trial is one new browser context (a new person) in one shared browser: it opens
``/signup?flow=F&uid=U&delivery=M``, a tiny in-page user script submits the form (``early``: at
DOMContentLoaded, while the library is held back on the sign-up page, a CDN slower than the person;
``ready``: once the library's ``ready`` fired), and the trial waits for the flow's destination. The
person then stays there for the window while the store is watched for that userId's expected calls
(:mod:`harness.experiments.experiment` says what in time / late / lost / error mean).

Duplicates are the store's duplicate notifications, counted per trial (by its userId, or its
anonymousId before identify). ``--latency-ms`` delays the collector's replies and every library file.
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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.collecting.transport import is_collector_path, observe_async
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
    auto_parallel,
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
from harness.sites.site import DELIVERY_COOKIE, FLOWS, LIBRARY_FILE
from harness.sites.snippet import ASSET_PREFIX, SnippetProfile, load_profile
from harness.tools.usage import parse_int

DEFAULT_LATENCY_MS = 300
DEFAULT_TRIALS = 5
DEFAULT_MODE = "default"  # the one mode of a profile that declares none
DEFAULT_PARALLEL = 10  # contexts at once in the one browser: ~0.2 CPU-s each in the headless shell; 2 cores keep up
REQUEST_SETTLE_S = 0.05  # let Playwright report requests the page issued just before ready() returned
SETTLE_IDLE_S = 1.0  # at most this long for collector requests in flight once all arrived (re-sends: duplicates)


# The simulated person. Runs in every page of the trial's context; acts once, on the sign-up form.
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
    if (submit === 'early') go();
    else if (!lib || !lib.ready) sessionStorage.setItem('hx_repro_submit', JSON.stringify({library: false}));
    else (__READY__)([go]);
  }, {once: true});
})();"""
SUBMITTED_JS = "() => JSON.parse(sessionStorage.getItem('hx_repro_submit') || 'null')"

# What the sample site's flows do (the harness's own pages); the rest of each cell's explanation is measured.
FLOW_FACTS = {
    "js-redirect": "identify + track, then location.href at once",
    "form-post": "identify + track on submit, then the browser posts the form and follows a 302",
    "welcome-page": "the server redirects to /welcome, which makes the calls; the person stays there",
    "server-side": "the server's own library sends both before it redirects; no browser delivery involved",
}


def user_script(profile: SnippetProfile, submit: str) -> str:
    """:data:`USER_SCRIPT` for this profile's library (its not-loaded test, API global and ready)."""
    return (USER_SCRIPT.replace("__SUBMIT__", json.dumps(submit)).replace("__NOT_LOADED__", profile.not_loaded)
            .replace("__GLOBAL__", json.dumps(profile.api.global_name))
            .replace("__READY__", profile.api.js("ready", "callback")))


def modes_of(profile: SnippetProfile) -> list[str]:
    """The delivery modes a profile declares, its default first; ``default`` when it declares none."""
    names = list(profile.delivery_modes)
    if profile.default_delivery in names:
        names.remove(profile.default_delivery)
        names.insert(0, profile.default_delivery)
    return names or [DEFAULT_MODE]


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


def explain(cell: Cell) -> str:
    """Why this cell came out as it did: what the flow does and what was measured."""
    parts = [f"{cell.flow} ({FLOW_FACTS.get(cell.flow, cell.flow)})", outcome_text(cell)]
    counted = cell.counted
    if counted and cell.flow in ("js-redirect", "form-post"):
        if cell.submit == "early" and cell.library_at_submit == 0:
            parts.append("every submit came before the library loaded, so the calls were in the loader "
                         "stub's queue when the page left" + (": they died with it" if cell.lost == counted else ""))
        elif cell.library_at_submit >= counted:
            parts.append("the library had loaded at every submit")
    if cell.transports:
        parts.append("arrived by " + ", ".join(f"{name}×{n}" for name, n in cell.transports.items()))
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


def is_library_file(url: str) -> bool:
    """A file of the tracking library (our script, or anything a profile serves as its CDN: chunks, settings)."""
    path = urlsplit(url).path
    return path == f"/static/{LIBRARY_FILE}" or path.startswith(ASSET_PREFIX)


def _is_vendor_request(url: str) -> bool:
    return is_collector_path(urlsplit(url).path) or is_library_file(url)


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
            await route.fallback()
    return handle


class ShopWatch(ArrivalWatch):
    """Arrivals by userId, plus duplicates per trial (page calls before identify carry only an anonymousId)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: Sequence[Expected]) -> None:
        super().__init__(loop, expected, lambda record: record.get("userId"))
        self.users: set[str] = set()
        self.sender: dict[Any, tuple[Any, Any]] = {}
        self.anonymous: dict[Any, str] = {}
        self.repeated: list[Any] = []

    def expect(self, key: Any) -> asyncio.Event:
        self.users.add(key)
        return super().expect(key)

    def listener(self, record: dict[str, Any]) -> None:
        user_id = record.get("userId")
        self.sender[record.get("messageId")] = (user_id, record.get("anonymousId"))
        if user_id in self.users:
            self.anonymous[record.get("anonymousId")] = user_id
        super().listener(record)

    def duplicate(self, message_id: Any) -> None:
        """Called in the server thread for every re-sent message (``store.subscribe_duplicates``)."""
        self.repeated.append(message_id)

    def duplicates_of(self, user_id: str) -> int:
        count = 0
        for mid in self.repeated:
            uid, anonymous_id = self.sender.get(mid, (None, None))
            count += uid == user_id or (uid not in self.users and self.anonymous.get(anonymous_id) == user_id)
        return count


async def run_trial(browser: Any, base_url: str, watch: ShopWatch, mode: str, flow: str, submit: str,
                    latency_ms: int, profile: SnippetProfile | None = None, window_s: float = DEFAULT_WINDOW_S,
                    trial_id: str | None = None, on_context: OnContext | None = None) -> Trial:
    """One person signs up and stays on the destination for the window; the trial's arrivals and outcome."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    user_id = uuid.uuid4().hex[:13]
    trial_id = trial_id or user_id
    trial = Trial(id=trial_id, user_id=user_id, email=f"repro+{trial_id}@example.test",
                  expected=[c.label for c in watch.expected])
    arrived = watch.expect(trial.user_id)
    profile = profile or load_profile()
    log = RequestLog(_is_vendor_request)
    reached_ms: float | None = None
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = None
    try:
        await context.add_cookies([{"name": DELIVERY_COOKIE, "value": mode, "url": base_url}])
        await observe_async(context)  # how each call leaves the page, observed (harness.collecting.transport)
        await context.add_init_script(user_script(profile, submit))
        log.attach(context)
        left = asyncio.Event()
        if submit == "early":
            await context.route(is_library_file, _hold_on_signup(left))
        await call_hook(on_context, context, trial)
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
        navigate_ms = 15_000 + 4 * latency_ms
        await page.goto(f"{base_url}/signup?flow={flow}&uid={trial.user_id}" +
                        (f"&delivery={mode}" if mode != DEFAULT_MODE else ""),
                        wait_until="commit", timeout=navigate_ms)
        try:
            await page.wait_for_url(_at_destination(flow), wait_until="commit", timeout=navigate_ms)
        except Exception:
            submitted = await _submitted(page)
            if submit == "ready" and (submitted is None or submitted.get("library") is False):
                raise RuntimeError("no library on the sign-up page at a ready submit") from None
            raise RuntimeError(f"the destination never came within {navigate_ms / 1000:g} s"
                               + ("" if submitted else " (the form was never submitted)")) from None
        reached_ms = time.time() * 1000
        log.mark_left()
        left.set()
        ready = await follow(page, arrived, ready_at_js(profile), window_s)
        trial.ready_ms = None if ready is None else round(ready - reached_ms, 1)
        if arrived.is_set() and ready is not None:  # stay until what the destination re-sends is in (duplicates)
            await asyncio.sleep(REQUEST_SETTLE_S)
            if inflight:
                idle.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(idle.wait(), SETTLE_IDLE_S)
        submitted = await _submitted(page)
        trial.library_at_submit = bool(submitted["library"]) if submitted else None
        if submit == "ready" and trial.library_at_submit is False:
            trial.error = "no library on the sign-up page at a ready submit"
    except Exception as exc:  # a trial that could not run is an error, never a loss
        trial.error = error_text(exc)
    finally:
        if page is not None and not trial.error:
            trial.evidence = {"requests": log.entries, **await storage_evidence(page, context)}
        else:
            trial.evidence = {"requests": log.entries}
        watch.forget(trial.user_id)
        await context.close()
    arrivals = watch.arrivals.get(trial.user_id, {})
    trial.arrival_ms = {label: (round(arrivals[label] - reached_ms, 1) if label in arrivals and reached_ms else None)
                        for label in trial.expected}
    trial.transports = [name for name, n in watch.transports.get(trial.user_id, Counter()).items() for _ in range(n)]
    trial.duplicated = watch.duplicates_of(trial.user_id)
    trial.seconds = round(loop.time() - started, 3)
    classify(trial, IN_TIME_GRACE_MS)
    return trial


async def _submitted(page: Any) -> dict[str, Any] | None:
    try:
        return await page.evaluate(SUBMITTED_JS)
    except Exception:  # informational only
        return None


def _count_stored(trials: Sequence[Trial], store: Any, event: str) -> None:
    """How often each trial's identify and sign-up event were stored (must stay 1: re-sends are deduplicated)."""
    for trial in trials:
        if trial.outcome == "error":
            continue
        trial.stored_identify = len(store.query(type="identify", userId=trial.user_id))
        trial.stored_signed_up = len(store.query(type="track", event=event, userId=trial.user_id))


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


Progress = Callable[[CellSpec, int, int], None]  # (cell, trials done in the cell, trials per cell or the cap)


async def run_cells_async(server: Any, cells: Sequence[CellSpec], trials: int | None, parallel: int,
                          progress: Progress | None = None, headless: bool = True,
                          faults: dict[str, Any] | None = None, window_s: float = DEFAULT_WINDOW_S,
                          expected: Sequence[Expected] | None = None, on_context: OnContext | None = None,
                          ci_width: float = DEFAULT_CI_WIDTH, cap: int = AUTO_CAP,
                          run_id: str | None = None) -> list[Cell]:
    """Run the cells with a single browser, ``parallel`` contexts at a time; ``trials=None`` is ``auto``.

    Cells that share a latency run as one group (trials of the next cell start as soon as a context
    is free). With ``auto`` each cell runs batches of ``parallel`` trials until its loss interval is at
    most ``ci_width`` points wide, ``cap`` trials ran, or a batch measured nothing (all errors).
    """
    from playwright.async_api import async_playwright

    from harness.browser import launch_args

    calls = tuple(expected or expected_calls())
    watch = ShopWatch(asyncio.get_running_loop(), calls)
    unsubscribe = server.store.subscribe(watch.listener)
    unsubscribe_duplicates = server.store.subscribe_duplicates(watch.duplicate)
    counter = itertools.count(1)
    run = run_id or uuid.uuid4().hex[:8]
    results: list[Cell] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(**launch_args(headless=headless))
            try:
                for _, group in itertools.groupby(cells, key=lambda spec: spec.latency_ms):
                    results += await _run_group(browser, server, watch, list(group), trials, parallel, progress,
                                                faults, window_s, on_context, ci_width, cap,
                                                lambda: f"{run}-{next(counter):04d}")
            finally:
                await browser.close()
    finally:
        unsubscribe()
        unsubscribe_duplicates()
        server.faults.clear()
    return results


async def _run_group(browser: Any, server: Any, watch: ShopWatch, specs: list[CellSpec], trials: int | None,
                     parallel: int, progress: Progress | None, extra_faults: dict[str, Any] | None,
                     window_s: float, on_context: OnContext | None, ci_width: float, cap: int,
                     next_id: Callable[[], str]) -> list[Cell]:
    """Cells of one latency: set the latency (and any extra) faults once, run every trial, count."""
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
    own: dict[int, list[Trial]] = {i: [] for i in range(len(specs))}
    cells = [Cell(s.mode, s.flow, s.submit, s.latency_ms, window_ms=int(window_s * 1000)) for s in specs]
    per_cell = trials or cap

    async def one(index: int, spec: CellSpec) -> None:
        async with gate:
            spans[index].append(loop.time())
            trial = await run_trial(browser, server.base_url, watch, spec.mode, spec.flow, spec.submit,
                                    spec.latency_ms, profile, window_s, next_id(), on_context)
            spans[index].append(loop.time())
        own[index].append(trial)
        done[index] += 1
        if progress:
            progress(spec, done[index], per_cell)

    pending = list(range(len(specs)))
    while pending:
        batch = trials if trials else max(1, parallel)
        await asyncio.gather(*(one(i, specs[i]) for i in pending for _ in range(batch)))
        for i in pending:
            tally(cells[i], own[i])
        pending = [] if trials else [i for i in pending if needs_more(cells[i], ci_width, cap)]
    event = next((c.event for c in watch.expected if c.type == "track" and c.event), SIGNED_UP)
    for index, cell in enumerate(cells):
        _count_stored(own[index], server.store, event)
        tally(cell, own[index])
        cell.seconds = round(max(spans[index]) - min(spans[index]), 2) if spans[index] else 0.0
        cell.why = explain(cell)
    return cells


def _window_settings(window_s: float, expected: Sequence[Expected]) -> dict[str, Any]:
    return {"window_s": window_s, "in_time_grace_ms": IN_TIME_GRACE_MS,
            "rules": outcome_rules(window_s, IN_TIME_GRACE_MS, expected)}


def run_signup_loss(modes: Sequence[str] | None = None, flows: Sequence[str] = FLOWS,
                    submits: Sequence[str] = SUBMITS, latencies: Sequence[int] = (DEFAULT_LATENCY_MS,),
                    trials: int | None = DEFAULT_TRIALS, parallel: int | None = None, server: Any = None,
                    progress: Progress | None = None, headless: bool = True,
                    faults: dict[str, Any] | None = None, snippet: SnippetProfile | str | None = None,
                    window_s: float = DEFAULT_WINDOW_S, event: str | None = None,
                    on_context: OnContext | None = None, ci_width: float = DEFAULT_CI_WIDTH,
                    cap: int = AUTO_CAP) -> LossReport:
    """The experiment over every combination of the given modes (default: every mode the profile
    declares), flows, submit moments and latencies."""
    profile = server.profile if server is not None else _profile(snippet)
    cells = plan_cells(modes or modes_of(profile), flows, submits, latencies)
    return run_cells(cells, trials, parallel, server, progress, headless, faults, profile, window_s=window_s,
                     event=event, on_context=on_context, ci_width=ci_width, cap=cap)


def _profile(snippet: SnippetProfile | str | None) -> SnippetProfile:
    return snippet if isinstance(snippet, SnippetProfile) else load_profile(snippet)


def run_cells(cells: Sequence[CellSpec], trials: int | None = DEFAULT_TRIALS, parallel: int | None = None,
              server: Any = None, progress: Progress | None = None, headless: bool = True,
              faults: dict[str, Any] | None = None, snippet: SnippetProfile | str | None = None, *,
              window_s: float = DEFAULT_WINDOW_S, event: str | None = None, on_context: OnContext | None = None,
              ci_width: float = DEFAULT_CI_WIDTH, cap: int = AUTO_CAP) -> LossReport:
    """Run these cells, synchronously. Starts its own :class:`HarnessServer` (with ``snippet``) unless given one.

    ``trials=None`` runs batches until each cell's interval is narrow enough (``--trials auto``).
    ``on_context(context, trial)`` (awaited if it returns an awaitable) sees every trial's new
    BrowserContext after the harness's own routes and before its first page. The async Playwright
    work runs in a thread of its own, so this is safe to call from pytest-playwright's sync tests.
    ``faults`` is an extra ``/api/faults`` body applied at the start of every latency group.
    """
    from harness.server import HarnessServer, run_in_thread

    parallel = parallel or min(trials or DEFAULT_PARALLEL, DEFAULT_PARALLEL)
    own = server is None
    srv = HarnessServer(port=0, db=":memory:", snippet=_profile(snippet)).start() if own else server
    profile: SnippetProfile = srv.profile
    expected = expected_calls((), event)
    began = time.monotonic()
    try:
        done = run_in_thread(run_cells_async(srv, cells, trials, parallel, progress, headless, faults, window_s,
                                             expected, on_context, ci_width, cap), "signup-loss")
    finally:
        if own:
            srv.stop()
    modes = list(dict.fromkeys(c.mode for c in cells))
    settings = {
        "trials": trials if trials else "auto", "modes": modes, "flows": list(dict.fromkeys(c.flow for c in cells)),
        "submit": list(dict.fromkeys(c.submit for c in cells)),
        "latency_ms": list(dict.fromkeys(c.latency_ms for c in cells)), "parallel": parallel,
        "snippet": profile.name,
        "library": {"name": profile.library, "version": profile.library_version},
        "delivery": {m: (d.summary if (d := profile.mode(None if m == DEFAULT_MODE else m)) else "")
                     for m in modes},
        **_window_settings(window_s, expected),
        "latency_applies_to": ["collector reply (delay_ms)",
                               "every library file: script, chunks, settings (script_delay_ms)"],
        "transports": "observed in the browser (harness.collecting.transport), not reported by the library",
        "extra_faults": faults,
        "user": "a new browser context per trial; submits at DOMContentLoaded (early) or on the library's ready "
                "(ready); stays on the destination page through the window",
    }
    if trials is None:
        settings["auto"] = {"ci_width": ci_width, "cap": cap, "batch": parallel}
    return LossReport(settings, done, time.monotonic() - began)


def auto_or(parallel: int | None) -> int | None:
    """``--parallel auto`` is given as 0: from the cores."""
    return auto_parallel() if parallel == 0 else parallel
