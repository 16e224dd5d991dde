"""Helpers for the conformance suite (imported by test modules)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
PETER = {"name": "Peter Gibbons", "email": "peter@initech.example", "plan": "premium"}


def path_of(url: str) -> str:
    """The path a page call reports for a site-map URL (``/pricing?x=1`` -> ``/pricing``)."""
    return urlsplit(url).path or "/"


def is_uuid(value: object) -> bool:
    """A random 36-character UUID, the seeds' anonymousId."""
    return isinstance(value, str) and len(value) == 36 and bool(UUID_RE.match(value))


def needs_api(device, name: str) -> None:
    """Skip, with the profile's own reason, when the library has no such API (its ``[api.missing]``)."""
    api = device.profile.api
    if not api.has(name):
        pytest.skip(f"{device.profile.library} has no {name} API: {api.missing.get(name, 'not declared')}")


# Where posthog-js implements the behaviours its `differs` marks quote (the source at PostHog/posthog-js 9b2a1b18;
# measured on the npm release the profile pins).
PH_CORE = ("https://github.com/PostHog/posthog-js/blob/9b2a1b18db64f9f6b331cbded543c5ead3ccf0cb/"
           "packages/browser/src/posthog-core.ts")
PH_RESET_SRC = PH_CORE + "#L3318-L3380 (reset(): a new distinct_id; $device_id is kept unless reset(true))"
PH_IDENTIFY_SRC = PH_CORE + "#L2822-L2842 (identify(): distinct_id changes; $device_id is only set when missing)"
PH_UNLOAD_SRC = PH_CORE + "#L1225-L1247 (pagehide: $pageleave is captured, saving the in-memory record again)"
PH_PROPERTY_SRC = PH_CORE + "#L4069-L4071 (get_property(): the in-memory record, never re-read or re-saved)"
PH_CAPTURE_SRC = PH_CORE + "#L1436 (capture(event, properties, options): no per-call id or context option)"

# Where RudderStack documents (or implements) the behaviours its `differs` marks quote.
RS_STORAGE_DOC = "https://www.rudderstack.com/docs/sources/event-streams/sdks/rudderstack-javascript-sdk/data-storage-cookies/"
RS_API_DOC = "https://www.rudderstack.com/docs/sources/event-streams/sdks/rudderstack-javascript-sdk/supported-api/"
RS_IDENTIFY_SRC = ("https://github.com/rudderlabs/rudder-sdk-js/blob/develop/packages/analytics-js/src/components/"
                   "core/Analytics.ts (identify: a new userId calls this.reset(), which keeps the anonymousId)")
