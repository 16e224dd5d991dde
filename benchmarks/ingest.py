"""Collector ingest: messages/s ``harness serve`` accepts and commits, as a ratio to bare aiohttp.

One loopback load generator (aiohttp client, bounded by count and time, fixed concurrency) drives
two subprocesses in turn: ``harness serve --db <temp file>`` (parse, validate, dedup, SQLite
commit before the 200) and :mod:`benchmarks.bare_app` (reads the body, answers 200). Server CPU is
taken after one read of the identity graph, so the graph's catch-up after the commits is counted. Rounds
alternate between the two so machine noise hits both alike; the ratio of medians is reported.
After the run the harness's ``/api/stats`` must show every acknowledged message stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import PYTHON, ROOT, Result, free_port, median, stop_process
from harness.server import run_in_thread

SINGLE_TARGET = 0.85  # harness single-message rate / bare aiohttp rate (issue 20)
BATCH_TARGET = 20.0  # harness batch-of-100 msgs/s / harness single msgs/s (issue 20)
BATCH_CPU_TARGET_US = 10.0  # server CPU per message in batches of 100 (issue 20)
SETTLE = "/api/profiles?limit=1&messages=0"  # a read of the identity graph: it is current afterwards
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def message(n: int) -> dict[str, Any]:
    """A realistic analytics.js track call (about 700 bytes of JSON), unique messageId."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"bench-{uuid.uuid4()}",
        "anonymousId": f"anon-{n % 500:04d}-2f1c9a0e-8b3d-4c71-9e55-0d7f8a1b2c3d",
        "userId": None if n % 3 else f"user-{n % 97}",
        "properties": {"product_id": f"p{n % 50}", "price": 19.99, "currency": "EUR", "position": n % 10},
        "context": {
            "library": {"name": "intilery.js", "version": "1.0.0"},
            "page": {"path": "/products/42", "referrer": "", "search": "", "title": "Product 42",
                     "url": "http://127.0.0.1/products/42"},
            "userAgent": UA,
            "locale": "en-GB",
            "timezone": "Europe/London",
            "screen": {"width": 1280, "height": 800, "density": 1},
        },
        "integrations": {},
        "timestamp": now,
        "sentAt": now,
        "_metadata": {"transport": "fetch"},
    }


def single_requests(count: int) -> list[tuple[str, bytes]]:
    return [("/v1/track", json.dumps(message(i)).encode()) for i in range(count)]


def batch_requests(count: int, size: int = 100) -> list[tuple[str, bytes]]:
    out = []
    for b in range(count):
        batch = [message(b * size + i) for i in range(size)]
        out.append(("/v1/batch", json.dumps({"batch": batch, "sentAt": batch[0]["sentAt"]}).encode()))
    return out


@dataclass
class Load:
    """What one generator run achieved."""

    requests: int
    ok: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def _drive(base: str, requests: list[tuple[str, bytes]], concurrency: int, time_limit: float) -> Load:
    """Send every request (bodies pre-serialised) with ``concurrency`` keep-alive connections."""
    pending: Iterator[tuple[str, bytes]] = iter(requests)
    ok = errors = sent = 0
    headers = {"Content-Type": "application/json"}
    deadline = time.perf_counter() + time_limit
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    jar = aiohttp.CookieJar(unsafe=True)  # keep the harness's device cookie, as a browser would
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar) as session:

        async def worker() -> None:
            nonlocal ok, errors, sent
            for path, body in pending:
                if time.perf_counter() > deadline:
                    return
                sent += 1
                try:
                    async with session.post(base + path, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status == 200:
                            ok += 1
                        else:
                            errors += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return Load(sent, ok, errors, seconds)


def drive(base: str, requests: list[tuple[str, bytes]], concurrency: int = 32, time_limit: float = 60.0) -> Load:
    return run_in_thread(_drive(base, requests, concurrency, time_limit))


class Server:
    """A server subprocess on a free loopback port, ready when GET / answers."""

    def __init__(self, argv: list[str], cwd: Path | str = ROOT, settle_path: str = SETTLE) -> None:
        """``cwd``: the source tree ``python -m`` imports from (another checkout, to compare versions).

        ``settle_path``: read after each load, before its CPU is taken (see :meth:`settle`).
        """
        self.settle_path = settle_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([*argv, "--port", str(self.port)], cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        run_in_thread(self._wait_ready())

    async def _wait_ready(self, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {err[-2000:]}")
                try:
                    async with session.get(self.base + "/") as resp:
                        await resp.read()
                        return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        raise RuntimeError(f"server on {self.base} not ready after {limit}s")

    def get_json(self, path: str) -> Any:
        async def fetch() -> Any:
            async with aiohttp.ClientSession() as session, session.get(self.base + path) as resp:
                return await resp.json()

        return run_in_thread(fetch())

    def settle(self) -> None:
        """Read the identity graph once: a harness that brings it up to date after the commit (issue 20)
        does the rest of that work now, so the CPU taken next counts it -- deferred work is not hidden."""
        self.get_json(self.settle_path)

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server process has used (Linux /proc), robust to a busy machine."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        stop_process(self.proc)


def run(singles: int = 20_000, batches: int = 200, batch_size: int = 100, rounds: int = 5,
        concurrency: int = 32, time_limit: float = 60.0) -> Result:
    """Alternate bare/harness over ``rounds``; each round sends singles/rounds and batches/rounds."""
    result = Result("Collector ingest")
    started = time.perf_counter()
    per_single, per_batch = max(1, singles // rounds), max(1, batches // rounds)
    names = ("bare single", "harness single", "bare batch", "harness batch")
    rates: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}  # server CPU ms per message
    acknowledged = 0
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        db = str(Path(tmp) / "beacons.sqlite")
        harness = Server([PYTHON, "-m", "harness", "serve", "--db", db])
        bare = Server([PYTHON, "-m", "benchmarks.bare_app"], settle_path="/")
        try:
            drive(bare.base, single_requests(200), concurrency)  # warm both up (imports, first connections)
            drive(harness.base, single_requests(200), concurrency)
            warmup_stats = harness.get_json("/api/stats")
            for _ in range(rounds):
                s_reqs = single_requests(per_single)
                b_reqs = batch_requests(per_batch, batch_size)
                for kind, server, reqs, per in (("single", bare, s_reqs, 1), ("single", harness, s_reqs, 1),
                                                ("batch", bare, b_reqs, batch_size),
                                                ("batch", harness, b_reqs, batch_size)):
                    cpu0 = server.cpu_seconds()
                    load = drive(server.base, reqs, concurrency, time_limit)
                    server.settle()
                    cpu1 = server.cpu_seconds()
                    name = f"{'harness' if server is harness else 'bare'} {kind}"
                    rates[name].append(load.rate * per)
                    if cpu0 is not None and cpu1 is not None and load.ok:
                        cpu[name].append(1000 * (cpu1 - cpu0) / (load.ok * per))
                    if load.errors:
                        result.notes.append(f"{name}: {load.errors} of {load.requests} requests failed")
                    if server is harness:
                        acknowledged += load.ok * per
            stats = harness.get_json("/api/stats")
        finally:
            harness.stop()
            bare.stop()
    stored = stats["stored"] - warmup_stats["stored"]
    med = {k: median(v) for k, v in rates.items()}
    single_ratio = med["harness single"] / med["bare single"] if med["bare single"] else 0.0
    batch_ratio = med["harness batch"] / med["harness single"] if med["harness single"] else 0.0
    result.figure("load", f"{singles:,} single messages + {batches} batches of {batch_size}, "
                          f"concurrency {concurrency}, {rounds} alternating rounds")
    for name, value in med.items():
        per_msg = f", server CPU {median(cpu[name]):.3f} ms/msg" if cpu[name] else ""
        result.figure(f"{name}", f"{value:,.0f} msgs/s{per_msg}")
    result.figure("harness stored / acknowledged", f"{stored:,} / {acknowledged:,}")
    result.check("single: harness / bare aiohttp", f"{single_ratio:.2f}x", f">= {SINGLE_TARGET}x",
                 single_ratio >= SINGLE_TARGET)
    result.check("batch of 100 vs single (harness msgs/s)", f"{batch_ratio:.1f}x", f">= {BATCH_TARGET:.0f}x",
                 batch_ratio >= BATCH_TARGET)
    if cpu["harness batch"]:
        batch_us = 1000 * median(cpu["harness batch"])
        result.check("batch of 100: server CPU per message", f"{batch_us:.1f} µs", f"<= {BATCH_CPU_TARGET_US:.0f} µs",
                     batch_us <= BATCH_CPU_TARGET_US)
    if stored != acknowledged:
        result.notes.append(f"stored {stored} != acknowledged {acknowledged}: an acknowledged message was lost")
    result.seconds = time.perf_counter() - started
    return result


if __name__ == "__main__":
    from benchmarks.report import print_results

    print_results([run()])
