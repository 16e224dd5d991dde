"""The wire format: parse a tracking request body, validate each message, enrich what is kept.

Pure functions, no I/O, so the collector's handlers stay thin and the rules are unit-testable.
Compatible with the analytics.js tracking API (Segment's HTTP API shape).
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_MESSAGE_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_DECOMPRESSED_BYTES = 4 * MAX_REQUEST_BYTES

TYPES: dict[str, str] = {
    "identify": "identify", "i": "identify",
    "track": "track", "t": "track",
    "page": "page", "p": "page",
    "screen": "screen", "s": "screen",
    "group": "group", "g": "group",
    "alias": "alias", "a": "alias",
}
BATCH_PATHS = frozenset({"batch", "b"})
KNOWN_TYPES = frozenset(TYPES.values())
TRANSPORTS = frozenset({"beacon", "fetch-keepalive", "fetch", "fetchlater", "xhr", "server"})


class Rejected(Exception):
    """A request or message the collector refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def now_iso() -> str:
    """Server time in the analytics.js timestamp format (ISO 8601, milliseconds, Z)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode_body(raw: bytes, content_encoding: str = "") -> Any:
    """Bytes -> JSON value. Accepts gzip/deflate; refuses oversize, bad UTF-8 and bad JSON."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise Rejected(f"request body is {len(raw)} bytes; the limit is {MAX_REQUEST_BYTES}", 413)
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            if encoding == "deflate":
                raw = zlib.decompressobj().decompress(raw, MAX_DECOMPRESSED_BYTES + 1)
            else:
                with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
                    raw = fh.read(MAX_DECOMPRESSED_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise Rejected(f"body is not valid {encoding}: {exc}") from None
        if len(raw) > MAX_DECOMPRESSED_BYTES:
            raise Rejected(f"decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes", 413)
    elif encoding not in ("", "identity"):
        raise Rejected(f"unsupported Content-Encoding {content_encoding!r}", 415)
    if not raw.strip():
        raise Rejected("empty body; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise Rejected("JSON nested too deeply") from None
    except ValueError as exc:
        raise Rejected(f"malformed JSON: {exc}") from None


def split_request(path_type: str, body: Any) -> tuple[list[Any], dict[str, Any]]:
    """Return the messages in a request and the batch-level fields (writeKey, context, ...)."""
    if not isinstance(body, dict):
        raise Rejected(f"body must be a JSON object, got {type(body).__name__}")
    if path_type in BATCH_PATHS:
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise Rejected("batch request needs a 'batch' array")
        if not batch:
            raise Rejected("batch is empty")
        shared = {k: v for k, v in body.items() if k != "batch"}
        return batch, shared
    message = dict(body)
    message.setdefault("type", TYPES[path_type])
    return [message], {}


def _nonempty_id(value: Any) -> bool:
    return (isinstance(value, str) and value != "") or (isinstance(value, int | float) and not isinstance(value, bool))


def validate(message: Any) -> str | None:
    """Return why a message is invalid, or None. Mirrors the tracking API's documented rules."""
    if not isinstance(message, dict):
        return f"message must be a JSON object, got {type(message).__name__}"
    mtype = message.get("type")
    if mtype not in KNOWN_TYPES:
        return f"unknown type {mtype!r}; expected one of {', '.join(sorted(KNOWN_TYPES))}"
    if not (_nonempty_id(message.get("userId")) or _nonempty_id(message.get("anonymousId"))):
        return "message needs a userId or an anonymousId"
    if mtype == "track" and not (isinstance(message.get("event"), str) and message["event"]):
        return "track needs a non-empty 'event' string"
    if mtype == "group" and not _nonempty_id(message.get("groupId")):
        return "group needs a 'groupId'"
    if mtype == "alias" and not (_nonempty_id(message.get("previousId")) and _nonempty_id(message.get("userId"))):
        return "alias needs 'previousId' and 'userId'"
    for field in ("properties", "traits", "context", "integrations"):
        if field in message and message[field] is not None and not isinstance(message[field], dict):
            return f"'{field}' must be an object, got {type(message[field]).__name__}"
    if "messageId" in message and message["messageId"] is not None and not isinstance(message["messageId"], str):
        return f"'messageId' must be a string, got {type(message['messageId']).__name__}"
    size = len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_MESSAGE_BYTES:
        return f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES}"
    return None


@dataclass(frozen=True)
class RequestInfo:
    """What the collector knows about the HTTP request a message came in."""

    path: str
    peer_ip: str
    write_key: str | None
    user_agent: str
    device: str | None
    received_ms: float
    received_at: str


def detect_transport(message: dict[str, Any], user_agent: str) -> str:
    """How the message travelled: the library's own _metadata first, then request headers."""
    meta = message.get("_metadata")
    if isinstance(meta, dict) and meta.get("transport") in TRANSPORTS:
        return str(meta["transport"])
    library = (message.get("context") or {}).get("library") or {}
    if "python" in user_agent.lower() or "python" in str(library.get("name", "")).lower():
        return "server"
    return "other"


def enrich(message: dict[str, Any], shared: dict[str, Any], info: RequestInfo) -> dict[str, Any]:
    """Copy batch-level fields in, then add what the collector adds (receivedAt, ip, ...)."""
    record = {k: v for k, v in shared.items() if k not in ("writeKey", "sentAt") and k not in message}
    record.update(message)
    if "sentAt" not in record and "sentAt" in shared:
        record["sentAt"] = shared["sentAt"]
    if not record.get("messageId"):
        record["messageId"] = f"harness-{uuid.uuid4()}"
    record["receivedAt"] = info.received_at
    if "originalTimestamp" not in record and "timestamp" in record:
        record["originalTimestamp"] = record["timestamp"]
    context = record.get("context")
    context = dict(context) if isinstance(context, dict) else {}
    if "ip" not in context:
        context["ip"] = info.peer_ip
    record["context"] = context
    key = message.get("writeKey") or info.write_key or shared.get("writeKey")
    if key is not None:
        record["writeKey"] = key
    record["_meta"] = {
        "path": info.path,
        "transport": detect_transport(message, info.user_agent),
        "device": info.device,
        "received_ms": info.received_ms,
    }
    return record
