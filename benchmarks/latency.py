"""Capture latency: ``analytics.track()`` in a real page until the test's ``wait_for`` returns.

Exactly the path a test takes: the harness server runs in this process's background thread (as
under the pytest plugin) with a SQLite file; Chromium is the one :mod:`harness.browser` finds.
Per call: t0 just before ``page.evaluate`` fires ``track`` (without waiting for the library's
callback), t1 when ``store.wait_for`` returns the beacon. Each delivery mode gets its own page.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from benchmarks import Result, percentile
from harness import browser as browser_mod
from harness.server import HarnessServer
from harness.testing.device import Device, context_options

P50_TARGET_MS = 20.0
P99_TARGET_MS = 100.0
DEFAULT_MODE = "persist"  # static/intilery.js's default delivery: outbox in localStorage + fetch keepalive
FIRE_JS = "(e) => { window.analytics.track(e, {n: 1}); }"


def _measure(device: Device, server: HarnessServer, mode: str, calls: int, warmup: int = 20) -> list[float]:
    """Latencies in ms of ``calls`` track calls on a page using delivery ``mode``."""
    device.visit(f"/?delivery={mode}")
    server.store.wait_for("page", timeout=10)
    latencies: list[float] = []
    for i in range(warmup + calls):
        event = f"bench {mode} {i}"
        t0 = time.perf_counter()
        device.tab.evaluate(FIRE_JS, event)
        server.store.wait_for("track", event, timeout=10)
        if i >= warmup:
            latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def _evaluate_floor(device: Device, n: int = 200) -> list[float]:
    """A bare ``page.evaluate`` round trip: the part of the latency Playwright itself costs."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        device.tab.evaluate("() => 1")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run(calls: int = 500, modes: tuple[str, ...] = (DEFAULT_MODE, "xhr", "keepalive")) -> Result:
    result = Result("Capture latency")
    started = time.perf_counter()
    found: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp, sync_playwright() as pw:
        server = HarnessServer(db=str(Path(tmp) / "beacons.sqlite")).start()
        browser = pw.chromium.launch(**browser_mod.launch_args())
        try:
            for mode in modes:
                server.store.clear()
                context = browser.new_context(**context_options(pw, "desktop"))
                device = Device(context, server.base_url, server.profile, name=mode)
                found[mode] = _measure(device, server, mode, calls)
                if mode == modes[0]:
                    floor = _evaluate_floor(device)
                context.close()
        finally:
            browser.close()
            server.stop()
    result.figure("calls", f"{calls} per delivery mode (after 20 warm-up calls), one page each, SQLite file store")
    for mode, values in found.items():
        tag = " (default)" if mode == DEFAULT_MODE else ""
        result.figure(f"{mode}{tag}", f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, "
                                      f"max {max(values):.1f} ms")
    result.figure("page.evaluate round trip alone", f"p50 {percentile(floor, 50):.2f} ms, "
                                                    f"p99 {percentile(floor, 99):.2f} ms")
    default = found[modes[0]]
    p50, p99 = percentile(default, 50), percentile(default, 99)
    result.check(f"p50, {modes[0]}", f"{p50:.1f} ms", f"< {P50_TARGET_MS:.0f} ms", p50 < P50_TARGET_MS)
    result.check(f"p99, {modes[0]}", f"{p99:.1f} ms", f"< {P99_TARGET_MS:.0f} ms", p99 < P99_TARGET_MS)
    for mode in modes[1:]:
        values = found[mode]
        result.check(f"p50 / p99, {mode}", f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f} ms",
                     f"< {P50_TARGET_MS:.0f} / {P99_TARGET_MS:.0f} ms",
                     percentile(values, 50) < P50_TARGET_MS and percentile(values, 99) < P99_TARGET_MS)
    result.seconds = time.perf_counter() - started
    return result


if __name__ == "__main__":
    from benchmarks.report import print_results

    print_results([run()])
