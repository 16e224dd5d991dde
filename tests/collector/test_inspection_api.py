"""The inspection API: /api/beacons filters and DELETE, /api/bad, /api/stats, /api/faults."""

from __future__ import annotations

import http.client
import time
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import pytest


def msg(type_: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "messageId": f"m-{uuid.uuid4()}", **extra}


@pytest.fixture
def loaded(client: Any) -> Any:
    """Six beacons from two people."""
    sent = [
        msg("page", anonymousId="a1", name="Home"),
        msg("track", anonymousId="a1", event="Viewed Product"),
        msg("identify", anonymousId="a1", userId="u1"),
        msg("track", anonymousId="a1", userId="u1", event="Signed Up"),
        msg("track", anonymousId="a2", event="Viewed Product"),
        msg("page", anonymousId="a2", userId="u2", name="Cart"),
    ]
    for m in sent:
        assert client.post(f"/v1/{m['type']}", m).status == 200
    client.sent = sent
    return client


@pytest.mark.parametrize("query, want", [
    ("", [0, 1, 2, 3, 4, 5]),
    ("?type=track", [1, 3, 4]),
    ("?event=Viewed%20Product", [1, 4]),
    ("?type=track&event=Signed%20Up", [3]),
    ("?userId=u1", [2, 3]),
    ("?anonymousId=a2", [4, 5]),
    ("?anonymousId=a1&type=page", [0]),
    ("?since={seq3}", [4, 5]),
    ("?limit=2", [4, 5]),
    ("?type=track&limit=1", [4]),
    ("?userId=nobody", []),
])
def test_beacon_filters(loaded: Any, query: str, want: list[int]) -> None:
    seq3 = loaded.beacons()[3]["_meta"]["seq"]  # seq keeps counting across clears: ask, don't assume
    body = loaded.get("/api/beacons" + query.format(seq3=seq3)).body
    assert [b["messageId"] for b in body["beacons"]] == [loaded.sent[i]["messageId"] for i in want]
    if "limit" not in query:
        assert body["total"] == len(want)


def test_limit_reports_the_total_before_limiting(loaded: Any) -> None:
    body = loaded.get("/api/beacons?type=track&limit=1").body
    assert body["total"] == 3 and len(body["beacons"]) == 1


def test_since_accepts_an_iso_time(loaded: Any) -> None:
    first_time = loaded.beacons()[0]["receivedAt"]
    assert len(loaded.beacons(f"?since={quote(first_time)}")) == 6
    assert loaded.beacons(f"?since={quote('2999-01-01T00:00:00Z')}") == []


@pytest.mark.parametrize("query, reason", [("?limit=abc", "limit must be an integer"),
                                           ("?limit=0", "limit must be at least 1")])
def test_bad_filters_are_400_with_reason(loaded: Any, query: str, reason: str) -> None:
    reply = loaded.get(f"/api/beacons{query}")
    assert reply.status == 400 and reason in reply.body["reason"]


def test_delete_clears_beacons_bad_and_stats(loaded: Any) -> None:
    loaded.post("/v1/track", "{oops")
    assert loaded.stats()["bad"] == 1
    reply = loaded.delete("/api/beacons")
    assert (reply.status, reply.body) == (200, {"success": True})
    assert loaded.get("/api/beacons").body == {"beacons": [], "total": 0}
    assert loaded.bad() == []
    assert loaded.stats() == {"received": 0, "stored": 0, "duplicates": 0, "bad": 0, "unauthorized": 0}
    assert loaded.post("/v1/track", loaded.sent[1]).status == 200
    assert len(loaded.beacons()) == 1, "a cleared messageId can be stored again"


def test_stats_shape(loaded: Any) -> None:
    assert loaded.stats() == {"received": 6, "stored": 6, "duplicates": 0, "bad": 0, "unauthorized": 0}


# ---- faults --------------------------------------------------------------------------------
def test_fault_status_answers_n_requests_then_recovers(client: Any) -> None:
    reply = client.post("/api/faults", {"status": 503, "count": 2})
    assert reply.status == 200 and reply.body["faults"]["status"] == 503
    m = msg("track", anonymousId="a", event="E")
    statuses = [client.post("/v1/track", m).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert len(client.beacons()) == 1, "faulted requests store nothing"
    assert client.stats()["received"] == 1 and client.bad() == []
    assert client.get("/api/faults").body["applied"] == 2


def test_fault_status_until_cleared(client: Any) -> None:
    client.post("/api/faults", {"status": 500})
    m = msg("track", anonymousId="a", event="E")
    assert [client.post("/v1/track", m).status for _ in range(4)] == [500] * 4
    assert client.delete("/api/faults").body == {"success": True}
    assert client.post("/v1/track", m).status == 200
    assert len(client.beacons()) == 1


def test_fault_drop_closes_the_connection_and_stores_nothing(client: Any) -> None:
    client.post("/api/faults", {"drop": True, "count": 2})
    m = msg("track", anonymousId="a", event="E")
    for _ in range(2):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            client.post("/v1/track", m)
    assert client.beacons() == [] and client.stats()["received"] == 0
    assert client.post("/v1/track", m).status == 200
    assert len(client.beacons()) == 1


def test_fault_delay_holds_the_reply(client: Any) -> None:
    client.post("/api/faults", {"delay_ms": 300, "count": 1})
    m = msg("track", anonymousId="a", event="E")
    start = time.monotonic()
    assert client.post("/v1/track", m).status == 200
    slow = time.monotonic() - start
    start = time.monotonic()
    assert client.post("/v1/track", msg("track", anonymousId="a", event="E")).status == 200
    fast = time.monotonic() - start
    assert slow >= 0.3 and fast < slow, (slow, fast)
    assert len(client.beacons()) == 2


def test_faults_do_not_touch_the_inspection_api(client: Any) -> None:
    client.post("/api/faults", {"status": 503})
    assert client.get("/api/beacons").status == 200
    assert client.request("OPTIONS", "/v1/track", headers={"Origin": "http://x"}).status == 204


def test_delete_faults_clears_everything(client: Any) -> None:
    client.post("/api/faults", {"drop": True})
    client.post("/api/faults", {"delay_ms": 100})
    client.delete("/api/faults")
    state = client.get("/api/faults").body
    assert state["status"] is None and state["drop_count"] == 0 and state["delay_ms"] == 0


@pytest.mark.parametrize("body, reason", [
    ("not json", "body must be JSON"),
    ("[1]", "body must be a JSON object"),
    ({}, "say what to inject"),
    ({"count": 2}, "say what to inject"),
    ({"status": 99}, "'status' must be an HTTP status code"),
    ({"status": "503"}, "'status' must be an HTTP status code"),
    ({"status": True}, "'status' must be an HTTP status code"),
    ({"status": 503, "count": -1}, "'count' must be a non-negative integer"),
    ({"status": 503, "count": 1.5}, "'count' must be a non-negative integer"),
    ({"drop": "yes"}, "'drop' must be true or false"),
    ({"drop": True, "status": 503}, "not both"),
    ({"delay_ms": -5}, "'delay_ms' must be a number of milliseconds"),
    ({"delay_ms": 10**9}, "'delay_ms' must be a number of milliseconds"),
    ({"explode": True}, "unknown fault field(s): explode"),
])
def test_bad_fault_bodies_are_400_and_change_nothing(client: Any, body: Any, reason: str) -> None:
    client.post("/api/faults", {"delay_ms": 5, "count": 3})
    before = client.get("/api/faults").body
    reply = client.post("/api/faults", body)
    assert reply.status == 400 and reason in reply.body["reason"], reply.body
    assert client.get("/api/faults").body == before


def test_faults_are_reachable_from_another_process_style_client(client: Any) -> None:
    """Plain raw HTTP, as a shell script would use it."""
    parts = urlsplit(client.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("POST", "/api/faults", body=b'{"status": 429, "count": 1}',
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()
    assert client.post("/v1/track", msg("track", anonymousId="a", event="E")).status == 429
