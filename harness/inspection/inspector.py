"""The live inspector page: beacons over SSE, the bad list, stats, lint, plan violations and the identity timeline.

The page is a static shell (templates/inspector.html) plus static/inspector.js and
static/inspector.css; everything it shows comes from the inspection API and is written into
the page as text only. The Content-Security-Policy allows our own script and styles and nothing
inline, so even a missed escape could not run a payload (defence in depth behind escaping).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a ?token= in the URL never leaks to another site
    "Cache-Control": "no-store",
}


async def page(request: web.Request) -> web.StreamResponse:
    response = aiohttp_jinja2.render_template("inspector.html", request, _context(request))
    response.headers.update(HEADERS)
    return response


def _context(request: web.Request) -> dict[str, Any]:
    return {"title": "Inspector"}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/inspector", page)
