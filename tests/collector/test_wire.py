"""Issue 4, acceptance 1: the collector speaks the analytics.js tracking HTTP API and explains every rejection.

Each test posts with a plain HTTP client and checks the status, the JSON reason, the store and the bad list.
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from datetime import datetime, timedelta
from typing import Any

import pytest

from harness import timebase
from harness.collecting.beacon import MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES
from harness.collecting.store import BAD_RAW_KEEP
from harness.keys import Config

SHORT = {"i": "identify", "t": "track", "p": "page", "s": "screen", "g": "group", "a": "alias"}


def message(type_: str, **extra: Any) -> dict[str, Any]:
    """A minimal valid message of each type."""
    base: dict[str, Any] = {"type": type_, "anonymousId": "anon-1", "messageId": f"m-{uuid.uuid4()}"}
    base.update({
        "identify": {"userId": "u1", "traits": {"email": "a@example.com"}},
        "track": {"event": "Signed Up", "properties": {"plan": "pro"}},
        "page": {"name": "Home", "properties": {"path": "/"}},
        "screen": {"name": "Main"},
        "group": {"groupId": "g1", "traits": {"name": "Initech"}},
        "alias": {"userId": "u1", "previousId": "anon-1"},
    }[type_])
    base.update(extra)
    return base


def assert_rejected(client: Any, reply: Any, status: int, reason_part: str, raw: str | None = None,
                    bad_before: int = 0) -> dict[str, Any]:
    """The reply is ``status`` with a JSON reason, nothing stored, and one bad-list entry explains it."""
    assert reply.status == status, reply.body
    assert set(reply.body) >= {"error", "reason"}, reply.body
    assert reason_part in reply.body["reason"], reply.body
    assert client.beacons() == []
    bad = client.bad()
    assert len(bad) == bad_before + 1, bad
    entry = bad[-1]
    assert entry["status"] == status and entry["reason"] == reply.body["reason"]
    assert entry["receivedAt"].endswith("Z")
    if raw is not None:
        assert entry["raw"] == raw
    return entry


# ---- every path form, both content types, gzip -----------------------------------------------
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/plain;charset=UTF-8"])
@pytest.mark.parametrize("path", [*SHORT.values(), *SHORT.keys()])
def test_every_single_path_and_content_type_is_stored(client: Any, path: str, content_type: str) -> None:
    type_ = SHORT.get(path, path)
    sent = message(type_)
    del sent["type"]  # the path alone says what it is, as analytics.js sends it
    reply = client.post(f"/v1/{path}", sent, content_type=content_type)
    assert (reply.status, reply.body) == (200, {"success": True})
    [stored] = client.beacons()
    assert stored["type"] == type_ and stored["messageId"] == sent["messageId"]
    assert stored["_meta"]["path"] == f"/v1/{path}"
    assert {k: stored[k] for k in sent} == sent, "the message is kept exactly as sent"
    assert client.bad() == []


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
@pytest.mark.parametrize("path", ["batch", "b"])
def test_batch_paths_store_every_message(client: Any, path: str, content_type: str) -> None:
    batch = [message(t) for t in SHORT.values()]
    reply = client.post(f"/v1/{path}", {"batch": batch, "sentAt": "2024-01-01T00:00:00.000Z"},
                        content_type=content_type)
    assert (reply.status, reply.body) == (200, {"success": True})
    stored = client.beacons()
    assert [b["messageId"] for b in stored] == [m["messageId"] for m in batch], "arrival order kept"
    assert [b["type"] for b in stored] == list(SHORT.values())
    assert all(b["sentAt"] == "2024-01-01T00:00:00.000Z" for b in stored), "batch-level sentAt copied in"
    assert client.stats() == {"received": 6, "stored": 6, "duplicates": 0, "bad": 0, "unauthorized": 0}


@pytest.mark.parametrize("path", ["track", "batch"])
def test_gzip_bodies_are_accepted(client: Any, path: str) -> None:
    msg = message("track")
    body = {"batch": [msg]} if path == "batch" else msg
    reply = client.post(f"/v1/{path}", body, content_type="text/plain", gzipped=True)
    assert reply.status == 200, reply.body
    assert [b["messageId"] for b in client.beacons()] == [msg["messageId"]]


def test_deflate_bodies_are_accepted(client: Any) -> None:
    msg = message("track")
    reply = client.post("/v1/t", zlib.compress(json.dumps(msg).encode()), headers={"Content-Encoding": "deflate"})
    assert reply.status == 200, reply.body
    assert client.beacons()[0]["messageId"] == msg["messageId"]


def test_truncated_gzip_is_400_with_reason(client: Any) -> None:
    packed = gzip.compress(json.dumps(message("track")).encode())
    reply = client.post("/v1/t", packed[: len(packed) // 2], headers={"Content-Encoding": "gzip"})
    assert_rejected(client, reply, 400, "not valid gzip")


def test_truncated_deflate_is_400_with_reason(client: Any) -> None:
    packed = zlib.compress(json.dumps(message("track", properties={"x": "y" * 500})).encode())
    reply = client.post("/v1/t", packed[: len(packed) // 2], headers={"Content-Encoding": "deflate"})
    assert_rejected(client, reply, 400, "not valid deflate")


def test_unknown_content_encoding_is_415(client: Any) -> None:
    reply = client.post("/v1/t", message("track"), headers={"Content-Encoding": "br"})
    assert_rejected(client, reply, 415, "unsupported Content-Encoding")


def test_gzip_rejection_keeps_the_decompressed_submission(client: Any) -> None:
    text = '{"type": "track", "anonymousId": "a"}'
    reply = client.post("/v1/track", text, gzipped=True)
    assert_rejected(client, reply, 400, "track needs", raw=text)


# ---- write keys ------------------------------------------------------------------------------
def test_open_server_records_basic_auth_and_body_write_keys(client: Any, basic_auth: Any) -> None:
    assert client.post("/v1/t", message("track", messageId="h"), headers=basic_auth("from-header")).status == 200
    assert client.post("/v1/t", message("track", messageId="b", writeKey="from-body")).status == 200
    assert client.post("/v1/batch", {"batch": [message("track", messageId="s")], "writeKey": "batch-key"}).status == 200
    assert client.post("/v1/t", message("track", messageId="n")).status == 200
    keys = {b["messageId"]: b.get("writeKey") for b in client.beacons()}
    assert keys == {"h": "from-header", "b": "from-body", "s": "batch-key", "n": None}


@pytest.mark.parametrize("how", ["basic", "body", "batch-body"])
def test_keyed_server_accepts_the_right_key(keyed_client: Any, basic_auth: Any, how: str) -> None:
    msg = message("track")
    if how == "basic":
        reply = keyed_client.post("/v1/track", msg, headers=basic_auth("wk-secret"))
    elif how == "body":
        reply = keyed_client.post("/v1/track", {**msg, "writeKey": "wk-secret"})
    else:
        reply = keyed_client.post("/v1/b", {"batch": [msg], "writeKey": "wk-secret"})
    assert reply.status == 200, reply.body
    [stored] = keyed_client.beacons()
    assert stored["messageId"] == msg["messageId"] and stored["writeKey"] == "wk-secret"
    assert keyed_client.stats()["unauthorized"] == 0


@pytest.mark.parametrize("how, reason", [
    ("none", "missing write key"),
    ("wrong-basic", "wrong write key"),
    ("wrong-body", "wrong write key"),
    ("empty-body", "missing write key"),
    ("non-string-body", "missing write key"),
    ("malformed-basic", "missing write key"),
])
def test_keyed_server_401s_missing_or_wrong_keys(keyed_client: Any, basic_auth: Any, how: str, reason: str) -> None:
    msg = message("track")
    headers: dict[str, str] = {}
    if how == "wrong-basic":
        headers = basic_auth("wk-guess")
    elif how == "malformed-basic":
        headers = {"Authorization": "Basic !!not-base64!!"}
    elif how == "wrong-body":
        msg["writeKey"] = "wk-secreT"
    elif how == "empty-body":
        msg["writeKey"] = ""
    elif how == "non-string-body":
        msg["writeKey"] = 12345
    text = json.dumps(msg)
    reply = keyed_client.post("/v1/track", text, headers=headers)
    entry = assert_rejected(keyed_client, reply, 401, reason, raw=text)
    assert reply.body == {"error": "unauthorized", "reason": reason}
    assert entry["reason"] == reason
    stats = keyed_client.stats()
    assert stats["unauthorized"] == 1 and stats["stored"] == 0 and stats["bad"] == 1


def test_keyed_server_401s_a_whole_batch_and_counts_it(keyed_client: Any) -> None:
    batch = [message("track") for _ in range(5)]
    reply = keyed_client.post("/v1/batch", {"batch": batch, "writeKey": "nope"})
    assert reply.status == 401
    assert keyed_client.beacons() == []
    assert keyed_client.stats() == {"received": 5, "stored": 0, "duplicates": 0, "bad": 5, "unauthorized": 1}


# ---- batches and duplicates ------------------------------------------------------------------
def test_batch_of_100(client: Any) -> None:
    batch = [message("track", properties={"i": i}) for i in range(100)]
    reply = client.post("/v1/batch", {"batch": batch})
    assert (reply.status, reply.body) == (200, {"success": True})
    stored = client.beacons()
    assert [b["messageId"] for b in stored] == [m["messageId"] for m in batch]
    assert [b["_meta"]["seq"] for b in stored] == sorted(b["_meta"]["seq"] for b in stored)
    assert client.get("/api/beacons").body["total"] == 100
    assert client.stats() == {"received": 100, "stored": 100, "duplicates": 0, "bad": 0, "unauthorized": 0}


def test_duplicate_message_id_is_200_stored_once_and_counted(client: Any) -> None:
    msg = message("track")
    first = client.post("/v1/track", msg)
    again = client.post("/v1/track", {**msg, "properties": {"changed": True}})
    in_batch = client.post("/v1/batch", {"batch": [msg, msg]})
    assert [r.status for r in (first, again, in_batch)] == [200, 200, 200]
    [stored] = client.beacons()
    assert stored["properties"] == msg["properties"], "the first copy wins"
    assert client.stats() == {"received": 4, "stored": 1, "duplicates": 3, "bad": 0, "unauthorized": 0}
    [note] = client.bad()  # a duplicate is not an error, but the changed copy is noted (not the identical ones)
    assert note["status"] == 200 and note["kind"] == "conflict" and "different content" in note["reason"]
    assert json.loads(note["raw"])["properties"] == {"changed": True}, "the note quotes the dropped copy"


def test_message_without_message_id_gets_one(client: Any) -> None:
    msg = message("track")
    del msg["messageId"]
    assert client.post("/v1/track", msg).status == 200
    assert client.post("/v1/track", {**msg, "messageId": ""}).status == 200
    ids = [b["messageId"] for b in client.beacons()]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(i.startswith("harness-") for i in ids)


def test_batch_with_some_invalid_messages_stores_the_valid_ones(client: Any) -> None:
    good = [message("track"), message("identify")]
    bad_track = message("track")
    del bad_track["event"]
    batch = [good[0], bad_track, good[1], "not an object", {"type": "nope", "anonymousId": "a"}]
    reply = client.post("/v1/batch", {"batch": batch})
    assert reply.status == 400
    assert reply.body["stored"] == 2 and reply.body["duplicates"] == 0
    assert [r["index"] for r in reply.body["rejected"]] == [1, 3, 4]
    assert reply.body["reason"] == reply.body["rejected"][0]["reason"]
    assert [b["messageId"] for b in client.beacons()] == [m["messageId"] for m in good]
    bad = client.bad()
    assert [(e["index"], e["status"]) for e in bad] == [(1, 400), (3, 400), (4, 400)]
    assert json.loads(bad[0]["raw"]) == bad_track, "each rejected batch message is kept"
    assert "track needs" in bad[0]["reason"] and "JSON object" in bad[1]["reason"]
    assert "unknown type" in bad[2]["reason"]
    assert client.stats() == {"received": 5, "stored": 2, "duplicates": 0, "bad": 3, "unauthorized": 0}


# ---- rejections: status, reason, store, bad list (raw kept exactly) ---------------------------
def test_oversize_message_is_413(client: Any) -> None:
    text = json.dumps(message("track", properties={"blob": "x" * (MAX_MESSAGE_BYTES + 10)}))
    reply = client.post("/v1/track", text)
    entry = assert_rejected(client, reply, 413, f"the limit is {MAX_MESSAGE_BYTES}")
    assert entry["raw"] == text[:BAD_RAW_KEEP] + ("...(truncated)" if len(text) > BAD_RAW_KEEP else "")


def test_oversize_message_in_a_batch_is_rejected_alone(client: Any) -> None:
    small = message("track")
    big = message("track", properties={"blob": "x" * (MAX_MESSAGE_BYTES + 10)})
    reply = client.post("/v1/batch", {"batch": [small, big]})
    assert reply.status == 400 and reply.body["rejected"][0]["index"] == 1
    assert "the limit is" in reply.body["reason"]
    assert [b["messageId"] for b in client.beacons()] == [small["messageId"]]
    assert client.bad()[0]["status"] == 413


def test_oversize_request_is_413(client: Any) -> None:
    batch = [message("track", properties={"blob": "y" * 20_000}) for _ in range(30)]  # each message < 32 KB
    text = json.dumps({"batch": batch})
    assert len(text) > MAX_REQUEST_BYTES
    reply = client.post("/v1/batch", text)
    entry = assert_rejected(client, reply, 413, f"the limit is {MAX_REQUEST_BYTES}")
    assert entry["raw"] == text[:BAD_RAW_KEEP] + "...(truncated)"
    assert client.stats()["stored"] == 0


def test_request_beyond_the_read_limit_is_413_and_listed(client: Any) -> None:
    reply = client.post("/v1/batch", b"x" * (9 * 1024 * 1024))
    entry = assert_rejected(client, reply, 413, f"request body is {9 * 1024 * 1024} bytes")
    assert entry["raw"] == "x" * BAD_RAW_KEEP + "...(truncated)"


def test_gzip_bomb_is_413(client: Any) -> None:
    bomb = gzip.compress(b'{"batch": ["' + b"a" * (5 * 1024 * 1024) + b'"]}')
    assert len(bomb) < MAX_REQUEST_BYTES
    reply = client.post("/v1/batch", bomb, headers={"Content-Encoding": "gzip"})
    assert_rejected(client, reply, 413, "decompressed body exceeds")


@pytest.mark.parametrize("text, reason", [
    ('{"type": "track", "event": "x", "anonymousId": "a"', "malformed JSON"),
    ("", "empty body"),
    ("   ", "empty body"),
    ('{"type": "track", "event": "x", "anonymousId": NaN}', "NaN is not valid JSON"),
    ("[1, 2, 3]", "body must be a JSON object, got list"),
    ('"a string"', "body must be a JSON object, got str"),
    ("42", "body must be a JSON object, got int"),
    ("null", "body must be a JSON object, got NoneType"),
    ('{"type": "track", "anonymousId": "a"}', "track needs a non-empty 'event'"),
    ('{"type": "track", "event": "", "anonymousId": "a"}', "track needs a non-empty 'event'"),
    ('{"type": "track", "event": "x"}', "needs a userId or an anonymousId"),
    ('{"type": "track", "event": "x", "userId": "", "anonymousId": null}', "needs a userId or an anonymousId"),
    ('{"type": "track", "event": 7, "anonymousId": "a"}', "'event' must be a string"),
    ('{"type": "track", "event": "x", "anonymousId": "a", "properties": []}', "'properties' must be an object"),
    ('{"type": "track", "event": "x", "anonymousId": "a", "messageId": 5}', "'messageId' must be a string"),
    ('{"type": "track", "event": "x", "anonymousId": ["a"]}', "'anonymousId' must be a string or number"),
    ('{"type": "bogus", "anonymousId": "a"}', "unknown type 'bogus'"),
], ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_invalid_single_message_is_400_and_kept_exactly(client: Any, text: str, reason: str) -> None:
    reply = client.post("/v1/track", text)
    assert_rejected(client, reply, 400, reason, raw=text)
    assert client.stats() == {"received": 1, "stored": 0, "duplicates": 0, "bad": 1, "unauthorized": 0}


@pytest.mark.parametrize("body, reason", [
    ({"type": "group", "anonymousId": "a"}, "group needs a 'groupId'"),
    ({"type": "alias", "userId": "u"}, "alias needs 'previousId' and 'userId'"),
    ({"type": "alias", "previousId": "p", "anonymousId": "a"}, "alias needs 'previousId' and 'userId'"),
    ({"batch": "nope"}, "needs a 'batch' array"),
    ({"batch": []}, "batch is empty"),
])
def test_type_specific_rules(client: Any, body: dict[str, Any], reason: str) -> None:
    path = "/v1/batch" if "batch" in body else f"/v1/{body['type']}"
    text = json.dumps(body)
    assert_rejected(client, client.post(path, text), 400, reason, raw=text)


def test_invalid_utf8_is_400_and_kept_escaped(client: Any) -> None:
    raw = b'{"type": "track", "event": "\xff\xfe", "anonymousId": "a"}'
    entry = assert_rejected(client, client.post("/v1/track", raw), 400, "not UTF-8")
    assert entry["raw"] == '{"type": "track", "event": "\\xff\\xfe", "anonymousId": "a"}'


def test_unknown_endpoint_is_404_and_listed(client: Any) -> None:
    reply = client.post("/v1/identifyy", message("identify"))
    assert_rejected(client, reply, 404, "unknown endpoint /v1/identifyy")


def test_non_ascii_and_lone_surrogates_survive(client: Any) -> None:
    text = '{"type": "track", "event": "Café ☕", "anonymousId": "a", "properties": {"cut": "\\ud83d"}}'
    assert client.post("/v1/track", text.encode()).status == 200
    [stored] = client.beacons()
    assert stored["event"] == "Café ☕" and stored["properties"]["cut"] == "\ud83d"


# ---- CORS ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/track", "/v1/t", "/v1/batch"])
def test_cors_preflight_is_answered_for_the_origin(client: Any, path: str) -> None:
    reply = client.request("OPTIONS", path, headers={
        "Origin": "http://shop.example:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
    })
    assert reply.status == 204
    h = reply.headers
    assert h["access-control-allow-origin"] == "http://shop.example:3000"
    assert h["access-control-allow-credentials"] == "true"
    assert "POST" in h["access-control-allow-methods"]
    assert h["access-control-allow-headers"] == "content-type, authorization"
    assert "Origin" in h["vary"]


@pytest.mark.parametrize("body, status", [(message("track"), 200), ("{", 400)])
def test_cors_headers_on_posts_even_rejections(client: Any, body: Any, status: int) -> None:
    reply = client.post("/v1/track", body, headers={"Origin": "https://www.example.com"})
    assert reply.status == status
    assert reply.headers["access-control-allow-origin"] == "https://www.example.com"
    assert reply.headers["access-control-allow-credentials"] == "true"


def test_no_cors_headers_without_origin(client: Any) -> None:
    reply = client.post("/v1/track", message("track"))
    assert "access-control-allow-origin" not in reply.headers


# ---- enrichment ------------------------------------------------------------------------------
def test_enrichment_received_at_and_original_timestamp(client: Any) -> None:
    before = timebase.now() - timedelta(seconds=1)  # the harness clock (pinned by --harness-start-time)
    ts, orig = "2024-05-01T10:00:00.000Z", "2024-05-01T09:59:59.000Z"
    client.post("/v1/track", message("track", messageId="only-ts", timestamp=ts))
    client.post("/v1/track", message("track", messageId="both", timestamp=ts, originalTimestamp=orig))
    client.post("/v1/track", message("track", messageId="neither"))
    got = {b["messageId"]: b for b in client.beacons()}
    assert got["only-ts"]["originalTimestamp"] == ts and got["only-ts"]["timestamp"] == ts
    assert got["both"]["originalTimestamp"] == orig, "a library's own originalTimestamp is kept"
    assert "originalTimestamp" not in got["neither"]
    for beacon in got.values():
        received = datetime.fromisoformat(beacon["receivedAt"].replace("Z", "+00:00"))
        assert beacon["receivedAt"].endswith("Z")
        assert before <= received <= timebase.now() + timedelta(seconds=1)


@pytest.mark.parametrize("given", ["0.0.0.0", "", "203.0.113.7", None])
def test_context_ip_is_kept_exactly_when_given(client: Any, given: str | None) -> None:
    client.post("/v1/track", message("track", context={"ip": given, "locale": "en-GB"}))
    [stored] = client.beacons()
    assert stored["context"] == {"ip": given, "locale": "en-GB"}


def test_context_ip_from_the_peer_when_absent(client: Any) -> None:
    client.post("/v1/track", message("track", messageId="no-ctx"))
    client.post("/v1/track", message("track", messageId="ctx", context={"locale": "fr"}))
    client.post("/v1/track", message("track", messageId="xff"), headers={"X-Forwarded-For": "198.51.100.9"})
    got = {b["messageId"]: b["context"] for b in client.beacons()}
    assert got == {"no-ctx": {"ip": "127.0.0.1"}, "ctx": {"locale": "fr", "ip": "127.0.0.1"},
                   "xff": {"ip": "127.0.0.1"}}, "X-Forwarded-For is ignored unless configured"


def test_x_forwarded_for_honoured_only_when_configured(server_factory: Any, client_for: Any) -> None:
    behind_proxy = client_for(server_factory(config=Config(trust_forwarded=True)))
    behind_proxy.post("/v1/track", message("track"), headers={"X-Forwarded-For": "198.51.100.9, 10.0.0.1"})
    behind_proxy.post("/v1/track", message("track", context={"ip": ""}), headers={"X-Forwarded-For": "198.51.100.9"})
    assert [b["context"]["ip"] for b in behind_proxy.beacons()] == ["198.51.100.9", ""]


def test_transport_and_device_meta(client: Any) -> None:
    """The transport is observed, never taken from the payload: a browser's request (Origin / Sec-Fetch-*)
    carries the harness page script's mark, a bare one is "browser"; anything else is "server"."""
    client.post("/v1/track", message("track", _metadata={"transport": "beacon"}),
                headers={"Cookie": "hx_device=dev-123", "User-Agent": "Mozilla/5.0"})
    client.post("/v1/track?hx_transport=beacon", message("track"),
                headers={"User-Agent": "Mozilla/5.0", "Origin": "http://www.shop.test", "Sec-Fetch-Mode": "no-cors"})
    client.post("/v1/track", message("track", context={"library": {"name": "other.js"}}),
                headers={"User-Agent": "Mozilla/5.0", "Origin": "http://www.shop.test"})
    client.post("/v1/track?hx_transport=made-up", message("track"), headers={"Origin": "http://www.shop.test"})
    client.post("/v1/track", message("track"), headers={"User-Agent": "analytics-python/2.0"})
    metas = [b["_meta"] for b in client.beacons()]
    assert [(m["transport"], m["device"]) for m in metas] == [("server", "dev-123"), ("beacon", None),
                                                               ("browser", None), ("browser", None),
                                                               ("server", None)]
    assert [m["path"] for m in metas] == ["/v1/track"] * 5, "the mark is not part of the path"
    assert [m["seq"] for m in metas] == sorted(m["seq"] for m in metas)
