"""The wire format: parse a tracking request body, validate each message, enrich what is kept.

Pure functions, no I/O, so the collector's handlers stay thin and the rules are unit-testable.
Compatible with the analytics.js tracking API (Segment's HTTP API shape).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from harness import timebase
from harness.collecting.store import has_long_number

MAX_MESSAGE_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
MAX_DECOMPRESSED_BYTES = MAX_REQUEST_BYTES  # a gzip body may inflate to the request limit, no further
MAX_DEPTH = 64  # deeper JSON is refused so nothing downstream (store, API, analysis) can hit RecursionError
OVERSIZE = "message is"  # prefix of the reason validate() gives for a message over MAX_MESSAGE_BYTES

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
ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId")
OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
NOT_SHARED = frozenset({"writeKey", "batch", "messageId", "type"})  # per message only, never copied from a batch
STRING_FIELDS = ("event", "name", "category", "timestamp", "sentAt", "originalTimestamp")
TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt")


class Rejected(Exception):
    """A request or message the collector refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def now_iso() -> str:
    """The harness clock (:mod:`harness.timebase`) in the analytics.js timestamp format."""
    return timebase.now_iso()


def short(value: Any, limit: int = 60) -> str:
    """repr() cut to ``limit`` characters: reasons quote bad values without echoing megabytes."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decompress(raw: bytes, content_encoding: str = "") -> bytes:
    """Undo ``Content-Encoding`` (gzip/deflate); refuses oversize, truncated and unknown encodings."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise Rejected(f"request body is {len(raw)} bytes; the limit is {MAX_REQUEST_BYTES}", 413)
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise Rejected(f"unsupported Content-Encoding {short(content_encoding)}", 415)
    try:
        if encoding == "deflate":
            inflater = zlib.decompressobj()
            out = inflater.decompress(raw, MAX_DECOMPRESSED_BYTES + 1)
            if not inflater.eof and len(out) <= MAX_DECOMPRESSED_BYTES:
                raise Rejected("body is not valid deflate: truncated stream")
        else:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
                out = fh.read(MAX_DECOMPRESSED_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise Rejected(f"body is not valid {encoding}: {exc}") from None
    if len(out) > MAX_DECOMPRESSED_BYTES:
        raise Rejected(f"decompressed body exceeds {MAX_DECOMPRESSED_BYTES} bytes", 413)
    return out


def _no_constant(name: str) -> Any:
    raise Rejected(f"malformed JSON: {name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one too big for a double (``1e999``) is refused, not stored as Infinity.

    Infinity is not JSON: stored, it would make every read (/api/beacons, the stream, the inspector) invalid.
    """
    value = float(text)
    if not math.isfinite(value):
        raise Rejected(f"number {short(text, 40)} is out of range: JSON numbers must be finite doubles")
    return value


def _too_deep(value: Any) -> bool:
    """True when containers nest deeper than MAX_DEPTH (an iterative walk: it cannot recurse)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')  # UTF-8 never hides these in a multibyte char
_FOLD_BRACKETS = bytes.maketrans(b"{}", b"[]")
_BRACKET_STRING = re.compile(rb'"[^"]*"')


def _may_be_too_deep(raw: bytes) -> bool:
    """False when valid JSON ``raw`` provably nests no deeper than MAX_DEPTH (byte scans at C speed).

    True only means "maybe": brackets of duplicate keys count here but not in the decoded value.
    """
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return False
    if b"\\" in raw:  # drop escapes that could hide a quote: escaped backslashes first, then \"
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    shape = raw.translate(_FOLD_BRACKETS, _NOT_STRUCTURE)  # only quotes and [ ] are left
    brackets = shape.replace(b'""', b"")  # every string, unless one holds a bracket ...
    if b'"' in brackets:
        brackets = _BRACKET_STRING.sub(b"", shape)  # ... then strings are removed exactly
    for _ in range(MAX_DEPTH):  # each pass removes the innermost level: "[]" pairs are the leaves
        brackets = brackets.replace(b"[]", b"")
        if not brackets:
            return False
    return True


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)




def parse_json(raw: bytes) -> Any:
    """Decoded bytes -> JSON value; refuses empty bodies, bad UTF-8, NaN/Infinity and deep nesting.

    orjson on the hot path; the standard library (:func:`parse_json_stdlib`) decides every body orjson
    refuses, or may read differently (a BOM, 19+ digit runs), so what is accepted or refused and every
    reason stay exactly the standard library's. Where both accept they give equal values
    (tests/collector/test_json_paths.py).
    """
    if raw[:3] != b"\xef\xbb\xbf" and not has_long_number(raw):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the standard library gives the reason (or, where it is more lenient, the value)
        else:
            if _may_be_too_deep(raw) and _too_deep(value):
                raise Rejected(f"JSON nested too deeply (the limit is {MAX_DEPTH} levels)")
            return value
    return parse_json_stdlib(raw)


def parse_json_stdlib(raw: bytes) -> Any:
    """:func:`parse_json` with the standard library only: the reference for accept/refuse and reasons."""
    if not raw.strip():
        raise Rejected("empty body; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        if text.startswith("\ufeff"):  # what json.loads says; the decoder itself does not check
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except RecursionError:
        raise Rejected(f"JSON nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # JSONDecodeError, and ints over Python's digit limit
        raise Rejected(f"malformed JSON: {exc}") from None
    if _may_be_too_deep(raw) and _too_deep(value):
        raise Rejected(f"JSON nested too deeply (the limit is {MAX_DEPTH} levels)")
    return value


def decode_body(raw: bytes, content_encoding: str = "") -> Any:
    """Bytes -> JSON value. Accepts gzip/deflate; refuses oversize, bad UTF-8 and bad JSON."""
    return parse_json(decompress(raw, content_encoding))


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
    given = message.get("type")
    if given is None:  # the path says what it is (analytics.js sends type too, others may not)
        message["type"] = TYPES[path_type]
    elif isinstance(given, str) and given in KNOWN_TYPES and given != TYPES[path_type]:
        raise Rejected(f"the body's type {given!r} does not match the path /v1/{path_type} "
                       f"({TYPES[path_type]}); send it to /v1/{given} or fix the type")
    return [message], {}


def merge_shared(message: Any, shared: dict[str, Any]) -> Any:
    """A batch message with the batch-level fields it lacks (context, sentAt, ...) filled in.

    Done before validation so what is validated is exactly what would be stored.
    """
    if not isinstance(message, dict) or not shared:
        return message
    merged = {k: v for k, v in shared.items() if k not in NOT_SHARED and k not in message}
    merged.update(message)
    return merged


def _nonempty_id(value: Any) -> bool:
    return (isinstance(value, str) and value != "") or (isinstance(value, int | float) and not isinstance(value, bool))


_NUMBER_OR_STRING = (str, int, float)
_OBJECT_FIELDS = (*OBJECT_FIELDS, "_metadata")


def _type_error(message: dict[str, Any]) -> str | None:
    """Why a well-known field has the wrong JSON type, or None (null always allowed)."""
    get = message.get
    for name in ID_FIELDS:
        value = get(name)
        if value is not None and (not isinstance(value, _NUMBER_OR_STRING) or isinstance(value, bool)):
            return f"'{name}' must be a string or number, got {type(value).__name__}"
    for name in STRING_FIELDS:
        value = get(name)
        if value is not None and not isinstance(value, str):
            return f"'{name}' must be a string, got {type(value).__name__}"
    for name in _OBJECT_FIELDS:
        value = get(name)
        if value is not None and not isinstance(value, dict):
            return f"'{name}' must be an object, got {type(value).__name__}"
    for name in TIME_FIELDS:
        if (reason := time_error(name, get(name))) is not None:
            return reason
    value = get("messageId")
    if value is not None and not isinstance(value, str):
        return f"'messageId' must be a string, got {type(value).__name__}"
    if value is not None and not value.isascii() and not _is_unicode(value):
        return "'messageId' is not valid Unicode (it holds a lone surrogate)"
    return None


_EDGE_YEARS = ("0001", "9999")  # the only years whose times can overflow once converted to UTC


def time_error(name: str, value: Any) -> str | None:
    """Why an ISO-8601 time cannot be analysed (outside years 1-9999 once in UTC), or None.

    Text that is not ISO-8601 at all is kept (the analysis falls back to receivedAt); a real time
    that overflows when converted to UTC (``0001-01-01T00:00:00+01:00``) would break every analysis
    that reads it, so it is refused.
    """
    if isinstance(value, str) and value[:4] not in _EDGE_YEARS and not value[:1].isspace():
        # every fromisoformat() form starts with the 4-digit year; a year of 0002-9998 moved by an offset
        # (under 24 h) stays within 0001-9999, and a naive or UTC time never overflows: nothing to refuse
        return None
    return time_error_full(name, value)


def time_error_full(name: str, value: Any) -> str | None:
    """:func:`time_error` without its fast path: fromisoformat on every string (tests compare the two)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    try:
        if parsed.tzinfo is not None:
            parsed.astimezone(UTC)
        parsed.replace(tzinfo=UTC).timestamp()
    except (OverflowError, ValueError, OSError):
        return (f"'{name}' {short(value, 40)} is outside what can be analysed "
                "(years 0001-9999 once converted to UTC)")
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)  # parsed JSON: a tree


def message_size(message: Any) -> int:
    """Bytes of the compact UTF-8 JSON (lone surrogates counted, not fatal)."""
    text = _COMPACT.encode(message)
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def check(message: Any) -> str | None:
    """validate() without the size limit; :func:`size_error` does that part."""
    if not isinstance(message, dict):
        return f"message must be a JSON object, got {type(message).__name__}"
    mtype = message.get("type")
    if not isinstance(mtype, str) or mtype not in KNOWN_TYPES:
        return f"unknown type {short(mtype)}; expected one of {', '.join(sorted(KNOWN_TYPES))}"
    if reason := _type_error(message):
        return reason
    if not (_nonempty_id(message.get("userId")) or _nonempty_id(message.get("anonymousId"))):
        return "message needs a userId or an anonymousId"
    if mtype == "track" and not message.get("event"):
        return "track needs a non-empty 'event' string"
    if mtype == "group" and not _nonempty_id(message.get("groupId")):
        return "group needs a 'groupId'"
    if mtype == "alias" and not (_nonempty_id(message.get("previousId")) and _nonempty_id(message.get("userId"))):
        return "alias needs 'previousId' and 'userId'"
    return None


def size_error(message: dict[str, Any], stored_length: int | None = None) -> str | None:
    """Why a message that passed :func:`check` is too big, or None.

    ``stored_length`` is the length of the compact ASCII-escaped JSON of ``enrich(message)`` (what
    the store keeps). When enrich() only added to the message, that bounds message_size() from
    above, so a small enough one spares the exact measure.
    """
    if stored_length is not None and stored_length <= MAX_MESSAGE_BYTES and _enrich_only_adds(message):
        return None
    size = message_size(message) + _copied_size(message)
    return f"{OVERSIZE} {size} bytes; the limit is {MAX_MESSAGE_BYTES}" if size > MAX_MESSAGE_BYTES else None


def _copied_size(message: dict[str, Any]) -> int:
    """Bytes :func:`enrich` adds by copying an identify's ``context.traits`` to ``traits`` (RudderStack).

    The stored record holds them twice: counted once, a 32 KB message was stored at 64 KB.
    """
    context = message.get("context")
    if message.get("type") == "identify" and "traits" not in message and isinstance(context, dict) \
            and isinstance(context.get("traits"), dict):
        return message_size(context["traits"]) + len(',"traits":')
    return 0


def _enrich_only_adds(message: dict[str, Any]) -> bool:
    """True when enrich() overwrites no field of a checked message (it may add some, or lengthen them)."""
    return "receivedAt" not in message and "_meta" not in message and bool(message.get("writeKey", True))


def validate(message: Any) -> str | None:
    """Return why a message is invalid, or None. Mirrors the tracking API's documented rules."""
    return check(message) or size_error(message)


def status_for(reason: str) -> int:
    """The HTTP status for a validate() reason: 413 for size, 400 for everything else."""
    return 413 if reason.startswith(OVERSIZE) else 400


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
    transport: str = ""  # observed by the collector (harness.collecting.transport.observed); "" = not known


def detect_transport(message: dict[str, Any], user_agent: str) -> str:
    """Fallback when the collector did not observe the request: never the payload's word (a library's
    ``_metadata`` or library name), only the User-Agent of a server-side client."""
    return "server" if "python" in user_agent.lower() else "other"


def enrich(message: dict[str, Any], shared: dict[str, Any], info: RequestInfo) -> dict[str, Any]:
    """Copy batch-level fields in, then add what the collector adds (receivedAt, ip, ...)."""
    record = merge_shared(message, shared)
    record = dict(record)
    if not record.get("messageId"):
        record["messageId"] = f"harness-{uuid.uuid4()}"
    record["receivedAt"] = info.received_at
    if "originalTimestamp" not in record and "timestamp" in record:
        record["originalTimestamp"] = record["timestamp"]
    elif "timestamp" not in record and "originalTimestamp" in record:  # RudderStack sends only originalTimestamp
        record["timestamp"] = record["originalTimestamp"]
    context = record.get("context")
    context = dict(context) if isinstance(context, dict) else {}
    if record.get("type") == "identify" and "traits" not in record and isinstance(context.get("traits"), dict):
        record["traits"] = context["traits"]  # RudderStack's identify carries its traits only in context.traits
    if "ip" not in context:
        context["ip"] = info.peer_ip
    record["context"] = context
    key = message.get("writeKey") or info.write_key or shared.get("writeKey")
    if key is not None:
        record["writeKey"] = key
    record["_meta"] = {
        "path": info.path,
        "transport": info.transport or detect_transport(record, info.user_agent),
        "device": info.device,
        "received_ms": info.received_ms,
    }
    return record
