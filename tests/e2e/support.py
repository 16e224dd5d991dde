"""Helpers for the conformance suite (imported by test modules)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
PETER = {"name": "Peter Gibbons", "email": "peter@initech.example", "plan": "premium"}


def path_of(url: str) -> str:
    """The path a page call reports for a site-map URL (``/pricing?x=1`` -> ``/pricing``)."""
    return urlsplit(url).path or "/"


def is_uuid(value: object) -> bool:
    """A random 36-character UUID, the seeds' anonymousId."""
    return isinstance(value, str) and len(value) == 36 and bool(UUID_RE.match(value))
