"""The missing-sign-ups experiment's core, shared by the shop driver and the site driver.

A *trial* is one new person who signs up and then stays on the destination page for a *window*
(``--window``, default 15 s, measured from reaching the destination). The server's receive time of
each expected call (``_meta.received_ms``) is compared with the moment the destination's library
was ready (its ``ready`` callback, read from the page's own clock):

- ``in_time``: every expected call arrived no later than ready + :data:`IN_TIME_GRACE_MS` (plus any
  latency the driver puts on the way in): the calls made before or as the library started;
- ``late``: every call arrived within the window, some after that (a re-send from storage, a retry);
  the delay is arrival - ready;
- ``lost``: some expected call never arrived within the window;
- ``error``: the trial could not measure (no library at a ``ready`` submit, the submit never
  happened, the destination never came, the destination's library never became ready). Errors
  are never counted as losses, and are left out of the loss rate and its interval.

Why a grace: a call that the destination page itself makes as its library starts (the welcome
page's calls, a re-send at load) is stored a few ms *after* the ready callback; it was not late.
Re-sends that wait for a timer (analytics-next's retry queue, RudderStack's ~10 s) are.

The loss rate carries a 95 % Wilson score interval over the counted trials (trials - errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import json
import math
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = ("in_time", "late", "lost", "error")
SIGNED_UP = "Signed Up"
DEFAULT_WINDOW_S = 15.0  # long enough for every bundled library's re-send (RudderStack's is ~10 s)
IN_TIME_GRACE_MS = 250  # a call made as the destination's library starts: a round trip to be stored
DEFAULT_CI_WIDTH = 20.0  # --trials auto: stop a cell once its interval is this many points wide
AUTO_CAP = 200  # --trials auto: ... or once it ran this many trials
Z95 = 1.959964


# ---- what a sign-up must deliver ------------------------------------------------------------------
@dataclass(frozen=True)
class Expected:
    """One call a sign-up must deliver: a type, and for a track its event name."""

    type: str
    event: str | None = None

    @property
    def label(self) -> str:
        return f"{self.type}:{self.event}" if self.event else self.type

    def matches(self, record: Mapping[str, Any]) -> bool:
        return record.get("type") == self.type and (self.event is None or record.get("event") == self.event)


def expected_calls(expect: Iterable[Mapping[str, Any]] = (), event: str | None = None) -> tuple[Expected, ...]:
    """The site map's ``[signup] expect`` when given, else identify + track ``event`` ("Signed Up")."""
    calls = tuple(Expected(str(e["type"]), str(e["event"]) if e.get("event") else None) for e in expect or ())
    return calls or (Expected("identify"), Expected("track", event or SIGNED_UP))


# ---- statistics -------------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = Z95) -> list[float] | None:
    """95 % Wilson score interval of k in n, in percent rounded to 0.1; None when n is 0.

    Wilson, not k/n +- 1.96 sd: it stays inside 0..100 and is honest at 0 of 10 ([0, 27.8]).
    """
    if n <= 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half) * 100, 1), round(min(1.0, centre + half) * 100, 1)]


def ci_width(interval: Sequence[float] | None) -> float:
    return 100.0 if interval is None else interval[1] - interval[0]


def auto_parallel() -> int:
    """``--parallel auto``: five browser contexts per core (a trial mostly waits), 2..32."""
    return max(2, min(32, 5 * (os.cpu_count() or 1)))


def parse_count(value: str | int | None, option: str, low: int = 1, high: int = 10_000) -> int | None:
    """``N`` or ``auto`` (None); ValueError naming the option otherwise."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{option}: expected a whole number or 'auto', got {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{option}: {number} is not in {low}..{high}")
    return number


# ---- one trial ----------------------------------------------------------------------------------------
@dataclass
class Trial:
    """One sign-up by one new person, and when each expected call reached the collector."""

    id: str  # stable within a run: run id + counter
    user_id: str  # the userId the sign-up is expected to identify with ("" when the site decides)
    email: str = ""
    device: str = ""
    expected: list[str] = field(default_factory=list)
    arrival_ms: dict[str, float | None] = field(default_factory=dict)  # label -> ms after reaching the destination
    ready_ms: float | None = None  # the destination's library ready, ms after reaching it
    outcome: str = ""
    delay_ms: float | None = None  # late: last arrival - ready
    error: str | None = None
    library_at_submit: bool | None = None
    stored_identify: int = 0
    stored_signed_up: int = 0
    duplicated: int = 0
    transports: list[str] = field(default_factory=list)
    seconds: float = 0.0
    evidence: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def delivered(self) -> bool:
        """Every expected call arrived within the window (in time or late)."""
        return self.outcome in ("in_time", "late")

    @property
    def late(self) -> bool:
        return self.outcome == "late"

    @property
    def last_arrival_ms(self) -> float | None:
        values = list(self.arrival_ms.values())
        return None if not values or any(v is None for v in values) else max(v for v in values if v is not None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "user_id": self.user_id, "email": self.email, "outcome": self.outcome,
                "arrival_ms": dict(self.arrival_ms), "ready_ms": self.ready_ms, "delay_ms": self.delay_ms,
                "error": self.error}


def classify(trial: Trial, grace_ms: float = IN_TIME_GRACE_MS) -> str:
    """Set and return the trial's outcome from its arrivals, its ready time and its error."""
    trial.delay_ms = None
    last = trial.last_arrival_ms
    if trial.error:
        trial.outcome = "error"
    elif trial.ready_ms is None and (last is None or last > 0):
        # no ready on the destination: a call arriving after we got there cannot be judged, a missing one
        # may be the library's absence rather than a loss
        trial.error = "the library never became ready on the destination page"
        trial.outcome = "error"
    elif last is None:
        trial.outcome = "lost"
    elif trial.ready_ms is None or last <= trial.ready_ms + grace_ms:
        trial.outcome = "in_time"
    else:
        trial.outcome = "late"
        trial.delay_ms = round(last - trial.ready_ms, 1)
    return trial.outcome


def error_text(exc: BaseException) -> str:
    """One line for an exception: its type and first line."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")


# ---- following the person on the destination page ----------------------------------------------------
class ArrivalWatch:
    """Stored beacons (from the server thread) routed to the trials waiting on this loop, by a trial key
    (the shop: the userId; a site: the browser's device id). Records each expected call's first arrival."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: Sequence[Expected],
                 key_of: Callable[[Mapping[str, Any]], Any]) -> None:
        self.loop = loop
        self.expected = tuple(expected)
        self.key_of = key_of
        self.arrivals: dict[Any, dict[str, float]] = {}
        self.done: dict[Any, asyncio.Event] = {}
        self.transports: dict[Any, Counter[str]] = {}

    def expect(self, key: Any) -> asyncio.Event:
        self.arrivals[key], self.done[key], self.transports[key] = {}, asyncio.Event(), Counter()
        return self.done[key]

    def forget(self, key: Any) -> None:
        self.done.pop(key, None)

    def listener(self, record: dict[str, Any]) -> None:
        """In the server thread, for every stored beacon."""
        key = self.key_of(record)
        if key is None or key not in self.arrivals:
            return
        meta = record.get("_meta") or {}
        received = meta.get("received_ms")
        for call in self.expected:
            if call.matches(record):
                self.loop.call_soon_threadsafe(self._note, key, call.label, float(received or 0.0),
                                               str(meta.get("transport") or "?"))

    def _note(self, key: Any, label: str, received_ms: float, transport: str) -> None:
        seen = self.arrivals.get(key)
        if seen is None:
            return
        seen.setdefault(label, received_ms)
        self.transports[key][transport] += 1
        if len(seen) == len(self.expected) and key in self.done:
            self.done[key].set()


# In the page: the library's ready moment on the page's own clock (Date.now(), comparable with the
# collector's received_ms on this machine); null if no library within ms. Polls for the global, so a
# library that appears late (a consent banner's) is still seen.
READY_AT_TEMPLATE = """(ms) => new Promise((resolve) => {
  const end = Date.now() + ms;
  const go = () => {
    const lib = window[__GLOBAL__];
    if (!lib || !lib.ready) {
      if (Date.now() > end) { resolve(null); return; }
      setTimeout(go, 50);
      return;
    }
    const timer = setTimeout(() => resolve(null), Math.max(0, end - Date.now()));
    (__READY__)([() => { clearTimeout(timer); resolve(Date.now()); }]);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', go, {once: true});
  else go();
})"""


def ready_at_js(profile: Any) -> str:
    """:data:`READY_AT_TEMPLATE` for a profile's library (its API global and ready expression)."""
    return (READY_AT_TEMPLATE.replace("__GLOBAL__", json.dumps(profile.api.global_name))
            .replace("__READY__", profile.api.js("ready", "callback")))


async def ready_at(page: Any, script: str, deadline: float) -> float | None:
    """Epoch ms at which the page's library was ready, or None by ``deadline`` (loop time)."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline and not page.is_closed():
        try:
            value = await page.evaluate(script, max(1, int((deadline - loop.time()) * 1000)))
            return float(value) if value is not None else None
        except Exception:  # evaluated in the document being replaced: ask the new one
            await asyncio.sleep(0.05)
    return None


async def follow(page: Any, arrived: asyncio.Event, script: str, window_s: float) -> float | None:
    """Stay on the destination for the window; returns the library's ready time (epoch ms) or None.

    Ends early once every expected call arrived and the library is ready (or the calls all came
    before it was: they are in time whatever ready says).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window_s
    ready = asyncio.ensure_future(ready_at(page, script, deadline))
    calls = asyncio.ensure_future(arrived.wait())
    try:
        await asyncio.wait({ready, calls}, timeout=window_s, return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and not calls.done():
            await asyncio.wait({calls}, timeout=max(0.0, deadline - loop.time()))
        elif calls.done() and not ready.done():
            await asyncio.wait({ready}, timeout=max(0.0, deadline - loop.time()))
        return ready.result() if ready.done() and not ready.cancelled() else None
    finally:
        for task in (ready, calls):
            task.cancel()


STORAGE_JS = """() => { const out = {}; for (let i = 0; i < localStorage.length; i++) {
  const k = localStorage.key(i); const v = localStorage.getItem(k) || '';
  out[k] = v.length > 20000 ? v.slice(0, 20000) + '...' : v; } return out; }"""


class RequestLog:
    """The vendor/collector requests a trial's browser issued, for ``--evidence``: how each ended."""

    def __init__(self, wanted: Callable[[str], bool]) -> None:
        self.wanted = wanted
        self.entries: list[dict[str, Any]] = []
        self._open: dict[Any, dict[str, Any]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def attach(self, context: Any) -> None:
        context.on("request", self._start)
        context.on("requestfinished", self._finished)
        context.on("requestfailed", self._failed)

    def _now(self) -> float:
        return round(time.time() * 1000, 1)

    def _start(self, request: Any) -> None:
        if not self.wanted(request.url):
            return
        try:
            frame_url = request.frame.url
        except Exception:  # a service worker's request has no frame
            frame_url = ""
        try:
            post = request.post_data
        except Exception:  # binary body
            post = "<binary>"
        entry = {"url": request.url, "method": request.method, "resource_type": request.resource_type,
                 "page": frame_url, "post_data": post[:20000] if isinstance(post, str) else post,
                 "started_ms": self._now(), "ended_ms": None, "ended": "in flight"}
        self._open[request] = entry
        self.entries.append(entry)
        self._idle.clear()

    def _finished(self, request: Any) -> None:
        entry = self._open.pop(request, None)
        if entry is not None:
            entry.update(ended_ms=self._now(), ended="finished")
        self._check_idle()

    def _failed(self, request: Any) -> None:
        entry = self._open.pop(request, None)
        if entry is not None:
            entry.update(ended_ms=self._now(), ended="failed", error_text=request.failure)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._open:
            self._idle.set()

    async def settle(self, seconds: float) -> None:
        """Wait (at most ``seconds``) until no logged request is in flight: a re-send the collector stored
        also reaches the browser's side before the context closes, so a test's own log sees it finish."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), seconds)

    def mark_left(self) -> None:
        """The person left the sign-up page: what is still open was in flight then."""
        for entry in self._open.values():
            entry["in_flight_when_page_left"] = True


async def storage_evidence(page: Any, context: Any) -> dict[str, Any]:
    """The page's localStorage (the library's queue lives there) and the context's cookies."""
    out: dict[str, Any] = {}
    try:
        out["local_storage"] = await page.evaluate(STORAGE_JS)
    except Exception as exc:  # the page is gone or elsewhere: say so
        out["local_storage_error"] = error_text(exc)
    try:
        out["cookies"] = await context.cookies()
    except Exception as exc:
        out["cookies_error"] = error_text(exc)
    return out


# ---- a cell: many trials of one condition --------------------------------------------------------------
@dataclass
class Cell:
    """Counts for one mode x flow x submit x latency."""

    mode: str
    flow: str
    submit: str
    latency_ms: int
    window_ms: int = int(DEFAULT_WINDOW_S * 1000)
    grace_ms: int = IN_TIME_GRACE_MS
    trials: int = 0
    delivered: int = 0  # in time
    late: int = 0
    late_delay_ms_p50: float | None = None
    late_delay_ms_max: float | None = None
    lost: int = 0
    errors: int = 0
    error_reasons: dict[str, int] = field(default_factory=dict)
    loss_ci: list[float] | None = None
    duplicated: int = 0
    stored_twice: int = 0  # userIds with an identify or sign-up event stored more than once (must stay 0)
    library_at_submit: int = 0
    transports: dict[str, int] = field(default_factory=dict)
    ready_ms_p50: float | None = None
    seconds: float = 0.0
    why: str = ""
    details: list[Trial] = field(default_factory=list, repr=False)

    @property
    def counted(self) -> int:
        return self.trials - self.errors

    @property
    def loss_pct(self) -> float:
        return round(100.0 * self.lost / self.counted, 1) if self.counted else 0.0

    @property
    def settle_ms(self) -> int:
        """0.2's name for the window (kept for callers that read it)."""
        return self.window_ms

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "loss_pct": self.loss_pct}
        del out["details"]
        out["trial_outcomes"] = [t.to_dict() for t in self.details]
        return out


def tally(cell: Cell, trials: Sequence[Trial]) -> Cell:
    """Fill a cell's counts from its (classified) trials."""
    cell.details = list(trials)
    cell.trials = len(trials)
    outcomes = Counter(t.outcome for t in trials)
    cell.delivered, cell.late, cell.lost, cell.errors = (outcomes[o] for o in OUTCOMES)
    cell.error_reasons = dict(Counter(_reason(t.error) for t in trials if t.outcome == "error").most_common())
    delays = [t.delay_ms for t in trials if t.outcome == "late" and t.delay_ms is not None]
    cell.late_delay_ms_p50 = round(statistics.median(delays), 1) if delays else None
    cell.late_delay_ms_max = max(delays) if delays else None
    readies = [t.ready_ms for t in trials if t.ready_ms is not None]
    cell.ready_ms_p50 = round(statistics.median(readies), 1) if readies else None
    cell.loss_ci = wilson(cell.lost, cell.counted)
    cell.library_at_submit = sum(bool(t.library_at_submit) for t in trials)
    cell.duplicated = sum(t.duplicated for t in trials)
    transports: Counter[str] = Counter(name for t in trials for name in t.transports)
    cell.transports = dict(sorted(transports.items()))
    cell.stored_twice = sum(t.stored_identify > 1 or t.stored_signed_up > 1 for t in trials)
    return cell


def _reason(error: str | None) -> str:
    """An error's countable reason: without the ids and numbers that differ per trial."""
    text = (error or "unknown").split("\n", 1)[0]
    return re.sub(r"\b[0-9a-f]{8,}\b", "…", text)[:200]


def outcome_text(cell: Cell) -> str:
    """The measured outcome in words, errors first when there was nothing to count."""
    if cell.trials and cell.errors == cell.trials:
        top = next(iter(cell.error_reasons), "unknown")
        return f"all {cell.trials} trials were errors, nothing measured ({top})"
    parts = [f"{cell.lost} of {cell.counted} lost" if cell.lost else f"none of {cell.counted} lost"]
    if cell.loss_ci is not None:
        parts[0] += f" (95 % interval {cell.loss_ci[0]:g}-{cell.loss_ci[1]:g} %)"
    if cell.late:
        parts.append(f"{cell.late} arrived late (p50 {cell.late_delay_ms_p50:.0f} ms, max "
                     f"{cell.late_delay_ms_max:.0f} ms after the destination's library was ready)")
    if cell.errors:
        parts.append(f"{cell.errors} errors: " + "; ".join(f"{r} ×{n}" for r, n in cell.error_reasons.items()))
    return ", ".join(parts)


def needs_more(cell: Cell, target_width: float, cap: int) -> bool:
    """``--trials auto``: run another batch for this cell? Not once its interval is narrow enough, the cap
    is reached, or its last batch could not measure anything (all errors)."""
    if cell.trials >= cap:
        return False
    if cell.trials and cell.counted == 0:
        return False
    return ci_width(wilson(cell.lost, cell.counted)) > target_width


# ---- a run ----------------------------------------------------------------------------------------
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

    @property
    def all_errors(self) -> bool:
        """Nothing was measured: every trial of the run was an error (the CLI exits 1)."""
        total = sum(c.trials for c in self.cells)
        return total > 0 and all(c.errors == c.trials for c in self.cells)

    def to_dict(self) -> dict[str, Any]:
        lossy = [c for c in self.cells if c.lost]
        return {
            "settings": self.settings,
            "cells": [c.to_dict() for c in self.cells],
            "summary": {"cells": len(self.cells), "lossy_cells": len(lossy),
                        "trials": sum(c.trials for c in self.cells),
                        "delivered": sum(c.delivered for c in self.cells),
                        "late": sum(c.late for c in self.cells), "lost": sum(c.lost for c in self.cells),
                        "errors": sum(c.errors for c in self.cells),
                        "duplicated": sum(c.duplicated for c in self.cells), "seconds": round(self.seconds, 1)},
        }


def outcome_rules(window_s: float, grace_ms: float, expected: Sequence[Expected]) -> dict[str, str]:
    """The rule, as the JSON's settings state it."""
    calls = " AND ".join(c.label for c in expected)
    return {
        "expected": calls,
        "window": f"{window_s:g} s on the destination page, from reaching it; ends early once every expected "
                  "call arrived and the destination's library was ready",
        "in_time": f"every expected call ({calls}) stored no later than the destination's library ready + "
                   f"{grace_ms:g} ms",
        "late": "every expected call stored within the window, some after that (delay = arrival - ready)",
        "lost": "some expected call never stored within the window",
        "error": "the trial could not measure (no library at a ready submit, the submit or the destination never "
                 "came, no library ready on the destination); never counted as lost",
        "loss_ci": "95 % Wilson score interval of lost / (trials - errors), in percent",
    }


def cell_slug(cell: Cell) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{cell.mode}_{cell.flow}_{cell.submit}_{cell.latency_ms}ms").strip("-")


def write_evidence(directory: str | Path, report: LossReport) -> list[Path]:
    """``--evidence DIR``: one JSON file per lost or late trial (its requests, its storage); the paths."""
    root = Path(directory)
    written: list[Path] = []
    for cell in report.cells:
        for trial in cell.details:
            if trial.outcome not in ("lost", "late"):
                continue
            folder = root / cell_slug(cell)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', trial.id)}.json"
            doc = {"cell": {k: getattr(cell, k) for k in ("mode", "flow", "submit", "latency_ms", "window_ms")},
                   "trial": trial.to_dict(), **(trial.evidence or {"requests": [], "note": "no evidence recorded"})}
            path.write_text(json.dumps(doc, indent=2, default=str))
            written.append(path)
    return written


# ---- presentation -------------------------------------------------------------------------------
def _transports_text(transports: dict[str, int]) -> str:
    return ", ".join(f"{name}×{n}" for name, n in transports.items()) or "-"


def _ci_text(ci: Sequence[float] | None) -> str:
    return "-" if ci is None else f"{ci[0]:g}-{ci[1]:g}"


def render_table(report: LossReport) -> Any:
    """A rich Table: rows = mode x flow x submit (x latency)."""
    from rich.table import Table

    many_latencies = len(report.settings.get("latency_ms", [])) > 1
    library = report.settings.get("library", {})
    title = f"Missing sign-ups with {library.get('name', '?')} {library.get('version', '')}".rstrip()
    table = Table(title=f"{title}: in time / late / lost / errors per delivery mode and flow", title_justify="left")
    for name in ("mode", "flow", "submit"):
        table.add_column(name, no_wrap=True)
    if many_latencies:
        table.add_column("latency", justify="right")
    for name in ("trials", "in time", "late", "late p50/max", "lost", "loss %", "95 % CI", "errors", "dup",
                 "lib@submit"):
        table.add_column(name, justify="right")
    table.add_column("transports")
    for c in report.cells:
        style = "bold red" if c.lost else ("yellow" if c.counted == 0 else "green")
        row = [c.mode, c.flow, c.submit]
        if many_latencies:
            row.append(f"{c.latency_ms} ms")
        late = "-" if not c.late else f"{c.late_delay_ms_p50:.0f}/{c.late_delay_ms_max:.0f} ms"
        row += [str(c.trials), str(c.delivered), str(c.late), late, f"[{style}]{c.lost}[/]",
                f"[{style}]{c.loss_pct:g}[/]" if c.counted else "-", _ci_text(c.loss_ci),
                f"[yellow]{c.errors}[/]" if c.errors else "0", str(c.duplicated), f"{c.library_at_submit}/{c.trials}",
                _transports_text(c.transports)]
        table.add_row(*row)
    window = report.settings.get("window_s", DEFAULT_WINDOW_S)
    table.caption = (f"window {window:g} s on the destination page; in time = stored by its library's ready + "
                     f"{report.cells[0].grace_ms if report.cells else IN_TIME_GRACE_MS} ms; "
                     f"latency {', '.join(str(x) for x in report.settings.get('latency_ms', []))} ms; "
                     f"{sum(c.trials for c in report.cells)} trials in {report.seconds:.0f} s")
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
    import click
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


def delivery_curve(cell: Cell, window_ms: float) -> list[tuple[float, int, int]]:
    """Steps of (t ms after reaching the destination, delivered by t, counted trials); arrivals before 0 at 0."""
    counted = [t for t in cell.details if t.outcome != "error"]
    times = sorted(max(0.0, t.last_arrival_ms) for t in counted
                   if t.delivered and t.last_arrival_ms is not None)
    steps = [(0.0, sum(1 for x in times if x <= 0), len(counted))]
    for i, x in enumerate(times):
        if x > 0 and x <= window_ms:
            steps.append((x, i + 1, len(counted)))
    return steps


def render_html(report: LossReport) -> str:
    """``--report FILE.html``: per cell, the share of sign-ups delivered by t seconds after the destination
    loaded (a step curve) in its 95 % Wilson band; self-contained (inline SVG, no external assets)."""
    w, h, left, top = 520, 220, 46, 14
    plot_w, plot_h = w - left - 14, h - top - 34
    window_ms = float(report.settings.get("window_s", DEFAULT_WINDOW_S)) * 1000
    library = report.settings.get("library", {})
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Missing sign-ups: delivery over time</title>",
             "<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}figure{display:inline-block;"
             "margin:0 18px 24px 0;vertical-align:top}figcaption{max-width:520px}.band{fill:#9cc3e6;opacity:.5}"
             ".curve{fill:none;stroke:#1f5f99;stroke-width:2}.ready{stroke:#c60;stroke-dasharray:4 3}"
             "text{font-size:11px}</style></head><body>",
             f"<h1>Missing sign-ups with {html.escape(str(library.get('name', '?')))} "
             f"{html.escape(str(library.get('version', '')))}</h1>",
             "<p>Share of sign-ups whose every expected call had reached the collector, by t seconds after the "
             "person reached the destination page (errors left out), with its 95 % Wilson interval. The dashed "
             "line is the destination library's median ready time. How long must a person stay for the "
             "re-send to land: where the curve reaches its top.</p>"]

    def x(ms: float) -> float:
        return left + plot_w * min(ms, window_ms) / window_ms if window_ms else left

    def y(pct: float) -> float:
        return top + plot_h * (1 - pct / 100)

    for cell in report.cells:
        steps = delivery_curve(cell, window_ms)
        svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img'>",
               f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#fafafa' stroke='#ccc'/>"]
        for pct in (0, 50, 100):
            svg.append(f"<text x='{left - 6}' y='{y(pct) + 4:.1f}' text-anchor='end'>{pct}%</text>")
        for sec in range(0, int(window_ms / 1000) + 1, max(1, int(window_ms / 5000))):
            svg.append(f"<text x='{x(sec * 1000):.1f}' y='{top + plot_h + 14}' text-anchor='middle'>{sec}s</text>")
        svg.append(f"<text x='{left + plot_w / 2}' y='{h - 4}' text-anchor='middle'>seconds after the destination "
                   "loaded</text>")
        counted = steps[0][2] if steps else 0
        if counted:
            upper, lower, line = [], [], []
            for i, (t, k, n) in enumerate(steps):
                end = steps[i + 1][0] if i + 1 < len(steps) else window_ms
                low, high = wilson(k, n) or [0.0, 0.0]
                upper += [(x(t), y(high)), (x(end), y(high))]
                lower += [(x(t), y(low)), (x(end), y(low))]
                line += [(x(t), y(100 * k / n)), (x(end), y(100 * k / n))]
            band = upper + lower[::-1]
            svg.append("<polygon class='band' points='" + " ".join(f"{a:.1f},{b:.1f}" for a, b in band) + "'/>")
            svg.append("<polyline class='curve' points='" + " ".join(f"{a:.1f},{b:.1f}" for a, b in line) + "'/>")
        else:
            svg.append(f"<text x='{left + plot_w / 2}' y='{top + plot_h / 2}' text-anchor='middle'>no counted "
                       "trial (all errors)</text>")
        if cell.ready_ms_p50 is not None and cell.ready_ms_p50 >= 0:
            svg.append(f"<line class='ready' x1='{x(cell.ready_ms_p50):.1f}' y1='{top}' "
                       f"x2='{x(cell.ready_ms_p50):.1f}' y2='{top + plot_h}'/>")
        svg.append("</svg>")
        title = f"{cell.mode} / {cell.flow} / {cell.submit} @ {cell.latency_ms} ms"
        parts.append(f"<figure>{''.join(svg)}<figcaption><b>{html.escape(title)}</b>: {cell.trials} trials, "
                     f"{cell.delivered} in time, {cell.late} late, {cell.lost} lost (95 % "
                     f"{html.escape(_ci_text(cell.loss_ci))} %), {cell.errors} errors. "
                     f"{html.escape(cell.why)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


SUBMITS = ("early", "ready")  # when the person submits: at once (the library may still be loading), or once ready
OnContext = Callable[[Any, Trial], Awaitable[None] | None]  # (BrowserContext, Trial): before the first page


async def call_hook(hook: OnContext | None, context: Any, trial: Trial) -> None:
    """A caller's ``on_context`` hook (a test's own request log), awaited when it returns an awaitable."""
    if hook is not None:
        result = hook(context, trial)
        if inspect.isawaitable(result):
            await result
