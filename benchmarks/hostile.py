"""Issue 18: a big store must not stall the collector, and SSE subscribers must not slow ingest.

``python -m benchmarks.hostile build --beacons 1000000`` writes a store file once (realistic
browser traffic: 60,000 devices over three months, a quarter of them signing up, every message
about 0.8 KB); ``bigstore`` then serves it with ``harness serve`` and, for ``--seconds``, has 50
clients post single messages (one connection each, each waiting for its answer) while the
inspector is open in headless Chromium and another client calls ``/api/profiles`` and
``/api/lint`` in a loop. It reports the collector's latency percentiles, timeouts, the analysis
answer times and the server's peak resident memory (VmRSS, sampled every 0.25 s).

``fanout`` measures ingest with no SSE subscriber and with 200 (half of them never reading),
alternating rounds, on a fresh store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import PYTHON, WORK, percentile
from benchmarks.ingest import UA, Server
from harness.collecting.beacon import RequestInfo, enrich
from harness.collecting.store import BeaconStore, to_json
from harness.server import run_in_thread

START = datetime(2026, 8, 1, tzinfo=UTC)
DEVICES = 60_000


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def traffic(n: int, seed: int = 18) -> Any:
    """``n`` stored records, in batches: (records, bodies). Devices come back over three months."""
    rng = random.Random(seed)
    span = timedelta(days=90).total_seconds()
    paths = ["/", "/products/1", "/products/2", "/cart", "/signup", "/welcome", "/account"]
    batch: list[dict[str, Any]] = []
    for i in range(n):
        device = rng.randrange(DEVICES)
        moment = START + timedelta(seconds=span * i / n)
        when = _iso(moment)
        signed_up = device % 4 == 0 and i > n * (device % 89) / 100
        kind = rng.choices(["page", "track", "identify"], [55, 40, 5 if signed_up else 0])[0]
        message: dict[str, Any] = {
            "type": kind, "messageId": f"big-{i}-{uuid.UUID(int=rng.getrandbits(128))}",
            "anonymousId": f"anon-{device:06d}-5c1e4c55-9d7e-0d8a5b1f2c3d",
            "timestamp": when, "sentAt": when, "originalTimestamp": when,
            "context": {"library": {"name": "intilery.js", "version": "1.0.0"}, "userAgent": UA, "locale": "en-GB",
                        "page": {"path": rng.choice(paths), "url": "http://www.shop.test/", "title": "Shop"},
                        "timezone": "Europe/London", "screen": {"width": 1280, "height": 800}},
            "_metadata": {"transport": "beacon"},
        }
        if signed_up:
            message["userId"] = f"user-{device:06d}"
        if kind == "track":
            message.update(event=rng.choice(["Product Viewed", "Product Added", "Signed Up"]),
                           properties={"product_id": f"p{rng.randrange(50)}", "price": 19.99, "currency": "EUR"})
        elif kind == "identify":
            message["traits"] = {"plan": rng.choice(["free", "pro"]), "name": f"Person {device}"}
        else:
            message.update(name="Shop", properties={"path": message["context"]["page"]["path"]})
        info = RequestInfo("/v1/batch", "127.0.0.1", None, UA, f"dev-{device}", moment.timestamp() * 1000, when)
        batch.append(enrich(message, {}, info))
        if len(batch) == 2_000:
            yield batch, [to_json(r) for r in batch]
            batch = []
    if batch:
        yield batch, [to_json(r) for r in batch]


def build(path: Path, beacons: int) -> None:
    """Write a store file of ``beacons`` records through BeaconStore (the identity graph included)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = BeaconStore(str(path), memory_limit=100)
    started = time.monotonic()
    done = 0
    for records, bodies in traffic(beacons):
        store.add_groups([(records, bodies)])
        done += len(records)
        if done % 100_000 == 0:
            print(f"  {done:,} stored ({time.monotonic() - started:.0f} s)", flush=True)
    store.close()
    size = sum(Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists())
    print(f"built {path}: {beacons:,} beacons, {size / 1e6:.0f} MB, {time.monotonic() - started:.0f} s")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(the server's RSS, its child processes' RSS: the analysis process) in MB."""
    return rss_mb(pid), sum(rss_mb(c) for c in children(pid))


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # collector requests, seconds
    timeouts: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    profiles: list[float] = field(default_factory=list)
    lint: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    child_rss: list[float] = field(default_factory=list)
    inspector_requests: int = 0
    inspector_error: str = ""
    analysis_timeouts: int = 0  # /api/profiles or /api/lint calls not answered before the run ended
    server_cpu: float = 0.0  # CPU seconds the server process used during the run
    load: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average before and after


def _single(n: int) -> bytes:
    now = _iso(datetime.now(UTC))
    return json.dumps({"type": "track", "event": "Product Viewed", "messageId": f"load-{uuid.uuid4()}",
                       "anonymousId": f"anon-load-{n % 5000:05d}", "timestamp": now, "sentAt": now,
                       "properties": {"product_id": f"p{n % 50}", "price": 19.99},
                       "context": {"userAgent": UA, "page": {"path": "/products/1"}}}).encode()


async def _load(base: str, pid: int, seconds: float, clients: int, inspector: bool, analysis: bool,
                rate: float = 0.0) -> Run:
    """``clients`` connections post singles for ``seconds``: each ``rate`` times a second (paced, as
    browsers send), or back to back when ``rate`` is 0 (a saturation test of the whole machine)."""
    run = Run()
    stop = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=10)

    async def sender(k: int) -> None:
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=1)) as session:
            n = k
            due = time.monotonic() + (k / clients / rate if rate else 0)
            while time.monotonic() < stop:
                if rate:
                    due += 1 / rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                body = _single(n)
                n += clients
                started = time.perf_counter()
                try:
                    async with session.post(f"{base}/v1/track", data=body,
                                            headers={"Content-Type": "text/plain"}) as resp:
                        await resp.read()
                        run.statuses[resp.status] = run.statuses.get(resp.status, 0) + 1
                except TimeoutError:
                    run.timeouts += 1
                    continue
                except aiohttp.ClientError:
                    run.errors += 1
                    continue
                run.latencies.append(time.perf_counter() - started)

    async def analyst() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(5.0, stop - time.monotonic()))
                                         ) as session:
            while time.monotonic() < stop:
                for path, into in (("/api/profiles", run.profiles), ("/api/lint", run.lint)):
                    started = time.perf_counter()
                    try:
                        async with session.get(base + path) as resp:
                            await resp.read()
                            assert resp.status == 200, (path, resp.status)
                    except TimeoutError:
                        run.analysis_timeouts += 1
                        continue
                    into.append(time.perf_counter() - started)
                    if time.monotonic() >= stop:
                        break

    async def sampler() -> None:
        while time.monotonic() < stop + 1:
            own, kids = tree_rss_mb(pid)
            run.rss.append(own)
            run.child_rss.append(kids)
            await asyncio.sleep(0.25)

    async def browser() -> None:
        from playwright.async_api import async_playwright

        from harness.browser import launch_args

        async with async_playwright() as pw:
            chromium = await pw.chromium.launch(**launch_args(headless=True))
            page = await chromium.new_page()

            def seen(request: Any) -> None:
                if "/api/" in request.url:
                    run.inspector_requests += 1
            page.on("request", seen)
            try:
                await page.goto(f"{base}/inspector", timeout=max(1.0, stop - time.monotonic()) * 1000)
            except Exception as exc:  # noqa: BLE001 - a server that cannot even serve the page: say so, go on
                run.inspector_error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            await asyncio.sleep(max(0.0, stop - time.monotonic()))
            await chromium.close()

    tasks = [sender(k) for k in range(clients)] + [sampler()]
    if analysis:
        tasks.append(analyst())
    if inspector:
        tasks.append(browser())
    await asyncio.gather(*tasks)
    return run


def report(run: Run, seconds: float, label: str) -> dict[str, Any]:
    ms = [x * 1000 for x in run.latencies]
    doc = {
        "label": label, "seconds": seconds, "collector requests": len(ms), "timeouts": run.timeouts,
        "errors": run.errors, "statuses": run.statuses,
        "collector ms p50/p95/p99/max": [round(percentile(ms, q), 1) for q in (50, 95, 99, 100)] if ms else None,
        "/api/profiles s (calls, median, max)": [len(run.profiles), round(percentile(run.profiles, 50), 3),
                                                 round(max(run.profiles), 3)] if run.profiles else None,
        "/api/lint s (calls, median, max)": [len(run.lint), round(percentile(run.lint, 50), 3),
                                             round(max(run.lint), 3)] if run.lint else None,
        "server RSS MB (start, peak, end)": [round(run.rss[0]), round(max(run.rss)), round(run.rss[-1])],
        "analysis process RSS MB (peak)": round(max(run.child_rss)),
        "server + analysis process RSS MB (peak)": round(max(a + b for a, b in zip(run.rss, run.child_rss,
                                                                                   strict=True))),
        "analysis calls unanswered at the end": run.analysis_timeouts,
        "inspector /api requests": run.inspector_requests, **({"inspector error": run.inspector_error}
                                                              if run.inspector_error else {}),
        "server CPU s": round(run.server_cpu, 1), "load average before/after": [round(x, 1) for x in run.load],
    }
    print(json.dumps(doc), flush=True)
    return doc


PHASES = {"alone": (False, False, "collector alone"),
          "analysis": (False, True, "/api/profiles and /api/lint in a loop"),
          "inspector": (True, False, "inspector open"),
          "both": (True, True, "inspector open + /api/profiles and /api/lint in a loop")}


def big_store(path: Path, seconds: float, clients: int, phases: list[str] | None = None,
              rate: float = 10.0) -> list[dict[str, Any]]:
    server = Server([PYTHON, "-m", "harness", "serve", "--db", str(path), "--snippet", "none"])
    try:
        pid = server.proc.pid
        print(f"server up, RSS {rss_mb(pid):.0f} MB; stats {server.get_json('/api/stats')}", flush=True)
        started = time.perf_counter()
        doc = server.get_json("/api/profiles")
        profiles = doc.get("total", len(doc["profiles"]))  # a harness before issue 18 answers every profile
        print(f"idle /api/profiles: {time.perf_counter() - started:.3f} s, {profiles} profiles, "
              f"MTU {doc['mtu']}", flush=True)
        out = []
        for phase in phases or ["alone", "both"]:
            inspector, analysis, label = PHASES[phase]
            cpu, load = server.cpu_seconds() or 0.0, os.getloadavg()[0]
            run = run_in_thread(_load(server.base, pid, seconds, clients, inspector, analysis, rate))
            run.server_cpu = (server.cpu_seconds() or 0.0) - cpu
            run.load = (load, os.getloadavg()[0])
            out.append(report(run, seconds, f"{label}; {clients} clients x {rate:g}/s" if rate else
                              f"{label}; {clients} clients back to back"))
        return out
    finally:
        server.stop()


# ---- fan-out ---------------------------------------------------------------------------------------------
def _stalled(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


async def _fan(base: str, port: int, subscribers: int, messages: int, clients: int,
               cpu: Any = None) -> tuple[float, int, float]:
    """Post ``messages`` singles from ``clients`` connections with ``subscribers`` on the stream; (seconds, seen)."""
    stalled = [_stalled(port) for _ in range(subscribers // 2)]
    seen = 0
    async with aiohttp.ClientSession() as session:
        readers = []
        for _ in range(subscribers - len(stalled)):
            resp = await session.get(f"{base}/api/stream")
            await resp.content.readline()
            readers.append(resp)

        async def read(resp: aiohttp.ClientResponse) -> None:  # as cheap as a reader can be: raw chunks
            nonlocal seen
            tail = b""
            try:
                async for chunk in resp.content.iter_any():
                    data = tail + chunk
                    seen += data.count(b"event: beacon")
                    tail = data[-20:] if not data.endswith(b"\n") else b""
                    seen -= tail.count(b"event: beacon")
            except (aiohttp.ClientError, asyncio.CancelledError):
                pass
        reading = [asyncio.ensure_future(read(r)) for r in readers]
        await asyncio.sleep(0.5)
        per = messages // clients
        started = time.perf_counter()
        cpu_before = cpu() if cpu else 0.0

        async def sender(k: int) -> None:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as own:
                for i in range(per):
                    async with own.post(f"{base}/v1/track", data=_single(k * per + i),
                                        headers={"Content-Type": "text/plain"}) as r:
                        await r.read()
        await asyncio.gather(*(sender(k) for k in range(clients)))
        took = time.perf_counter() - started
        cpu_used = (cpu() - cpu_before) if cpu else 0.0
        await asyncio.sleep(0.3)
        for task in reading:
            task.cancel()
        for resp in readers:
            resp.close()
    for sock in stalled:
        sock.close()
    return took, seen, cpu_used


def fan_out(rounds: int, messages: int, clients: int, subscribers: int) -> dict[str, Any]:
    server = Server([PYTHON, "-m", "harness", "serve", "--db", ":memory:", "--snippet", "none"])
    try:
        alone: list[float] = []
        fanned: list[float] = []
        cpu_alone: list[float] = []
        cpu_fanned: list[float] = []
        seen: list[int] = []
        for _ in range(rounds):
            took, _, used = run_in_thread(_fan(server.base, server.port, 0, messages, clients, server.cpu_seconds))
            alone.append(took)
            cpu_alone.append(used)
            took, got, used = run_in_thread(_fan(server.base, server.port, subscribers, messages, clients,
                                                 server.cpu_seconds))
            fanned.append(took)
            cpu_fanned.append(used)
            seen.append(got)
        doc = {"messages per round": messages, "senders": clients, "subscribers": subscribers,
               "half never reading": subscribers // 2, "rounds": rounds,
               "seconds without subscribers": [round(x, 2) for x in alone],
               "seconds with subscribers": [round(x, 2) for x in fanned],
               "slowdown (median ratio, wall clock)": round(percentile(fanned, 50) / percentile(alone, 50), 2),
               "server CPU s without / with": [round(sum(cpu_alone), 2), round(sum(cpu_fanned), 2)],
               "server CPU ratio": round(sum(cpu_fanned) / max(sum(cpu_alone), 1e-9), 2),
               "beacon events the reading half got": seen,
               "expected per round": messages * (subscribers - subscribers // 2)}
        print(json.dumps(doc), flush=True)
        return doc
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--beacons", type=int, default=1_000_000)
    b.add_argument("--db", type=Path, default=WORK / "big.sqlite")
    s = sub.add_parser("bigstore")
    s.add_argument("--db", type=Path, default=WORK / "big.sqlite")
    s.add_argument("--seconds", type=float, default=60)
    s.add_argument("--clients", type=int, default=50)
    s.add_argument("--phases", default="alone,both", help=f"comma-separated: {', '.join(PHASES)}")
    s.add_argument("--rate", type=float, default=10.0, help="messages a second per client (0: back to back)")
    f = sub.add_parser("fanout")
    f.add_argument("--rounds", type=int, default=3)
    f.add_argument("--messages", type=int, default=3000)
    f.add_argument("--clients", type=int, default=10)
    f.add_argument("--subscribers", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.db, args.beacons)
    elif args.command == "bigstore":
        big_store(args.db, args.seconds, args.clients, args.phases.split(","), args.rate)
    else:
        fan_out(args.rounds, args.messages, args.clients, args.subscribers)


if __name__ == "__main__":
    main()
