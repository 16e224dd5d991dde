"""A device: one person's browser or phone (a Playwright browser context) with a virtual clock.

Everything goes through the public analytics.js API and the snippet profile's key names, never
through a library's internals, so the same tests run against any compatible library.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright

from harness.snippet import SnippetProfile
from harness.transport import observe as observe_transport

MOBILE_DEVICE = "iPhone 13"
CALLBACK_TIMEOUT_MS = 5000  # upper bound on a library's callback; the call resolves as soon as it fires

# Resolves when the library calls back (analytics.js calls back after delivery or its own timeout).
_CALL_JS = """([method, args, limit]) => new Promise((resolve) => {
  const done = () => resolve(true);
  window.analytics[method](...args, done);
  setTimeout(done, limit);
})"""
_READY_JS = """(limit) => new Promise((resolve, reject) => {
  if (!window.analytics) { reject(new Error('no window.analytics on this page')); return; }
  window.analytics.ready(() => resolve(true));
  setTimeout(() => reject(new Error('analytics.ready() did not fire within ' + limit + ' ms')), limit);
})"""


def decode_value(raw: str | None) -> Any:
    """Cookie/localStorage values: JSON-decoded when they are JSON (analytics.js stores both forms)."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        from urllib.parse import unquote

        text = unquote(raw)
        try:
            return json.loads(text)
        except ValueError:
            return text


def context_options(playwright: Playwright, kind: str) -> dict[str, Any]:
    """Browser-context options for a device kind: ``desktop`` or ``mobile`` (Playwright emulation)."""
    if kind == "desktop":
        return {"viewport": {"width": 1280, "height": 800}}
    if kind == "mobile":
        return dict(playwright.devices[MOBILE_DEVICE])
    raise ValueError(f"unknown device kind {kind!r}; use 'desktop' or 'mobile'")


class Device:
    """A person's browser: ``visit`` pages, make analytics calls, read storage, let days pass."""

    def __init__(self, context: BrowserContext, base_url: str, profile: SnippetProfile, kind: str = "desktop",
                 name: str = "") -> None:
        self.context = context
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.kind = kind
        self.name = name or kind
        self.offset = timedelta(0)
        observe_transport(context)  # how each beacon leaves the page is observed, not reported (harness.transport)
        self.tab: Page = context.new_page()
        self.console_errors: list[str] = []
        self.tab.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.tab.on("pageerror", lambda e: self.console_errors.append(str(e)))

    # ---- navigation ---------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def visit(self, path: str = "/", wait_ready: bool = True, wait_until: str = "load") -> Device:
        """Open a page; wait until the library is ready (unless the page has no snippet).

        ``wait_until="domcontentloaded"`` returns before async scripts (the library) have run.
        """
        self.tab.goto(self.url(path), wait_until=wait_until)  # type: ignore[arg-type]
        if wait_ready and self.profile.enabled:
            self.ready()
        return self

    def ready(self, timeout_ms: int = 10_000) -> None:
        self.tab.evaluate(_READY_JS, timeout_ms)

    def library_pending(self) -> bool:
        """True while the loader stub still stands in for the library (the profile's ``not_loaded`` test)."""
        return bool(self.tab.evaluate(f"() => !!({self.profile.not_loaded})"))

    # ---- analytics calls (public API only) -------------------------------------------------
    def call(self, method: str, *args: Any) -> None:
        """``analytics[method](...args, callback)``; returns once the library calls back."""
        self.tab.evaluate(_CALL_JS, [method, list(args), CALLBACK_TIMEOUT_MS])

    def identify(self, user_id: str | None = None, traits: dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        args: list[Any] = [user_id] if user_id is not None else []
        self.call("identify", *args, traits or {}, options or {})

    def track(self, event: str, properties: dict[str, Any] | None = None,
              options: dict[str, Any] | None = None) -> None:
        self.call("track", event, properties or {}, options or {})

    def page(self, name: str | None = None, properties: dict[str, Any] | None = None,
             options: dict[str, Any] | None = None) -> None:
        """analytics.page([name], properties, options) — the Playwright page is ``self.tab``."""
        args: list[Any] = [name] if name is not None else []
        self.call("page", *args, properties or {}, options or {})

    def group(self, group_id: str, traits: dict[str, Any] | None = None,
              options: dict[str, Any] | None = None) -> None:
        self.call("group", group_id, traits or {}, options or {})

    def reset(self) -> None:
        self.tab.evaluate("() => { window.analytics.reset(); }")

    def set_anonymous_id(self, anonymous_id: str) -> None:
        self.tab.evaluate("(id) => { window.analytics.setAnonymousId(id); }", anonymous_id)

    def anonymous_id(self) -> str | None:
        return self.tab.evaluate("() => window.analytics.user().anonymousId()")

    def user_id(self) -> str | None:
        return self.tab.evaluate("() => window.analytics.user().id()")

    def traits(self) -> dict[str, Any]:
        return self.tab.evaluate("() => window.analytics.user().traits()") or {}

    def group_traits(self) -> dict[str, Any]:
        return self.tab.evaluate("() => window.analytics.group().traits()") or {}

    # ---- storage --------------------------------------------------------------------------
    def raw_cookies(self) -> list[dict[str, Any]]:
        return list(self.context.cookies(self.tab.url if self.tab.url.startswith("http") else self.base_url))

    def cookies(self) -> dict[str, Any]:
        """Cookie name -> value decoded as the profile declares (its [storage]), as the current page's URL sees them."""
        return {c["name"]: self.profile.decode(c["name"], c["value"], "cookie") for c in self.raw_cookies()}

    def cookie(self, key: str) -> dict[str, Any] | None:
        """The full cookie (expires, domain, ...) for a profile key name (e.g. 'anonymous_id') or a name."""
        name = self.profile.keys.get(key, key)
        return next((c for c in self.raw_cookies() if c["name"] == name), None)

    def local_storage(self) -> dict[str, Any]:
        raw = self.tab.evaluate(
            "() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)]))")
        return {k: self.profile.decode(k, v, "local") for k, v in raw.items()}

    def stored(self, key: str) -> tuple[Any, Any]:
        """(cookie value, localStorage value) for a profile key such as 'anonymous_id'."""
        name = self.profile.keys.get(key, key)
        return self.cookies().get(name), self.local_storage().get(name)

    def clear_cookies(self) -> None:
        self.context.clear_cookies()

    def clear_storage(self) -> None:
        self.tab.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")

    # ---- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The device's virtual 'now'."""
        return datetime.now(UTC) + self.offset

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        """Let time pass on this device: pages see the later time; cookies that expire are dropped."""
        self.offset += timedelta(days=days, hours=hours, minutes=minutes)
        virtual = self.now()
        self.context.clock.set_system_time(virtual)
        limit = virtual.timestamp()
        cookies = self.context.cookies()
        kept = [c for c in cookies if c.get("expires", -1) in (-1, None) or c["expires"] > limit]
        if len(kept) != len(cookies):
            self.context.clear_cookies()
            if kept:
                self.context.add_cookies(kept)  # type: ignore[arg-type]
        return virtual

    def close(self) -> None:
        self.context.close()

    def __repr__(self) -> str:
        return f"<Device {self.name} {self.kind} +{self.offset} at {time.strftime('%H:%M:%S')}>"
