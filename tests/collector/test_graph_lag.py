"""Issue 20: the collector commits beacons without the identity graph; the graph catches up when ingest pauses.

The store side (bound, reads, crash repair) is tested in tests/unit/test_graph.py; here the server's part:
once requests stop for GRAPH_LAG_SECONDS the loop brings the graph up with nobody reading, and the
profiles API right after a POST already shows the profile.
"""

from __future__ import annotations

from typing import Any

from harness.collecting.collector import GRAPH_LAG_SECONDS
from harness.identity import graph


def _track(anon: str) -> dict[str, Any]:
    return {"type": "track", "event": "E", "anonymousId": anon, "timestamp": "2024-01-01T00:00:00Z"}


def test_the_graph_catches_up_soon_after_a_commit(server: Any, client: Any) -> None:
    assert client.post("/v1/track", _track("idle-1")).status == 200
    caught_up = server.store.wait_until(lambda: server.store.graph_backlog() == 0, 5 + GRAPH_LAG_SECONDS)
    assert caught_up, "nobody read the graph, yet it caught up once requests stopped"
    with server.store._lock:
        assert graph.analysed_seq(server.store._db) >= server.store.stats()["stored"]


def test_profiles_right_after_a_post_include_it(client: Any) -> None:
    assert client.post("/v1/batch", {"batch": [_track("now-1"), _track("now-2")]}).status == 200
    doc = client.get("/api/profiles").body
    assert {p["id"] for p in doc["profiles"]} >= {"now-1", "now-2"}


def test_ids_with_a_lone_surrogate_never_stall_the_graph(server: Any, client: Any) -> None:
    """JSON lets a string carry a lone surrogate ("\\udf20"); the collector accepts such ids (found by
    test_properties.py). SQLite cannot hold one as UTF-8 text: the graph stores the escaped spelling, and
    the messages after it still reach the graph and the profiles."""
    body = ('{"batch": [{"type": "identify", "userId": "u-\\udf20", "anonymousId": "a-\\ud800", '
            '"timestamp": "2024-01-01T00:00:00Z"}, {"type": "alias", "userId": "u-2", "previousId": "p-\\udfff", '
            '"timestamp": "2024-01-01T00:00:01Z"}]}')
    assert client.post("/v1/batch", body).status == 200
    assert client.post("/v1/track", _track("after-the-surrogates")).status == 200
    caught_up = server.store.wait_until(lambda: server.store.graph_backlog() == 0, 5 + GRAPH_LAG_SECONDS)
    assert caught_up, "the graph stalled on an id it could not store"
    ids = {p["id"] for p in client.get("/api/profiles").body["profiles"]}
    assert {"after-the-surrogates", "u-\\udf20", "u-2"} <= ids, ids
