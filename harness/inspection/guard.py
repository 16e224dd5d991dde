"""Who may talk to the harness from a browser: a Host allow-list and a same-origin rule.

Two attacks reach a local tool from any web page the developer happens to open:

* **DNS rebinding**: a page at ``http://rebind.attacker.test:PORT`` whose name re-resolves to
  127.0.0.1 is *same-origin* with the harness as far as the browser knows, so it can read
  ``/api/beacons``. The defence is the one Vite (``server.allowedHosts``) and Jupyter
  (``allow_remote_access``) use: refuse a request whose ``Host`` header names a host we do not
  serve under. Allowed: IP literals (rebinding needs a name), ``localhost`` and ``*.localhost``,
  ``*.shop.test`` (the sample shop's names), the bound host, the public ``--harness-host``, and
  names added with ``harness serve --allowed-host NAME`` or ``HARNESS_ALLOWED_HOSTS`` (a leading
  dot allows a whole domain; ``*`` allows any name, which turns the guard off).
* **CSRF**: a cross-site page can send "simple" requests (text/plain POSTs, no-cors fetches)
  without a preflight. Under ``/api/`` and ``/inspector`` a request the browser marks as
  cross-site or same-site (``Sec-Fetch-Site``) is refused unless it is a top-level navigation
  to ``/inspector`` (never under ``/api/``, never an iframe: ``Sec-Fetch-Dest`` must be ``document``),
  a state-changing one must come from our own origin (``Origin``), and a body must be
  ``application/json`` (which a cross-site page cannot send without a preflight we never grant).
  Non-browser clients (the CLI, curl, tests) send neither header and are unaffected.

The collector (``/v1/``) stays open to every page and every host: receiving beacons from any
origin is its job. The snippet assets (``/snippet-assets/``) keep the Host rule: they are files on
the user's disk (a rebinding page could otherwise read whatever a profile folder holds).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from yarl import URL

from harness import keys
from harness.collecting.transport import COLLECTOR_PREFIXES

ENV_ALLOWED_HOSTS = "HARNESS_ALLOWED_HOSTS"
ALWAYS_ALLOWED_SUFFIXES = (".localhost", ".shop.test")
ALWAYS_ALLOWED = frozenset({"localhost", "shop.test"})
# only the collector answers any Host: the snippet assets are files of the user's disk, so they keep the
# DNS-rebinding rule (pages the harness serves, or a site under test through interception, never need it)
OPEN_PREFIXES = COLLECTOR_PREFIXES
GUARDED_PREFIXES = ("/api/", "/inspector")  # cross-site rules apply here
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def host_name(host_header: str) -> str:
    """``Host`` header -> lower-case name without port or trailing dot (``[::1]:80`` -> ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def env_allowed_hosts() -> list[str]:
    """Names from ``HARNESS_ALLOWED_HOSTS`` (comma or space separated)."""
    return [n for n in os.environ.get(ENV_ALLOWED_HOSTS, "").replace(",", " ").split() if n]


def normalise(names: Iterable[str]) -> frozenset[str]:
    return frozenset(host_name(n) if n not in ("*",) and not n.startswith(".") else n.lower() for n in names if n)


def host_allowed(name: str, extra: frozenset[str]) -> bool:
    """True when a request naming ``name`` in its Host header may be served (see the module docstring)."""
    if "*" in extra or _is_ip(name) or name in ALWAYS_ALLOWED or name in extra:
        return True
    if name.endswith(ALWAYS_ALLOWED_SUFFIXES):
        return True
    return any(entry.startswith(".") and (name.endswith(entry) or name == entry[1:]) for entry in extra)


def _refuse(status: int, error: str, reason: str) -> web.Response:
    response = web.json_response({"error": error, "reason": reason}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def host_refusal(request: web.Request) -> web.Response | None:
    """The DNS-rebinding guard's answer: a 403 for a Host we do not serve under, else None (the collector: None)."""
    if not request.path.startswith(OPEN_PREFIXES):
        header = request.headers.get("Host")
        if header is not None:  # HTTP/1.0 clients may send none: not a browser, not a rebinding
            name = host_name(header)
            if not host_allowed(name, request.app[keys.CONFIG].allowed_host_set()):
                return _refuse(403, "forbidden", f"Host {name!r} is not allowed here (DNS rebinding guard); "
                               f"allow it with `harness serve --allowed-host {name}` or {ENV_ALLOWED_HOSTS}")
    return None


@web.middleware
async def host_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """DNS-rebinding guard: refuse a Host we do not serve under (everything but the collector)."""
    refusal = host_refusal(request)
    return refusal if refusal is not None else await handler(request)


def _own_origin(request: web.Request) -> tuple[str, str, int | None]:
    url = URL(f"{request.scheme}://{request.host}")
    return url.scheme, (url.host or "").lower(), url.port


def same_origin(origin: str, request: web.Request) -> bool:
    """True when an ``Origin`` header names the origin the request was sent to."""
    if origin == "null":
        return False
    try:
        url = URL(origin)
        theirs = (url.scheme, (url.host or "").lower(), url.port)
        return theirs == _own_origin(request)
    except (ValueError, TypeError):
        return False


def cross_site_refusal(request: web.Request) -> web.Response | None:
    """The CSRF guard's answer for /api/ and /inspector (403 or 415), else None (every other path: None)."""
    if request.path.startswith(GUARDED_PREFIXES):
        site = request.headers.get("Sec-Fetch-Site", "").lower()
        # only a top-level navigation to the inspector page itself: an iframe is a navigation too (six
        # cross-site iframes looping /api/ queries were a load weapon), and /api/ has no page to show
        navigation = (request.method in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Mode") == "navigate"
                      and request.headers.get("Sec-Fetch-Dest", "document").lower() == "document"
                      and not request.path.startswith("/api/"))
        if site in ("cross-site", "same-site") and not navigation:
            return _refuse(403, "forbidden", f"{site} request refused: the inspection API answers only "
                           "its own pages and non-browser clients")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin is not None and not same_origin(origin, request):
                return _refuse(403, "forbidden", f"Origin {origin[:100]!r} may not change this server's state")
            if request.method in BODY_METHODS and request.content_type != "application/json":
                return _refuse(415, "unsupported media type",
                               f"send the body as application/json (got {request.content_type or 'none'!r})")
    return None


@web.middleware
async def same_origin_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """CSRF guard for /api/ and /inspector: no cross-site requests, and state changes from our origin only."""
    refusal = cross_site_refusal(request)
    return refusal if refusal is not None else await handler(request)
