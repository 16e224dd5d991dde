"""The application factory: site + collector + inspection API + inspector in one aiohttp app."""

from __future__ import annotations

from aiohttp import web

from harness import keys
from harness.collecting import collector
from harness.collecting.faults import Faults
from harness.collecting.store import BeaconStore
from harness.inspection import api, guard, inspector
from harness.sites import site
from harness.sites.snippet import SnippetProfile, load_profile

CLIENT_MAX_SIZE = 1024 * 1024  # shop forms and /api/ bodies; the collector reads its own, in chunks, up to its limit


def create_app(
    store: BeaconStore | None = None,
    config: keys.Config | None = None,
    profile: SnippetProfile | str | None = None,
) -> web.Application:
    """Build a configured application; state lives in ``app[keys.*]``."""
    # outermost first: the Host allow-list, the cross-site rule, the API token, then the site's device cookie
    middlewares = [guard.host_guard, guard.same_origin_guard, api.api_token_guard, site.device_cookie]
    app = web.Application(client_max_size=CLIENT_MAX_SIZE, middlewares=middlewares)
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
