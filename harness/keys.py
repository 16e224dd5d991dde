"""Typed ``app[...]`` keys: the server's state lives on the application, not in globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from harness.collecting.faults import Faults
from harness.collecting.store import BeaconStore
from harness.sites.snippet import SnippetProfile


@dataclass
class Config:
    """Settings a server is created with (CLI flags or pytest options)."""

    write_key: str | None = None
    trust_forwarded: bool = False
    api_token: str | None = None
    collector_url: str | None = None  # None: the origin each page was served from
    tracking_plan: dict[str, Any] | None = None
    default_delivery: str | None = None
    self_url: str = ""  # where the server reaches itself (server-side library); set at start
    extra: dict[str, Any] = field(default_factory=dict)
    # Host names served besides IPs, localhost and *.shop.test (the server adds its own host names);
    # see harness.inspection.guard. "*" allows any, ".example.test" a whole domain.
    allowed_hosts: list[str] = field(default_factory=list)
    _allowed: tuple[tuple[str, ...], frozenset[str]] | None = field(default=None, repr=False, compare=False)

    def allowed_host_set(self) -> frozenset[str]:
        """``allowed_hosts`` normalised (cached until the list changes)."""
        names = tuple(self.allowed_hosts)
        if self._allowed is None or self._allowed[0] != names:
            from harness.inspection.guard import normalise

            self._allowed = (names, normalise(names))
        return self._allowed[1]


CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", BeaconStore)
FAULTS = web.AppKey("faults", Faults)
PROFILE = web.AppKey("profile", SnippetProfile)
USERS = web.AppKey("users", dict)
