"""Helpers for the conformance suite (imported by test modules)."""

from __future__ import annotations

import re

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
PETER = {"name": "Peter Gibbons", "email": "peter@initech.example", "plan": "premium"}


def is_uuid(value: object) -> bool:
    """A random 36-character UUID, the seeds' anonymousId."""
    return isinstance(value, str) and len(value) == 36 and bool(UUID_RE.match(value))
