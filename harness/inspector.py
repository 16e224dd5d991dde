"""The live inspector page: beacons over SSE, the bad list, stats and the identity timeline."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

# Only our own script and styles: payload text can never run (defence in depth behind escaping).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


async def page(request: web.Request) -> web.StreamResponse:
    response = aiohttp_jinja2.render_template("inspector.html", request, _context(request))
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _context(request: web.Request) -> dict[str, Any]:
    return {"title": "Inspector"}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/inspector", page)
