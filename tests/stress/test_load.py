"""Issue 8, load and durability: many concurrent clients, SIGKILL mid-load, bounded memory.

Each test runs ``harness serve --db FILE`` as a subprocess and drives it over loopback with aiohttp.
Figures are printed (``-s`` shows them) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.server import run_in_thread

pytestmark = [pytest.mark.stress, pytest.mark.long(3)]

CLIENTS = 50
MESSAGES = 20_000
RESENDS_PER_CLIENT = 10
BATCH = 25


def make_message(client: int, i: int) -> dict[str, Any]:
    """A realistic track call (~400 bytes), unique messageId."""
    return {
        "type": "track", "event": "Load Test", "anonymousId": f"anon-{client}", "userId": f"user-{client}",
        "messageId": f"c{client}-m{i}-{uuid.uuid4().hex[:8]}", "timestamp": "2024-01-01T00:00:00.000Z",
        "properties": {"client": client, "i": i, "path": "/products/p1", "price": 12.5},
        "context": {"library": {"name": "load-test", "version": "1"}, "page": {"url": "http://shop.test/"}},
    }


class Tally:
    """What the clients sent and what the server acknowledged."""

    def __init__(self) -> None:
        self.acked: Counter[str] = Counter()
        self.requests = 0
        self.failures: list[str] = []

    async def post(self, session: aiohttp.ClientSession, url: str, payload: Any, ids: list[str],
                   content_type: str) -> None:
        self.requests += 1
        async with session.post(url, data=json.dumps(payload), headers={"Content-Type": content_type}) as resp:
            body = await resp.read()
            if resp.status == 200:
                self.acked.update(ids)
            else:
                self.failures.append(f"{resp.status} {body[:200]!r}")


async def one_client(base: str, client: int, per_client: int, tally: Tally) -> list[str]:
    """Singles on /v1/track (JSON) and /v1/t (text/plain), batches on /v1/batch and /v1/b; then re-sends."""
    messages = [make_message(client, i) for i in range(per_client)]
    singles, batched = messages[: per_client // 8], messages[per_client // 8:]
    connector = aiohttp.TCPConnector(limit=1)  # one connection: a client is one HTTP client
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for n, msg in enumerate(singles):
            path, ctype = ("/v1/track", "application/json") if n % 2 else ("/v1/t", "text/plain")
            await tally.post(session, base + path, msg, [msg["messageId"]], ctype)
        for n in range(0, len(batched), BATCH):
            chunk = batched[n:n + BATCH]
            path, ctype = ("/v1/batch", "application/json") if (n // BATCH) % 2 else ("/v1/b", "text/plain")
            await tally.post(session, base + path, {"batch": chunk, "sentAt": "2024-01-01T00:00:01.000Z"},
                             [m["messageId"] for m in chunk], ctype)
        # purposeful re-sends of acknowledged messages: half singly, half in one batch
        again = messages[:: per_client // RESENDS_PER_CLIENT][:RESENDS_PER_CLIENT]
        for msg in again[: RESENDS_PER_CLIENT // 2]:
            await tally.post(session, base + "/v1/track", msg, [msg["messageId"]], "application/json")
        rest = again[RESENDS_PER_CLIENT // 2:]
        await tally.post(session, base + "/v1/batch", {"batch": rest}, [m["messageId"] for m in rest], "text/plain")
    return [m["messageId"] for m in messages]


async def run_load(base: str) -> tuple[Tally, list[str], float]:
    tally = Tally()
    start = time.monotonic()
    sent = await asyncio.gather(*(one_client(base, c, MESSAGES // CLIENTS, tally) for c in range(CLIENTS)))
    return tally, [mid for ids in sent for mid in ids], time.monotonic() - start


def test_50_concurrent_clients_20000_messages(serve_process: Any, tmp_path: Path) -> None:
    server = serve_process(str(tmp_path / "load.sqlite"))
    cpu, client_cpu = server.cpu_seconds(), time.process_time()
    tally, ids, seconds = run_in_thread(run_load(server.base_url))
    server_cpu, client_cpu = server.cpu_seconds() - cpu, time.process_time() - client_cpu
    assert tally.failures == []
    resent = CLIENTS * RESENDS_PER_CLIENT
    assert len(ids) == len(set(ids)) == MESSAGES
    assert set(tally.acked) == set(ids) and sum(tally.acked.values()) == MESSAGES + resent
    stats = server.get("/api/stats")
    assert stats == {"received": MESSAGES + resent, "stored": MESSAGES, "duplicates": resent, "bad": 0,
                     "unauthorized": 0}
    page = server.get("/api/beacons?limit=3")
    assert page["total"] == MESSAGES and len(page["beacons"]) == 3
    assert server.stop() == 0
    rows = sqlite3.connect(server.db).execute("SELECT message_id, body FROM beacons").fetchall()
    stored = Counter(mid for mid, _ in rows)
    assert len(rows) == MESSAGES and set(stored) == set(ids) and max(stored.values()) == 1
    assert all(json.loads(body)["messageId"] == mid for mid, body in rows)
    print(f"\nload: {CLIENTS} clients, {MESSAGES} messages + {resent} re-sends in {tally.requests} requests, "
          f"{seconds:.1f}s ({MESSAGES / seconds:.0f} msg/s; CPU server {server_cpu:.1f}s, clients "
          f"{client_cpu:.1f}s); stored {len(rows)}, duplicates {stats['duplicates']}")


# ---- SIGKILL mid-load ----------------------------------------------------------------------------
def _crash_load(base: str, tally: Tally, enough: threading.Event, stop: threading.Event, threshold: int) -> None:
    """Post from 8 clients until told to stop or the server dies; record what was answered 200."""

    async def client(c: int) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as session:
            i = 0
            while not stop.is_set():
                chunk = [make_message(c, i + k) for k in range(1 if i % 3 == 0 else 10)]
                i += len(chunk)
                payload: Any = chunk[0] if len(chunk) == 1 else {"batch": chunk}
                try:
                    await tally.post(session, base + ("/v1/track" if len(chunk) == 1 else "/v1/batch"), payload,
                                     [m["messageId"] for m in chunk], "text/plain")
                except (aiohttp.ClientError, OSError, TimeoutError):
                    return  # the server is gone: this request was not acknowledged
                if sum(tally.acked.values()) >= threshold:
                    enough.set()

    async def main() -> None:
        await asyncio.gather(*(client(c) for c in range(8)))

    run_in_thread(main())


def test_sigkill_mid_load_loses_nothing_acknowledged(serve_process: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "crash.sqlite")
    server = serve_process(db)
    tally, enough, stop = Tally(), threading.Event(), threading.Event()
    loader = threading.Thread(target=_crash_load, args=(server.base_url, tally, enough, stop, 3000))
    loader.start()
    assert enough.wait(60), "the load reached 3000 acknowledged messages"
    server.kill9()  # while the clients are still posting
    stop.set()
    loader.join(30)
    acked = set(tally.acked)
    assert len(acked) >= 3000

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    again = serve_process(db)
    page = again.get("/api/beacons")
    stored = [b["messageId"] for b in page["beacons"]]
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged messages lost"
    assert len(stored) == len(set(stored)) == page["total"]
    assert again.stop() == 0
    rows = sqlite3.connect(db).execute("SELECT message_id, body FROM beacons").fetchall()
    assert all(json.loads(body)["messageId"] == mid for mid, body in rows), "no half-written row"
    print(f"\ncrash: killed after {len(acked)} acknowledged; after restart {len(rows)} stored "
          f"({len(rows) - len(acked)} committed but unanswered when killed), 0 lost")


# ---- memory --------------------------------------------------------------------------------------
MEMORY_MESSAGES = 100_000
BIG_MESSAGES = 2_000  # ~24 KB each: the window's byte bound, not its count, has to hold these
RSS_BOUND_MB = 150


def _batch_body(template: str, ids: list[str]) -> bytes:
    """A batch built from a pre-serialised message: the client spends its CPU on sending, not encoding."""
    return ('{"batch":[' + ",".join(template.replace("@MID@", mid) for mid in ids) + "]}").encode()


async def _pump_batches(base: str, server: Any, template: str, total: int, per_batch: int,
                        samples: list[tuple[int, float]]) -> None:
    """Post ``total`` messages in batches from 4 concurrent senders, sampling the server's RSS."""
    batches = total // per_batch
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def sender(worker: int) -> None:
            for n in range(worker, batches, 4):
                ids = [f"{uuid.uuid4().hex}" for _ in range(per_batch)]
                async with session.post(base + "/v1/batch", data=_batch_body(template, ids),
                                        headers={"Content-Type": "text/plain"}) as resp:
                    assert resp.status == 200, await resp.text()
                if n % 25 == 0:
                    samples.append(((n + 1) * per_batch, server.rss_mb()))

        await asyncio.gather(*(sender(w) for w in range(4)))


def test_memory_stays_bounded_over_100000_messages(serve_process: Any, tmp_path: Path) -> None:
    server = serve_process(str(tmp_path / "memory.sqlite"))
    baseline = server.rss_mb()
    small = json.dumps({**make_message(1, 1), "messageId": "@MID@"})
    big = json.dumps({**make_message(2, 2), "messageId": "@MID@", "properties": {"blob": "b" * 24_000}})
    samples: list[tuple[int, float]] = []
    start, cpu = time.monotonic(), server.cpu_seconds()
    run_in_thread(_pump_batches(server.base_url, server, small, MEMORY_MESSAGES, 100, samples))
    seconds = time.monotonic() - start
    samples.append((MEMORY_MESSAGES, server.rss_mb()))
    big_samples: list[tuple[int, float]] = []
    run_in_thread(_pump_batches(server.base_url, server, big, BIG_MESSAGES, 15, big_samples))
    big_samples.append((BIG_MESSAGES, server.rss_mb()))
    server_cpu = server.cpu_seconds() - cpu

    stats = server.get("/api/stats")
    assert stats["stored"] == MEMORY_MESSAGES + BIG_MESSAGES // 15 * 15 and stats["bad"] == 0
    recent = server.get("/api/beacons?limit=5")  # a query past the memory window stays bounded too
    assert recent["total"] == stats["stored"] and len(recent["beacons"]) == 5
    after_query = server.rss_mb()
    peak = max(rss for _, rss in samples)
    half = max(rss for n, rss in samples if n <= MEMORY_MESSAGES // 2)
    big_peak = max(rss for _, rss in big_samples)
    print(f"\nmemory: {MEMORY_MESSAGES} messages (~0.4 KB) in {seconds:.1f}s, server CPU {server_cpu:.1f}s; "
          f"RSS baseline {baseline:.0f} MB, peak to 50k {half:.0f} MB, peak to 100k {peak:.0f} MB; "
          f"then {BIG_MESSAGES} x 24 KB messages: peak {big_peak:.0f} MB; after a limit=5 query "
          f"{after_query:.0f} MB (bound {RSS_BOUND_MB} MB)")
    assert max(peak, big_peak, after_query) < RSS_BOUND_MB
    assert peak - half < 30, "no growth with the message count once the memory window is full"
