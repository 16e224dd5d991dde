"""Helpers for the CLI tests: browser-shaped messages, the seeds' scenarios, HTTP posting."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.collecting.transport import QUERY

DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/15.0 Mobile/15E148 Safari/604.1")
USER_ID = "97980cfea0067"  # the seeds' static, opaque userId
EMAIL_USER_ID = "peter@initech.example"  # what the seeds advise against (C24)
START = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)


@dataclass
class Browser:
    """A browser as the collector sees it: its user agent, harness device cookie and anonymousId."""

    user_agent: str
    device: str
    anonymous_id: str

    @classmethod
    def new(cls, kind: str = "desktop") -> Browser:
        return cls(PHONE_UA if kind == "mobile" else DESKTOP_UA, uuid.uuid4().hex, str(uuid.uuid4()))

    def message(self, type_: str, when: datetime, user_id: str | None = None, path: str = "/",
                **fields: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """An analytics.js-shaped message from this browser plus the request headers it travels with."""
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body: dict[str, Any] = {
            "type": type_, "messageId": f"ajs-{uuid.uuid4()}", "anonymousId": self.anonymous_id,
            "timestamp": stamp, "sentAt": stamp,
            "context": {"library": {"name": "intilery.js", "version": "0.1.0"}, "userAgent": self.user_agent,
                        "page": {"path": path, "url": f"http://127.0.0.1{path}"}, "locale": "en-US"},
            "_metadata": {"transport": "xhr"},
            **fields,
        }
        if user_id is not None:
            body["userId"] = user_id
        headers = {"Content-Type": "text/plain", "User-Agent": self.user_agent, "Cookie": f"hx_device={self.device}",
                   "Origin": "http://127.0.0.1"}  # a browser's POST carries an Origin (a server library's does not)
        return body, headers


Sent = list[tuple[dict[str, Any], dict[str, str]]]


def scenario_3(user_id: str = USER_ID) -> Sent:
    """Seed 000 scenario #3: anonymous on a desktop and a phone, then logged in on both -> one person."""
    desktop, phone = Browser.new("desktop"), Browser.new("mobile")
    t = START
    return [
        desktop.message("page", t, path="/", name="Home"),
        desktop.message("page", t + timedelta(minutes=1), path="/products/p1", name="Red Stapler"),
        desktop.message("track", t + timedelta(minutes=2), path="/products/p1", event="Product Viewed",
                        properties={"product_id": "p1"}),
        phone.message("page", t + timedelta(days=1), path="/", name="Home"),
        phone.message("track", t + timedelta(days=1, minutes=1), path="/products/p3", event="Product Viewed",
                      properties={"product_id": "p3"}),
        desktop.message("identify", t + timedelta(days=2), user_id, path="/account",
                        traits={"name": "Peter Gibbons", "plan": "premium"}),
        desktop.message("page", t + timedelta(days=2, minutes=1), user_id, path="/products/p4", name="Mat"),
        phone.message("identify", t + timedelta(days=3), user_id, path="/account", traits={"name": "Peter Gibbons"}),
        phone.message("track", t + timedelta(days=3, minutes=2), user_id, path="/checkout/complete",
                      event="Order Completed", properties={"order_id": "o-1", "total": 12.5}),
    ]


def scenario_2(user_id: str = USER_ID) -> Sent:
    """Seed 000 scenario #2: signs up on the web, the phone never logs in -> two profiles."""
    desktop, phone = Browser.new("desktop"), Browser.new("mobile")
    t = START
    return [
        desktop.message("page", t, path="/signup"),
        phone.message("page", t + timedelta(hours=3), path="/"),
        desktop.message("identify", t + timedelta(days=1), user_id, path="/welcome", traits={"plan": "premium"}),
        desktop.message("track", t + timedelta(days=1, seconds=1), user_id, path="/welcome", event="Signed Up",
                        properties={"plan": "premium"}),
        phone.message("page", t + timedelta(days=2), path="/products/p2"),
    ]


def email_user() -> Sent:
    """Sign-up done right except the userId is an email address (C24: lint error)."""
    return scenario_3(user_id=EMAIL_USER_ID)


def post(base_url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> int:
    """POST a JSON (or raw) body to the collector; returns the HTTP status.

    A simulated browser (headers with an Origin) sends the mark the harness's page script would add for its
    XMLHttpRequest (harness.collecting.transport), so the collector records ``xhr``.
    """
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if headers and "Origin" in headers and "?" not in path:
        path += f"?{QUERY}=xhr"
    request = urllib.request.Request(f"{base_url}{path}", data=data, method="POST",
                                     headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def harness_command() -> list[str]:
    """How a user runs the CLI: the console script next to this interpreter, else ``python -m harness``."""
    script = Path(sys.executable).with_name("harness")
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
