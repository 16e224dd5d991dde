"""The collector: the analytics.js tracking HTTP API that snippets send beacons to.

Handlers stay thin: parsing and validation live in :mod:`harness.beacon`, keeping in
:mod:`harness.store`. Every rejection is answered 4xx with a reason and kept in the bad list.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import sqlite3
import time
from typing import Any

from aiohttp import web

from harness import keys, transport
from harness.beacon import (
    BATCH_PATHS,
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
from harness.store import BeaconStore, Record, to_json

DEVICE_COOKIE = "hx_device"
# RudderStack's BeaconQueue (useBeacon) posts {"batch": [...]} as text/plain to /beacon/v1/batch?writeKey=KEY:
# sendBeacon can set no Authorization header, so the write key travels in the query.
BEACON_PREFIX = "/beacon/v1/"
CORS_HEADERS = "Content-Type, Authorization, Content-Encoding"
RAW_KEEP = 65536  # characters of a rejected submission kept in the bad list
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


COMMITS = web.AppKey("commits", GroupCommit)


def _basic_auth_key(header: str) -> str | None:
    """Write key from ``Authorization: Basic base64(key:)``; None when absent or malformed."""
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded.split(":", 1)[0] or None


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


def _reply(request: web.Request, status: int, payload: dict[str, Any]) -> web.Response:
    return _cors(request, web.json_response(payload, status=status))  # type: ignore[return-value]


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


def _text(raw: bytes) -> str:
    """The submission as text for the bad list: exact when UTF-8, escaped bytes otherwise."""
    text = raw[:RAW_KEEP].decode("utf-8", errors="backslashreplace")
    return text if len(raw) <= RAW_KEEP else text + "...(truncated)"


async def preflight(request: web.Request) -> web.StreamResponse:
    """Answer CORS preflight for any collector path."""
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = request.headers.get(
        "Access-Control-Request-Headers", CORS_HEADERS)
    response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


async def collect(request: web.Request) -> web.StreamResponse:
    """POST /v1/{type}: parse, authenticate, validate, store, then reply (after commit)."""
    store = request.app[keys.STORE]
    kind = request.match_info["kind"]
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        reason = "request body exceeds the largest body the server reads"  # app client_max_size
        store.add_bad(reason, "(body not read)", 413, request.path)
        return _reply(request, 413, {"error": "rejected", "reason": reason})
    beacon = request.path.startswith(BEACON_PREFIX)
    if (kind not in BATCH_PATHS) if beacon else (kind not in TYPES and kind not in BATCH_PATHS):
        reason = f"unknown endpoint {BEACON_PREFIX if beacon else '/v1/'}{kind}"
        store.add_bad(reason, _text(raw), 404, request.path)
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
        log.exception("store failed")
        status, payload = 503, {"error": "store unavailable", "reason": f"store error: {exc}"}
    if action.delay_ms:
        await asyncio.sleep(action.delay_ms / 1000)
    return _reply(request, status, payload)


async def _ingest(request: web.Request, kind: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """Everything between the bytes and the reply; returns (status, JSON payload)."""
    app = request.app
    store = app[keys.STORE]
    path = request.path
    plain = raw  # what the client meant to send, kept exactly in the bad list, once decompressed
    try:
        plain = decompress(raw, request.headers.get("Content-Encoding", ""))
        messages, shared = split_request(kind, parse_json(plain))
    except Rejected as exc:
        store.add_bad(exc.reason, _text(plain), exc.status, path)
        return exc.status, {"error": "rejected", "reason": exc.reason}

    header_key = _basic_auth_key(request.headers.get("Authorization", ""))
    body_key = shared.get("writeKey") or next(
        (m.get("writeKey") for m in messages if isinstance(m, dict) and m.get("writeKey")), None)
    write_key = header_key or (body_key if isinstance(body_key, str) else None)
    if not write_key and path.startswith(BEACON_PREFIX):  # RudderStack's beacon endpoint: ?writeKey=KEY
        write_key = request.query.get("writeKey") or None
    expected = app[keys.CONFIG].write_key
    if expected and not _same_key(write_key, expected):
        reason = "missing write key" if not write_key else "wrong write key"
        store.add_bad(reason, _text(plain), 401, path, received=len(messages))
        return 401, {"error": "unauthorized", "reason": reason}

    info = RequestInfo(
        path=path,
        peer_ip=_peer_ip(request),
        write_key=write_key,
        user_agent=request.headers.get("User-Agent", ""),
        device=request.cookies.get(DEVICE_COOKIE),
        received_ms=time.time() * 1000,
        received_at=now_iso(),
        transport=transport.observed(request.query, request.headers),
    )
    single = kind not in BATCH_PATHS
    valid, bodies, rejected = _accept(store, messages, shared, info, single, plain)
    del messages, shared  # not kept alive (and aged by the GC) while waiting for the commit
    stored, duplicates = await app[COMMITS].add(valid, bodies) if valid else ([], 0)
    if rejected:
        first = rejected[0]["reason"]
        status = status_for(first) if single else 400
        return status, {"error": "invalid message(s)", "reason": first, "stored": len(stored),
                        "duplicates": duplicates, "rejected": rejected}
    return 200, {"success": True}


def _accept(store: BeaconStore, messages: list[Any], shared: dict[str, Any], info: RequestInfo, single: bool,
            plain: bytes) -> tuple[list[Record], list[str], list[dict[str, Any]]]:
    """Validate and enrich each message; put each rejected one in the bad list.

    Returns the records to store, their stored JSON (made once: it also bounds a message's size)
    and the rejections.
    """
    valid: list[Record] = []
    bodies: list[str] = []
    rejected: list[dict[str, Any]] = []
    for index, original in enumerate(messages):
        message = merge_shared(original, shared)
        reason = check(message)
        if reason is None:
            record = enrich(message, {}, info)
            body = to_json(record)
            reason = size_error(message, len(body))
            if reason is None:
                valid.append(record)
                bodies.append(body)
                continue
        rejected.append({"index": index, "reason": reason})
        store.add_bad(reason, _text(plain) if single else _raw_message(original), status_for(reason), info.path,
                      **({} if single else {"index": index}))
    return valid, bodies, rejected


def _raw_message(message: Any) -> str:
    text = json.dumps(message, ensure_ascii=False, default=str)
    return text if len(text) <= RAW_KEEP else text[:RAW_KEEP] + "...(truncated)"


def add_routes(app: web.Application) -> None:
    """Mount the collector under /v1/ (and RudderStack's /beacon/v1/batch)."""
    app[COMMITS] = GroupCommit(app)
    app.router.add_route("OPTIONS", "/v1/{kind:.*}", preflight)
    app.router.add_post("/v1/{kind:.*}", collect)  # any /v1/ path: unknown ones get a JSON 404 too
    app.router.add_route("OPTIONS", BEACON_PREFIX + "{kind:.*}", preflight)
    app.router.add_post(BEACON_PREFIX + "{kind:.*}", collect)
