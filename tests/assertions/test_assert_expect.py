"""expect / expect_none / expect_sequence and transport matching, on beacons a real Chromium sent."""

from __future__ import annotations

import re

import pytest

from harness.testing.matchers import ANY


def test_expect_one_line_for_a_product_added(new_device, beacons) -> None:
    device = new_device("desktop")
    device.visit("/products/p1")
    device.tab.click("#add-to-cart")
    [added] = beacons.expect(
        "track", "Product Added",
        properties={"product_id": "p1", "name": re.compile("Stapler"), "price": lambda p: 10 < p < 20},
        context__page__path="/products/p1",
        anonymousId=device.anonymous_id(),
        transport=re.compile(r"^(beacon|xhr|fetch|fetch-keepalive|fetchlater)$"),  # observed in the browser
    )
    assert added["properties"]["category"] == "Office"


def test_expect_miss_lists_near_misses_with_differing_fields(new_device, beacons) -> None:
    device = new_device("desktop")
    device.visit("/products/p1")
    device.tab.click("#add-to-cart")
    beacons.expect("track", "Product Added")
    with pytest.raises(AssertionError) as caught:
        beacons.expect("track", "Product Added", timeout=0.3, properties={"product_id": "p2", "price": 4.0})
    text = str(caught.value)
    assert "expected 1 message(s) matching type='track', event='Product Added', properties.product_id='p2'" in text
    # the page and the track call, and what else the library sends on its own (PostHog: $autocapture, $pageleave)
    assert re.search(r"found 0 among \d+ captured", text), text
    lines = text.split("Closest captured messages:\n", 1)[1].splitlines()
    assert re.match(r"  #\d+ track 'Product Added' .*\[2 of 4 fields match\]$", lines[0]), lines[0]
    assert lines[1].strip() == "properties.product_id: expected 'p2', got 'p1'"
    assert lines[2].strip() == "properties.price: expected 4.0, got 12.5"
    assert any("page " in line and "[0 of 4 fields match]" in line for line in lines[3:]), lines


def test_expect_count_waits_for_all(new_device, beacons) -> None:
    device = new_device("desktop")
    device.visit("/products/p1")
    for _ in range(2):
        device.tab.click("#add-to-cart")
    assert len(beacons.expect(event="Product Added", count=2)) == 2
    with pytest.raises(AssertionError, match=r"found 2 among \d+ captured\.\nMatching:"):
        beacons.expect(event="Product Added", count=3, timeout=0.3)


def test_expect_none(new_device, beacons) -> None:
    device = new_device("desktop")
    device.visit("/")
    beacons.expect(type="page")
    beacons.expect_none(event="Signed Up", within=0.3)  # good: the home page signs nobody up
    device.visit("/products/p1")
    device.tab.click("#add-to-cart")
    with pytest.raises(AssertionError) as caught:  # bad: something matching did arrive
        beacons.expect_none(event="Product Added", within=3)
    assert "expected no message matching event='Product Added' within 3s; got 1:\n  #" in str(caught.value)


def test_expect_none_since_now_ignores_earlier_messages(new_device, beacons) -> None:
    device = new_device("desktop")
    device.visit("/")
    beacons.expect(type="page")
    device.reset()  # reset sends nothing by itself
    beacons.expect_none(type="page", since="now", within=0.3)
    with pytest.raises(AssertionError, match="expected no message matching type='page'"):
        beacons.expect_none(type="page", within=0.3)


def test_expect_sequence_sign_up(new_device, beacons) -> None:
    """page -> identify -> "Signed Up" with the same anonymousId (C7), other calls allowed between."""
    device = new_device("desktop")
    device.visit("/")
    anon = device.anonymous_id()
    # each call delivered before the next: a library may send concurrently (RudderStack does), and the
    # arrival order of calls made back to back is then a race -- this test is about expect_sequence
    device.track("Product Added", {"product_id": "p1"})
    beacons.expect(event="Product Added")
    device.identify("97980cfea0067", {"email": "peter@initech.example"})
    beacons.expect(type="identify", userId="97980cfea0067")
    device.track("Signed Up", {"plan": "premium"})
    page, identify, signed_up = beacons.expect_sequence([
        {"type": "page", "anonymousId": anon},
        {"type": "identify", "userId": "97980cfea0067", "traits": {"email": ANY}},
        {"type": "track", "event": "Signed Up", "userId": "97980cfea0067", "anonymousId": anon},
    ])
    assert page["_meta"]["seq"] < identify["_meta"]["seq"] < signed_up["_meta"]["seq"]

    with pytest.raises(AssertionError) as caught:  # the same calls in the wrong order
        beacons.expect_sequence([{"event": "Signed Up"}, {"type": "identify"}], timeout=0.3)
    text = str(caught.value)
    assert re.search(r"step 2 \(type='identify'\) was not found after step 1's match #\d+ track 'Signed Up'", text)
    assert re.search(r"does match #\d+ identify userId='97980cfea0067'.*wrong order\?", text)


@pytest.mark.library("intilery", reason="uses static/intilery.js's delivery= option to pick the transport")
@pytest.mark.parametrize(("delivery", "transport"), [("beacon", "beacon"), ("xhr", "xhr"),
                                                     ("keepalive", "fetch-keepalive")])
def test_transport_is_matchable(new_device, beacons, delivery: str, transport: str) -> None:
    """``transport=`` (short for ``_meta.transport``) tells how the beacon travelled (observed, see
    harness/suite/test_transport.py for every library)."""
    device = new_device("desktop")
    device.visit(f"/?delivery={delivery}")
    beacons.expect(type="page", transport=transport)
    beacons.expect(type="page", _meta={"transport": transport, "path": "/v1/page"})
    other = "xhr" if transport != "xhr" else "beacon"
    with pytest.raises(AssertionError) as caught:
        beacons.expect(type="page", transport=other, timeout=0.3)
    assert f"_meta.transport: expected '{other}', got '{transport}'" in str(caught.value)
