"""API = docs: docs/api.md's parameter tables are the handlers' table, every documented parameter is checked
(400 with a JSON reason), and /api/bad's counts agree with what it lists and with the header's."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from harness.inspection.api import PARAMETERS, ROUTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HEADING = re.compile(r"^###\s+`(?P<method>GET|POST|DELETE|PUT|PATCH) (?P<path>/api/[^`\s]*)`\s*$")


def documented() -> dict[str, dict[str, set[str]]]:
    """``{"GET /api/beacons": {"parameter": {...}, "body field": {...}}}`` from docs/api.md's tables."""
    out: dict[str, dict[str, set[str]]] = {}
    endpoint, table = None, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            match = HEADING.match(line)
            endpoint = f"{match['method']} {match['path']}" if match else None
            if endpoint:
                out[endpoint] = {}
            table = None
            continue
        if endpoint is None or not line.startswith("|"):
            table = None if not line.startswith("|") else table
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if table is None:
            table = cells[0] if cells[0] in ("parameter", "body field") else ""
            if table:
                out[endpoint].setdefault(table, set())
            continue
        if table and not set(cells[0]) <= set("-: "):
            out[endpoint][table].update(re.findall(r"`([A-Za-z_]+)`", cells[0]))
    return out


def test_every_endpoint_is_documented_with_exactly_the_parameters_its_handler_takes() -> None:
    docs = documented()
    assert set(docs) == set(PARAMETERS) == set(ROUTES), "docs/api.md's ### headings are the routes"
    for endpoint, parsers in PARAMETERS.items():
        assert docs[endpoint].get("parameter", set()) == set(parsers), endpoint


def test_the_fault_fields_documented_are_the_ones_the_handler_accepts(client: Any) -> None:
    reply = client.post("/api/faults", {"bogus": 1})
    assert reply.status == 400
    known = set(reply.body["reason"].split("known: ")[1].split(", "))
    assert documented()["POST /api/faults"]["body field"] == known


SAMPLES = {"type": "track", "event": "Signed Up", "userId": "u1", "anonymousId": "a1", "since": "1",
           "limit": "5", "before": "10", "offset": "0", "messages": "0", "order": "recent"}


@pytest.mark.parametrize("endpoint", [e for e in PARAMETERS if e.startswith("GET ") and e != "GET /api/stream"])
def test_each_documented_parameter_is_taken_and_an_unknown_one_is_a_400(client: Any, endpoint: str) -> None:
    path = endpoint.split(" ")[1]
    for name in PARAMETERS[endpoint]:
        reply = client.get(f"{path}?{name}={quote(SAMPLES[name])}")
        assert reply.status == 200, (endpoint, name, reply.body)
    reply = client.get(f"{path}?userid=u1")
    assert reply.status == 400 and "unknown parameter 'userid'" in reply.body["reason"], reply.body


@pytest.mark.parametrize(("query", "says"), [
    ("/api/beacons?since=yesterday", "since must be an arrival number (_meta.seq) or an ISO-8601 time"),
    ("/api/beacons?type=bogus", "type must be one of alias, group, identify, page, screen, track"),
    ("/api/beacons?limit=0", "limit must be at least 1"),
    ("/api/beacons?limit=x", "limit must be an integer"),
    ("/api/beacons?before=-1", "before must be at least 0"),
    ("/api/beacons?type=track&type=page", "type is given 2 times"),
    ("/api/bad?since=x", "since must be an integer"),
    ("/api/bad?limit=0", "limit must be at least 1"),
    ("/api/profiles?order=sideways", "order must be one of first, recent"),
    ("/api/profiles?offset=-1", "offset must be at least 0"),
    ("/api/stats?verbose=1", "unknown parameter 'verbose' for GET /api/stats; it takes: none"),
])
def test_a_bad_value_is_a_400_with_a_json_reason(client: Any, query: str, says: str) -> None:
    reply = client.get(query)
    assert reply.status == 400 and reply.body["error"] == "bad request", reply.body
    assert says in reply.body["reason"], reply.body


def test_since_takes_an_iso_time_in_any_zone(client: Any) -> None:
    message = {"type": "track", "event": "E", "anonymousId": "a1", "messageId": str(uuid.uuid4())}
    assert client.post("/v1/track", message).status == 200
    received = client.beacons()[0]["receivedAt"]
    assert [b["messageId"] for b in client.beacons(f"?since={quote(received)}")] == [message["messageId"]]
    assert client.beacons("?since=2999-01-01T00:00:00%2B14:00") == []
    assert len(client.beacons("?since=2000-01-01")) == 1, "a date alone is midnight UTC"


def test_bad_lists_what_it_counts_and_a_resend_is_no_rejection(client: Any) -> None:
    first = {"type": "track", "event": "Viewed", "anonymousId": "a1", "messageId": "m-resend",
             "properties": {"step": 1}, "sentAt": "2026-01-01T00:00:00.000Z"}
    assert client.post("/v1/track", first).status == 200
    again = {**first, "properties": {"step": 2}, "sentAt": "2026-01-01T00:00:01.000Z"}
    assert client.post("/v1/track", again).status == 200  # a library's re-send with changed content
    assert client.post("/v1/track", {"type": "track", "anonymousId": "a1"}).status == 400  # a rejection
    doc = client.get("/api/bad").body
    resend, rejection = doc["bad"]
    assert (doc["total"], doc["kept"], len(doc["bad"])) == (2, 2, 2), doc
    assert (doc["rejected"], doc["resent"]) == (1, 1) and client.stats()["bad"] == 1, "the header's BAD: rejections"
    assert resend["kind"] == "conflict" and resend["status"] == 200 and resend["messageId"] == "m-resend"
    assert resend["diff"] == [{"field": "properties.step", "stored": 1, "resent": 2}], "sentAt is no change"
    assert "re-send" in resend["reason"] and "kind" not in rejection
    assert json.loads(resend["raw"])["properties"] == {"step": 2}
    paged = client.get("/api/bad?limit=1").body
    assert [e["id"] for e in paged["bad"]] == [rejection["id"]] and paged["total"] == 2
    assert client.get(f"/api/bad?since={resend['id']}").body["bad"] == [rejection]
    assert client.delete("/api/beacons").status == 200
    assert client.get("/api/bad").body == {"bad": [], "kept": 0, "total": 0, "rejected": 0, "resent": 0}


def test_counts_survive_a_restart(tmp_path: Path) -> None:
    from harness.collecting.store import BeaconStore

    db = tmp_path / "s.sqlite"
    store = BeaconStore(str(db))
    record = {"type": "track", "event": "E", "anonymousId": "a", "messageId": "m1", "properties": {"n": 1}}
    store.add([record])
    store.add([{**record, "properties": {"n": 2}}])
    store.close()
    again = BeaconStore(str(db))
    try:
        assert again.bad_counts() == {"rejected": 0, "resent": 1} and len(again.bad()) == 1
    finally:
        again.close()
