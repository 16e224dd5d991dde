"""Golden payloads: captured messages against fixtures/snapshots/*.json, volatile fields masked but type-checked."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest
from assertions_support import STABLE_CONTEXT

USER = "97980cfea0067"


def shop_visit(new_device, beacons, product: str = "p1"):
    """A fixed story: product page, add to cart, identify. Each step awaited, so arrival order is fixed."""
    device = new_device("desktop", **STABLE_CONTEXT)
    device.visit(f"/products/{product}")
    beacons.expect(type="page")
    device.tab.click("#add-to-cart")
    beacons.expect(event="Product Added")
    device.identify(USER, {"email": "peter@initech.example", "plan": "premium"})
    beacons.expect(type="identify")
    return device


def send(base_url: str, **message) -> None:
    """A message straight to the collector, as any HTTP library would send it."""
    body = json.dumps({"type": "track", "messageId": str(uuid.uuid4()), "anonymousId": "server-anon", **message})
    request = urllib.request.Request(f"{base_url}/v1/track", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def snapshot_failure(beacons, name: str, **kwargs) -> str:
    """The AssertionError text of a match_snapshot that must fail."""
    with pytest.raises(AssertionError) as caught:
        beacons.match_snapshot(name, **kwargs)
    return str(caught.value)


def record_then_clear(beacons, name: str, **kwargs) -> Path:
    """Record what was captured as snapshot ``name`` (like --snapshot-update), then start over."""
    beacons.snapshot_update = True
    path = beacons.match_snapshot(name, **kwargs)
    beacons.snapshot_update = False
    beacons.clear()
    return path


def recorded(beacons, name: str) -> None:
    """Golden payloads are stored per library (fixtures/snapshots/<library>/); skip, saying how, if there are none."""
    path = beacons.snapshot_dir / f"{name}.json"
    if not path.exists() and not beacons.snapshot_update:
        pytest.skip(f"no golden payload {path} recorded for this library: record it with "
                    f"`{beacons.rerun}`, review it, commit it")


def test_golden_payload_matches(new_device, beacons) -> None:
    """fixtures/snapshots/<library>/product-added.json was recorded with --snapshot-update and reviewed."""
    recorded(beacons, "product-added")
    shop_visit(new_device, beacons)
    path = beacons.match_snapshot("product-added")
    golden = json.loads(path.read_text())["messages"]
    assert [m["type"] for m in golden] == ["page", "track", "identify"]
    assert golden[1]["timestamp"] == "<timestamp>" and golden[1]["anonymousId"] == "<anonymousId:1>"
    assert golden[1]["context"]["page"]["url"] == "http://<host>/products/p1"


def test_golden_payload_filters(new_device, beacons) -> None:
    recorded(beacons, "product-added-track")
    shop_visit(new_device, beacons)
    beacons.match_snapshot("product-added-track", type="track")


def test_changed_payload_fails_with_a_readable_diff(new_device, beacons) -> None:
    recorded(beacons, "product-added")
    shop_visit(new_device, beacons, product="p2")
    text = snapshot_failure(beacons, "product-added")
    assert "snapshot 'product-added'" in text and "differs from the 3 captured message(s) (snapshot has 3)" in text
    assert "message 1 (page), snapshot message 1:" in text
    assert 'context.page.path: expected "/products/p1", got "/products/p2"' in text
    assert "message 2 (track 'Product Added'), snapshot message 2:" in text
    assert "properties.price: expected 12.5, got 4" in text
    assert 'properties.name: expected "Red Stapler", got "TPS Report Covers"' in text
    assert f"accept them with `{beacons.rerun}`" in text
    assert "test_assert_snapshots.py::test_changed_payload_fails_with_a_readable_diff[" in beacons.rerun
    assert "anonymousId" not in text and "messageId" not in text, "volatile fields are masked"


def test_missing_and_extra_messages_are_named(new_device, beacons) -> None:
    recorded(beacons, "product-added")
    device = shop_visit(new_device, beacons)
    device.track("Checkout Started", {})
    beacons.expect(event="Checkout Started")
    text = snapshot_failure(beacons, "product-added")
    assert "message 4 (track 'Checkout Started'): unexpected, not in the snapshot" in text
    beacons.clear()
    new_device("desktop", **STABLE_CONTEXT).visit("/products/p1")
    beacons.expect(type="page")
    text = snapshot_failure(beacons, "product-added")
    assert "snapshot message 2 (track 'Product Added'): missing, nothing captured for it" in text
    assert "snapshot message 3 (identify): missing" in text


def test_missing_snapshot_file_says_how_to_create_it(new_device, beacons, tmp_path: Path, request) -> None:
    beacons.snapshot_dir = tmp_path
    new_device("desktop").visit("/")
    beacons.expect(type="page")
    assert request.node.name.startswith("test_missing_snapshot_file_says_how_to_create_it[chromium")
    assert snapshot_failure(beacons, "home") == (
        f"no snapshot {tmp_path / 'home.json'} yet. Record the 1 captured message(s) with "
        f"`{beacons.rerun}`, "
        "review the file, and commit it.")
    assert not (tmp_path / "home.json").exists()


def test_snapshot_update_rewrites_the_file(new_device, beacons, tmp_path: Path) -> None:
    beacons.snapshot_dir = tmp_path
    beacons.snapshot_update = True
    shop_visit(new_device, beacons)
    path = beacons.match_snapshot("story")
    text = path.read_text()
    for placeholder in ('"<messageId>"', '"<timestamp>"', '"<anonymousId:1>"', '"<userAgent>"', '"<ip>"',
                        '"<seq>"', '"<received_ms>"', '"<device:1>"', '"http://<host>/products/p1"'):
        assert placeholder in text, placeholder
    transport = beacons.all(type="identify")[0]["_meta"]["transport"]  # as observed, whatever the library used
    assert '"userId": "97980cfea0067"' in text and f'"transport": "{transport}"' in text
    beacons.snapshot_update = False
    beacons.match_snapshot("story")  # the rewritten file matches what it was recorded from

    beacons.snapshot_update = True  # a different story rewrites it ...
    beacons.clear()
    new_device("desktop", **STABLE_CONTEXT).visit("/cart")
    beacons.expect(type="page")
    beacons.match_snapshot("story")
    assert '"/cart"' in path.read_text() and "/products/p1" not in path.read_text()


def test_masked_fields_are_still_type_checked(harness_server, beacons, tmp_path: Path) -> None:
    beacons.snapshot_dir = tmp_path
    good = {"event": "Imported", "timestamp": "2024-05-01T10:00:00.000Z", "context": {"ip": "10.1.2.3"}}
    send(harness_server.base_url, **good)
    beacons.expect(event="Imported")
    record_then_clear(beacons, "imported")
    send(harness_server.base_url, **{**good, "timestamp": "yesterday", "messageId": " ",
                                     "context": {"ip": "not-an-ip"}})
    beacons.expect(event="Imported")
    text = snapshot_failure(beacons, "imported")
    assert 'timestamp: expected <timestamp> (an ISO-8601 timestamp), got "yesterday"' in text
    assert 'originalTimestamp: expected <timestamp> (an ISO-8601 timestamp), got "yesterday"' in text
    assert 'messageId: expected <messageId> (a non-empty string), got " "' in text
    assert 'context.ip: expected <ip> (an IP address), got "not-an-ip"' in text


def test_ids_are_numbered_so_identity_is_checked(new_device, beacons, tmp_path: Path) -> None:
    """Two page views by one visitor share <anonymousId:1>; by two visitors they do not."""
    beacons.snapshot_dir = tmp_path
    one = new_device("desktop", **STABLE_CONTEXT)
    one.visit("/cart")
    beacons.expect(type="page")
    one.visit("/cart")
    beacons.expect(type="page", count=2)
    record_then_clear(beacons, "two-views")
    for _ in range(2):
        new_device("desktop", **STABLE_CONTEXT).visit("/cart")
    beacons.expect(type="page", count=2)
    text = snapshot_failure(beacons, "two-views")
    assert "anonymousId: expected <anonymousId:1> (a non-empty string), got <anonymousId:2>" in text
    assert "_meta.device: expected <device:1> (a non-empty string), got <device:2>" in text


def test_extra_masks_and_anonymized_ip(new_device, beacons, tmp_path: Path) -> None:
    """The random order id is masked on request; the page's anonymized ip "0.0.0.0" stays literal."""
    beacons.snapshot_dir = tmp_path
    device = new_device("desktop", **STABLE_CONTEXT)
    device.visit("/checkout/complete")
    beacons.expect(event="Order Completed")
    path = record_then_clear(beacons, "checkout", mask=["properties.order_id"], event="Order Completed")
    [order] = json.loads(path.read_text())["messages"]
    assert order["properties"]["order_id"] == "<properties.order_id:1>"
    assert order["context"]["ip"] == "0.0.0.0"
    device.visit("/checkout/complete")  # a new random order id
    beacons.expect(event="Order Completed")
    beacons.match_snapshot("checkout", mask=["properties.order_id"], event="Order Completed")
    unmasked = r"properties.order_id: expected <properties.order_id:1> \(any non-null value\), got \"o-"
    with pytest.raises(AssertionError, match=unmasked):
        beacons.match_snapshot("checkout", event="Order Completed")


def test_snapshot_names_cannot_escape_the_folder(beacons) -> None:
    with pytest.raises(ValueError, match="must be letters, digits"):
        beacons.match_snapshot("../../etc/passwd")
