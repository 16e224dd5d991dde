"""PostHog's ingestion wire (posthog-js 1.449.2, as measured in Chromium) is a documented format.

posthog-js posts to ``<api_host>/e/`` (the harness mounts PostHog's host at ``/posthog/``):

- a gzip body (``text/plain``; what the remote config's ``supportedCompression: ["gzip-js"]`` selects),
  ``?compression=base64`` with a form body ``data=<base64 JSON>`` (sendBeacon's fallback), or plain JSON;
- one event, an array of events (request batching, every 3 s), or ``{"api_key", "batch", "sent_at"}``;
- each event: ``uuid``, ``event``, ``timestamp``, ``properties`` (``distinct_id``, ``$device_id``,
  ``$is_identified``, ``token``, ``$lib``...), ``$set`` / ``$set_once`` on identify.

Each event is stored as one beacon (type, ids, traits, context) with PostHog's own event under
``_vendor.message``. Whatever arrives at a capture path is a 200 with stored beacons, or a 4xx with a
reason in the bad list: never a 500, and received == stored + duplicates + bad.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import zlib
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.collecting import posthog
from harness.collecting.beacon import MAX_DECOMPRESSED_BYTES, MAX_REQUEST_BYTES, Rejected

DEVICE = "01a247f1-cebe-7422-b79a-65547db6a5d4"
COMMON = {
    "$os": "Linux", "$browser": "Chrome", "$timezone": "UTC", "$current_url": "http://127.0.0.1:8765/",
    "$host": "127.0.0.1:8765", "$pathname": "/", "$browser_language": "en-US", "$lib": "web",
    "$lib_version": "1.449.2", "$raw_user_agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0",
    "$referrer": "$direct", "$device_id": DEVICE, "token": "wk-secret", "$session_id": "01a247f1-ced3",
}
# events as posthog-js 1.449.2 sent them (measured; repeated properties trimmed)
PAGEVIEW = {"uuid": "01a247f1-cec7-72b7-8f3f-3c727320f748", "event": "$pageview",
            "timestamp": "2026-12-05T20:42:39.175Z",
            "properties": {**COMMON, "distinct_id": DEVICE, "title": "Initech Supply", "$is_identified": False}}
IDENTIFY = {"uuid": "01a247f1-cf51-74d8-bae1-9026a2134106", "event": "$identify",
            "timestamp": "2026-12-05T20:42:39.313Z",
            "properties": {**COMMON, "distinct_id": "u-1", "$anon_distinct_id": DEVICE, "$user_id": "u-1",
                           "$is_identified": True},
            "$set": {"name": "Peter", "plan": "premium"}, "$set_once": {"$initial_referrer": "$direct"}}
TRACK = {"uuid": "01a247f1-cf54-7c17-99f8-0fd29b2ec9dd", "event": "Signed Up",
         "timestamp": "2026-12-05T20:42:39.316Z",
         "properties": {**COMMON, "distinct_id": "u-1", "plan": "premium", "$is_identified": True}}
GROUP = {"uuid": "01a247f1-cf6a-75df-b268-197769fc7948", "event": "$groupidentify",
         "timestamp": "2026-12-05T20:42:39.338Z",
         "properties": {**COMMON, "distinct_id": "u-1", "$is_identified": True, "$groups": {"company": "g-1"},
                        "$group_type": "company", "$group_key": "g-1", "$group_set": {"name": "Acme"}}}
ANON_TRACK = {"uuid": "01a247f1-df34-7cb8-a6a0-a2a8fae9fee9", "event": "After Reset",
              "timestamp": "2026-12-05T20:42:46.382Z",
              "properties": {**COMMON, "distinct_id": "01a247f1-47d3-7f02", "$is_identified": False}}
EVENTS = [PAGEVIEW, IDENTIFY, TRACK, GROUP, ANON_TRACK]
SENT_MS = "1796503359400"
SENT_ISO = "2026-12-05T20:42:39.400Z"
EXPLORE = bool(os.environ.get("HARNESS_EXPLORE"))
SCALE = int(os.environ.get("HARNESS_EXAMPLES", "1"))


def cfg(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=not EXPLORE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def gzip_js(value: Any) -> bytes:
    """What posthog-js sends with compression gzip-js: fflate's gzipSync of the JSON (mtime 0)."""
    return gzip.compress(json.dumps(value).encode(), mtime=0)


def base64_form(value: Any) -> bytes:
    """compression base64: ``data=`` + encodeURIComponent(base64(JSON))."""
    return ("data=" + quote(base64.b64encode(json.dumps(value).encode()).decode(), safe="")).encode()


def post(client: Any, body: bytes, query: str = "", content_type: str = "text/plain", path: str = "/posthog/e/") -> Any:
    return client.post(path + (f"?{query}" if query else ""), body, content_type=content_type)


def by_uuid(client: Any) -> dict[str, dict[str, Any]]:
    return {b["messageId"]: b for b in client.beacons()}


# ---- the wire as measured --------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["gzip-js", "base64", "json"])
def test_every_encoding_of_a_batch_stores_one_beacon_per_event(client: Any, encoding: str) -> None:
    if encoding == "gzip-js":
        reply = post(client, gzip_js(EVENTS), f"compression=gzip-js&sent_at={SENT_MS}")
    elif encoding == "base64":
        reply = post(client, base64_form(EVENTS), f"compression=base64&sent_at={SENT_MS}",
                     "application/x-www-form-urlencoded")
    else:
        reply = post(client, json.dumps(EVENTS).encode(), f"sent_at={SENT_MS}", "application/json")
    assert reply.status == 200, reply.body
    stored = by_uuid(client)
    assert set(stored) == {e["uuid"] for e in EVENTS}
    for event in EVENTS:
        beacon = stored[event["uuid"]]
        assert posthog.raw_event(beacon) == event, "PostHog's own event is kept beside the beacon"
        assert beacon["_vendor"]["name"] == "posthog" and beacon["_vendor"]["endpoint"] == "/posthog/e/"
        assert "properties" not in beacon["_vendor"]["message"], "its properties are the beacon's, kept once"
        assert beacon["sentAt"] == SENT_ISO and beacon["timestamp"] == event["timestamp"]
        assert beacon["context"]["library"] == {"name": "web", "version": "1.449.2"}
        assert beacon["context"]["page"]["path"] == "/" and beacon["writeKey"] == "wk-secret"


def test_gzip_without_the_query_is_recognised_by_its_magic(client: Any) -> None:
    """posthog-js 1.449.2 sends its gzip bodies to /e/ with no compression parameter at all (measured)."""
    assert post(client, gzip_js([TRACK])).status == 200
    assert [b["event"] for b in client.beacons()] == ["Signed Up"]


def test_types_and_ids(client: Any) -> None:
    assert post(client, gzip_js(EVENTS)).status == 200
    stored = by_uuid(client)
    page, identify, track, group, anon = (stored[e["uuid"]] for e in EVENTS)
    assert (page["type"], page["userId"], page["anonymousId"], page["name"]) == ("page", None, DEVICE, "Initech Supply")
    assert (identify["type"], identify["userId"], identify["anonymousId"]) == ("identify", "u-1", DEVICE)
    assert identify["traits"] == {"name": "Peter", "plan": "premium"}, "traits are $set"
    assert (track["type"], track["event"], track["userId"], track["anonymousId"]) == \
        ("track", "Signed Up", "u-1", DEVICE)
    assert track["properties"]["plan"] == "premium"
    assert (group["type"], group["groupId"], group["traits"]) == ("group", "g-1", {"name": "Acme"})
    assert (anon["userId"], anon["anonymousId"]) == (None, DEVICE), \
        "after reset() distinct_id is a new anonymous id: no userId, the anonymousId is still $device_id"


def test_batch_object_with_api_key_and_sent_at(client: Any) -> None:
    event = copy.deepcopy(TRACK)
    del event["properties"]["token"]
    body = {"api_key": "wk-secret", "batch": [event], "sent_at": SENT_ISO}
    assert post(client, gzip_js(body), path="/posthog/batch/").status == 200
    [beacon] = client.beacons()
    assert beacon["writeKey"] == "wk-secret" and beacon["sentAt"] == SENT_ISO


def test_alias_and_ip(client: Any) -> None:
    alias = {"uuid": "a-1", "event": "$create_alias", "timestamp": TRACK["timestamp"],
             "properties": {**COMMON, "distinct_id": "u-1", "alias": "u-2", "$is_identified": True}}
    given_ip = {**copy.deepcopy(TRACK), "uuid": "ip-1"}
    given_ip["properties"]["$ip"] = "0.0.0.0"
    assert post(client, gzip_js([alias, given_ip, TRACK])).status == 200
    stored = by_uuid(client)
    assert (stored["a-1"]["type"], stored["a-1"]["userId"], stored["a-1"]["previousId"]) == ("alias", "u-2", "u-1")
    assert stored["ip-1"]["context"]["ip"] == "0.0.0.0", "$ip given: recorded as given"
    assert stored[TRACK["uuid"]]["context"]["ip"] == "127.0.0.1", "not given: the request's address"


def test_i_v0_e_and_a_single_event(client: Any) -> None:
    assert post(client, json.dumps(TRACK).encode(), path="/posthog/i/v0/e/").status == 200
    assert [b["messageId"] for b in client.beacons()] == [TRACK["uuid"]]


def test_a_resent_event_is_stored_once(client: Any) -> None:
    assert post(client, gzip_js([TRACK])).status == 200
    assert post(client, gzip_js([TRACK])).status == 200
    assert len(client.beacons()) == 1 and client.stats()["duplicates"] == 1


def test_the_write_key_is_the_project_token(keyed_client: Any) -> None:
    assert post(keyed_client, gzip_js([TRACK])).status == 200
    wrong = copy.deepcopy(TRACK)
    wrong["properties"]["token"] = "phc_someone_else"
    wrong["uuid"] = "wrong-1"
    reply = post(keyed_client, gzip_js([wrong]))
    assert reply.status == 401 and "wrong write key" in reply.body["reason"]
    assert [b["messageId"] for b in keyed_client.beacons()] == [TRACK["uuid"]]


def test_other_paths_are_not_the_collector(client: Any) -> None:
    """Only PostHog's capture paths store; the rest of its host is the profile's (none here: 404)."""
    assert post(client, gzip_js([TRACK]), path="/posthog/s/").status == 404
    assert client.beacons() == []


# ---- malformed, oversized, bombed --------------------------------------------------------------

BOMB = gzip.compress(b"[" + b" " * (MAX_DECOMPRESSED_BYTES * 4) + b"]", compresslevel=9)
BAD = {
    "not gzip": (b"\x1f\x8bnot really gzip", "compression=gzip-js", "text/plain", 400, "not valid gzip"),
    "truncated gzip": (gzip_js(EVENTS)[:-12], "compression=gzip-js", "text/plain", 400, "not valid gzip"),
    "gzip bomb": (BOMB, "compression=gzip-js", "text/plain", 413, "decompressed body exceeds"),
    "unknown compression": (b"{}", "compression=lz64", "text/plain", 415, "unsupported PostHog compression"),
    "no data field": (b"other=1", "compression=base64", "application/x-www-form-urlencoded", 400, "no 'data' field"),
    "not base64": (b"data=%%%%", "compression=base64", "application/x-www-form-urlencoded", 400, "not base64"),
    "two data fields": (b"data=e30%3D&data=e30%3D", "compression=base64", "application/x-www-form-urlencoded", 400,
                        "more than one"),
    "base64 of garbage": (b"data=" + base64.b64encode(b"\xff\xfe").replace(b"=", b"%3D"), "compression=base64",
                          "application/x-www-form-urlencoded", 400, "not UTF-8"),
    "not JSON": (b"hello", "", "text/plain", 400, "malformed JSON"),
    "a number": (b"42", "", "application/json", 400, "must be an event object"),
    "empty array": (b"[]", "", "application/json", 400, "no events"),
    "batch not a list": (b'{"batch": {}}', "", "application/json", 400, "'batch' array"),
    "empty body": (b"", "", "text/plain", 400, "empty body"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_malformed_bodies_are_4xx_with_a_reason_and_kept(client: Any, name: str) -> None:
    body, query, content_type, status, reason = BAD[name]
    reply = post(client, body, query, content_type)
    assert reply.status == status and reason in reply.body["reason"], reply.body
    [bad] = client.bad()
    assert reason in bad["reason"] and bad["path"] == "/posthog/e/"
    assert client.beacons() == []


def test_an_oversized_body_is_413_and_kept(client: Any) -> None:
    body = json.dumps([{**TRACK, "uuid": f"big-{i}"} for i in range(1200)]).encode()
    assert len(body) > MAX_REQUEST_BYTES
    reply = post(client, body, content_type="application/json")
    assert reply.status == 413 and "limit" in reply.body["reason"]
    assert client.bad() and client.beacons() == []


def test_bad_events_in_a_batch_are_refused_one_by_one(client: Any) -> None:
    nameless = {k: v for k, v in TRACK.items() if k != "event"} | {"uuid": "nameless"}
    no_ids = {**copy.deepcopy(TRACK), "uuid": "no-ids"}
    for key in ("distinct_id", "$device_id"):
        del no_ids["properties"][key]
    reply = post(client, gzip_js([TRACK, "not an event", nameless, no_ids, {**TRACK, "properties": [1]}]))
    assert reply.status == 400 and reply.body["stored"] == 1
    reasons = [r["reason"] for r in reply.body["rejected"]]
    assert reasons[0] == "message must be a JSON object, got str"
    assert "'event'" in reasons[1] and "userId or an anonymousId" in reasons[2] and "'properties'" in reasons[3]
    assert [b["messageId"] for b in client.beacons()] == [TRACK["uuid"]]
    assert len(client.bad()) == 4


def test_an_event_over_the_message_limit_is_413(client: Any) -> None:
    big = {**copy.deepcopy(TRACK), "uuid": "big"}
    big["properties"]["blob"] = "x" * 40_000
    reply = post(client, gzip_js([big]))
    assert reply.status == 413 and "limit" in reply.body["reason"]
    assert client.beacons() == [] and client.bad()


# ---- property-based: the decoder alone, and the live collector -----------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=20)
                           | st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=20)
QUERIES = st.sampled_from(["", "compression=gzip-js", "compression=base64", "compression=gzip",
                           "compression=bogus", "sent_at=abc", "_=1796503359400", "sent_at=99999999999999999999"])
CONTENT_TYPES = st.sampled_from(["text/plain", "application/json", "application/x-www-form-urlencoded", "",
                                 "image/png"])


@cfg(300)
@given(raw=st.binary(max_size=300), query=QUERIES, content_type=CONTENT_TYPES)
def test_the_decoder_raises_only_rejected(raw: bytes, query: str, content_type: str) -> None:
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    try:
        body = posthog.decode(raw, params, content_type)
        messages, _ = posthog.split(body, params)
    except Rejected as exc:
        assert exc.reason and 400 <= exc.status < 500
        return
    assert isinstance(messages, list) and messages


@cfg(200)
@given(event=st.fixed_dictionaries({}, optional={
    "uuid": st.uuids().map(str) | json_values, "event": st.text(max_size=12) | json_values,
    "timestamp": st.just(TRACK["timestamp"]) | json_values,
    "properties": st.fixed_dictionaries({}, optional={
        "distinct_id": st.text(max_size=12) | json_values, "$device_id": st.text(max_size=12) | json_values,
        "$is_identified": st.booleans() | json_values, "$set": json_values, "token": json_values,
        "$group_key": json_values, "alias": json_values, "$ip": json_values}) | json_values,
    "$set": json_values}))
def test_any_event_is_a_beacon_or_refused_with_a_reason(event: dict[str, Any]) -> None:
    """to_beacon never raises; what it makes is either valid or refused by the collector's own check."""
    from harness.collecting.beacon import check
    message = posthog.to_beacon(event)
    assert posthog.raw_event(message) == event
    reason = check(message)
    if reason is None:
        assert message["type"] in ("page", "identify", "group", "alias", "track", "screen")
        assert message.get("userId") or message.get("anonymousId")


@cfg(60)
@given(events=st.lists(st.one_of(st.sampled_from(EVENTS), json_values, st.fixed_dictionaries({
    "event": st.text(max_size=10), "uuid": st.uuids().map(str),
    "properties": st.fixed_dictionaries({"distinct_id": st.text(min_size=1, max_size=10),
                                         "$device_id": st.text(max_size=10), "$is_identified": st.booleans()})})),
                       min_size=0, max_size=6),
       wrap=st.sampled_from(["list", "batch", "single"]), encoding=st.sampled_from(["gzip-js", "base64", "json",
                                                                                    "zlib-as-gzip", "cut"]))
def test_live_collector_stores_or_refuses_and_loses_nothing(server: Any, client_for: Any, events: list[Any],
                                                             wrap: str, encoding: str) -> None:
    server.store.clear()
    client = client_for(server)
    body: Any = events if wrap == "list" else {"batch": events} if wrap == "batch" else (events[0] if events else {})
    data = json.dumps(body).encode()
    if encoding == "gzip-js":
        raw, query = gzip.compress(data, mtime=0), "compression=gzip-js"
    elif encoding == "base64":
        raw, query = base64_form(body), "compression=base64"
    elif encoding == "zlib-as-gzip":
        raw, query = zlib.compress(data), "compression=gzip-js"  # zlib, not gzip: not what was announced
    elif encoding == "cut":
        raw, query = gzip.compress(data, mtime=0)[:-5], "compression=gzip-js"
    else:
        raw, query = data, ""
    reply = post(client, raw, query)
    assert reply.status < 500, reply.body
    stats = client.stats()
    assert stats["received"] == stats["stored"] + stats["duplicates"] + stats["bad"], stats
    if reply.status != 200:
        assert reply.body["reason"] and client.bad(), "a refusal is kept in the bad list with its reason"
    for beacon in client.beacons():
        original = posthog.raw_event(beacon)
        assert isinstance(original, dict) and beacon["messageId"], "only events are stored, each with its raw event"
        assert original in events or original == body, "the raw event is the one sent"
        assert beacon.get("userId") or beacon.get("anonymousId")
