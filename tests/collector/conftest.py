"""Fixtures for the collector and store tests: a real server on a free loopback port, a plain HTTP client.

No browser: these tests speak the tracking HTTP API the way any analytics.js-style library does.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.keys import Config
from harness.server import HarnessServer


@dataclass
class Reply:
    """One HTTP answer: status, parsed JSON (None when the body is not JSON), headers, raw body."""

    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes = b""


@dataclass
class Client:
    """A plain HTTP client for one server (http.client, a new connection per request)."""

    base_url: str
    default_headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> Reply:
        parts = urlsplit(self.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={**self.default_headers, **(headers or {})})
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return Reply(resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}, raw)
        finally:
            conn.close()

    def post(self, path: str, body: Any, content_type: str = "application/json", gzipped: bool = False,
             headers: dict[str, str] | None = None) -> Reply:
        """POST ``body`` (a dict/list is JSON-encoded, bytes/str sent as is)."""
        if isinstance(body, bytes):
            data = body
        else:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        extra = {"Content-Type": content_type, **(headers or {})}
        if gzipped:
            data = gzip.compress(data)
            extra["Content-Encoding"] = "gzip"
        return self.request("POST", path, data, extra)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("DELETE", path, headers=headers)

    def bad(self) -> list[dict[str, Any]]:
        return self.get("/api/bad").body["bad"]

    def stats(self) -> dict[str, int]:
        return self.get("/api/stats").body

    def beacons(self, query: str = "") -> list[dict[str, Any]]:
        return self.get(f"/api/beacons{query}").body["beacons"]


def start_server(**kwargs: Any) -> HarnessServer:
    """A server without a snippet (no site assets needed) on a free loopback port."""
    kwargs.setdefault("snippet", "none")
    return HarnessServer(**kwargs).start()


@pytest.fixture
def server_factory() -> Generator[Any, None, None]:
    """``server_factory(**HarnessServer kwargs)`` -> a started server, stopped after the test."""
    made: list[HarnessServer] = []

    def make(**kwargs: Any) -> HarnessServer:
        srv = start_server(**kwargs)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture
def client_for() -> Any:
    """``client_for(server)`` -> a Client for that server."""
    return lambda srv: Client(srv.base_url)


@pytest.fixture
def basic_auth() -> Any:
    """``basic_auth(key)`` -> the Authorization header analytics.js libraries send: Basic base64(key:)."""
    return lambda key: {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture(scope="module")
def server() -> Generator[HarnessServer, None, None]:
    """One open server (no write key) per test module; the ``client`` fixture empties it per test."""
    srv = start_server()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: HarnessServer) -> Client:
    """A client for the module's server, with the store emptied and faults cleared first."""
    server.store.clear()
    server.faults.clear()
    return Client(server.base_url)


@pytest.fixture(scope="module")
def keyed_server() -> Generator[HarnessServer, None, None]:
    """A server that requires the write key ``wk-secret``."""
    srv = start_server(config=Config(write_key="wk-secret"))
    yield srv
    srv.stop()


@pytest.fixture
def keyed_client(keyed_server: HarnessServer) -> Client:
    keyed_server.store.clear()
    keyed_server.faults.clear()
    return Client(keyed_server.base_url)
