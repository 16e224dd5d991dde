"""RudderStack v3's wire (``@rudderstack/analytics-js``), as measured in Chromium, is a documented format.

What it sends differently from analytics.js, and what the collector does with it:

- every call is one XHR ``POST /v1/<type>`` with ``Authorization: Basic base64(writeKey:)``, an
  ``AnonymousId: base64(anonymousId)`` and a ``SentAt`` header, ``Content-Type: application/json;charset=UTF-8``;
  the headers are allowed through CORS; the body's ``anonymousId`` is what is stored;
- events carry ``originalTimestamp`` and no ``timestamp``: the collector fills ``timestamp`` from it (as it
  fills ``originalTimestamp`` from ``timestamp`` for analytics.js), so the stored record has both;
- identify carries its traits only in ``context.traits``: the collector fills top-level ``traits`` from it;
- batching posts ``{"batch": [...], "sentAt": ...}`` to ``/v1/batch``;
- BeaconQueue (``useBeacon``) sends ``text/plain`` to ``/beacon/v1/batch?writeKey=KEY`` (sendBeacon sets no
  Authorization header, so the key is in the query: accepted there only);
- retries and recovered items re-send the same ``messageId`` (``Rsa-*`` headers): stored once.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

# A track call exactly as the SDK sent it (measured; repeats in context trimmed).
TRACK = {
    "properties": {"plan": "pro"},
    "event": "Signed Up",
    "type": "track",
    "channel": "web",
    "context": {
        "traits": {"email": "u1@example.com", "plan": "pro"},
        "sessionId": 1795879974549,
        "app": {"name": "RudderLabs JavaScript SDK", "namespace": "com.rudderlabs.javascript",
                "version": "3.34.1", "installType": "npm"},
        "library": {"name": "RudderLabs JavaScript SDK", "version": "3.34.1", "snippetVersion": "3.2.0",
                    "variant": "bundled"},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.8078.108 Safari/537.36",
        "locale": "en-US",
        "page": {"path": "/", "referrer": "$direct", "title": "Shop", "url": "http://www.example.com/"},
        "timezone": "GMT+0000",
    },
    "originalTimestamp": "2026-11-28T15:32:54.595Z",
    "messageId": "5dc2fc09-919f-4420-b3fb-5ce3ad1a971a",
    "userId": "u1",
    "anonymousId": "679100a0-e4d1-44cb-a50e-416d47552eb9",
    "integrations": {"All": True},
    "sentAt": "2026-11-28T15:32:54.601Z",
}
IDENTIFY = {**copy.deepcopy(TRACK), "type": "identify", "messageId": "7a0c1b4e-1111-4c1e-9e0e-0f3b1d2c3a4b"}
del IDENTIFY["event"], IDENTIFY["properties"]


def rs_headers(key: str, anonymous_id: str, sent_at: str, **extra: str) -> dict[str, str]:
    """The headers RudderStack's XhrQueue sends with every event."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            "AnonymousId": base64.b64encode(anonymous_id.encode()).decode(), "SentAt": sent_at,
            "Accept": "application/json", **extra}


def post_rs(client: Any, path: str, body: Any, key: str = "wk-secret", **extra: str) -> Any:
    return client.post(path, body, content_type="application/json;charset=UTF-8",
                       headers=rs_headers(key, TRACK["anonymousId"], TRACK["sentAt"], **extra))


def test_an_event_without_timestamp_is_stored_with_timestamp_from_original_timestamp(keyed_client: Any) -> None:
    reply = post_rs(keyed_client, "/v1/track", TRACK)
    assert reply.status == 200 and reply.body == {"success": True}
    [stored] = keyed_client.beacons()
    assert stored["timestamp"] == stored["originalTimestamp"] == TRACK["originalTimestamp"]
    assert stored["sentAt"] == TRACK["sentAt"] and stored["receivedAt"].endswith("Z")
    assert stored["writeKey"] == "wk-secret", "the write key from Basic auth"
    assert stored["anonymousId"] == TRACK["anonymousId"] and stored["userId"] == "u1"
    assert stored["context"]["traits"] == TRACK["context"]["traits"] and "traits" not in stored, \
        "context.traits of a track call is kept as sent, never promoted"
    assert {k: v for k, v in stored.items() if k not in ("timestamp", "receivedAt", "writeKey", "_meta", "context")} \
        == {k: v for k, v in TRACK.items() if k != "context"}, "everything else is stored as sent"


def test_identify_traits_are_filled_from_context_traits(client: Any) -> None:
    assert post_rs(client, "/v1/identify", IDENTIFY).status == 200
    [stored] = client.beacons()
    assert stored["traits"] == stored["context"]["traits"] == {"email": "u1@example.com", "plan": "pro"}


def test_what_a_library_sends_is_never_overwritten(client: Any) -> None:
    """Both timestamps sent, or identify traits both top-level and in context: kept exactly."""
    both = {**IDENTIFY, "timestamp": "2026-11-28T15:32:54.000Z", "traits": {"plan": "free"}}
    assert post_rs(client, "/v1/identify", both).status == 200
    [stored] = client.beacons()
    assert stored["timestamp"] == "2026-11-28T15:32:54.000Z" != stored["originalTimestamp"]
    assert stored["traits"] == {"plan": "free"} and stored["context"]["traits"]["plan"] == "pro"


def test_a_wrong_basic_auth_key_is_401(keyed_client: Any) -> None:
    reply = post_rs(keyed_client, "/v1/track", TRACK, key="wrong")
    assert reply.status == 401 and reply.body["reason"] == "wrong write key"
    assert keyed_client.beacons() == []


def test_preflight_allows_the_rudderstack_headers(client: Any) -> None:
    asked = "anonymousid,authorization,content-type,sentat,rsa-retry-attempt,rsa-recovered"
    reply = client.request("OPTIONS", "/v1/track", headers={
        "Origin": "http://www.shop.test:8000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": asked})
    assert reply.status == 204
    assert reply.headers["access-control-allow-headers"] == asked
    assert reply.headers["access-control-allow-origin"] == "http://www.shop.test:8000"


def test_batching_envelope(client: Any) -> None:
    """queueOptions.batch: one XHR to /v1/batch, every event's sentAt equal to the envelope's."""
    events = [dict(TRACK, messageId=f"b-{i}", sentAt="2026-11-28T15:33:00.000Z") for i in range(3)]
    assert post_rs(client, "/v1/batch", {"batch": events, "sentAt": "2026-11-28T15:33:00.000Z"}).status == 200
    stored = client.beacons()
    assert [s["messageId"] for s in stored] == ["b-0", "b-1", "b-2"]
    assert all(s["timestamp"] == TRACK["originalTimestamp"] and s["_meta"]["path"] == "/v1/batch" for s in stored)


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/json"])
def test_beacon_endpoint_takes_the_write_key_from_the_query(keyed_client: Any, content_type: str) -> None:
    """BeaconQueue: sendBeacon(<dp>/beacon/v1/batch?writeKey=KEY, Blob([json], {type: 'text/plain'}))."""
    body = {"batch": [TRACK, IDENTIFY], "sentAt": TRACK["sentAt"]}
    reply = keyed_client.post("/beacon/v1/batch?writeKey=wk-secret", json.dumps(body), content_type=content_type)
    assert reply.status == 200, reply.body
    stored = keyed_client.beacons()
    assert [(s["type"], s["_meta"]["path"], s["writeKey"]) for s in stored] == [
        ("track", "/beacon/v1/batch", "wk-secret"), ("identify", "/beacon/v1/batch", "wk-secret")]


def test_beacon_endpoint_answers_any_host_as_the_collector_does(client: Any) -> None:
    """The DNS-rebinding guard protects the inspection API, not the collector: a data plane reached under another
    name (a CNAME, a tunnel) takes RudderStack's beacon batches as it takes /v1/ calls, and sets the device cookie."""
    port = client.base_url.rsplit(":", 1)[1]
    elsewhere = {"Host": f"dataplane.example:{port}"}
    body = json.dumps({"batch": [TRACK], "sentAt": TRACK["sentAt"]})
    assert client.post("/v1/batch", body, headers=elsewhere).status == 200
    reply = client.post("/beacon/v1/batch?writeKey=any", body, content_type="text/plain", headers=elsewhere)
    assert reply.status == 200, reply.body
    assert "hx_device=" in reply.headers.get("set-cookie", ""), "a beacon batch gets the device cookie as /v1/ does"


@pytest.mark.parametrize(("query", "reason"), [("?writeKey=nope", "wrong write key"), ("", "missing write key")])
def test_beacon_endpoint_401s_a_wrong_or_missing_key(keyed_client: Any, query: str, reason: str) -> None:
    reply = keyed_client.post(f"/beacon/v1/batch{query}", json.dumps({"batch": [TRACK]}), content_type="text/plain")
    assert reply.status == 401 and reply.body["reason"] == reason
    assert keyed_client.beacons() == [] and keyed_client.bad()[-1]["reason"] == reason


def test_the_query_write_key_counts_on_the_beacon_endpoint_only(keyed_client: Any) -> None:
    reply = keyed_client.post("/v1/track?writeKey=wk-secret", TRACK)
    assert reply.status == 401 and reply.body["reason"] == "missing write key"


@pytest.mark.parametrize("path", ["/beacon/v1/track", "/beacon/v1/t", "/beacon/v1/"])
def test_beacon_endpoint_is_batch_only(client: Any, path: str) -> None:
    reply = client.post(path, TRACK, content_type="text/plain")
    assert reply.status == 404 and reply.body["reason"] == f"unknown endpoint {path}"
    assert client.bad()[-1]["status"] == 404


def test_a_recovered_retry_is_stored_once_and_counted(client: Any) -> None:
    """On the next page load the SDK re-sends what was in flight, with the same messageId (measured)."""
    assert post_rs(client, "/v1/track", TRACK).status == 200
    again = post_rs(client, "/v1/track", dict(TRACK, sentAt="2026-11-28T15:33:10.000Z"),
                    **{"Rsa-Recovered": "true", "Rsa-Retry-Attempt": "1"})
    assert again.status == 200
    assert len(client.beacons()) == 1 and client.stats()["duplicates"] == 1


def test_beacon_transport_is_observed_on_the_beacon_endpoint(client: Any) -> None:
    """The harness's page script marks sendBeacon to /beacon/v1/ as it does for /v1/ (harness.collecting.transport)."""
    reply = client.post("/beacon/v1/batch?writeKey=k&hx_transport=beacon", json.dumps({"batch": [TRACK]}),
                        content_type="text/plain", headers={"Origin": "http://www.shop.test:8000"})
    assert reply.status == 200
    [stored] = client.beacons()
    assert stored["_meta"]["transport"] == "beacon" and stored["_meta"]["path"] == "/beacon/v1/batch"
