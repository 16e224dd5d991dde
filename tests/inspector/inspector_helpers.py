"""Helpers for the inspector's browser tests: post beacons over HTTP, open the page and watch it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import Page, Response, expect

from harness.collecting.transport import QUERY

CHROME_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/131.0.0.0 Safari/537.36")


def message(type_: str = "track", anonymous_id: str | None = None, user_id: str | None = None,
            transport: str = "beacon", **fields: Any) -> dict[str, Any]:
    """A browser-shaped analytics.js message; ``transport`` is what the harness's page script would have observed
    (kept in ``_metadata`` here only so :func:`post` can send the mark; the collector never reads the payload)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body: dict[str, Any] = {
        "type": type_, "messageId": f"ajs-{uuid.uuid4()}", "anonymousId": anonymous_id or str(uuid.uuid4()),
        "timestamp": now, "sentAt": now, "_metadata": {"transport": transport},
        "context": {"library": {"name": "intilery.js", "version": "0.1.0"}, "userAgent": CHROME_UA,
                    "page": {"path": "/", "url": "http://127.0.0.1/"}},
        **fields,
    }
    if user_id is not None:
        body["userId"] = user_id
    return body


def post(base_url: str, body: Any, path: str | None = None, content_type: str = "text/plain") -> int:
    """POST to the collector as a browser page observed by the harness would (text/plain, an Origin, and the
    page script's transport mark, harness.collecting.transport); returns the status."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    target = path or f"/v1/{body['type']}"
    how = (body.get("_metadata") or {}).get("transport") if isinstance(body, dict) else None
    if how and "?" not in target:
        target += f"?{QUERY}={how}"
    request = urllib.request.Request(f"{base_url}{target}", data=data, method="POST",
                                     headers={"Content-Type": content_type, "User-Agent": CHROME_UA,
                                              "Origin": base_url})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class Inspector:
    """The open inspector page plus everything it must never do: dialogs, console errors, page errors."""

    page: Page
    response: Response
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def row(self, text: str) -> Any:
        return self.page.locator("#beacon-rows tr", has_text=text)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"the page opened dialogs: {self.dialogs}"
        assert self.errors == [], f"console errors: {self.errors}"


def open_inspector(page: Page, base_url: str, query: str = "") -> Inspector:
    """Open /inspector, record dialogs and console errors, wait until the live stream is connected."""
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(f"{base_url}/inspector{query}")
    assert response is not None and response.ok
    expect(page.locator("#live")).to_have_text("live")
    return Inspector(page, response, dialogs, errors)
