"""Issue 8, security: loopback by default, a warning otherwise, the API token, write keys, JSON-only SSE."""

from __future__ import annotations

import asyncio
import hmac
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.collecting.store import BeaconStore
from harness.keys import Config
from harness.server import HarnessServer, run_in_thread

HARNESS = str(Path(sys.executable).with_name("harness"))


def track(**extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "E", "anonymousId": "a", "messageId": f"m-{uuid.uuid4()}", **extra}


def _pump(stream: Any, out: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        out.put(line)
    out.put("")  # EOF


def serve(*args: str, timeout: float = 20.0, db: str = ":memory:", sigint_ignored: bool = False
          ) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start ``harness serve ARGS`` and wait for it to print its URLs; returns (process, base URL, stdout).

    ``sigint_ignored``: started as a shell script's ``harness serve &`` is, with SIGINT ignored.
    """
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    proc = subprocess.Popen([HARNESS, "serve", "--port", "0", "--db", db, "--snippet", "none", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if line.startswith("Ctrl-C to stop"):  # all URLs printed: the server is up
            site = next(x for x in seen if x.strip().startswith("site"))
            return proc, site.split()[-1].rstrip("/"), seen
    proc.kill()
    raise AssertionError(f"harness serve did not start: {seen} {proc.stderr.read() if proc.stderr else ''}")


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C, as a user would; returns (exit code, stderr)."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


# ---- bind address ----------------------------------------------------------------------------
def test_default_bind_is_loopback() -> None:
    assert HarnessServer.__dataclass_fields__["host"].default == "127.0.0.1"
    proc, base, _ = serve()
    try:
        assert base.startswith("http://127.0.0.1:")
        port = int(base.rsplit(":", 1)[1])
        listening = _listeners(port)
        assert listening == {"127.0.0.1"}, listening
    finally:
        code, err = stop(proc)
    assert code == 0 and "warning" not in err.lower() and "Traceback" not in err


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT after a parent ignored it"])
def test_serve_stops_cleanly_on_sigterm_and_on_ctrl_c_whatever_the_parent_did(how: str, tmp_path: Path) -> None:
    """kill / docker stop (SIGTERM), and Ctrl-C of a script that ran ``harness serve &``: a clean stop, store closed."""
    db = tmp_path / "b.sqlite"
    proc, base, _ = serve(db=str(db), sigint_ignored=how != "SIGTERM")
    try:
        body = json.dumps({"type": "track", "event": "E", "anonymousId": "a1", "writeKey": "harness-dev-key"})
        request = urllib.request.Request(base + "/v1/track", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=10).status == 200
    finally:
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
            code = proc.returncode
        else:
            code, err = stop(proc)
    assert code == 0 and "Traceback" not in err, err
    reopened = BeaconStore(str(db))  # the writer's lock was released: the server closed its store
    try:
        assert [b["event"] for b in reopened.all()] == ["E"]
    finally:
        reopened.close()


def test_binding_elsewhere_prints_a_warning() -> None:
    proc, base, _ = serve("--host", "0.0.0.0")
    code, err = stop(proc)
    assert "warning: binding 0.0.0.0 exposes the harness beyond this machine; consider --api-token" in err
    assert code == 0 and "Traceback" not in err


def test_binding_elsewhere_with_a_token_still_warns_without_the_hint() -> None:
    proc, _, _ = serve("--host", "0.0.0.0", "--api-token", "t0k")
    _, err = stop(proc)
    assert "warning: binding 0.0.0.0" in err and "consider --api-token" not in err


def _listeners(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp, IPv4)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if int(hexport, 16) == port and state == "0A":  # LISTEN
            found.add(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


# ---- API token -------------------------------------------------------------------------------
@pytest.fixture
def token_client(server_factory: Any, client_for: Any) -> Any:
    return client_for(server_factory(config=Config(api_token="s3cret-token")))


@pytest.mark.parametrize("path", ["/api/beacons", "/api/bad", "/api/stats", "/api/faults", "/api/stream",
                                  "/inspector"])
def test_api_and_inspector_need_the_token(token_client: Any, path: str) -> None:
    reply = token_client.get(path)
    assert reply.status == 401 and reply.body["error"] == "unauthorized"
    assert token_client.get(path, headers={"X-Harness-Token": "wrong"}).status == 401
    assert token_client.get(path, headers={"Authorization": "Bearer s3cret-token-not"}).status == 401


@pytest.mark.parametrize("how", ["header", "bearer", "query"])
def test_the_token_opens_the_api(token_client: Any, how: str) -> None:
    headers = {"header": {"X-Harness-Token": "s3cret-token"},
               "bearer": {"Authorization": "Bearer s3cret-token"}}.get(how, {})
    path = "/api/stats" + ("?token=s3cret-token" if how == "query" else "")
    reply = token_client.get(path, headers=headers)
    assert reply.status == 200 and "stored" in reply.body
    assert token_client.get("/inspector" + ("?token=s3cret-token" if how == "query" else ""),
                            headers=headers).status == 200


def test_token_protects_writes_too(token_client: Any) -> None:
    assert token_client.delete("/api/beacons").status == 401
    assert token_client.post("/api/faults", {"status": 503}).status == 401
    assert token_client.post("/v1/track", track()).status == 200, "faults were not set"
    assert len(token_client.get("/api/beacons", headers={"X-Harness-Token": "s3cret-token"}).body["beacons"]) == 1


def test_collector_stays_open_with_a_token(token_client: Any) -> None:
    assert token_client.post("/v1/track", track()).status == 200
    assert token_client.post("/v1/batch", {"batch": [track()]}).status == 200
    assert token_client.request("OPTIONS", "/v1/track", headers={"Origin": "http://x"}).status == 204


# ---- write keys --------------------------------------------------------------------------------
def test_write_key_is_compared_in_constant_time(keyed_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert keyed_client.post("/v1/track", track(writeKey="guess")).status == 401
    assert keyed_client.post("/v1/track", track(writeKey="wk-secret")).status == 200
    assert (b"guess", b"wk-secret") in calls and (b"wk-secret", b"wk-secret") in calls


def test_401s_are_counted_and_visible_in_stats(keyed_client: Any, basic_auth: Any) -> None:
    for key in ("a", "b", "wk-secre", "wk-secret ", ""):
        assert keyed_client.post("/v1/track", track(), headers=basic_auth(key) if key else {}).status == 401
    assert keyed_client.post("/v1/track", track(writeKey="\ud800")).status == 401, "odd keys are 401, not 500"
    stats = keyed_client.stats()
    assert stats["unauthorized"] == 6 and stats["bad"] == 6 and stats["stored"] == 0
    assert [e["status"] for e in keyed_client.bad()] == [401] * 6


# ---- the SSE stream sends JSON only -------------------------------------------------------------
HOSTILE = {
    "html": "</script><script>alert(1)</script><img src=x onerror=alert(2)>",
    "sse": "line1\n\nevent: beacon\ndata: {\"forged\": true}\r\n\rid: 9",
    "unicode": "\u2028\u2029\x00\x1b[31m",
}


async def _raw_stream(base: str, headers: dict[str, str], post: list[dict[str, Any]], seconds: float) -> list[str]:
    """Every line the stream sends for ``seconds`` while ``post`` is posted."""
    lines: list[str] = []
    async with aiohttp.ClientSession() as session, session.get(f"{base}/api/stream", headers=headers) as resp:
        assert resp.status == 200
        first = await resp.content.readline()
        lines.append(first.decode())
        for m in post:
            async with session.post(f"{base}/v1/track", json=m) as r:
                assert r.status == 200
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                line = await asyncio.wait_for(resp.content.readline(), end - time.monotonic())
            except TimeoutError:
                break
            lines.append(line.decode())
    return lines


def test_stream_sends_json_only(token_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.inspection.api.PING_SECONDS", 0.2)  # see a heartbeat within the test
    sent = [track(properties=HOSTILE, userId="<b>u</b>"), track(event="E\nevent: x")]
    lines = run_in_thread(_raw_stream(token_client.base_url, {"X-Harness-Token": "s3cret-token"}, sent, 0.7))
    data = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    others = {line.split(":")[0] for line in lines if line.strip() and not line.startswith("data:")}
    assert others <= {"event", "id", ""}, f"only event/id fields and ': ping' comments: {others}"
    assert any(line.startswith(": ping") for line in lines), "a heartbeat was seen"
    events = [line.split(":", 1)[1].strip() for line in lines if line.startswith("event:")]
    assert events == ["hello", "beacon", "beacon"]
    assert [d.get("messageId") for d in data[1:]] == [m["messageId"] for m in sent]
    assert data[1]["properties"] == HOSTILE and data[2]["event"] == "E\nevent: x"
    assert all(line.isascii() for line in lines), "non-ASCII is JSON-escaped"


def test_stream_handler_ends_when_the_client_goes(server: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.inspection.api.PING_SECONDS", 0.1)
    subscribers = server.store._listeners

    async def connect_and_leave() -> None:
        async with aiohttp.ClientSession() as session, session.get(f"{client.base_url}/api/stream") as resp:
            await resp.content.readline()
            assert len(subscribers) == 1

    run_in_thread(connect_and_leave())
    # the server notices at its next heartbeat; unsubscribing wakes the store's waiters
    assert server.store.wait_until(lambda: not subscribers, timeout=5), \
        "the stream unsubscribed after the client disconnected"

