"""Issue 18, item 2: nothing a page can send poisons a read.

Hypothesis posts arbitrary messages -- most accepted, with odd numbers, odd times, odd text in
every field -- and then every read path answers: each /api/ endpoint the inspector and the CLI
use, the live stream, and the CLI's JSON output (from the server and from the store file). Each
answer must be strict JSON (no NaN/Infinity, which Python alone would parse) and none a 5xx.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import socket
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import EXPLORE, SCALE, json_values, messages

from harness.identity.plan import load_plan
from harness.keys import Config
from harness.server import HarnessServer
from harness.tools.cli import main as cli_main

PLAN = Path(__file__).resolve().parents[2] / "fixtures" / "plans" / "shop.yaml"
READS = ("/api/beacons", "/api/beacons?limit=3", "/api/beacons?type=track", "/api/beacons?userId=u1",
         "/api/bad", "/api/bad?limit=5", "/api/stats", "/api/profiles", "/api/lint", "/api/violations", "/api/faults")


def strict_json(raw: bytes | str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")
    return json.loads(raw, parse_constant=refuse)


# times of every shape: ISO with any offset (the calendar's edges too), epochs, junk
iso_times = st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat())
edge_times = st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
                              "9999-12-31T23:59:59.999Z", "2024-02-30T00:00:00Z", "", "now", "1e999"])
times = iso_times | edge_times | st.text(max_size=12)
numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [10**300, -(10**300), 2**63, 1e308, 5e-324, -0.0])


@st.composite
def accepted_messages(draw: st.DrawFn) -> dict[str, Any]:
    message = draw(messages())
    for field in draw(st.lists(st.sampled_from(["timestamp", "originalTimestamp", "sentAt"]), unique=True)):
        message[field] = draw(times)
    if draw(st.booleans()):
        message["properties"] = {"n": draw(numbers), "v": draw(json_values), "t": draw(times)}
    if draw(st.booleans()):
        message["userId"] = draw(st.sampled_from(["u1", "u2"]) | numbers | st.text(max_size=8))
    message["messageId"] = str(uuid.uuid4())  # distinct: a repeat would only be a duplicate
    return message


@pytest.fixture(scope="module")
def reader_server(tmp_path_factory: pytest.TempPathFactory) -> Generator[HarnessServer, None, None]:
    db = str(tmp_path_factory.mktemp("reads") / "reads.sqlite")
    srv = HarnessServer(db=db, snippet="none", config=Config(tracking_plan=load_plan(str(PLAN)))).start()
    yield srv
    srv.stop()


class Stream:
    """A raw /api/stream subscriber: each data line as it arrives."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.lines = self.sock.makefile("rb")
        while not self.lines.readline().startswith(b"event: hello"):
            pass

    def beacons(self, count: int) -> list[Any]:
        """The next ``count`` beacon events, parsed strictly."""
        found: list[Any] = []
        event = b""
        while len(found) < count:
            line = self.lines.readline()
            assert line, "the stream ended"
            if line.startswith(b"event:"):
                event = line.split(b":", 1)[1].strip()
            elif line.startswith(b"data:") and event == b"beacon":
                found.append(strict_json(line[5:]))
            assert event != b"dropped", line
        return found

    def close(self) -> None:
        self.lines.close()
        self.sock.close()


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/batch", body=body, headers={"Content-Type": "text/plain"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(list(args))
    return code, out.getvalue()


@pytest.mark.long(6)
@settings(max_examples=60 * SCALE, deadline=None, derandomize=not EXPLORE,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(batch=st.lists(accepted_messages(), min_size=1, max_size=5))
def test_every_read_path_stays_json_whatever_was_accepted(reader_server: HarnessServer,
                                                          batch: list[dict[str, Any]]) -> None:
    srv = reader_server
    srv.store.clear()
    stream = Stream(srv.port)
    try:
        before = srv.store.stats()["stored"]
        status = _post(srv.port, json.dumps({"batch": batch}).encode())
        assert status in (200, 400, 413), status
        stored = srv.store.stats()["stored"] - before
        for record in stream.beacons(stored):
            assert record["messageId"] and "_meta" in record
    finally:
        stream.close()
    for path in READS:
        code, raw = _get(srv.port, path)
        assert code < 500, (path, raw[:500])
        strict_json(raw)
    base = srv.base_url
    for args in (["beacons", "--format", "json"], ["beacons", "--format", "jsonl"], ["beacons", "--bad", "--format",
                 "json"], ["profiles", "--format", "json"], ["lint", "--format", "json"]):
        for source in (["--server", base], ["--db", srv.db]):
            code, out = _cli(*args, *source)
            assert code in (0, 1), (args, source, code)
            for doc in (out.splitlines() if "jsonl" in args else [out] if out else []):
                strict_json(doc)
