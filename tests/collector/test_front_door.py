"""Issue 20: the app's one middleware (``app.front_door``) answers exactly as the four-middleware chain did.

Each request goes to two apps built alike, one with ``front_door`` and one with the chain
``[host_guard, same_origin_guard, api_token_guard, device_cookie]``; status, body and headers must match
(the random device id and the Date header aside). And the Cookie fast path reads what aiohttp's parser reads.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from harness import keys
from harness.app import create_app
from harness.collecting.collector import DEVICE_COOKIE, device_id
from harness.inspection import api, guard
from harness.server import run_in_thread
from harness.sites import site

HEX32 = re.compile(r"[0-9a-f]{12,}")  # random ids: the device cookie, a signup uid
DEVICE = "0123456789abcdef0123456789abcdef"


def _apps(token: str | None) -> tuple[web.Application, web.Application]:
    new = create_app(config=keys.Config(api_token=token))
    old = create_app(config=keys.Config(api_token=token))
    old.middlewares[:] = [guard.host_guard, guard.same_origin_guard, api.api_token_guard, site.device_cookie]
    return new, old


def _track() -> bytes:
    return (b'{"type":"track","event":"E","anonymousId":"a","messageId":"m-%s"}' % uuid.uuid4().hex.encode())


CASES: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("POST", "/v1/track", {}, None),
    ("POST", "/v1/track", {"Cookie": f"hx_device={DEVICE}"}, None),
    ("POST", "/v1/track", {"Cookie": "other=1", "Origin": "http://www.shop.test"}, None),
    ("POST", "/v1/track", {"Host": "evil.test", "Sec-Fetch-Site": "cross-site", "Origin": "http://evil.test"}, None),
    ("POST", "/v1/nope?delivery=beacon", {}, None),
    ("OPTIONS", "/v1/track", {"Origin": "http://evil.test"}, None),
    ("POST", "/beacon/v1/batch", {"Host": "evil.test"}, b'{"batch":[]}'),
    ("POST", "/beacon/v1/batch", {}, b'{"batch":[]}'),
    ("GET", "/api/stats", {}, None),
    ("GET", "/api/stats", {"Host": "rebind.evil.test"}, None),
    ("GET", "/api/stats", {"Sec-Fetch-Site": "cross-site"}, None),
    ("GET", "/api/stats?token=t0k", {}, None),
    ("GET", "/api/stats", {"X-Harness-Token": "t0k"}, None),
    ("GET", "/api/stats", {"X-Harness-Token": "wrong"}, None),
    ("GET", "/api/stats", {"Cookie": "hx_token=t0k"}, None),
    ("POST", "/api/faults", {"Origin": "http://evil.test"}, b"{}"),
    ("POST", "/api/faults", {"Content-Type": "text/plain"}, b"{}"),
    ("DELETE", "/api/faults", {}, None),
    ("GET", "/inspector", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, None),
    ("GET", "/inspector?token=t0k", {}, None),
    ("GET", "/", {}, None),
    ("GET", "/", {"Host": "evil.test"}, None),
    ("GET", "/", {"Host": "www.shop.test", "Cookie": f"hx_device={DEVICE}"}, None),
    ("GET", "/cart?delivery=beacon", {"Host": "www.shop.test"}, None),
    ("GET", "/no/such/page", {}, None),
    ("POST", "/signup", {}, b"email=a%40b.test"),
    ("GET", "/snippet-assets/none", {"Host": "evil.test"}, None),
]


def _seen(response: Any, body: bytes, port: int) -> tuple[int, str, list[tuple[str, str]]]:
    def same(text: str) -> str:  # random ids; the two servers' ports differ
        return HEX32.sub("<id>", text).replace(f":{port}", ":<port>")

    headers = sorted((k, same(v)) for k, v in response.headers.items() if k not in ("Date",))
    return response.status, same(body.decode("utf-8", "replace")), headers


@pytest.mark.parametrize("token", [None, "t0k"])
def test_front_door_answers_as_the_chain(token: str | None) -> None:
    async def both() -> list[tuple[Any, Any]]:
        seen: list[tuple[Any, Any]] = []
        new_app, old_app = _apps(token)
        async with TestClient(TestServer(new_app)) as new, TestClient(TestServer(old_app)) as old:
            for method, path, headers, body in CASES:
                data = _track() if body is None and method == "POST" else body
                pair = []
                for client in (new, old):
                    async with client.request(method, path, headers=headers, data=data,
                                              allow_redirects=False) as response:
                        pair.append(_seen(response, await response.read(), client.port))
                seen.append((f"{method} {path} {headers}", pair))
        return seen

    for case, (new, old) in run_in_thread(both()):
        # a stored message's reply holds no id; the header lists must match name for name
        assert new == old, case


@pytest.mark.parametrize("header", [
    None, "", f"hx_device={DEVICE}", "hx_device=dev-123", f"a=1; hx_device={DEVICE}", f'hx_device="{DEVICE}"',
    f"hx_device={DEVICE}; hx_device=0", f"hx_device={DEVICE} ", f"HX_DEVICE={DEVICE}", "hx_device=", "junk",
])
def test_device_id_reads_what_the_cookie_parser_reads(header: str | None) -> None:
    request = make_mocked_request("POST", "/v1/track", headers={} if header is None else {"Cookie": header})
    assert device_id(request) == request.cookies.get(DEVICE_COOKIE)
