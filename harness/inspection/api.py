"""The inspection API under /api/: what the store holds, live, plus fault control.

Read-only views over the store and the analysis modules; the only writes are clearing the
store and setting faults. Guarded by ``--api-token`` when one is configured.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from harness import keys, timebase
from harness.collecting.beacon import KNOWN_TYPES
from harness.collecting.store import to_json
from harness.collecting.stream import Hub, frame

PING_SECONDS = 10
CHECK_SECONDS = 1.0  # how often an idle stream looks for a departed client
MAX_PAGE = 10_000  # beacons or bad entries in one answer; ask again with before=/since= for more
HUB = web.AppKey("hub", Hub)

_STRICT = json.JSONEncoder(allow_nan=False, check_circular=False)


def _finite(value: Any) -> Any:
    """A copy with NaN/Infinity as null (only ever needed for values that did not come from the store)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """JSON every reader can parse: never NaN or Infinity (they are not JSON).

    orjson first: answers of big pages are encoded on worker threads that share the GIL with the
    collector's loop, and a 5x faster encoder holds it 5x shorter. It writes NaN/Infinity as null,
    as :func:`_finite` does; what it refuses (integers beyond 64 bits, lone surrogates) goes to the
    standard library.
    """
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return _STRICT.encode(value)
    except ValueError:
        return _STRICT.encode(_finite(value))


def reply(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=dumps)


def _bad_request(reason: str) -> web.Response:
    return reply({"error": "bad request", "reason": reason}, status=400)


def _int_param(query: Any, name: str, minimum: int) -> int | None:
    """A non-negative integer query parameter; ValueError with a reason on nonsense.

    Digits beyond any store (``99999999999999999999999``) are fine: callers clamp.
    """
    text = query.get(name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text[:40]!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _text(text: str) -> str:
    """An exact-match value: any text."""
    return text


def _integer(name: str, minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _int_param({name: text}, name, minimum)
        assert value is not None  # empty values never reach a parser
        return value
    return parse


def _choice(name: str, choices: Iterable[str], meaning: str = "") -> Callable[[str], str]:
    allowed = tuple(choices)

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}{meaning}, got {text[:40]!r}")
        return text
    return parse


def _seq_or_time(text: str) -> int | str:
    """``since``: an arrival number, or an ISO-8601 instant (UTC when it names no zone) made comparable
    with the stored ``receivedAt`` strings (UTC, milliseconds, ``Z``)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"since must be an arrival number (_meta.seq) or an ISO-8601 time such as "
                         f"2026-11-28T15:43:01Z, got {text[:40]!r}") from None
    return timebase.iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# Every query parameter each endpoint accepts, with its parser (ValueError names the mistake). The handlers
# read their parameters through this table only (:func:`parameters`), an unknown name is a 400, and
# tests/inspector/test_api_docs.py checks docs/api.md against it. ``token`` (authentication) goes anywhere.
PARAMETERS: dict[str, dict[str, Callable[[str], Any]]] = {
    "GET /api/beacons": {
        "type": _choice("type", sorted(KNOWN_TYPES)), "event": _text, "userId": _text,
        "anonymousId": _text, "since": _seq_or_time, "limit": _integer("limit", 1),
        "before": _integer("before", 0)},
    "DELETE /api/beacons": {},
    "GET /api/bad": {"since": _integer("since", 0), "limit": _integer("limit", 1)},
    "GET /api/stats": {},
    "GET /api/stream": {},
    "GET /api/profiles": {"limit": _integer("limit", 1), "offset": _integer("offset", 0),
                          "messages": _integer("messages", 0),
                          "order": _choice("order", ("first", "recent"),
                                           " (first seen first, or last active first)")},
    "GET /api/lint": {},
    "GET /api/violations": {},
    "GET /api/faults": {},
    "POST /api/faults": {},
    "DELETE /api/faults": {},
}
ANYWHERE = ("token",)  # the --api-token may come as ?token= on any request (see guard)


def parameters(request: web.Request) -> dict[str, Any]:
    """This request's query parameters, parsed by its endpoint's :data:`PARAMETERS` row.

    ValueError on an unknown name (a typo such as ``userid`` would otherwise match everything), a
    repeated one, or a bad value. Empty values count as not given.
    """
    endpoint = f"{'GET' if request.method == 'HEAD' else request.method} {request.path}"
    known = PARAMETERS[endpoint]
    out: dict[str, Any] = {}
    for name in request.query:
        if name in ANYWHERE:
            continue
        if name not in known:
            listed = ", ".join(known) or "none"
            raise ValueError(f"unknown parameter {name[:40]!r} for {endpoint}; it takes: {listed}")
        values = request.query.getall(name)
        if len(values) > 1:
            raise ValueError(f"{name} is given {len(values)} times; give it once")
        if values[0]:
            out[name] = known[name](values[0])
    return out


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def checked(handler: Handler) -> Handler:
    """The handler behind its :data:`PARAMETERS` row: a bad or unknown parameter is a 400 with the reason."""
    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            parameters(request)
        except ValueError as exc:
            return _bad_request(str(exc))
        return await handler(request)
    return run


def beacon_filters(query: Any) -> dict[str, Any]:
    """Parsed /api/beacons parameters as store.page() keyword arguments.

    ``limit`` is clamped to MAX_PAGE (and defaults to it): an answer never holds the whole store.
    ``before=SEQ`` pages back from a seq (the CLI reads a big store this way).
    """
    out = dict(query)
    out["limit"] = min(out.get("limit") or MAX_PAGE, MAX_PAGE)
    return out


async def get_beacons(request: web.Request) -> web.Response:
    filters = beacon_filters(parameters(request))  # checked() let only good ones through
    store = request.app[keys.STORE]
    body = await asyncio.to_thread(lambda: dumps(dict(zip(("beacons", "total"), store.page(**filters),
                                                          strict=True))))
    return _json_text(body)


async def delete_beacons(request: web.Request) -> web.Response:
    request.app[keys.STORE].clear()
    return reply({"success": True})


async def get_bad(request: web.Request) -> web.Response:
    """The kept entries, oldest first: ``since=ID`` for the ones after an id, ``limit`` for the newest N.

    Entries are rejections and re-send notes (``kind: "conflict"``, answered 200). ``total`` counts every
    entry ever, ``rejected`` + ``resent`` (the header's BAD is ``rejected``); ``kept`` is how many the list
    still holds (only the newest; see BeaconStore.bad_limit), so with nothing let go ``total == kept``.
    """
    given = parameters(request)  # checked() let only good ones through
    since, limit = given.get("since"), min(given.get("limit") or MAX_PAGE, MAX_PAGE)
    store = request.app[keys.STORE]
    entries, kept = await asyncio.to_thread(store.bad_page, since, limit)
    counts = store.bad_counts()
    return reply({"bad": entries, "kept": kept, "total": counts["rejected"] + counts["resent"], **counts})


async def get_stats(request: web.Request) -> web.Response:
    return reply(request.app[keys.STORE].stats())


async def get_profiles(request: web.Request) -> web.Response:
    """Identity profiles and MTU from the incremental identity graph (see :mod:`harness.identity.graph`).

    ``limit`` (default PROFILES_PAGE) and ``offset`` page; ``order=recent`` puts the most recently
    active first; ``messages`` is how many of each profile's newest messages to include. Indexed
    reads on a worker thread: the event loop never waits for them.
    """
    from harness.identity import graph

    given = parameters(request)
    limit = min(given.get("limit") or graph.PROFILES_PAGE, MAX_PAGE)
    offset, messages, order = given.get("offset") or 0, given.get("messages"), given.get("order", "first")
    per_profile = graph.messages_per_profile(limit, graph.MESSAGES_SHOWN if messages is None else messages)
    store = request.app[keys.STORE]
    version = store.version()
    body = await request.app[ANALYSIS].get(
        f"profiles {limit} {offset} {order} {per_profile}", version, version[1] > ANALYSIS_WINDOW,
        lambda: dumps(store.profiles_page(limit, offset, order, per_profile)))
    return _json_text(body)


def _json_text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="application/json")


class Analysis:
    """Answers computed on a worker thread and reused: profile pages, and lint and plan checks over
    the newest ANALYSIS_WINDOW beacons.

    One computation per kind at a time (concurrent requests share it); a result is reused until the
    store changes. When the store holds more than the window, a changed store is re-analysed at
    most every ``max(REFRESH_SECONDS, 4 x the last run)``: an inspector polling a busy store gets
    the last answer (its ``scope`` says which beacons it covers) instead of queueing work.
    """

    KINDS = 64  # distinct queries remembered (profile pages differ by their parameters)
    MAX_BYTES = 64 * 1024 * 1024  # ... and their text in total: one page of big messages was 151 MB (issue 29)

    def __init__(self) -> None:
        self._done: dict[str, tuple[Any, str, float, float]] = {}  # kind -> (version, JSON, finished, took)
        self._running: dict[str, asyncio.Future[tuple[str, float]]] = {}

    async def get(self, kind: str, version: Any, big: bool, compute: Any) -> str:
        loop = asyncio.get_running_loop()
        done = self._done.get(kind)
        if done is not None and (done[0] == version or (
                big and loop.time() - done[2] < max(REFRESH_SECONDS, 4 * done[3]))):
            return done[1]
        running = self._running.get(kind)
        if running is None:
            def timed() -> tuple[str, float]:
                started = time.perf_counter()
                return compute(), time.perf_counter() - started
            running = self._running[kind] = asyncio.ensure_future(asyncio.to_thread(timed))
            running.add_done_callback(lambda _: self._running.pop(kind, None))
            text, took = await asyncio.shield(running)
            self._done.pop(kind, None)
            if len(text) <= self.MAX_BYTES // 2:  # a bigger answer is sent, not kept
                self._done[kind] = (version, text, loop.time(), took)
            while len(self._done) > self.KINDS or sum(len(d[1]) for d in self._done.values()) > self.MAX_BYTES:
                self._done.pop(next(iter(self._done)))  # the oldest query asked
            return text
        return (await asyncio.shield(running))[0]


ANALYSIS = web.AppKey("analysis", Analysis)
ANALYSIS_WINDOW = 20_000  # newest beacons lint and the plan check read (the store's memory window)
REFRESH_SECONDS = 2.0


def _scoped(doc: dict[str, Any], analysed: int, stored: int) -> dict[str, Any]:
    if stored > analysed:
        doc["scope"] = {"beacons": analysed, "stored": stored,
                        "note": f"computed over the newest {analysed} of {stored} beacons"}
    return doc


def analyse(kind: str, records: list[Any], stored: int, plan: dict[str, Any] | None) -> str:
    """The /api/lint or /api/violations document (JSON text) for these records."""
    from harness.identity.lint import has_errors, lint, violations

    if kind == "lint":
        findings = lint(records, plan)
        doc = {"findings": [f.to_dict() for f in findings], "errors": has_errors(findings)}
    else:
        doc = {"violations": [v.to_dict() for v in violations(records, plan or {})], "plan": True}
    return dumps(_scoped(doc, len(records), stored))


def analyse_file(kind: str, db_path: str, window: int, plan: dict[str, Any] | None) -> str:
    """:func:`analyse` over the newest ``window`` beacons of a store file, read-only: runs in the
    analysis process, so neither its CPU (the GIL) nor its memory is the server's."""
    import sqlite3
    from pathlib import Path

    from harness.collecting.store import from_json

    db = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        db.execute("BEGIN")
        stored = db.execute("SELECT COUNT(*) FROM beacons").fetchone()[0]
        rows = db.execute("SELECT seq, body FROM beacons ORDER BY seq DESC LIMIT ?", (window,)).fetchall()
    finally:
        db.close()
    records = []
    for seq, body in reversed(rows):
        record = from_json(body)
        record.setdefault("_meta", {})["seq"] = seq
        records.append(record)
    return analyse(kind, records, stored, plan)


class Worker:
    """One analysis process (spawned on first use, for big file stores only), ended with the app."""

    def __init__(self) -> None:
        self._pool: Any = None

    def run(self, *args: Any) -> str:
        """Blocking (call it from a worker thread): :func:`analyse_file` in the analysis process."""
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool.submit(analyse_file, *args).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


WORKER = web.AppKey("worker", Worker)


async def _analysis(request: web.Request, kind: str) -> web.Response:
    """Lint or plan checks over the newest ANALYSIS_WINDOW beacons, reused until the store changes.

    A store bigger than the window is analysed in the analysis process (file stores) -- the
    event loop's thread never competes for the GIL with it -- and at most every few seconds.
    """
    app = request.app
    store, plan = app[keys.STORE], app[keys.CONFIG].tracking_plan
    version = store.version()
    big = version[1] > ANALYSIS_WINDOW
    if big and store.db_path != ":memory:":
        def compute() -> str:
            return app[WORKER].run(kind, store.db_path, ANALYSIS_WINDOW, plan)
    else:
        def compute() -> str:
            records, stored = store.recent(ANALYSIS_WINDOW)
            return analyse(kind, records, stored, plan)
    return _json_text(await app[ANALYSIS].get(kind, (version, id(plan)), big, compute))


async def get_lint(request: web.Request) -> web.Response:
    return await _analysis(request, "lint")


async def get_violations(request: web.Request) -> web.Response:
    if not request.app[keys.CONFIG].tracking_plan:
        return reply({"violations": [], "plan": False})
    return await _analysis(request, "violations")


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``hello`` (stats), then one ``beacon`` event (JSON) per stored beacon.

    Fan-out is shared and bounded (see :mod:`harness.collecting.stream`): a subscriber that falls behind gets
    ``event: dropped`` and is disconnected; a comment line every PING_SECONDS finds departed clients.
    """
    hub = request.app[HUB]
    subscriber = hub.join(request.transport)
    if subscriber is None:
        return reply({"error": "too many subscribers", "reason": f"{len(hub.subscribers)} clients already "
                      "follow /api/stream; close one or poll /api/beacons?since=SEQ"}, status=503)
    loop = asyncio.get_running_loop()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(frame("hello", to_json({"stats": request.app[keys.STORE].stats()})))
        last_write = loop.time()
        while True:
            try:
                await asyncio.wait_for(subscriber.wake.wait(), min(PING_SECONDS, CHECK_SECONDS))
            except TimeoutError:
                transport = request.transport
                if transport is None or transport.is_closing():
                    break  # the client left
                if loop.time() - last_write >= PING_SECONDS:
                    await response.write(b": ping\n\n")  # fails if the client is gone without a word
                    last_write = loop.time()
                continue
            subscriber.wake.clear()
            if subscriber.dropped is not None:
                await response.write(subscriber.farewell())
                break
            data = subscriber.take()
            if data:
                await response.write(data)
                last_write = loop.time()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        hub.leave(subscriber)
    return response


async def set_faults(request: web.Request) -> web.Response:
    try:
        spec = await request.json()
    except ValueError:
        return _bad_request("body must be JSON, e.g. {\"status\": 503, \"count\": 3}")
    if not isinstance(spec, dict):
        return _bad_request("body must be a JSON object")
    try:
        request.app[keys.FAULTS].configure(spec)
    except ValueError as exc:
        return _bad_request(str(exc))
    return reply({"success": True, "faults": request.app[keys.FAULTS].to_dict()})


async def get_faults(request: web.Request) -> web.Response:
    return reply(request.app[keys.FAULTS].to_dict())


async def clear_faults(request: web.Request) -> web.Response:
    request.app[keys.FAULTS].clear()
    return reply({"success": True})


def guarded_token(request: web.Request) -> str | None:
    """The --api-token when this request needs it (/api/ and /inspector), else None."""
    token = request.app[keys.CONFIG].api_token
    if token and (request.path.startswith("/api/") or request.path.startswith("/inspector")):
        return token
    return None


def token_refusal(request: web.Request, token: str) -> web.Response | None:
    """401 unless the request carries ``token`` (header, bearer, ?token= or the hx_token cookie), else None."""
    given = (request.headers.get("X-Harness-Token")
             or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
             or request.query.get("token", "")
             or request.cookies.get("hx_token", ""))
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")):
        return web.json_response({"error": "unauthorized", "reason": "this server needs --api-token"}, status=401)
    return None


def keep_token(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """A ?token= that was let in is kept in a cookie (the inspector's later requests carry it)."""
    if request.query.get("token"):
        response.set_cookie("hx_token", token, httponly=True, samesite="Strict")


@web.middleware
async def api_token_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """With --api-token, /api/ and /inspector need it (header, bearer or ?token=)."""
    token = guarded_token(request)
    if token is None:
        return await handler(request)
    refusal = token_refusal(request, token)
    if refusal is not None:
        return refusal
    response = await handler(request)
    keep_token(request, response, token)
    return response


ROUTES: dict[str, Handler] = {  # one handler per PARAMETERS row
    "GET /api/beacons": get_beacons, "DELETE /api/beacons": delete_beacons, "GET /api/bad": get_bad,
    "GET /api/stats": get_stats, "GET /api/stream": stream, "GET /api/profiles": get_profiles,
    "GET /api/lint": get_lint, "GET /api/violations": get_violations, "GET /api/faults": get_faults,
    "POST /api/faults": set_faults, "DELETE /api/faults": clear_faults,
}


def add_routes(app: web.Application) -> None:
    app[HUB] = Hub(app[keys.STORE])
    app[ANALYSIS] = Analysis()
    app[WORKER] = Worker()

    async def end_worker(app: web.Application) -> None:
        await asyncio.to_thread(app[WORKER].close)

    app.on_cleanup.append(end_worker)
    for endpoint, handler in ROUTES.items():
        method, path = endpoint.split(" ")
        if method == "GET":
            app.router.add_get(path, checked(handler))  # and HEAD, as before
        else:
            app.router.add_route(method, path, checked(handler))
