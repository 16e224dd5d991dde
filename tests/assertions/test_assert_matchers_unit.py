"""The matcher rules on hand-made records (no browser): each rule passes its good case and explains its bad one."""

from __future__ import annotations

import re
import threading
import time
import uuid
from typing import Any

import pytest

from harness.collecting.store import BeaconStore
from harness.testing.capture import Beacons
from harness.testing.matchers import ABSENT, ANY, build_spec, compare, contains, matches, one_of


def message(type: str = "track", **fields: Any) -> dict[str, Any]:
    return {"type": type, "messageId": str(uuid.uuid4()), "anonymousId": "anon-1", "userId": None,
            "context": {"page": {"path": "/signup", "url": "http://www.shop.test:8000/signup"}},
            "_meta": {"transport": "beacon", "device": "d1"}, **fields}


SIGNED_UP = message(event="Signed Up", userId="97980cfea0067",
                    properties={"plan": "premium", "price": 12.5, "tags": ["a", "b"], "n": 1})


@pytest.fixture
def store() -> BeaconStore:
    return BeaconStore()


@pytest.fixture
def captured(store: BeaconStore) -> Beacons:
    return Beacons(store)


@pytest.mark.parametrize("spec", [
    {"properties": {"plan": "premium"}},  # nested dicts match subsets
    {"context__page__path": "/signup"},  # double-underscore nesting
    {"transport": "beacon"},  # alias for _meta.transport
    {"_meta": {"transport": "beacon"}},
    {"_meta__transport": "beacon", "_meta": {"device": "d1"}},  # both forms merge
    {"properties": {"price": lambda p: p > 10}},  # predicate
    {"context": {"page": {"url": re.compile(r"^http://www\.shop\.test:\d+/")}}},  # regex (search)
    {"userId": str, "properties": {"n": int}},  # isinstance
    {"properties": {"tags": ["a", "b"]}},  # lists element by element
    {"properties": {"tags": contains("b")}, "event": one_of("Signed Up", "Registered")},
    {"previousId": ABSENT, "userId": ANY},
])
def test_deep_partial_match(spec: dict[str, Any]) -> None:
    assert matches(SIGNED_UP, build_spec(partial=spec))


@pytest.mark.parametrize(("spec", "detail"), [
    ({"properties": {"plan": "free"}}, "properties.plan: expected 'free', got 'premium'"),
    ({"properties": {"coupon": "X"}}, "properties.coupon: expected 'X', got (missing)"),
    ({"transport": "xhr"}, "_meta.transport: expected 'xhr', got 'beacon'"),
    ({"properties": {"price": lambda p: p > 100}},
     "properties.price: expected a value for which lambda p: p > 100 holds, got 12.5 (returned False)"),
    ({"properties": {"plan": lambda p: p.nope()}}, "(raised AttributeError"),
    ({"context": {"page": {"path": re.compile("^/welcome")}}},
     "context.page.path: expected a string matching /^/welcome/, got '/signup'"),
    ({"properties": {"n": bool}}, "properties.n: expected a bool, got 1"),
    ({"properties": {"n": True}}, "properties.n: expected True, got 1"),  # True is not 1 here
    ({"properties": {"tags": ["a"]}}, "properties.tags: expected ['a'], got ['a', 'b']"),
    ({"properties": {"tags": contains("z")}}, "expected <a list containing 'z'>"),
    ({"userId": ABSENT}, "userId: expected <absent or null>, got '97980cfea0067'"),
    ({"context": {"page": "x"}}, "context.page: expected 'x', got {"),
    ({"properties": {"plan": {"tier": 1}}}, "properties.plan: expected an object with tier, got 'premium'"),
])
def test_mismatch_is_explained(spec: dict[str, Any], detail: str) -> None:
    hits, total, bad = compare(SIGNED_UP, build_spec(partial=spec))
    assert bad, "should not match"
    assert detail in "\n".join(map(str, bad))


def test_expect_returns_matches_and_waits_for_the_store(store: BeaconStore, captured: Beacons) -> None:
    """The wait is event-driven: a beacon added from another thread ends it at once."""
    later = message(event="Order Completed", properties={"order_id": "o-1"})
    threading.Timer(0.2, lambda: store.add([later])).start()
    started = time.monotonic()
    found = captured.expect(event="Order Completed", properties={"order_id": "o-1"}, timeout=5)
    assert time.monotonic() - started < 2
    assert [m["messageId"] for m in found] == [later["messageId"]]


def test_expect_near_misses_rank_closest_first(store: BeaconStore, captured: Beacons) -> None:
    store.add([message("page"), SIGNED_UP, message(event="Signed Up", properties={"plan": "free"})])
    with pytest.raises(AssertionError) as caught:
        captured.expect("track", "Signed Up", timeout=0.2, properties={"plan": "gold"}, userId="97980cfea0067")
    text = str(caught.value)
    assert "expected 1 message(s) matching type='track', event='Signed Up', properties.plan='gold'" in text
    assert "found 0 among 3 captured" in text
    closest = text.split("Closest captured messages:\n", 1)[1].splitlines()
    assert closest[0].startswith("  #2 track 'Signed Up' userId='97980cfea0067'"), closest
    assert closest[0].endswith("[3 of 4 fields match]")
    assert closest[1].strip() == "properties.plan: expected 'gold', got 'premium'"
    assert "#3 track 'Signed Up' userId=None" in text and "[2 of 4 fields match]" in text
    assert "#1 page" in text and "type: expected 'track', got 'page'" in text


def test_expect_count(store: BeaconStore, captured: Beacons) -> None:
    store.add([message(event="Product Added"), message(event="Product Added")])
    assert len(captured.expect(event="Product Added", count=2, timeout=0.2)) == 2
    with pytest.raises(AssertionError, match=r"expected 3 message\(s\).*found 2 among 2 captured\.\nMatching:\n  #1"):
        captured.expect(event="Product Added", count=3, timeout=0.2)


def test_expect_none(store: BeaconStore, captured: Beacons) -> None:
    store.add([message(event="Signed Up")])
    captured.expect_none(event="Order Completed", within=0.2)
    with pytest.raises(AssertionError,
                       match=r"expected no message matching event='Signed Up' within 0.2s; got 1:\n  #1"):
        captured.expect_none(event="Signed Up", within=0.2)
    captured.expect_none(event="Signed Up", within=0.2, since="now")  # only later arrivals


def test_expect_none_fails_as_soon_as_one_arrives(store: BeaconStore, captured: Beacons) -> None:
    threading.Timer(0.2, lambda: store.add([message(event="Signed Up")])).start()
    started = time.monotonic()
    with pytest.raises(AssertionError, match="got 1"):
        captured.expect_none(event="Signed Up", within=5)
    assert time.monotonic() - started < 2


def test_expect_sequence(store: BeaconStore, captured: Beacons) -> None:
    store.add([message("page"), message("identify", userId="u1"), message("page"),
               message(event="Signed Up", userId="u1")])
    steps = [{"type": "page"}, {"type": "identify", "userId": "u1"}, {"event": "Signed Up", "userId": "u1"}]
    found = captured.expect_sequence(steps, timeout=0.2)
    assert [m["_meta"]["seq"] for m in found] == [1, 2, 4]

    with pytest.raises(AssertionError) as caught:
        captured.expect_sequence([{"event": "Signed Up"}, {"type": "identify", "userId": "u1"}], timeout=0.2)
    text = str(caught.value)
    assert ("step 2 (type='identify', userId='u1') was not found after step 1's match #4 track 'Signed Up'"
            in text)
    assert "not found among the 0 message(s) after #4" in text
    assert "does match #2 identify" in text and "wrong order?" in text


def test_expect_sequence_near_misses_after_the_last_step(store: BeaconStore, captured: Beacons) -> None:
    store.add([message("page"), message(event="Signed Up", properties={"plan": "free"})])
    with pytest.raises(AssertionError) as caught:
        captured.expect_sequence([{"type": "page"}, {"event": "Signed Up", "properties": {"plan": "premium"}}],
                                 timeout=0.2)
    text = str(caught.value)
    assert "step 1 (type='page') -> #1 page" in text
    assert "Closest messages after #1:\n  #2 track 'Signed Up'" in text
    assert "properties.plan: expected 'premium', got 'free'" in text
