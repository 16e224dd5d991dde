"""Issue 18: hostile pages and big stores. One regression test (or more) per attack of items 2-9.

Each test names the attack it reproduces; on the code before issue 18 every one of them failed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.collecting import stream as stream_mod
from harness.collecting.beacon import MAX_REQUEST_BYTES
from harness.collecting.store import BAD_RAW_KEEP, BeaconStore, StoreInUse
from harness.inspection.api import HUB
from harness.keys import Config
from harness.server import HarnessServer, run_in_thread

HARNESS = str(Path(sys.executable).with_name("harness"))


def track(**extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "E", "anonymousId": "a", "messageId": f"m-{uuid.uuid4()}", **extra}


def strict_json(raw: bytes) -> Any:
    """json.loads that refuses NaN/Infinity, as every JSON parser but Python's does."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")
    return json.loads(raw, parse_constant=refuse)


# ---- item 2: one beacon must not blind every reader -------------------------------------------------
@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400"])
def test_item2_a_number_too_big_for_a_double_is_refused_not_stored_as_infinity(client: Any, number: str) -> None:
    body = '{"type":"track","event":"E","anonymousId":"a","properties":{"v":NUMBER}}'.replace("NUMBER", number)
    reply = client.post("/v1/track", body, content_type="text/plain")
    assert reply.status == 400 and "out of range" in reply.body["reason"], reply.body
    assert client.stats()["stored"] == 0 and client.bad()[-1]["reason"] == reply.body["reason"]
    assert client.post("/v1/track", track()).status == 200
    strict_json(client.get("/api/beacons").raw)  # still JSON for every reader


@pytest.mark.parametrize("field", ["timestamp", "originalTimestamp", "sentAt"])
@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_item2_a_time_outside_the_calendar_in_utc_is_refused(client: Any, field: str, when: str) -> None:
    reply = client.post("/v1/track", track(**{field: when}))
    assert reply.status == 400 and f"'{field}'" in reply.body["reason"] and "outside" in reply.body["reason"]
    assert client.post("/v1/identify", {**track(userId="u", timestamp="0001-01-01T00:00:00Z"),
                                        "type": "identify"}).status == 200, "the calendar's edge in UTC is fine"
    for path in ("/api/profiles", "/api/lint", "/api/beacons"):
        got = client.get(path)
        assert got.status == 200, (path, got.body)
        strict_json(got.raw)


def test_item2_a_store_already_poisoned_reads_as_valid_json(tmp_path: Path) -> None:
    """Rows written before the fix (Infinity, out-of-range times) no longer break any reader."""
    db = tmp_path / "poisoned.sqlite"
    BeaconStore(str(db)).close()
    con = sqlite3.connect(db)
    rows = [
        '{"type":"track","event":"E","anonymousId":"a","messageId":"inf","properties":{"v":Infinity}}',
        '{"type":"track","event":"E","anonymousId":"a","messageId":"early","timestamp":"0001-01-01T00:00:00+01:00"}',
        '{"type":"identify","userId":"u","anonymousId":"a","messageId":"late",'
        '"originalTimestamp":"9999-12-31T23:59:59-01:00"}',
    ]
    con.executemany("INSERT INTO beacons(message_id, body) VALUES(?, ?)", [(str(i), r) for i, r in enumerate(rows)])
    con.commit()
    con.close()
    srv = HarnessServer(db=str(db), snippet="none").start()
    try:
        with raw_get(srv) as get:
            for path in ("/api/beacons", "/api/profiles", "/api/lint", "/api/violations", "/api/bad"):
                status, raw = get(path)
                assert status == 200, (path, raw[:300])
                strict_json(raw)
    finally:
        srv.stop()
    for command in (["profiles", "--format", "json"], ["lint", "--format", "json"], ["beacons", "--format", "jsonl"]):
        done = subprocess.run([HARNESS, *command, "--db", str(db)], capture_output=True, text=True, timeout=60)
        assert "Traceback" not in done.stderr and done.returncode in (0, 1), (command, done.stderr)
        for line in ([done.stdout] if "jsonl" not in command else done.stdout.splitlines()):
            strict_json(line.encode())


class raw_get:  # noqa: N801 - a tiny context manager used like a function
    """``with raw_get(server) as get: status, raw = get(path)``: http.client to 127.0.0.1, any Host header."""

    def __init__(self, srv: HarnessServer, headers: dict[str, str] | None = None) -> None:
        self.srv, self.headers = srv, headers or {}

    def __enter__(self) -> Any:
        import http.client

        def get(path: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
            try:
                conn.request("GET", path, headers=self.headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()
        return get

    def __exit__(self, *exc: object) -> None:
        return None


# ---- item 3: CSRF on the state-changing endpoints ------------------------------------------------------
CROSS_SITE = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}


def test_item3_a_cross_site_simple_post_cannot_set_a_fault(client: Any) -> None:
    """The attack: a no-cors text/plain POST from any page set {"status":200,"count":null} -> every beacon lost."""
    body = json.dumps({"status": 200, "count": None})
    reply = client.post("/api/faults", body, content_type="text/plain", headers=CROSS_SITE)
    assert reply.status == 403 and "cross-site" in reply.body["reason"]
    assert client.get("/api/faults").body["status"] is None
    assert client.post("/v1/track", track()).status == 200 and client.stats()["stored"] == 1


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},  # no Sec-Fetch-* (a browser that does not send them, or plain http)
    {"Origin": "null"},  # a sandboxed iframe or a data: page
    {"Origin": "http://127.0.0.1:1"},  # the same host at another port
    {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"},  # ports do not make a site
])
def test_item3_state_changes_need_our_own_origin(client: Any, headers: dict[str, str]) -> None:
    assert client.post("/api/faults", {"status": 503}, headers=headers).status == 403
    assert client.delete("/api/beacons", headers=headers).status == 403
    assert client.get("/api/faults").body["status"] is None


def test_item3_a_body_must_be_json_even_without_browser_headers(client: Any) -> None:
    reply = client.post("/api/faults", json.dumps({"status": 503}), content_type="text/plain")
    assert reply.status == 415 and "application/json" in reply.body["reason"]
    assert client.get("/api/faults").body["status"] is None


def test_item3_our_own_pages_and_plain_clients_still_work(client: Any) -> None:
    own = {"Origin": client.base_url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert client.post("/api/faults", {"status": 503, "count": 1}, headers=own).status == 200
    assert client.post("/v1/track", track()).status == 503
    assert client.delete("/api/faults").status == 200  # curl-style: no Origin, no Sec-Fetch-*
    navigation = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert client.get("/inspector", headers=navigation).status == 200, "a link from elsewhere opens the inspector"
    assert client.get("/api/stats", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
                      ).status == 403, "no-cors reads (an SSE subscription, say) from other sites are refused"


def test_item3_with_a_token_the_same_host_at_another_port_still_cannot(server_factory: Any, client_for: Any) -> None:
    client = client_for(server_factory(config=Config(api_token="tok")))
    cookie = {"Cookie": "hx_token=tok"}  # SameSite=Strict is sent: another port is the same site
    other_port = {**cookie, "Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}
    assert client.post("/api/faults", json.dumps({"status": 200}), content_type="text/plain",
                       headers=other_port).status == 403
    assert client.get("/api/faults", headers=cookie).body["status"] is None


# ---- item 4: DNS rebinding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/beacons", "/api/stream", "/api/faults", "/inspector", "/"])
def test_item4_a_rebound_host_name_is_refused(client: Any, path: str) -> None:
    assert client.post("/v1/identify", {**track(userId="u", traits={"email": "a@b.c"}), "type": "identify"}
                       ).status == 200
    port = client.base_url.rsplit(":", 1)[1]
    reply = client.get(path, headers={"Host": f"rebind.attacker.test:{port}"})
    assert reply.status == 403 and "rebind.attacker.test" in reply.body["reason"], reply.raw[:200]
    assert b"a@b.c" not in reply.raw


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]", "www.shop.test", "app.shop.test",
                                  "inspector.localhost", "10.1.2.3"])
def test_item4_loopback_ips_and_shop_names_pass(client: Any, host: str) -> None:
    port = client.base_url.rsplit(":", 1)[1]
    assert client.get("/api/stats", headers={"Host": f"{host}:{port}"}).status == 200


def test_item4_the_collector_answers_any_host_and_added_names_pass(server_factory: Any, client_for: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_ALLOWED_HOSTS", "ci-box.internal, .corp.test")
    client = client_for(server_factory(config=Config(allowed_hosts=["harness.example"])))
    port = client.base_url.rsplit(":", 1)[1]
    assert client.post("/v1/track", track(), headers={"Host": f"rebind.attacker.test:{port}"}).status == 200
    for host in ("harness.example", "ci-box.internal", "a.corp.test", "corp.test"):
        assert client.get("/api/stats", headers={"Host": host}).status == 200, host
    assert client.get("/api/stats", headers={"Host": "corp.test.evil"}).status == 403


def test_item4_the_public_harness_host_passes(server_factory: Any) -> None:
    with raw_get(server_factory(public_host="harness-box.lan"), {"Host": "harness-box.lan"}) as get:
        assert get("/api/stats")[0] == 200


# ---- item 6: SSE fan-out ----------------------------------------------------------------------------------
async def _subscribe(session: aiohttp.ClientSession, base: str) -> aiohttp.ClientResponse:
    resp = await session.get(f"{base}/api/stream")
    assert resp.status == 200
    assert (await resp.content.readline()).startswith(b"event: hello")
    return resp


def test_item6_one_store_subscription_however_many_subscribers(server: Any, client: Any) -> None:
    async def scenario() -> tuple[int, int]:
        async with aiohttp.ClientSession() as session:
            streams = [await _subscribe(session, client.base_url) for _ in range(20)]
            listeners = len(server.store._listeners)
            hub = server.app[HUB].stats()["subscribers"]
            for s in streams:
                s.close()
            return listeners, hub
    listeners, subscribers = run_in_thread(scenario())
    assert listeners == 1 and subscribers == 20


def stalled_subscriber(port: int) -> socket.socket:
    """A stream subscriber that reads the greeting and then never reads again (tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"event: hello" not in head:
        head += sock.recv(1024)
    return sock


def test_item6_a_subscriber_that_never_reads_is_dropped_and_a_reader_is_not(
        server: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_mod, "MAX_QUEUE_BYTES", 64 * 1024)
    monkeypatch.setattr(stream_mod, "GRACE_SECONDS", 0.2)
    hub = server.app[HUB]
    big = {"blob": "x" * 20_000}
    stalled = stalled_subscriber(server.port)

    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            reader = await _subscribe(session, client.base_url)
            beacons = 0
            for _ in range(8):  # 8 x 400 KB: far more than the stalled socket's buffers and queue take
                async with session.post(f"{client.base_url}/v1/batch",
                                        json={"batch": [track(properties=big) for _ in range(20)]}) as r:
                    assert r.status == 200
                while beacons < 20 * (_ + 1):  # the reader keeps up: it sees every beacon, and is not dropped
                    line = await asyncio.wait_for(reader.content.readline(), 10)
                    assert line and not line.startswith(b"event: dropped"), line
                    beacons += line.startswith(b"event: beacon")
            reader.close()
            return beacons
    try:
        assert run_in_thread(scenario()) == 160
        assert hub.stats()["dropped"] == 1
        assert server.store.wait_until(lambda: not hub.subscribers, timeout=5), "the stalled one was cut off"
    finally:
        stalled.close()


def test_item6_a_dropped_subscriber_that_still_reads_is_told_why(server: Any, client: Any) -> None:
    hub = server.app[HUB]

    async def scenario() -> list[bytes]:
        async with aiohttp.ClientSession() as session:
            resp = await _subscribe(session, client.base_url)
            [subscriber] = hub.subscribers
            server._loop.call_soon_threadsafe(subscriber.drop, "fell 5000000 bytes behind")
            rest = await asyncio.wait_for(resp.content.read(), 10)  # the server ends the response
            return rest.splitlines()
    lines = run_in_thread(scenario())
    assert b"event: dropped" in lines and b'data: {"reason": "fell 5000000 bytes behind"}' in lines
    assert server.store.wait_until(lambda: not hub.subscribers, timeout=5)


def test_item6_subscribers_are_capped(server: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_mod, "MAX_SUBSCRIBERS", 3)

    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            streams = [await _subscribe(session, client.base_url) for _ in range(3)]
            async with session.get(f"{client.base_url}/api/stream") as extra:
                status = extra.status
            for s in streams:
                s.close()
            return status
    assert run_in_thread(scenario()) == 503


# ---- item 7: the bad list ------------------------------------------------------------------------------------
def test_item7_the_bad_list_is_capped_oldest_out_totals_kept(keyed_server: Any, keyed_client: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = keyed_server.store
    monkeypatch.setattr(store, "bad_limit", 5)
    monkeypatch.setattr(store, "bad_bytes", 10 * BAD_RAW_KEEP)
    body = json.dumps(track(properties={"pad": "p" * 64_000}))  # 64 KB wrong-key requests
    for _ in range(30):
        assert keyed_client.post("/v1/track", body, headers={"Authorization": "Basic V1JPTkc6"}).status == 401
    doc = keyed_client.get("/api/bad").body
    assert doc["total"] == 30 and doc["kept"] == len(doc["bad"]) == 5
    assert all(len(e["raw"]) <= BAD_RAW_KEEP + len("...(truncated)") for e in doc["bad"])
    ids = [e["id"] for e in doc["bad"]]
    assert ids == sorted(ids) and ids[-1] - ids[0] == 4, "the newest five"
    assert keyed_client.stats()["bad"] == 30 and keyed_client.stats()["unauthorized"] == 30
    rows = store._db.execute("SELECT COUNT(*), SUM(length(body)) FROM bad").fetchone()
    assert rows[0] == 5 and rows[1] <= 10 * BAD_RAW_KEEP


def test_item7_the_bad_list_pages(client: Any) -> None:
    for i in range(7):
        client.post("/v1/track", {"type": "track", "anonymousId": "a", "n": i})  # no event: 400
    everything = client.get("/api/bad").body["bad"]
    newest = client.get("/api/bad?limit=2").body["bad"]
    after = client.get(f"/api/bad?since={everything[4]['id']}").body["bad"]
    assert newest == everything[-2:] and after == everything[5:]
    assert client.get("/api/bad?limit=99999999999999999999999").status == 200


def test_item7_a_batch_of_ten_thousand_invalid_messages_is_one_commit(server: Any, client: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = server.store
    calls: list[int] = []
    real = store.add_bad_many
    monkeypatch.setattr(store, "add_bad_many", lambda entries, *a, **k: calls.append(len(entries)) or real(
        entries, *a, **k))
    batch = [{"type": "track", "anonymousId": "a"} for _ in range(10_000)]  # no event: each invalid
    started = time.monotonic()
    reply = client.post("/v1/batch", {"batch": batch})
    elapsed = time.monotonic() - started
    assert reply.status == 400 and len(reply.body["rejected"]) == 1_000 and reply.body["rejected_total"] == 10_000
    assert calls == [101], "one transaction: the first 100 rejections and one entry summing up the rest"
    assert client.stats()["bad"] == 10_000 and client.stats()["received"] == 10_000
    assert "9900 more" in client.get("/api/bad").body["bad"][-1]["reason"]
    assert elapsed < 5, elapsed


# ---- item 8: write keys per message --------------------------------------------------------------------------
def test_item8_a_right_basic_auth_does_not_cover_a_wrong_body_key(keyed_client: Any, basic_auth: Any) -> None:
    reply = keyed_client.post("/v1/track", track(writeKey="WRONG"), headers=basic_auth("wk-secret"))
    assert reply.status == 401 and reply.body["reason"] == "wrong write key"
    assert keyed_client.stats()["stored"] == 0


def test_item8_every_message_of_a_batch_is_checked(keyed_client: Any) -> None:
    batch = [track(writeKey="wk-secret"), track(writeKey="WRONG"), track()]
    reply = keyed_client.post("/v1/batch", {"batch": batch})
    assert reply.status == 401 and reply.body["reason"] == "wrong write key in message 1"
    reply = keyed_client.post("/v1/batch", {"batch": [track(writeKey="wk-secret"), track()]})
    assert reply.status == 401 and reply.body["reason"] == "missing write key in message 1"
    assert keyed_client.stats()["stored"] == 0
    assert keyed_client.post("/v1/batch", {"batch": [track(), track()], "writeKey": "wk-secret"}).status == 200
    assert keyed_client.post("/v1/batch", {"batch": [track(writeKey="WRONG")], "writeKey": "wk-secret"}
                             ).status == 401


# ---- item 9 ---------------------------------------------------------------------------------------------------
def test_item9_stats_match_the_store_while_commits_fail_and_503_names_sqlite_full(tmp_path: Path,
                                                                                   client_for: Any) -> None:
    db = tmp_path / "full.sqlite"
    srv = HarnessServer(db=str(db), snippet="none").start()
    try:
        client = client_for(srv)
        assert client.post("/v1/track", track()).status == 200
        pages = srv.store._db.execute("PRAGMA page_count").fetchone()[0]
        srv.store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # a nearly full disk
        statuses = [client.post("/v1/batch", {"batch": [track(properties={"pad": "z" * 8_000}) for _ in range(5)]})
                    for _ in range(6)]
        failed = [r for r in statuses if r.status == 503]
        assert failed and "SQLITE_FULL" in failed[0].body["reason"], [r.body for r in statuses]
        live = srv.store.stats()
        stored = srv.store._db.execute("SELECT COUNT(*) FROM beacons").fetchone()[0]
        counters = dict(srv.store._db.execute("SELECT name, value FROM counters").fetchall())
        assert live["stored"] == stored
        assert live["received"] == counters.get("received", 0), (live, counters)
    finally:
        srv.stop()


def test_item9_a_gzip_body_inflates_to_the_request_limit_at_most(client: Any) -> None:
    text = json.dumps({"batch": [track(properties={"pad": "q" * 20_000}) for _ in range(30)]})
    assert MAX_REQUEST_BYTES < len(text) < 2 * MAX_REQUEST_BYTES
    reply = client.post("/v1/batch", text, gzipped=True)
    assert reply.status == 413 and "decompressed" in reply.body["reason"]


def test_item9_an_oversize_body_is_refused_before_it_is_read(client: Any) -> None:
    host, port = client.base_url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 8388608\r\n\r\n" + b"x" * 1024)  # announced 8 MB, sent 1 KB
        head = sock.recv(200)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert client.bad()[-1]["status"] == 413


def test_item9_a_huge_limit_is_clamped_not_a_500(client: Any) -> None:
    assert client.post("/v1/track", track()).status == 200
    for path in ("/api/beacons?limit=99999999999999999999999", "/api/beacons?before=99999999999999999999999"):
        reply = client.get(path)
        assert reply.status == 200 and len(reply.body["beacons"]) == 1, (path, reply.body)
    assert client.get("/api/beacons?limit=-1").status == 400


def test_item9_a_second_server_on_the_same_store_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.sqlite")
    first = HarnessServer(db=db, snippet="none").start()
    try:
        with pytest.raises(StoreInUse, match="in use by another harness server"):
            HarnessServer(db=db, snippet="none")
        done = subprocess.run([HARNESS, "serve", "--port", "0", "--db", db, "--snippet", "none"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "in use by another harness server" in done.stderr
        assert "Traceback" not in done.stderr
        assert BeaconStore(db, readonly=True).stats()["stored"] == 0, "readers need no lock"
    finally:
        first.stop()
    HarnessServer(db=db, snippet="none").store.close()  # free again once the first one stopped


def test_item9_a_slow_request_head_is_cut_off(server_factory: Any) -> None:
    srv = server_factory(header_timeout=0.3)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and never the rest
        assert sock.recv(100) == b"", "the server closed the connection"


def test_item9_json_output_escapes_terminal_control_characters(tmp_path: Path) -> None:
    db = str(tmp_path / "c1.sqlite")
    store = BeaconStore(db)
    store.add([track(event="E\x9b31m", properties={"rtl": "abc\u202eevil", "del": "\x7f", "lone": "\udc80"})])
    store.close()
    for fmt in ("json", "jsonl"):
        done = subprocess.run([HARNESS, "beacons", "--db", db, "--format", fmt], capture_output=True, timeout=60)
        out = done.stdout.decode("utf-8")
        assert done.returncode == 0 and not any(0x7f <= ord(c) <= 0x9f or c in "\u202e" for c in out), out
        record = json.loads(out)["beacons"][0] if fmt == "json" else json.loads(out)
        assert record["event"] == "E\x9b31m" and record["properties"]["rtl"] == "abc\u202eevil"


def test_item9_a_body_type_that_contradicts_the_path_is_refused(client: Any) -> None:
    reply = client.post("/v1/track", {**track(), "type": "identify", "userId": "u"})
    assert reply.status == 400 and "does not match the path" in reply.body["reason"]
    assert client.post("/v1/t", track()).status == 200, "the short form names the same type"


def test_item9_a_message_id_reused_with_other_content_is_noted(client: Any) -> None:
    first = track()
    assert client.post("/v1/track", first).status == 200
    assert client.post("/v1/track", {**first, "sentAt": "2030-01-01T00:00:00Z"}).status == 200
    assert client.bad() == [], "an honest re-send (new sentAt) leaves no note"
    assert client.post("/v1/track", {**first, "event": "Other"}).status == 200
    [note] = client.bad()
    assert note["kind"] == "conflict" and first["messageId"] in note["reason"]
    assert client.stats()["duplicates"] == 2 and client.stats()["bad"] == 0
