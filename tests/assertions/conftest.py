"""Fixtures for the assertion tests: extra servers (tracking plan, host-only cookies) and devices on them.

The session's ``harness_server`` runs the selected snippet profile; tests that need a second
configuration start their own server on a free port, embedding the same profile (``--snippet``).
Chromium resolves ``*.shop.test`` to 127.0.0.1 (the plugin's ``--host-resolver-rules``), so
``http://www.shop.test:PORT/`` and ``http://app.shop.test:PORT/`` reach whichever server listens on PORT.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest
from assertions_support import SHOP_PLAN, STABLE_CONTEXT

from harness.identity.plan import load_plan
from harness.keys import Config
from harness.server import HarnessServer
from harness.sites.snippet import SnippetProfile
from harness.testing.device import Device, context_options


@pytest.fixture(scope="module")
def plan_server(harness_profile: SnippetProfile) -> Generator[HarnessServer, None, None]:
    """A server started with the example tracking plan (like ``harness serve --tracking-plan``)."""
    server = HarnessServer(config=Config(tracking_plan=load_plan(SHOP_PLAN)), snippet=harness_profile).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostonly_server(harness_profile: SnippetProfile) -> Generator[HarnessServer, None, None]:
    """The test's library misconfigured with host-only id cookies (the profile's cookie_scope "host")."""
    profile = harness_profile
    if "host" not in profile.cookie_scopes:
        pytest.skip(f"profile {profile.name} cannot render host-only cookies (its [library] cookie_scopes "
                    f"lacks \"host\")")
    server = HarnessServer(config=Config(extra={"cookie_scope": "host"}), snippet=profile).start()
    yield server
    server.stop()


@pytest.fixture
def device_on(new_context: Callable[..., Any], playwright: Any) -> Callable[..., Device]:
    """Factory: ``device_on(server, base_url=None)`` -> a desktop device browsing that server."""

    def make(server: HarnessServer, base_url: str | None = None, **context_args: Any) -> Device:
        options = {**context_options(playwright, "desktop"), **STABLE_CONTEXT, **context_args}
        return Device(new_context(**options), base_url or server.base_url, server.profile)

    return make

