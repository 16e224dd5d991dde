"""Issue 18, item 1: reads of a big store never stall ingest and never load the whole store.

The figures with a million beacons come from ``python -m benchmarks.hostile`` (docs/reliability.md);
these tests pin the mechanisms: analysis and paging off the event loop, reads that do not take
the writer's lock, queries that decode only what they return, lint over a bounded window in its
own process, the inspector's bounded requests.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.collecting.store import BeaconStore
from harness.identity import graph
from harness.inspection import api
from harness.server import HarnessServer


def track(**extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "E", "anonymousId": f"a-{uuid.uuid4().hex[:6]}",
            "messageId": f"m-{uuid.uuid4()}", **extra}


@pytest.fixture
def file_server(tmp_path: Path, client_for: Any) -> Any:
    srv = HarnessServer(db=str(tmp_path / "big.sqlite"), snippet="none").start()
    yield srv, client_for(srv)
    srv.stop()


def test_a_slow_profiles_read_does_not_stall_the_collector(file_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: /api/profiles over 200k beacons blocked the event loop (and every beacon) for 17 s."""
    srv, client = file_server
    assert client.post("/v1/track", track()).status == 200
    entered, release = threading.Event(), threading.Event()
    real = graph.profiles

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(graph, "profiles", slow)
    answers: list[int] = []
    reader = threading.Thread(target=lambda: answers.append(client.get("/api/profiles").status))
    reader.start()
    try:
        assert entered.wait(10), "the profiles read started"
        started = time.monotonic()
        for _ in range(5):
            assert client.post("/v1/track", track()).status == 200
        assert time.monotonic() - started < 3, "beacons were stored while the read was still running"
        assert client.get("/api/stats").body["stored"] == 6
    finally:
        release.set()
        reader.join(20)
    assert answers == [200]


def test_a_query_past_the_memory_window_decodes_only_what_it_returns(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: /api/beacons?limit=5 decoded every row past the window (1.4 s with 200k beacons)."""
    store = BeaconStore(str(tmp_path / "s.sqlite"), memory_limit=50)
    for start in range(0, 2_000, 500):
        store.add([track(n=i) for i in range(start, start + 500)])
    decoded: list[int] = []
    real = BeaconStore._decode
    monkeypatch.setattr(BeaconStore, "_decode", staticmethod(lambda seq, body: decoded.append(seq) or real(seq, body)))
    for query in ({}, {"type": "track"}, {"event": "E"}, {"since": 10}, {"before": 100}):
        decoded.clear()
        found, total = store.page(limit=5, **query)
        assert len(found) == 5 and len(decoded) <= 5, (query, len(decoded))
        assert total == {"since": 1_990, "before": 99}.get(next(iter(query), ""), 2_000)
    store.close()


def test_lint_of_a_big_store_reads_the_newest_window_in_the_analysis_process(
        file_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, client = file_server
    monkeypatch.setattr(api, "ANALYSIS_WINDOW", 5)
    sent = [{**track(userId=f"a{i}@example.com"), "type": "identify"} for i in range(12)]
    for message in sent:
        assert client.post("/v1/identify", message).status == 200
    doc = client.get("/api/lint").body
    assert doc["scope"] == {"beacons": 5, "stored": 12, "note": "computed over the newest 5 of 12 beacons"}
    named = {mid for f in doc["findings"] for mid in f["message_ids"]}
    assert named and named <= {m["messageId"] for m in sent[-5:]}, "only the window was linted"
    assert srv.app[api.WORKER]._pool is not None, "in the analysis process"
    assert client.get("/api/lint").body == doc, "reused while the store is unchanged"


def test_profiles_page_and_say_how_many_there_are(client: Any) -> None:
    for i in range(30):
        assert client.post("/v1/track", track(anonymousId=f"anon-{i:02d}")).status == 200
    doc = client.get("/api/profiles?limit=10&offset=5&messages=0").body
    assert doc["total"] == 30 and len(doc["profiles"]) == 10 and "messages" not in doc["profiles"][0]
    assert [p["id"] for p in doc["profiles"]] == [f"anon-{i:02d}" for i in range(5, 15)]
    recent = client.get("/api/profiles?order=recent&limit=2").body["profiles"]
    assert [p["id"] for p in recent] == ["anon-29", "anon-28"] and len(recent[0]["messages"]) == 1
    assert client.get("/api/profiles?order=sideways").status == 400
    assert client.get("/api/profiles?limit=99999999999999999999").status == 200


def test_the_inspector_asks_for_pages_and_deltas() -> None:
    """What the inspector requests is bounded whatever the store holds."""
    source = (Path(__file__).resolve().parents[2] / "static" / "inspector.js").read_text()
    assert "/api/profiles?order=recent&limit=${PEOPLE}&messages=${MARKS}" in source
    assert "/api/bad?limit=${BAD_SHOWN}" in source and "&since=${last}" in source
    assert "api('/api/profiles')" not in source and "api('/api/bad')" not in source
