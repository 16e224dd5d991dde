"""Interception: the harness stands in for a tracking vendor inside the browser, so any site runs unchanged.

A site under test loads its vendor's script from the vendor's CDN and sends beacons to the vendor's
API host. Every request a device's browser context makes is routed (Playwright ``context.route``):

the site's own origin and the harness pass through; a vendor CDN that a bundled profile declares in
``[intercept] cdn`` is answered from that profile's declared assets and routes; a vendor API host in
``[intercept] api`` (or a ``--capture-host``) is replayed to the collector's ``/v1/...``; anything else
is blocked and counted. The rules, as one table: ``docs/interception.md``.

A beacon counts as *delivered* when the browser issued it and the harness, standing in for the
vendor, received it before the browser gave up on the request; a request the browser aborts first
(a navigation cancelling a plain fetch) is counted in :attr:`Interceptor.aborted` and never stored.

Playwright's sync API runs route handlers only while the test thread is inside a Playwright call.
:meth:`Interceptor.pump` lets the ``beacons`` waits hand the thread to Playwright until a request
finishes, so a test waiting for a beacon never starves the handler that would deliver it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ipaddress
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Request, Route, WebSocketRoute
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness.collecting.collector import DEVICE_COOKIE
from harness.sites.snippet import SnippetProfile, available, is_bundled, load_profile

PUMP_SLICE_MS = 250  # the longest a wait hands the thread to Playwright before looking at the store again
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LEFT_KEPT = 1_000  # off-machine URLs listed by left_loopback(); left_total counts every one
WEBSOCKET_REFUSED = 1008  # "policy violation": the close code a refused WebSocket sees
BLOCKED_KEPT = 200  # blocked requests kept with method and URL (``blocked`` counts every one per host)
# Request headers Chromium owns; the rest of the browser's request is replayed to the collector as sent.
_HOP_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding"})


@dataclass(frozen=True)
class VendorHost:
    """One vendor origin a bundled profile stands in for (``https://cdn.segment.com/`` -> analytics-next)."""

    prefix: str  # scheme://host[/path]/ ; host may hold * (fnmatch)
    profile: SnippetProfile
    kind: str  # "cdn" or "api"

    def tail(self, url: str) -> str | None:
        """The part of ``url`` after this prefix, or None when the URL is not under it."""
        want, got = urlsplit(self.prefix), urlsplit(url)
        if want.scheme != got.scheme or not fnmatch.fnmatch(got.netloc, want.netloc):
            return None
        base = want.path if want.path.endswith("/") else want.path + "/"
        path = got.path + (f"?{got.query}" if got.query and self.kind == "api" else "")
        return path[len(base):] if path.startswith(base) else None


def vendor_hosts(profiles: Iterable[SnippetProfile] | None = None,
                 preferred: SnippetProfile | None = None) -> list[VendorHost]:
    """Every vendor origin the bundled (or given) profiles declare in their ``[intercept]`` section.

    The profile the user selected wins every host it declares (:meth:`Interceptor.decide` takes the first
    match): ``preferred`` (the ``--snippet`` profile or the site map's library; added when not in
    ``profiles``) comes first, then any other profile that is not bundled (a user's own folder), then the
    bundled ones, each group in the given order. So a user's own build claiming ``cdn.segment.com`` is
    served, not the bundled analytics-next.
    """
    if profiles is None:  # every bundled profile (the preferred one's name once: its own copy)
        skip = {"none", preferred.name if preferred is not None else "none"}
        profiles = [load_profile(name) for name in available() if name not in skip]
    given = list(profiles)
    if preferred is not None and not any(p is preferred for p in given):
        given.insert(0, preferred)

    def rank(profile: SnippetProfile) -> int:
        return 0 if profile is preferred else 2 if is_bundled(profile) else 1

    hosts = []
    for profile in sorted(given, key=rank):
        for kind in ("cdn", "api"):
            for prefix in getattr(profile, "intercept", {}).get(kind, ()):
                hosts.append(VendorHost(prefix, profile, kind))
    return hosts


@dataclass(frozen=True)
class Decision:
    """``pass`` | ``cdn`` (vendor + path tail) | ``api`` (collector path) | ``block`` (tail = the host)."""

    kind: str
    vendor: VendorHost | None = None
    tail: str = ""


@dataclass
class Interceptor:
    """Routes one or more browser contexts: site and harness through, vendors to the harness, the rest blocked."""

    harness_url: str  # where the collector listens, e.g. http://127.0.0.1:8000
    site_url: str
    vendors: list[VendorHost]
    capture_hosts: tuple[str, ...] = ()
    write_key: str = "harness-dev-key"
    allow: tuple[str, ...] = ()  # the site's other first-party hosts ("api.example.test", "*.cdn.test:8443")
    blocked: Counter[str] = field(default_factory=Counter)
    captured: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)  # hosts let through to the network (site, harness)
    aborted: Counter[str] = field(default_factory=Counter)
    blocked_requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, url, type), first ones
    left: list[str] = field(default_factory=list)  # the first LEFT_KEPT URLs the routes let off this machine
    left_total: int = 0  # ... and how many there were: a long `harness browse` keeps no list of every request
    contexts: list[BrowserContext] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- wiring ---------------------------------------------------------------------------
    def attach(self, context: BrowserContext) -> BrowserContext:
        """Route every request of ``context``; note what the browser gave up on.

        Each context is one device: its beacons reach the collector with their own device id (the
        cookie the sample shop's pages set), so the analysis keeps one lane per browser.
        """
        device = uuid.uuid4().hex
        context.route("**/*", lambda route, request: self._handle(route, request, device))
        context.route_web_socket(lambda url: True, self._websocket)  # WebSockets bypass context.route
        context.on("request", lambda request: self._note_request(request.url))
        context.on("requestfailed", self._failed)
        self.contexts.append(context)
        return context

    def pump(self, seconds: float) -> bool:
        """Hand the test thread to Playwright until a request finishes (or ``seconds`` pass).

        Returns False when no routed context is open (nothing could be pending).
        """
        for context in reversed(self.contexts):
            try:
                if not context.pages:
                    continue
                context.wait_for_event("requestfinished", timeout=max(1.0, min(seconds * 1000, PUMP_SLICE_MS)))
                return True
            except PlaywrightTimeout:
                return True
            except PlaywrightError:
                continue  # a closed context
        return False

    # ---- routing: one decision, then the sync handler's I/O (the async repro shares the decision) ----
    def _same_origin(self, url: str, base: str) -> bool:
        a, b = urlsplit(url), urlsplit(base)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    def decide(self, url: str) -> Decision:
        """What to do with a request: pass it through, answer it as a vendor CDN, capture it, or block it."""
        if url.startswith(("data:", "blob:", "about:")) or self._same_origin(url, self.site_url) \
                or self._same_origin(url, self.harness_url):
            return Decision("pass")
        if self.allow and self._allowed(url):
            return Decision("pass")
        for vendor in self.vendors:
            tail = vendor.tail(url)
            if tail is not None:
                if vendor.kind != "api":
                    return Decision(vendor.kind, vendor, tail)
                mount = (vendor.profile.intercept.get("mount") or ("/",))[0]  # [intercept] mount: "/posthog/"
                return Decision("api", vendor, mount + tail.lstrip("/"))
        split = urlsplit(url)
        if any(fnmatch.fnmatch(split.netloc, pattern) for pattern in self.capture_hosts):
            return Decision("api", None, split.path + (f"?{split.query}" if split.query else ""))
        return Decision("block", None, split.netloc or url[:40])

    def _allowed(self, url: str) -> bool:
        """A host of ``allow``: a pattern without a port matches the host on any port."""
        split = urlsplit(url)
        host = split.hostname or ""
        return any(fnmatch.fnmatch(split.netloc if ":" in pattern else host, pattern.lower()) for pattern in self.allow)

    def note_blocked(self, request: Any, host: str) -> None:
        """Count a blocked request; keep the first few (method, URL, resource type) for a failing test's report."""
        with self._lock:
            self.blocked[host] += 1
            if len(self.blocked_requests) < BLOCKED_KEPT:
                self.blocked_requests.append((request.method, request.url, request.resource_type))

    def cdn_reply(self, vendor: VendorHost, tail: str, method: str = "GET",
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
        """``route.fulfill`` keywords for a vendor CDN request: a declared asset or route of the profile, else 404.

        The CORS answer is the page's own origin with credentials (a control plane asked with an
        Authorization header is preflighted; RudderStack's sourceConfig is).
        """
        if method == "OPTIONS":
            return self.preflight_reply(headers)
        cors = _cors(headers)
        path = tail.split("?", 1)[0]
        served = vendor.profile.serve(path)
        if served is None:
            return {"status": 404, "body": f"not a file the {vendor.profile.name} profile declares: {path}"}
        with self._lock:
            self.served[urlsplit(vendor.prefix).netloc] += 1
        if served.file is not None:
            kind = "application/javascript" if served.file.suffix in (".js", ".mjs") else None
            return {"path": str(served.file), "content_type": kind, "headers": cors}
        assert served.route is not None
        api = next((v for v in self.vendors if v.profile is vendor.profile and v.kind == "api"), None)
        api_url = urlsplit(api.prefix if api else self.harness_url)
        api_origin = f"{api_url.scheme}://{api_url.netloc}"
        body = vendor.profile.render_route(
            served.route, params=served.params, write_key=served.params.get("write_key", self.write_key),
            collector_url=api_origin, collector_origin=api_origin, collector_host=api_url.netloc,
            collector_scheme=api_url.scheme,
            asset_origin=f"{urlsplit(vendor.prefix).scheme}://{urlsplit(vendor.prefix).netloc}",
            cdn_url=vendor.prefix.rstrip("/"), asset_url=vendor.prefix)
        return {"status": 200, "body": body, "content_type": served.route.content_type, "headers": cors}

    def preflight_reply(self, headers: dict[str, str] | None) -> dict[str, Any]:
        """``route.fulfill`` keywords for a CORS preflight to a vendor host: the page's origin is allowed."""
        asked = {k.lower(): v for k, v in (headers or {}).items()}
        return {"status": 204, "body": "", "headers": {
            **_cors(headers), "access-control-allow-methods": "GET, POST, OPTIONS",
            "access-control-allow-headers": asked.get("access-control-request-headers", "*"),
            "access-control-max-age": "600"}}

    def ack_reply(self, headers: dict[str, str] | None) -> dict[str, Any]:
        """``route.fulfill`` keywords for a beacon the vendor accepts: 200 ``{"success": true}``, as
        Segment's API answers (RudderStack's data plane and the others look at the status only)."""
        return {"status": 200, "body": '{"success": true}', "content_type": "application/json",
                "headers": _cors(headers)}

    def forward(self, path: str, headers: dict[str, str], device: str) -> tuple[str, dict[str, str]]:
        """The collector URL and headers a captured request is replayed with (its own device id as cookie)."""
        mounts = tuple(m for v in self.vendors for m in v.profile.intercept.get("mount", ()))
        # the collector's paths (RudderStack's beacon one too), and a profile's own mount (PostHog's /posthog/)
        known = path.startswith(("/v1/", "/beacon/v1/", *mounts))
        target = self.harness_url.rstrip("/") + (path if known else "/v1/" + path.lstrip("/"))
        kept = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        kept["cookie"] = f"{DEVICE_COOKIE}={device}"  # the vendor's cookies are not the harness's business
        return target, kept

    def note(self, counter: str, url: str) -> None:
        with self._lock:
            getattr(self, counter)[urlsplit(url).netloc or url[:40]] += 1

    def _handle(self, route: Route, request: Request, device: str) -> None:
        decision = self.decide(request.url)
        if decision.kind == "pass":
            self.note("passed", request.url)
            route.continue_()
        elif decision.kind == "cdn":
            assert decision.vendor is not None
            route.fulfill(**self.cdn_reply(decision.vendor, decision.tail, request.method, request.headers))
        elif decision.kind == "api":
            self._capture(route, request, decision.tail, device)
        else:
            self.note_blocked(request, decision.tail)
            route.abort("blockedbyclient")

    def _capture(self, route: Route, request: Request, path: str, device: str) -> None:
        """Replay a beacon to the collector and answer the browser with the collector's reply."""
        target, headers = self.forward(path, request.headers, device)
        try:
            reply = route.fetch(url=target, method=request.method, headers=headers,
                                post_data=request.post_data_buffer, max_redirects=0)
        except PlaywrightError:
            self.note("aborted", request.url)
            return  # the page went away (context closed) before the harness could take it
        self.note("captured", request.url)
        with contextlib.suppress(PlaywrightError):  # stored already: only the browser stopped listening
            route.fulfill(response=reply)

    def websocket_decision(self, url: str) -> Decision:
        """A WebSocket is let through only to where a request would pass (the site, the harness, ``allow``):
        no vendor answers on one, so every other WebSocket is refused (tail = the host)."""
        split = urlsplit(url)
        as_http = url.replace(split.scheme, {"wss": "https"}.get(split.scheme, "http"), 1)
        decision = self.decide(as_http)
        return decision if decision.kind == "pass" else Decision("block", None, split.netloc or url[:40])

    def note_websocket(self, url: str, decision: Decision) -> None:
        """Count a WebSocket as the requests are counted: passed (and listed when it leaves the machine) or
        blocked (with its URL among the blocked requests)."""
        split = urlsplit(url)
        with self._lock:
            if decision.kind == "pass":
                self.passed[split.netloc] += 1
                if not on_this_machine(split.hostname or ""):
                    self.left_total += 1
                    if len(self.left) < LEFT_KEPT:
                        self.left.append(url)
                return
            self.blocked[decision.tail] += 1
            if len(self.blocked_requests) < BLOCKED_KEPT:
                self.blocked_requests.append(("WEBSOCKET", url, "websocket"))

    def _websocket(self, ws: WebSocketRoute) -> None:
        decision = self.websocket_decision(ws.url)
        self.note_websocket(ws.url, decision)
        if decision.kind == "pass":
            ws.connect_to_server()
        else:
            ws.close(code=WEBSOCKET_REFUSED, reason="blocked by the harness: not the site, not an allowed host")

    def _failed(self, request: Request) -> None:
        failure = request.failure or ""
        if "BLOCKED_BY_CLIENT" in failure:
            return
        with self._lock:
            self.aborted[urlsplit(request.url).netloc] += 1

    # ---- reading ----------------------------------------------------------------------------
    def _note_request(self, url: str) -> None:
        parts = urlsplit(url)
        if (self.decide(url).kind == "pass" and parts.scheme not in ("data", "blob", "about")
                and not on_this_machine(parts.hostname or "")):
            with self._lock:
                self.left_total += 1
                if len(self.left) < LEFT_KEPT:
                    self.left.append(url)

    def left_loopback(self) -> list[str]:
        """URLs the browser asked for that the routes let through to a host off this machine (the first
        LEFT_KEPT; ``left_total`` counts them all).

        Empty when interception held: everything else was answered by the harness or blocked.
        """
        with self._lock:
            return list(self.left)

    def summary(self) -> dict[str, Any]:
        return {"captured": dict(self.captured), "served": dict(self.served), "blocked": dict(self.blocked),
                "aborted": dict(self.aborted), "passed": dict(self.passed)}


def _cors(headers: dict[str, str] | None) -> dict[str, str]:
    """The CORS answer a vendor gives: the page's own origin with credentials (else any origin)."""
    origin = {k.lower(): v for k, v in (headers or {}).items()}.get("origin")
    if origin:
        return {"access-control-allow-origin": origin, "access-control-allow-credentials": "true", "vary": "Origin"}
    return {"access-control-allow-origin": "*"}


def on_this_machine(host: str) -> bool:
    """Loopback: 127.0.0.0/8, ::1, ``localhost`` and any ``*.localhost`` (Chromium resolves those to loopback
    itself, RFC 6761), so a site's ``api.localhost`` never counts as leaving the machine."""
    host = host.lower().rstrip(".")
    if host in LOOPBACK or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
