"""PostHog's ingestion wire (posthog-js), decoded into the harness's beacons.

posthog-js posts its events to ``<api_host>/e/`` (also ``/i/v0/e/``, ``/batch/``, ``/capture/``) as

- gzip (``?compression=gzip-js``, ``text/plain``; the default once the remote config says ``gzip-js``),
- a form field ``data=<base64 of the JSON>`` (``?compression=base64``, sendBeacon's fallback), or
- plain JSON,

holding one event, an array of events (request batching), or ``{"api_key": ..., "batch": [...]}``.
An event is ``{"event", "properties", "uuid", "timestamp", "$set", "$set_once"}`` with the identity in
its properties (``distinct_id``, ``$device_id``, ``$is_identified``, ``$anon_distinct_id``, ``token``).

Each event becomes one analytics.js-shaped message (see :func:`to_beacon`), PostHog's own event kept
beside it under ``_vendor`` (its properties are the beacon's, kept once: :func:`raw_event` rebuilds it); the
collector then validates, enriches and stores it as any other beacon
(same size limits, same bad list). Bodies are decoded within the collector's limits
(:data:`~harness.collecting.beacon.MAX_REQUEST_BYTES` in, :data:`~harness.collecting.beacon.MAX_DECOMPRESSED_BYTES`
out); what cannot be decoded is a :class:`~harness.collecting.beacon.Rejected` with the reason.

The harness is PostHog's reverse proxy at :data:`PREFIX`: :data:`INGEST` tails are the collector, every
other tail (``static/array.js``, ``array/<token>/config``, ``flags/``) is answered from the posthog profile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from harness.collecting.beacon import MAX_DECOMPRESSED_BYTES, Rejected, decompress, parse_json, short

PREFIX = "/posthog/"
INGEST = frozenset({"e", "i/v0/e", "batch", "capture", "track"})  # posthog-js's and PostHog's capture paths
MAX_EVENTS = 10_000  # events in one request (the body limit allows far fewer real ones)
VENDOR = "posthog"
# PostHog's special events -> analytics.js types; every other event is a track
TYPES = {"$pageview": "page", "$screen": "screen", "$identify": "identify", "$set": "identify",
         "$groupidentify": "group", "$create_alias": "alias"}


def raw_event(beacon: Mapping[str, Any]) -> dict[str, Any] | None:
    """PostHog's event exactly as it arrived, rebuilt from a stored beacon (``_vendor.message`` + ``properties``)."""
    vendor = beacon.get("_vendor")
    if not isinstance(vendor, Mapping) or vendor.get("name") != VENDOR or not isinstance(vendor.get("message"), dict):
        return None
    message = dict(vendor["message"])
    if vendor.get("properties_in") == "properties":
        message["properties"] = beacon.get("properties")
    return message


def is_ingest(tail: str) -> bool:
    """Whether a path tail under :data:`PREFIX` is one of PostHog's capture endpoints (``e/``, ``i/v0/e/``, ...)."""
    return tail.strip("/") in INGEST


def decode(raw: bytes, query: Mapping[str, str], content_type: str = "") -> Any:
    """A PostHog request body -> its JSON value, undoing gzip-js, base64 form bodies and plain form fields."""
    compression = str(query.get("compression", "")).lower()
    if raw[:2] == b"\x1f\x8b" or compression in ("gzip-js", "gzip"):
        return parse_json(decompress(raw, "gzip"))  # the collector's limits: size, truncation, bombs
    if compression not in ("", "base64"):
        raise Rejected(f"unsupported PostHog compression {short(compression)}; expected gzip-js or base64", 415)
    form = "application/x-www-form-urlencoded" in content_type.lower() or raw[:5] == b"data="
    if compression == "base64" or form:
        return parse_json(_form_data(raw, compression == "base64"))
    return parse_json(raw)


def _form_data(raw: bytes, b64: bool) -> bytes:
    """The ``data`` field of a form body, base64-decoded when PostHog says so (or it is not JSON)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise Rejected(f"form body is not ASCII (URL-encoded): byte {exc.start}") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=100)
    except ValueError as exc:
        raise Rejected(f"malformed form body: {exc}") from None
    values = fields.get("data")
    if not values:
        raise Rejected("form body has no 'data' field (PostHog sends data=<base64 JSON>)")
    if len(values) > 1:
        raise Rejected("form body has more than one 'data' field")
    value = values[0]
    if not b64 and value.lstrip()[:1] in ("{", "["):
        return value.encode("utf-8")
    cleaned = value.strip().replace(" ", "+")  # a '+' the sender did not percent-encode reads as a space
    try:
        out = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejected(f"form field 'data' is not base64: {exc}") from None
    if len(out) > MAX_DECOMPRESSED_BYTES:  # base64 only shrinks; kept for the rule's sake
        raise Rejected(f"decoded body exceeds {MAX_DECOMPRESSED_BYTES} bytes", 413)
    return out


def split(body: Any, query: Mapping[str, str], path: str = "") -> tuple[list[Any], dict[str, Any]]:
    """A decoded PostHog body -> (harness messages, batch-level fields), one message per event."""
    api_key: Any = None
    batch_sent: Any = None
    if isinstance(body, dict) and "batch" in body:
        events, api_key, batch_sent = body["batch"], body.get("api_key"), body.get("sent_at")
        if not isinstance(events, list):
            raise Rejected("PostHog batch request needs a 'batch' array")
    elif isinstance(body, list):
        events = body
    elif isinstance(body, dict):
        events = [body]
    else:
        raise Rejected(f"PostHog body must be an event object, an array of events or {{\"batch\": [...]}}, "
                       f"got {type(body).__name__}")
    if not events:
        raise Rejected("PostHog request holds no events")
    if len(events) > MAX_EVENTS:
        raise Rejected(f"PostHog request holds {len(events)} events; the limit is {MAX_EVENTS}", 413)
    sent_at = batch_sent if isinstance(batch_sent, str) else _sent_at(query.get("sent_at") or query.get("_", ""))
    return [to_beacon(e, api_key if isinstance(api_key, str) else None, sent_at, path) for e in events], {}


def _sent_at(millis: str) -> str | None:
    """A request stamped with its send time (posthog-js's ``timestampMode`` "query": ``sent_at=<epoch ms>`` on a
    POST, ``_=`` on a GET): the beacon's ``sentAt``. Its capture requests carry none (``timestampMode`` unset)."""
    if not millis.isdigit() or len(millis) > 15:
        return None
    try:
        return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _some(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def to_beacon(event: Any, api_key: str | None = None, sent_at: str | None = None, path: str = "") -> Any:
    """One PostHog event as an analytics.js message; what is not an object is passed on for the collector to refuse.

    type from the event name (:data:`TYPES`); ``anonymousId`` = ``$device_id`` (else ``$anon_distinct_id``,
    else the anonymous ``distinct_id``); ``userId`` = ``distinct_id`` once identified (``$is_identified``,
    or the ``$identify`` call itself); ``messageId`` = ``uuid``; ``traits`` = ``$set``; group from
    ``$group_key`` / ``$group_set``; alias from ``alias`` and ``distinct_id``; ``context`` from ``$lib``,
    ``$lib_version``, ``$current_url``, ``$pathname``, ``$referrer``, ``$raw_user_agent``,
    ``$browser_language``, ``$timezone`` and ``$ip``. PostHog's event is kept whole under ``_vendor``.
    """
    if not isinstance(event, dict):
        return event
    props = event.get("properties")
    p: dict[str, Any] = props if isinstance(props, dict) else {}
    name = event.get("event")
    kind = TYPES.get(name, "track") if isinstance(name, str) else "track"
    distinct = event.get("distinct_id", p.get("distinct_id"))
    identified = p.get("$is_identified") is True or name == "$identify"
    anonymous = p.get("$device_id") or p.get("$anon_distinct_id") or (None if identified else distinct)
    message: dict[str, Any] = {
        "type": kind,
        "userId": distinct if identified else None,
        "anonymousId": anonymous,
        "messageId": event.get("uuid"),
        "timestamp": event.get("timestamp"),
        "properties": props if props is not None else {},
    }
    if kind == "track":
        message["event"] = name
    elif kind == "page":
        message["name"] = p.get("title") if isinstance(p.get("title"), str) else None
    if kind == "identify":
        traits = event.get("$set", p.get("$set"))
        message["traits"] = traits if traits is not None else {}
    elif kind == "group":
        message["groupId"] = p.get("$group_key")
        message["traits"] = p.get("$group_set") if p.get("$group_set") is not None else {}
    elif kind == "alias":
        message["userId"], message["previousId"] = p.get("alias"), distinct
    own_sent = event.get("sent_at")  # timestampMode "body": each event stamped
    if isinstance(own_sent, str) or sent_at is not None:
        message["sentAt"] = own_sent if isinstance(own_sent, str) else sent_at
    token = p.get("token") or api_key
    if isinstance(token, str) and token:
        message["writeKey"] = token
    page = _some({"path": p.get("$pathname"), "url": p.get("$current_url"), "referrer": p.get("$referrer"),
                  "title": p.get("title")})
    context = _some({
        "library": _some({"name": p.get("$lib"), "version": p.get("$lib_version")}) or None,
        "page": page or None,
        "userAgent": p.get("$raw_user_agent"),
        "locale": p.get("$browser_language"),
        "timezone": p.get("$timezone"),
    })
    if "$ip" in p:
        context["ip"] = p["$ip"]
    message["context"] = context
    # PostHog's event as sent, but for its properties: they are the beacon's ``properties`` (the same object),
    # kept once so an event is measured against the message limit once, not twice (see raw_event)
    split = props is not None  # the beacon holds exactly these
    kept = {k: v for k, v in event.items() if k != "properties"} if split else event
    message["_vendor"] = _some({"name": VENDOR, "endpoint": path or None, "message": kept,
                                "properties_in": "properties" if split else None})
    return {k: v for k, v in message.items() if v is not None or k in ("userId", "anonymousId")}


async def control(request: Any) -> Any:
    """Every other request to PostHog's host under :data:`PREFIX`: the profile's assets and routes.

    ``static/array.js`` and its lazy extensions (PostHog's asset host), ``array/<token>/config`` and
    ``flags/`` (its control plane), answered as :func:`harness.sites.site.snippet_asset` answers the
    profile's CDN (declared files and documents only; library-file faults apply). A flags request is a POST.
    """
    from aiohttp import web

    from harness.sites.site import snippet_asset  # the site imports the collector: imported when first asked

    if request.method not in ("GET", "HEAD", "POST"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD", "POST"])
    response = await snippet_asset(request)
    origin = request.headers.get("Origin")
    if origin:  # posthog-js sends its flags request with credentials from the page's origin
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response
