"""The collector: the analytics.js tracking HTTP API that snippets send beacons to.

Handlers stay thin: parsing and validation live in :mod:`harness.collecting.beacon`, keeping in
:mod:`harness.collecting.store`. Every rejection is answered 4xx with a reason and kept in the bad list.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import sqlite3
import time
from typing import Any

from aiohttp import web

from harness import keys
from harness.collecting import posthog, transport
from harness.collecting.beacon import (
    BATCH_PATHS,
    MAX_REQUEST_BYTES,
    TYPES,
    Rejected,
    RequestInfo,
    check,
    decompress,
    enrich,
    merge_shared,
    now_iso,
    parse_json,
    size_error,
    split_request,
    status_for,
)
from harness.collecting.store import BAD_RAW_KEEP, Record, StoreDamaged, bad_entry, to_json_fast

DEVICE_COOKIE = "hx_device"
# RudderStack's BeaconQueue (useBeacon) posts {"batch": [...]} as text/plain to /beacon/v1/batch?writeKey=KEY:
# sendBeacon can set no Authorization header, so the write key travels in the query.
BEACON_PREFIX = "/beacon/v1/"
CORS_HEADERS = "Content-Type, Authorization, Content-Encoding"
RAW_KEEP = BAD_RAW_KEEP  # characters of a rejected submission kept in the bad list
BAD_PER_REQUEST = 100  # rejected messages of one batch kept one by one; the rest are summed up in one entry
REJECTED_IN_REPLY = 1_000  # per-message rejections listed in one reply
READ_CHUNK = 64 * 1024
BODY_SECONDS = 30.0  # a body trickled slower than this is cut off (408): one connection cannot hold a handler forever
GRAPH_LAG_SECONDS = 0.05  # the identity graph catches up this long after a commit left it behind (store.GRAPH_BACKLOG)
log = logging.getLogger(__name__)
Stored = tuple[list[Record], int]  # what BeaconStore.add returns: (stored records, duplicates)
Pending = list[tuple[list[Record], list[str], asyncio.Future[Stored]]]


class GroupCommit:
    """Group commit: the valid messages of all requests handled in one event-loop pass, in one transaction.

    Each request awaits its own result, so it is answered only after that transaction committed.
    (The transaction runs on the loop's thread: a writer thread would wait on the GIL at every row.)
    """

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._pending: Pending = []  # the app serves on one loop
        self._catch_up: asyncio.TimerHandle | None = None

    def add(self, records: list[Record], bodies: list[str]) -> asyncio.Future[Stored]:
        """Queue for the next commit; the future gives what store.add would have returned."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Stored] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)  # after the other requests already read in this loop pass
        self._pending.append((records, bodies, future))
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            results = self._app[keys.STORE].add_groups([(records, bodies) for records, bodies, _ in pending])
        except Exception as exc:  # each request sees it, as if it had called store.add itself
            for *_, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), result in zip(pending, results, strict=True):
            if not future.done():  # a cancelled request: its messages are stored all the same
                future.set_result(result)
        if self._catch_up is None:
            self._catch_up = asyncio.get_running_loop().call_later(GRAPH_LAG_SECONDS, self._graph_catch_up)

    def _graph_catch_up(self) -> None:
        """Bring the identity graph up to date GRAPH_LAG_SECONDS after a commit left it behind.

        One catch-up takes what that time gathered: under heavy ingest thousands of messages (amortised),
        under a browser's trickle a few (a short pause of the loop, never one long one).
        """
        self._catch_up = None
        store = self._app[keys.STORE]
        if store.graph_backlog():
            try:
                store.catch_up_graph()
            except sqlite3.Error as exc:  # derived data: the next commit's timer or a read tries again
                log.error("identity graph update failed (it is retried): %s", exc)


COMMITS = web.AppKey("commits", GroupCommit)


class InFlight:
    """How many collector requests are being handled, so a clear can wait until none is half-way.

    A request whose body was read before a test's store was cleared must not land in the next test.
    """

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


IN_FLIGHT = web.AppKey("in_flight", InFlight)


def _basic_auth_key(header: str) -> str | None:
    """Write key from ``Authorization: Basic base64(key:)``; None when absent or malformed."""
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded.split(":", 1)[0] or None


_ONLY_DEVICE = re.compile(r"hx_device=([0-9a-f]{32})")  # the Cookie header of a browser with only our id


def device_id(request: web.Request) -> str | None:
    """``request.cookies.get(DEVICE_COOKIE)``, without parsing the header when it holds our id alone."""
    header = request.headers.get("Cookie")
    if header is None:
        return None
    only = _ONLY_DEVICE.fullmatch(header)
    return only.group(1) if only is not None else request.cookies.get(DEVICE_COOKIE)


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


SUCCESS = {"success": True}
SUCCESS_BODY = json.dumps(SUCCESS).encode()  # what web.json_response(SUCCESS) sends, made once


def _reply(request: web.Request, status: int, payload: dict[str, Any]) -> web.Response:
    if payload is SUCCESS:  # nearly every answer: the same bytes and headers json_response would give
        response = web.Response(body=SUCCESS_BODY, status=status, content_type="application/json", charset="utf-8")
    else:
        response = web.json_response(payload, status=status)
    return _cors(request, response)  # type: ignore[return-value]


def _peer_ip(request: web.Request) -> str:
    if request.app[keys.CONFIG].trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or ""


def _same_key(given: str | None, expected: str) -> bool:
    """Constant-time write key check; any str (even one with lone surrogates) compares safely."""
    return hmac.compare_digest((given or "").encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8", "surrogatepass"))


def _text(raw: bytes, cut: bool = False) -> str:
    """The submission as text for the bad list: exact when UTF-8, escaped bytes otherwise.

    ``cut``: only the start of a longer body was read.
    """
    text = raw[:RAW_KEEP].decode("utf-8", errors="backslashreplace")
    return text if len(raw) <= RAW_KEEP and not cut else text + "...(truncated)"


async def preflight(request: web.Request) -> web.StreamResponse:
    """Answer CORS preflight for any collector path."""
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = request.headers.get(
        "Access-Control-Request-Headers", CORS_HEADERS)
    response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


def _store_reason(exc: sqlite3.Error) -> str:
    """``store error: SQLITE_FULL: database or disk is full``: the SQLite error code first, then its text."""
    if isinstance(exc, StoreDamaged):
        return str(exc)  # "store damaged: PATH (...)": what to do about it
    name = getattr(exc, "sqlite_errorname", None)
    return f"store error: {name}: {exc}" if name else f"store error: {exc}"


def _keep_bad(request: web.Request, entries: list[Record], received: int | None = None,
              rejected: int | None = None) -> None:
    """Put rejections in the bad list (one transaction); a store that cannot write is logged, not a 500."""
    try:
        request.app[keys.STORE].add_bad_many(entries, received, rejected)
    except sqlite3.Error as exc:
        log.error("cannot keep a rejected submission in the bad list: %s", _store_reason(exc))


def _body_received(request: web.Request) -> bool:
    """True when the whole body, announced by Content-Length within MAX_REQUEST_BYTES, is already buffered
    (a beacon's body usually arrives with its headers): reading it cannot wait or pass the limit."""
    announced = request.content_length
    return announced is not None and announced <= MAX_REQUEST_BYTES and request.content.is_eof()


async def _read_body(request: web.Request) -> tuple[bytes, bool]:
    """The body, read in chunks and never past MAX_REQUEST_BYTES: (bytes, True) when it fits.

    A bigger one -- announced by Content-Length, or found while reading a chunked one -- gives
    (its first bytes, False) without reading the rest into memory (aiohttp drains it after the reply).
    """
    announced = request.content_length
    if announced is not None and announced > MAX_REQUEST_BYTES:
        head = await request.content.read(min(announced, RAW_KEEP))
        return head, False
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks), True
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return b"".join(chunks)[:RAW_KEEP], False
        chunks.append(chunk)


async def collect(request: web.Request) -> web.StreamResponse:
    """POST /v1/{type}, counted in flight (see :class:`InFlight`)."""
    in_flight = request.app[IN_FLIGHT]
    in_flight.enter()
    try:
        return await _collect(request)
    finally:
        in_flight.leave()


async def _collect(request: web.Request) -> web.StreamResponse:
    """POST /v1/{type}: parse, authenticate, validate, store, then reply (after commit)."""
    kind = request.match_info["kind"]
    try:
        if _body_received(request):  # nothing to wait for: no timer to arm and cancel
            raw, whole = await request.content.read(), True
        else:
            async with asyncio.timeout(BODY_SECONDS):
                raw, whole = await _read_body(request)
    except TimeoutError:
        reason = f"request body not received within {BODY_SECONDS:g} s"
        _keep_bad(request, [bad_entry(reason, "(body not read)", 408, request.path)])
        response = _reply(request, 408, {"error": "request timeout", "reason": reason})
        response.force_close()
        return response
    if not whole:
        size = request.content_length
        reason = (f"request body is {size} bytes; the limit is {MAX_REQUEST_BYTES}" if size is not None
                  else f"request body is over {MAX_REQUEST_BYTES} bytes; the limit is {MAX_REQUEST_BYTES}")
        _keep_bad(request, [bad_entry(reason, _text(raw, cut=True), 413, request.path)])
        response = _reply(request, 413, {"error": "rejected", "reason": reason})
        response.force_close()  # the rest of the body is not read: this connection is done
        return response
    beacon = request.path.startswith(BEACON_PREFIX)
    if request.path.startswith(posthog.PREFIX):
        pass  # the route admits PostHog's capture paths only (add_routes)
    elif (kind not in BATCH_PATHS) if beacon else (kind not in TYPES and kind not in BATCH_PATHS):
        reason = f"unknown endpoint {BEACON_PREFIX if beacon else '/v1/'}{kind}"
        _keep_bad(request, [bad_entry(reason, _text(raw), 404, request.path)])
        return _reply(request, 404, {"error": "not found", "reason": reason})
    action = request.app[keys.FAULTS].take()
    if action.drop:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # nothing stored, nothing answered: a dropped connection
    if action.status:
        if action.delay_ms:
            await asyncio.sleep(action.delay_ms / 1000)
        return _reply(request, action.status, {"error": "injected fault", "reason": f"fault: status {action.status}"})

    try:
        status, payload = await _ingest(request, kind, raw)
    except sqlite3.Error as exc:  # the store cannot commit: nothing acknowledged, the client retries
        if not isinstance(exc, StoreDamaged):  # that one was said once, when found
            log.error("store failed: %s", _store_reason(exc))
        status, payload = 503, {"error": "store unavailable", "reason": _store_reason(exc)}
    if action.delay_ms:
        await asyncio.sleep(action.delay_ms / 1000)
    return _reply(request, status, payload)


def _key_error(expected: str, messages: list[Any], shared: dict[str, Any], header_key: str | None) -> str | None:
    """Why the request is not authorised, or None: every write key it carries must be the right one.

    The key may come from Basic auth, the batch body or each message; each one given is checked
    (a right header does not cover a wrong key in a message), and each message needs at least one.
    """
    def given(value: Any) -> bool:  # a key is a non-empty string; anything else is no key at all
        return isinstance(value, str) and value != ""

    batch_key = shared.get("writeKey")
    request_keys = [k for k in (header_key, batch_key) if given(k)]
    for key in request_keys:
        if not _same_key(key, expected):
            return "wrong write key"
    for index, message in enumerate(messages):
        own = message.get("writeKey") if isinstance(message, dict) else None
        where = f" in message {index}" if len(messages) > 1 else ""
        if given(own) and not _same_key(own, expected):
            return f"wrong write key{where}"
        if not request_keys and not given(own):
            return f"missing write key{where}"
    return None


async def _ingest(request: web.Request, kind: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """Everything between the bytes and the reply; returns (status, JSON payload)."""
    app = request.app
    path = request.path
    plain = raw  # what the client meant to send, kept exactly in the bad list, once decompressed
    try:
        if path.startswith(posthog.PREFIX):  # PostHog's wire: gzip-js / base64 form / JSON events
            plain = decompress(raw, request.headers.get("Content-Encoding", ""))
            body = posthog.decode(plain, request.query, request.headers.get("Content-Type", ""))
            messages, shared = posthog.split(body, request.query, path)
        else:
            plain = decompress(raw, request.headers.get("Content-Encoding", ""))
            messages, shared = split_request(kind, parse_json(plain))
    except Rejected as exc:
        _keep_bad(request, [bad_entry(exc.reason, _text(plain), exc.status, path)])
        return exc.status, {"error": "rejected", "reason": exc.reason}

    header_key = _basic_auth_key(request.headers.get("Authorization", ""))
    # RudderStack's beacon endpoint: ?writeKey=KEY. Every one given is checked, as the header is: a right
    # header with ?writeKey=WRONG (or ?writeKey=KEY&writeKey=WRONG) was let through
    query_keys = [k for k in request.query.getall("writeKey", []) if k] if path.startswith(BEACON_PREFIX) else []
    if not header_key and query_keys:
        header_key = query_keys[0]
    expected = app[keys.CONFIG].write_key
    if expected and (reason := _key_error(expected, messages, shared, header_key)
                     or next(("wrong write key" for k in query_keys if not _same_key(k, expected)), None)):
        refused = max(len(messages), 1)  # every message of the batch: received == stored + duplicates + bad
        _keep_bad(request, [bad_entry(reason, _text(plain), 401, path)], received=refused, rejected=refused)
        return 401, {"error": "unauthorized", "reason": reason}
    body_key = shared.get("writeKey") or next(
        (m.get("writeKey") for m in messages if isinstance(m, dict) and m.get("writeKey")), None)
    write_key = header_key or (body_key if isinstance(body_key, str) else None)

    info = RequestInfo(
        path=path,
        peer_ip=_peer_ip(request),
        write_key=write_key,
        user_agent=request.headers.get("User-Agent", ""),
        device=device_id(request),
        received_ms=time.time() * 1000,
        received_at=now_iso(),
        transport=transport.observed(request.query, request.headers),
    )
    single = kind not in BATCH_PATHS
    valid, bodies, rejected, entries = _accept(messages, shared, info, single, plain)
    del messages, shared  # not kept alive (and aged by the GC) while waiting for the commit
    if rejected:
        _keep_bad(request, entries, received=len(rejected), rejected=len(rejected))
    stored, duplicates = await app[COMMITS].add(valid, bodies) if valid else ([], 0)
    if rejected:
        first = rejected[0]["reason"]
        status = status_for(first) if single else 400
        payload: dict[str, Any] = {"error": "invalid message(s)", "reason": first, "stored": len(stored),
                                   "duplicates": duplicates, "rejected": rejected[:REJECTED_IN_REPLY]}
        if len(rejected) > REJECTED_IN_REPLY:
            payload["rejected_total"] = len(rejected)
        return status, payload
    return 200, SUCCESS


def _accept(messages: list[Any], shared: dict[str, Any], info: RequestInfo, single: bool, plain: bytes
            ) -> tuple[list[Record], list[str], list[dict[str, Any]], list[Record]]:
    """Validate and enrich each message.

    Returns the records to store, their stored JSON (made once: it also bounds a message's size),
    the rejections, and their bad-list entries (the first BAD_PER_REQUEST one by one, then one
    entry summing up the rest).
    """
    valid: list[Record] = []
    bodies: list[str] = []
    rejected: list[dict[str, Any]] = []
    entries: list[Record] = []
    for index, original in enumerate(messages):
        message = merge_shared(original, shared)
        reason = check(message)
        if reason is None:
            record = enrich(message, {}, info)
            try:
                body = to_json_fast(record)
            except ValueError:  # NaN/Infinity cannot come from parsed JSON; refused here all the same
                reason = "message holds a number that is not finite (NaN or Infinity)"
            else:
                reason = size_error(message, len(body))
                if reason is None:
                    valid.append(record)
                    bodies.append(body)
                    continue
        rejected.append({"index": index, "reason": reason})
        if len(entries) < BAD_PER_REQUEST:
            entries.append(bad_entry(reason, _text(plain) if single else _raw_message(original),
                                     status_for(reason), info.path, **({} if single else {"index": index})))
    if len(rejected) > BAD_PER_REQUEST:
        more = len(rejected) - BAD_PER_REQUEST
        entries.append(bad_entry(
            f"{more} more rejected messages of this batch are counted but not kept one by one "
            f"(the first {BAD_PER_REQUEST} are)", "", 400, info.path, count=more))
    return valid, bodies, rejected, entries


def _raw_message(message: Any) -> str:
    text = json.dumps(message, ensure_ascii=False, default=str)
    return text if len(text) <= RAW_KEEP else text[:RAW_KEEP] + "...(truncated)"


def add_routes(app: web.Application) -> None:
    """Mount the collector under /v1/ (and RudderStack's /beacon/v1/batch)."""
    app[COMMITS] = GroupCommit(app)
    app[IN_FLIGHT] = InFlight()
    app.router.add_route("OPTIONS", "/v1/{kind:.*}", preflight)
    app.router.add_post("/v1/{kind:.*}", collect)  # any /v1/ path: unknown ones get a JSON 404 too
    app.router.add_route("OPTIONS", BEACON_PREFIX + "{kind:.*}", preflight)
    app.router.add_post(BEACON_PREFIX + "{kind:.*}", collect)
    # PostHog's ingestion host (the posthog profile's api_host): its capture paths are the collector, the
    # rest (static/, array/<token>/config, flags/) the profile answers (harness.collecting.posthog)
    app.router.add_route("OPTIONS", posthog.PREFIX + "{kind:.*}", preflight)
    app.router.add_post(posthog.PREFIX + "{kind:(?:e|i/v0/e|batch|capture|track)/?}", collect)
    app.router.add_route("*", posthog.PREFIX + "{tail:.*}", posthog.control)
