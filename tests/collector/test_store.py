"""Issue 4, acceptance 2-4: restart on the same SQLite file, live SSE stream, wait_for without polling."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.collecting.beacon import RequestInfo, enrich, now_iso
from harness.collecting.store import BeaconStore, WaitTimeout
from harness.server import run_in_thread


def track(event: str = "Clicked", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "anonymousId": "anon-1", "messageId": f"m-{uuid.uuid4()}", **extra}


def record(event: str = "Clicked", **extra: Any) -> dict[str, Any]:
    """A stored-shape record, as the collector would build it."""
    info = RequestInfo("/v1/track", "127.0.0.1", None, "test", None, time.time() * 1000, now_iso())
    return enrich(track(event, **extra), {}, info)


# ---- acceptance 2: restart on the same SQLite file --------------------------------------------
def test_restart_on_the_same_file_finds_every_acknowledged_beacon(tmp_path: Path, server_factory: Any,
                                                                  client_for: Any) -> None:
    db = str(tmp_path / "beacons.sqlite")
    first = server_factory(db=db)
    client = client_for(first)
    acked: list[str] = []
    for i in range(40):
        msg = track(properties={"i": i})
        assert client.post("/v1/track", msg).status == 200
        acked.append(msg["messageId"])
    batch = [track("Batched") for _ in range(60)]
    assert client.post("/v1/batch", {"batch": batch}).status == 200
    acked += [m["messageId"] for m in batch]
    assert client.post("/v1/track", {"batch": 1, "type": "track"}).status == 400
    assert client.post("/v1/track", json.dumps(batch[0])).status == 200  # a duplicate
    before = client.get("/api/beacons").body
    stats = client.stats()
    first.stop()

    second = server_factory(db=db)
    client = client_for(second)
    after = client.get("/api/beacons").body
    assert [b["messageId"] for b in after["beacons"]] == acked, "every acknowledged beacon, in order"
    assert after == before, "the same records, enrichment and seq included"
    assert client.stats() == stats == {"received": 102, "stored": 100, "duplicates": 1, "bad": 1,
                                       "unauthorized": 0}
    assert len(client.bad()) == 1
    # it keeps counting from there
    assert client.post("/v1/track", track()).status == 200
    assert client.beacons()[-1]["_meta"]["seq"] == 101


def test_restart_with_more_beacons_than_the_memory_window(tmp_path: Path) -> None:
    db = str(tmp_path / "big.sqlite")
    store = BeaconStore(db, memory_limit=50)
    ids = [r["messageId"] for r in store.add([record(properties={"i": i}) for i in range(120)])[0]]
    store.close()
    again = BeaconStore(db, memory_limit=50)
    assert [r["messageId"] for r in again.query()] == ids, "queries reach past the window into SQLite"
    assert [r["messageId"] for r in again.query(since=100)] == ids[100:]
    assert [r["messageId"] for r in again.query(since=10, limit=5)] == ids[-5:]
    assert again.stats()["stored"] == 120
    assert [r["properties"]["i"] for r in again.query("track", "Clicked", properties__i=7)] == [7]
    assert again.query(event="Nope") == [] and again.query(userId=None)[0]["messageId"] == ids[0]
    assert again.page(type="track", limit=3) == (again.query()[-3:], 120), "total counted, only 3 kept"
    again.close()


def test_memory_window_is_bounded_by_bytes_as_well_as_count(tmp_path: Path) -> None:
    store = BeaconStore(str(tmp_path / "bytes.sqlite"), memory_limit=1000, memory_bytes=100_000)
    ids = [r["messageId"] for r in store.add([record(properties={"blob": "z" * 10_000}) for _ in range(30)])[0]]
    assert len(store._records) <= 10 and store._window_bytes <= 100_000
    assert [r["messageId"] for r in store.query()] == ids, "older beacons come back from SQLite"
    assert [r["messageId"] for r in store.query(limit=2)] == ids[-2:]
    store.close()


def test_every_row_is_committed_json(tmp_path: Path) -> None:
    db = tmp_path / "rows.sqlite"
    store = BeaconStore(str(db))
    store.add([record(properties={"text": "Café \ud83d"}) for _ in range(3)])
    store.add_bad("why", b"\xff raw", 400, "/v1/t")
    rows = sqlite3.connect(db).execute("SELECT body FROM beacons UNION ALL SELECT body FROM bad").fetchall()
    assert len(rows) == 4 and all(isinstance(json.loads(body), dict) for (body,) in rows)
    store.close()


def test_duplicate_listeners_get_each_resent_message_id_and_unsubscribe(tmp_path: Path) -> None:
    """Re-sends are counted, not stored, and named to subscribers (the loss experiment counts them per trial)."""
    store = BeaconStore(str(tmp_path / "dups.sqlite"))
    heard: list[str] = []
    stop = store.subscribe_duplicates(heard.append)
    first, second = record(), record()
    store.add([first])
    store.add([dict(first), second, dict(second)])  # one already stored, one repeated within the request
    assert heard == [first["messageId"], second["messageId"]]
    assert store.stats()["duplicates"] == 2 and store.stats()["stored"] == 2
    stop()
    store.add([dict(first)])
    assert len(heard) == 2 and store.stats()["duplicates"] == 3
    store.close()


# ---- acceptance 3: the SSE stream ---------------------------------------------------------
async def _read_events(resp: aiohttp.ClientResponse, want: int) -> list[tuple[str, str]]:
    """(event, data) pairs from an SSE response until ``want`` named events arrived."""
    events: list[tuple[str, str]] = []
    event, data = "message", []
    async for line_bytes in resp.content:
        line = line_bytes.decode().rstrip("\r\n")
        if line == "":
            if data:
                events.append((event, "\n".join(data)))
                if len(events) >= want:
                    return events
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    return events


async def _subscribe_then_post(base_url: str, messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/api/stream", timeout=timeout) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        hello = await _read_events(resp, 1)  # subscribed: the hello event has been sent
        for msg in messages:
            async with session.post(f"{base_url}/v1/track", json=msg) as posted:
                assert posted.status == 200
        return hello + await _read_events(resp, len(messages))


def test_stream_delivers_a_beacon_posted_after_subscribing(client: Any) -> None:

    client.post("/v1/track", track("Before"))  # already stored: not replayed
    sent = [track("After 1", properties={"html": "<script>alert(1)</script>\n\ndata: x"}), track("After 2")]
    events = run_in_thread(_subscribe_then_post(client.base_url, sent))
    assert [e for e, _ in events] == ["hello", "beacon", "beacon"]
    hello = json.loads(events[0][1])
    assert hello["stats"]["stored"] == 1
    received = [json.loads(data) for _, data in events[1:]]
    assert [r["messageId"] for r in received] == [m["messageId"] for m in sent]
    assert received[0]["properties"]["html"] == "<script>alert(1)</script>\n\ndata: x", "framing not broken"
    assert received == client.beacons()[1:], "the stream sends exactly the stored record"


# ---- acceptance 4: wait_for wakes on arrival, explains a timeout ------------------------------
def test_wait_for_returns_as_soon_as_the_beacon_arrives(server: Any, client: Any) -> None:
    store = server.store
    msg = track("Signed Up", userId="u-42")
    posted_at: list[float] = []

    def post_later() -> None:
        posted_at.append(time.monotonic())
        assert client.post("/v1/track", msg).status == 200

    thread = threading.Thread(target=post_later)
    start = time.monotonic()
    with store._lock:  # the store cannot commit the post until wait_for waits (Condition.wait releases it)
        thread.start()
        found = store.wait_for("track", "Signed Up", timeout=30.0, userId="u-42")
    woke = time.monotonic()
    thread.join()
    assert [b["messageId"] for b in found] == [msg["messageId"]]
    assert woke - start < 5.0, "returned well before the 30 s timeout"
    assert woke - posted_at[0] < 1.0, f"woke {woke - posted_at[0]:.3f}s after the post began: no polling interval"


def test_wait_for_wakes_per_arrival_until_count(server: Any, client: Any) -> None:
    def post_three() -> None:
        for i in range(3):
            client.post("/v1/track", track("Step", properties={"i": i}))

    thread = threading.Thread(target=post_three)
    thread.start()
    found = server.store.wait_for("track", "Step", count=3, timeout=10.0)
    thread.join()
    assert [b["properties"]["i"] for b in found] == [0, 1, 2]


def test_wait_for_returns_at_once_when_already_there(server: Any, client: Any) -> None:
    client.post("/v1/track", track("Done"))
    start = time.monotonic()
    assert len(server.store.wait_for(event="Done", timeout=10.0)) == 1
    assert time.monotonic() - start < 1.0


def test_wait_for_gives_up_listing_what_arrived(server: Any, client: Any) -> None:
    client.post("/v1/track", track("Viewed Product", userId="u-1", messageId="mid-1"))
    client.post("/v1/identify", {"userId": "u-1", "anonymousId": "anon-1", "messageId": "mid-2"})
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        server.store.wait_for("track", "Signed Up", timeout=0.4, userId="u-1")
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 2.0
    text = str(err.value)
    assert "type='track'" in text and "event='Signed Up'" in text and "userId='u-1'" in text
    assert "found 0. 2 arrived" in text
    assert "track 'Viewed Product' userId='u-1' anonymousId='anon-1' messageId='mid-1'" in text
    assert "identify userId='u-1' anonymousId='anon-1' messageId='mid-2'" in text
    assert isinstance(err.value, AssertionError), "pytest shows it as a plain failure"


def test_wait_for_gives_up_saying_nothing_arrived(server: Any, client: Any) -> None:
    with pytest.raises(WaitTimeout, match=r"found 0\. 0 arrived:\n  \(nothing\)"):
        server.store.wait_for("page", timeout=0.1)


# ---- opening a file for the CLI ------------------------------------------------------------------
def test_open_readonly_explains_bad_files(tmp_path: Path) -> None:
    from harness.collecting.store import open_readonly

    with pytest.raises(FileNotFoundError, match="no such database file"):
        open_readonly(str(tmp_path / "missing.sqlite"))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not a SQLite database"):
        open_readonly(str(text))
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="not a harness beacon store"):
        open_readonly(str(other))
    tables = sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("t",)], "someone else's file is left untouched"
    mine = tmp_path / "mine.sqlite"
    BeaconStore(str(mine)).add([record()])
    assert len(open_readonly(str(mine)).query()) == 1


def test_the_writer_of_a_file_gets_the_bigger_page_cache(tmp_path: Path) -> None:
    """Issue 20: the messageId index outgrows SQLite's default cache; the writer's connection gets WRITER_CACHE_KIB."""
    from harness.collecting.store import WRITER_CACHE_KIB

    store = BeaconStore(str(tmp_path / "b.sqlite"))
    try:
        assert store._db.execute("PRAGMA cache_size").fetchone()[0] == -WRITER_CACHE_KIB
    finally:
        store.close()
