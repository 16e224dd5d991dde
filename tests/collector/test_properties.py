"""Issue 8, bad input: property-based tests (hypothesis) of parsing, validation and the live collector.

Whatever arrives — arbitrary bytes, arbitrary JSON, deep nesting, huge strings, wrong types in every
field, invalid UTF-8, any Content-Type, truncated gzip — the answer is a 4xx with a reason (and a
bad-list entry per rejection) or a 200 with a stored beacon. Never a 500, never an exception.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import uuid
import zlib
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.collecting.beacon import (
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    MAX_REQUEST_BYTES,
    TYPES,
    Rejected,
    RequestInfo,
    decode_body,
    enrich,
    message_size,
    split_request,
    validate,
)
from harness.server import HarnessServer

FIELDS = ("type", "userId", "anonymousId", "event", "name", "category", "properties", "traits", "context",
          "integrations", "groupId", "previousId", "messageId", "timestamp", "sentAt", "originalTimestamp",
          "_metadata", "writeKey", "channel", "version")
PATHS = (*TYPES, "batch", "b")
CONTENT_TYPES = ("application/json", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "image/png", "", "garbage/;;;=",
                 "application/json; charset=latin-1")
# Deterministic by default (the same examples every run); HARNESS_EXPLORE=1 draws new ones and
# HARNESS_EXAMPLES=N multiplies the example counts, for a longer hunt.
EXPLORE = bool(os.environ.get("HARNESS_EXPLORE"))
SCALE = int(os.environ.get("HARNESS_EXAMPLES", "1"))
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]


def cfg(examples: int, **extra: Any) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=not EXPLORE, **extra)


INFO = RequestInfo("/v1/track", "127.0.0.1", None, "hypothesis", None, 0.0, "2024-01-01T00:00:00.000Z")

# text that includes lone surrogates and control characters, as buggy clients produce
any_text = st.text(alphabet=st.characters(codec=None, categories=["L", "N", "P", "S", "Z", "Cc", "Cs"]), max_size=30)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(any_text, kids, max_size=4), max_leaves=12)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly-plausible messages: a valid core, then any field replaced by any JSON value or removed."""
    msg: dict[str, Any] = {
        "type": draw(st.sampled_from(sorted(set(TYPES.values())))),
        "anonymousId": draw(st.sampled_from(["anon-1", "a"])),
        "event": "Clicked", "groupId": "g1", "previousId": "p1",
        "messageId": draw(st.uuids().map(str)),
    }
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            msg[name] = draw(json_values)
        else:
            msg.pop(name, None)
    return msg


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Request bodies from every family of bad (and good) input."""
    family = draw(st.sampled_from(["bytes", "json", "message", "batch", "nested", "huge", "bad-utf8"]))
    if family == "bytes":
        return draw(st.binary(max_size=300))
    if family == "json":
        return json.dumps(draw(json_values)).encode()
    if family == "message":
        return json.dumps(draw(messages())).encode()
    if family == "batch":
        batch = draw(st.lists(messages() | json_values, max_size=6))
        shared = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=2))
        return json.dumps({"batch": batch, **shared}).encode()
    if family == "nested":
        depth = draw(st.integers(1, 100_000))
        inner = nested(depth, draw(st.sampled_from(["array", "object"])))
        if draw(st.booleans()):
            return inner.encode()
        return ('{"type":"track","event":"E","anonymousId":"a","properties":{"deep":' + inner + "}}").encode()
    if family == "huge":
        size = draw(st.sampled_from([MAX_MESSAGE_BYTES - 200, MAX_MESSAGE_BYTES + 10, MAX_REQUEST_BYTES + 10,
                                     draw(st.integers(0, 700_000))]))
        where = draw(st.sampled_from(["event", "userId", "properties", "anonymousId", "type"]))
        value: Any = {"s": "x" * size} if where == "properties" else "x" * size
        return json.dumps({"type": "track", "event": "E", "anonymousId": "a", where: value}).encode()
    good = json.dumps(draw(messages())).encode()
    cut = draw(st.integers(0, len(good)))
    junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xf8\x88\x80\x80\x80"]))
    return good[:cut] + junk + good[cut:]


# ---- pure functions ----------------------------------------------------------------------------
@cfg(250, suppress_health_check=SLOW_OK)
@given(raw=bodies() | st.binary(max_size=200), encoding=st.sampled_from(["", "identity", "gzip", "deflate", "br"]),
       compress=st.booleans(), path=st.sampled_from(PATHS))
def test_decode_split_validate_never_raise_anything_but_rejected(raw: bytes, encoding: str, compress: bool,
                                                                 path: str) -> None:
    if compress and encoding == "gzip":
        raw = gzip.compress(raw)
    elif compress and encoding == "deflate":
        raw = zlib.compress(raw)
    try:
        body = decode_body(raw, encoding)
        messages_, shared = split_request(path, body)
    except Rejected as exc:
        assert exc.status in (400, 413, 415) and exc.reason
        return
    for message in messages_:
        reason = validate({**shared, **message} if isinstance(message, dict) else message)
        assert reason is None or (isinstance(reason, str) and len(reason) < 300)


@cfg(200)
@given(value=json_values | messages())
def test_valid_means_storable(value: Any) -> None:
    """Whatever validate() accepts, enrich() and the store's JSON can handle."""
    if validate(value) is not None:
        return
    record = enrich(value, {}, INFO)
    text = json.dumps(record, separators=(",", ":"))
    again = json.loads(text)
    assert again["messageId"] and again["type"] in set(TYPES.values())
    assert "ip" in again["context"] and again["receivedAt"] == INFO.received_at


@pytest.mark.parametrize("field", FIELDS)
@cfg(30)
@given(value=json_values, base=messages())
def test_wrong_types_in_every_field(field: str, value: Any, base: dict[str, Any]) -> None:
    message = {**base, field: value}
    reason = validate(message)
    if reason is None:
        json.dumps(enrich(message, {}, INFO))
    else:
        assert isinstance(reason, str) and reason


@cfg(60)
@given(depth=st.integers(MAX_DEPTH + 1, 100_000), kind=st.sampled_from(["array", "object"]))
def test_deep_nesting_is_400_not_recursion(depth: int, kind: str) -> None:
    with pytest.raises(Rejected) as err:
        decode_body(nested(depth, kind).encode())
    assert err.value.status in (400, 413)


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert decode_body(nested(MAX_DEPTH, "array").encode()) is not None
    with pytest.raises(Rejected, match="nested too deeply"):
        decode_body(nested(MAX_DEPTH + 1, "array").encode())


@cfg(200)
@given(message=messages(), data=st.data())
def test_truncated_gzip_is_always_rejected(message: dict[str, Any], data: st.DataObject) -> None:
    packed = gzip.compress(json.dumps(message).encode())
    cut = data.draw(st.integers(0, len(packed) - 1))
    with pytest.raises(Rejected) as err:
        decode_body(packed[:cut], "gzip")
    assert err.value.status == 400


@cfg(100)
@given(size=st.integers(MAX_MESSAGE_BYTES - 300, MAX_MESSAGE_BYTES + 300))
def test_the_32kb_limit_is_exact(size: int) -> None:
    message = {"type": "track", "event": "E", "anonymousId": "a", "properties": {"s": "é" * (size // 2)}}
    reason = validate(message)
    assert (reason is not None and reason.startswith("message is")) == (message_size(message) > MAX_MESSAGE_BYTES)


# ---- the live collector ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live() -> Generator[HarnessServer, None, None]:
    srv = HarnessServer(snippet="none").start()
    yield srv
    srv.stop()


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw)
    finally:
        conn.close()


def check_reply(live: HarnessServer, path: str, body: bytes, headers: dict[str, str]) -> int:
    """Post and check the invariants; returns the status."""
    store = live.store
    before = store.stats()
    last_seq = max((r["_meta"]["seq"] for r in store.query(limit=1)), default=0)
    status, reply = _post(live.port, path, body, headers)
    after = store.stats()
    delta = {k: after[k] - before[k] for k in after}
    assert status == 200 or 400 <= status < 500, (status, reply)
    assert delta["received"] == delta["stored"] + delta["duplicates"] + delta["bad"], delta
    assert delta["unauthorized"] == 0
    if status == 200:
        assert reply == {"success": True}
        assert delta["bad"] == 0 and delta["stored"] + delta["duplicates"] >= 1
    else:
        assert reply["error"] and isinstance(reply["reason"], str) and reply["reason"], reply
        rejected = reply.get("rejected")
        assert delta["bad"] == (len(rejected) if rejected else 1), (delta, reply)
        assert delta["stored"] == reply.get("stored", 0)
        new_bad = [e for e in store.bad() if e.get("kind") != "conflict"][-delta["bad"]:]  # notes are no rejections
        assert {e["reason"] for e in new_bad} == {r["reason"] for r in rejected} if rejected else \
            [e["reason"] for e in new_bad] == [reply["reason"]]
    stored = store.query(since=last_seq)
    assert len(stored) == delta["stored"]
    for record in stored:
        json.loads(json.dumps(record))
        assert record["messageId"] and record["receivedAt"] and "ip" in record["context"]
    return status


@cfg(300, suppress_health_check=SLOW_OK)
@given(body=bodies(), path=st.sampled_from([*PATHS, "nope", "TRACK", "batch2"]),
       content_type=st.sampled_from(CONTENT_TYPES),
       encoding=st.sampled_from([None, None, "gzip", "deflate", "identity", "br", "GZIP"]),
       compress=st.sampled_from(["yes", "no", "truncated"]))
def test_live_collector_never_500s(live: HarnessServer, body: bytes, path: str, content_type: str,
                                   encoding: str | None, compress: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if encoding:
        headers["Content-Encoding"] = encoding
        if compress != "no" and encoding.lower() in ("gzip", "deflate"):
            body = gzip.compress(body) if encoding.lower() == "gzip" else zlib.compress(body)
            if compress == "truncated":
                body = body[: len(body) // 2]
    check_reply(live, f"/v1/{path}", body, headers)


@cfg(100)
@given(message=messages(), content_type=st.sampled_from(CONTENT_TYPES))
def test_live_valid_messages_are_stored_exactly(live: HarnessServer, message: dict[str, Any],
                                                content_type: str) -> None:
    """Any content type carries a message; what validate() accepts is stored with its fields unchanged."""
    if isinstance(message.get("messageId"), str):
        message["messageId"] = str(uuid.uuid4())  # hypothesis repeats ids; a repeat would be a duplicate
    path = message["type"] if isinstance(message.get("type"), str) and message["type"] in TYPES else "track"
    seen = split_request(path, message)[0][0]  # as the collector sees it: the path fills a missing type
    reason = validate(seen)
    status = check_reply(live, f"/v1/{path}", json.dumps(message).encode(), {"Content-Type": content_type})
    if reason is not None:
        assert status in (400, 413), (status, reason)
        return
    assert status == 200
    if message.get("messageId"):
        [stored] = live.store.query(messageId=message["messageId"])
        assert {k: stored[k] for k in seen if k != "context"} == {k: v for k, v in seen.items() if k != "context"}
        context = seen.get("context") or {}
        assert stored["context"] == {"ip": "127.0.0.1", **context}, "context kept, ip added only when absent"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 10_000, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_live_deep_nesting(live: HarnessServer, depth: int, kind: str) -> None:
    status = check_reply(live, "/v1/track", nested(depth, kind).encode(), {"Content-Type": "text/plain"})
    assert status in (400, 413)
    if status == 400:
        assert "nested too deeply" in live.store.bad()[-1]["reason"]
