"""The application factory: site + collector + inspection API + inspector in one aiohttp app."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiohttp import web

from harness import keys
from harness.collecting import collector
from harness.collecting.faults import Faults
from harness.collecting.store import BeaconStore, StoreDamaged
from harness.inspection import api, guard, inspector
from harness.sites import site
from harness.sites.snippet import SnippetProfile, load_profile

CLIENT_MAX_SIZE = 1024 * 1024  # shop forms and /api/ bodies; the collector reads its own, in chunks, up to its limit


@web.middleware
async def front_door(request: web.Request, handler: Any) -> web.StreamResponse:
    """The four app-wide checks in one middleware layer (one coroutine per request, not four), in the order
    of ``[guard.host_guard, guard.same_origin_guard, api.api_token_guard, site.device_cookie]``: the Host
    allow-list, the cross-site rule, the API token, then the site's cookies on the handler's response.
    A refusal is answered at once and gets none of the later steps, as in that chain."""
    refusal = guard.host_refusal(request)
    if refusal is None:
        refusal = guard.cross_site_refusal(request)
    if refusal is not None:
        return refusal
    token = api.guarded_token(request)
    if token is not None and (refusal := api.token_refusal(request, token)) is not None:
        return refusal
    try:
        response = await handler(request)
    except sqlite3.Error as exc:  # a damaged or failing store: one JSON line, never a plain-text 500
        reason = str(exc) if isinstance(exc, StoreDamaged) else f"store error: {exc}"
        return web.json_response({"error": "store unavailable", "reason": reason}, status=503,
                                 headers={"Cache-Control": "no-store"})
    site.add_cookies(request, response)
    if token is not None:
        api.keep_token(request, response, token)
    return response


def create_app(
    store: BeaconStore | None = None,
    config: keys.Config | None = None,
    profile: SnippetProfile | str | None = None,
) -> web.Application:
    """Build a configured application; state lives in ``app[keys.*]``."""
    app = web.Application(client_max_size=CLIENT_MAX_SIZE, middlewares=[front_door])
    app[keys.STORE] = store if store is not None else BeaconStore()
    app[keys.CONFIG] = config or keys.Config()
    app[keys.FAULTS] = Faults()
    app[keys.PROFILE] = profile if isinstance(profile, SnippetProfile) else load_profile(profile)
    app[keys.USERS] = {}
    collector.add_routes(app)
    api.add_routes(app)
    inspector.add_routes(app)
    site.setup(app)
    return app
