"""A keyword the matchers do not know is a TypeError naming the right one, never a field nobody sends."""

from __future__ import annotations

import pytest

from harness.collecting.store import BeaconStore
from harness.testing.capture import Beacons


@pytest.fixture
def captured():
    store = BeaconStore()
    store.add([{"type": "page", "anonymousId": "a1", "messageId": "m1", "context": {"page": {"path": "/"}},
                "custom": "yes"}])
    yield Beacons(store)
    store.close()


@pytest.mark.parametrize(("call", "says"), [
    (lambda b: b.expect("page", within=2), "expect() got an unexpected keyword argument 'within': did you mean"),
    (lambda b: b.expect_none(event="X", timeout=1), "did you mean within=?"),
    (lambda b: b.expect_none(event="X", count=2), "expect_none() has no parameter for a count"),
    (lambda b: b.wait_for("page", within=1), "wait_for() got an unexpected keyword argument 'within'"),
    (lambda b: b.one("page", wait=1), "did you mean timeout=?"),
    (lambda b: b.match_snapshot("x", masks=["a"]), "did you mean mask=?"),
    (lambda b: b.match_snapshot("x", update=True), "pytest --snapshot-update"),
    (lambda b: b.expect("page", usrId="u1"), "'usrId': it is not a parameter nor a field of an analytics.js message"),
    (lambda b: b.all(evnt="x"), "'evnt': it is not a parameter"),
])
def test_unknown_keywords_are_type_errors(captured, call, says) -> None:
    with pytest.raises(TypeError) as info:
        call(captured)
    assert says in str(info.value)


def test_fields_and_nested_keywords_still_match(captured) -> None:
    assert captured.expect("page", context__page__path="/", timeout=0.1)
    assert captured.expect("page", fields={"custom": "yes"}, timeout=0.1)
    assert captured.all(since=0) and captured.all("page", anonymousId="a1")
    captured.expect_none(event="Nope", within=0.01, since="now")
    with pytest.raises(TypeError, match=r"fields=\{'custom': \.\.\.\}"):
        captured.expect("page", custom="yes")
