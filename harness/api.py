"""The inspection API under /api/: what the store holds, live, plus fault control.

Read-only views over the store and the analysis modules; the only writes are clearing the
store and setting faults. Guarded by ``--api-token`` when one is configured.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from harness import keys

FILTERS = ("type", "event", "userId", "anonymousId")
PING_SECONDS = 10


def _bad_request(reason: str) -> web.Response:
    return web.json_response({"error": "bad request", "reason": reason}, status=400)


def beacon_filters(query: Any) -> dict[str, Any]:
    """Turn query parameters into store.query() keyword arguments; ValueError on nonsense."""
    out: dict[str, Any] = {k: query[k] for k in FILTERS if query.get(k)}
    if query.get("since"):
        out["since"] = query["since"]
    if query.get("limit"):
        try:
            limit = int(query["limit"])
        except ValueError:
            raise ValueError(f"limit must be an integer, got {query['limit']!r}") from None
        if limit < 1:
            raise ValueError("limit must be at least 1")
        out["limit"] = limit
    return out


async def get_beacons(request: web.Request) -> web.Response:
    try:
        filters = beacon_filters(request.query)
    except ValueError as exc:
        return _bad_request(str(exc))
    found, total = request.app[keys.STORE].page(**filters)
    return web.json_response({"beacons": found, "total": total})


async def delete_beacons(request: web.Request) -> web.Response:
    request.app[keys.STORE].clear()
    return web.json_response({"success": True})


async def get_bad(request: web.Request) -> web.Response:
    return web.json_response({"bad": request.app[keys.STORE].bad()})


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.STORE].stats())


async def get_profiles(request: web.Request) -> web.Response:
    from harness.profile import build_profiles, monthly_tracked_users, mtu_without_identify

    beacons = request.app[keys.STORE].all()
    return web.json_response({
        "profiles": [p.to_dict() for p in build_profiles(beacons)],
        "mtu": monthly_tracked_users(beacons),
        "mtu_without_identify": mtu_without_identify(beacons),
    })


async def get_lint(request: web.Request) -> web.Response:
    from harness.lint import has_errors, lint

    findings = lint(request.app[keys.STORE].all(), request.app[keys.CONFIG].tracking_plan)
    return web.json_response({"findings": [f.to_dict() for f in findings], "errors": has_errors(findings)})


async def get_violations(request: web.Request) -> web.Response:
    from harness.lint import violations

    plan = request.app[keys.CONFIG].tracking_plan
    found = violations(request.app[keys.STORE].all(), plan) if plan else []
    return web.json_response({"violations": [v.to_dict() for v in found], "plan": bool(plan)})


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: one ``beacon`` event (JSON) per stored beacon, with a heartbeat."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)

    def push(record: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(_offer, queue, record)

    unsubscribe = request.app[keys.STORE].subscribe(push)
    resp: web.StreamResponse = web.Response(status=204)
    try:
        async with sse_response(request, ping_interval=PING_SECONDS) as sse:
            resp = sse
            # JSON only (ASCII-escaped, so no payload text can break the event framing)
            await sse.send(json.dumps({"stats": request.app[keys.STORE].stats()}), event="hello")
            closed = asyncio.ensure_future(sse.wait())  # ends when a ping finds the client gone
            try:
                while sse.is_connected():
                    getter = asyncio.ensure_future(queue.get())
                    await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        break
                    record = getter.result()
                    await sse.send(json.dumps(record), event="beacon",
                                   id=str(record.get("_meta", {}).get("seq", "")))
            finally:
                closed.cancel()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        unsubscribe()
    return resp


def _offer(queue: asyncio.Queue[dict[str, Any]], record: dict[str, Any]) -> None:
    if not queue.full():  # a stalled reader loses live events, never the store
        queue.put_nowait(record)


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
    return web.json_response({"success": True, "faults": request.app[keys.FAULTS].to_dict()})


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.FAULTS].to_dict())


async def clear_faults(request: web.Request) -> web.Response:
    request.app[keys.FAULTS].clear()
    return web.json_response({"success": True})


@web.middleware
async def api_token_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """With --api-token, /api/ and /inspector need it (header, bearer or ?token=)."""
    token = request.app[keys.CONFIG].api_token
    if token and (request.path.startswith("/api/") or request.path.startswith("/inspector")):
        given = (request.headers.get("X-Harness-Token")
                 or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                 or request.query.get("token", "")
                 or request.cookies.get("hx_token", ""))
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass")):
            return web.json_response({"error": "unauthorized", "reason": "this server needs --api-token"}, status=401)
        response = await handler(request)
        if request.query.get("token"):
            response.set_cookie("hx_token", token, httponly=True, samesite="Strict")
        return response
    return await handler(request)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/beacons", get_beacons)
    r.add_delete("/api/beacons", delete_beacons)
    r.add_get("/api/bad", get_bad)
    r.add_get("/api/stats", get_stats)
    r.add_get("/api/stream", stream)
    r.add_get("/api/profiles", get_profiles)
    r.add_get("/api/lint", get_lint)
    r.add_get("/api/violations", get_violations)
    r.add_get("/api/faults", get_faults)
    r.add_post("/api/faults", set_faults)
    r.add_delete("/api/faults", clear_faults)
