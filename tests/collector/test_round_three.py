"""Issue 29 (hostile pages, round three): cross-site reads, damaged stores, counters and keys.

Plain HTTP against a real loopback server; no browser. Each test failed on the code before its fix.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from harness.collecting import store as store_mod
from harness.collecting.store import BeaconStore


def track(**extra: Any) -> dict[str, Any]:
    import uuid

    return {"type": "track", "event": "E", "anonymousId": "a-1", "messageId": f"m-{uuid.uuid4().hex}", **extra}


# ---- item 4: cross-site navigations never reach /api/ ----------------------------------------------------
@pytest.mark.parametrize(("path", "headers"), [
    ("/api/beacons?userId=u", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
                               "Sec-Fetch-Dest": "iframe"}),
    ("/api/profiles", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}),
    ("/api/profiles", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}),
    ("/api/beacons", {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "frame"}),
    ("/inspector", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}),
    ("/inspector", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "embed"}),
])
def test_item4_cross_site_navigations_to_the_api_are_refused(client: Any, path: str,
                                                             headers: dict[str, str]) -> None:
    """Iframe navigations passed the guard (navigate was exempt whatever the destination) and looped heavy reads."""
    assert client.post("/v1/identify", {**track(userId="u", traits={"email": "a@b.c"}), "type": "identify"}
                       ).status == 200
    reply = client.get(path, headers=headers)
    assert reply.status == 403 and reply.body["error"] == "forbidden", reply.raw[:200]
    assert b"a@b.c" not in reply.raw


def test_item4_own_pages_links_and_plain_clients_still_read(client: Any) -> None:
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert client.get("/inspector", headers=link).status == 200, "a link from elsewhere still opens the inspector"
    own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert client.get("/api/stats", headers=own).status == 200
    typed = {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert client.get("/api/stats", headers=typed).status == 200, "a URL typed in the address bar"
    assert client.get("/api/stats").status == 200


# ---- item 8: counters and keys ------------------------------------------------------------------------------
def _balanced(stats: dict[str, int]) -> bool:
    return stats["received"] == stats["stored"] + stats["duplicates"] + stats["bad"]


@pytest.mark.parametrize("batch", [1, 7, 250])
def test_item8_a_refused_batch_counts_every_message_as_bad(keyed_client: Any, batch: int) -> None:
    """A 401 batch of N counted N received but 1 bad: received == stored + duplicates + bad broke."""
    reply = keyed_client.post("/v1/batch", {"batch": [track() for _ in range(batch)], "writeKey": "wrong"})
    assert reply.status == 401
    stats = keyed_client.stats()
    assert _balanced(stats) and stats["bad"] == max(batch, 1), stats


@pytest.mark.parametrize("query", ["?writeKey=WRONG", "?writeKey=wk-secret&writeKey=WRONG",
                                   "?writeKey=WRONG&writeKey=wk-secret"])
def test_item8_a_query_key_that_disagrees_with_the_header_is_refused(keyed_client: Any, basic_auth: Any,
                                                                     query: str) -> None:
    reply = keyed_client.post(f"/beacon/v1/batch{query}", {"batch": [track()]}, content_type="text/plain",
                              headers=basic_auth("wk-secret"))
    assert reply.status == 401 and reply.body["reason"] == "wrong write key", reply.body
    assert keyed_client.stats()["stored"] == 0


def test_item8_the_beacon_endpoint_still_takes_its_query_key(keyed_client: Any, basic_auth: Any) -> None:
    for query, headers in (("?writeKey=wk-secret", {}), ("?writeKey=wk-secret", basic_auth("wk-secret")),
                           ("?writeKey=wk-secret&writeKey=wk-secret", {}), ("", basic_auth("wk-secret"))):
        reply = keyed_client.post(f"/beacon/v1/batch{query}", {"batch": [track()]}, content_type="text/plain",
                                  headers=headers)
        assert reply.status == 200, (query, reply.body)
    assert keyed_client.stats()["stored"] == 4


def test_item8_traits_only_in_context_traits_count_twice_against_the_limit(client: Any) -> None:
    """RudderStack's identify: the collector copies context.traits to traits, so the stored record holds them twice."""
    from harness.collecting.beacon import MAX_MESSAGE_BYTES

    big = {"bio": "x" * (MAX_MESSAGE_BYTES * 2 // 3)}
    identify = {"type": "identify", "userId": "u-1", "anonymousId": "a-1", "context": {"traits": big}}
    reply = client.post("/v1/identify", identify)
    assert reply.status == 413, reply.body
    small = {"type": "identify", "userId": "u-1", "anonymousId": "a-1", "context": {"traits": {"bio": "y" * 1000}}}
    assert client.post("/v1/identify", small).status == 200
    stored = client.get("/api/beacons").raw
    assert len(stored) < MAX_MESSAGE_BYTES
    assert _balanced(client.stats())


# ---- item 6: a damaged store ------------------------------------------------------------------------------
PAGE = 4096


def _damaged_store(path: Path, where: str) -> None:
    """A store of 3,000 beacons with one page overwritten with noise (a middle page, or the last one)."""
    store = BeaconStore(str(path))
    store.add([{"type": "track", "event": "E", "anonymousId": f"a-{i % 50}", "userId": f"u-{i % 30}",
                "messageId": f"m-{i}", "properties": {"pad": "x" * 800}} for i in range(3_000)])
    store.close()
    pages = path.stat().st_size // PAGE
    with path.open("r+b") as fh:
        fh.seek((pages // 2 if where == "middle" else pages - 1) * PAGE)
        fh.write(random.Random(7).randbytes(PAGE))


@pytest.mark.parametrize("where", ["middle", "last"])
def test_item6_a_damaged_store_acknowledges_nothing_and_reads_answer_json(
        tmp_path: Path, server_factory: Any, client_for: Any, where: str, caplog: pytest.LogCaptureFixture) -> None:
    """A damaged store started, its reads answered plain-text 500s, and new posts still got 200."""
    db = tmp_path / "beacons.sqlite"
    _damaged_store(db, where)
    client = client_for(server_factory(db=str(db)))
    found = [r.getMessage() for r in caplog.records if "store damaged" in r.getMessage()]
    assert len(found) == 1 and "\n" not in found[0], found
    reply = client.post("/v1/track", track())
    assert reply.status == 503 and reply.body["reason"].startswith("store damaged: "), reply.raw[:300]
    assert "harness reset" in reply.body["reason"]
    for path in ("/api/beacons?userId=u-3", "/api/beacons", "/api/profiles", "/api/stats", "/api/bad"):
        read = client.get(path)
        assert read.status in (200, 503) and isinstance(read.body, dict), (path, read.status, read.raw[:200])
        if read.status == 503:
            assert read.body["reason"].startswith("store damaged: "), read.body
    # reset sets the damaged file aside and starts an empty store: beacons are acknowledged again
    assert client.delete("/api/beacons").status == 200
    assert [p.name for p in tmp_path.glob("beacons.sqlite.damaged-*")][:1], "the damaged file is kept"
    assert client.post("/v1/track", track()).status == 200
    assert len(client.beacons()) == 1 and client.stats()["stored"] == 1


def test_item6_damage_found_at_the_first_read_error_stops_acknowledgements(
        tmp_path: Path, server_factory: Any, client_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store too big to check at open: the first read that meets a malformed page marks it."""
    db = tmp_path / "beacons.sqlite"
    _damaged_store(db, "middle")
    monkeypatch.setattr(store_mod, "OPEN_CHECK_BYTES", 0, raising=False)
    client = client_for(server_factory(db=str(db)))
    read = client.get("/api/beacons?userId=u-3")
    assert read.status == 503 and read.body["reason"].startswith("store damaged: "), read.raw[:300]
    assert client.post("/v1/track", track()).status == 503


def test_item6_the_cli_on_a_damaged_file_says_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "beacons.sqlite"
    _damaged_store(db, "middle")
    for command in (["beacons", "--user-id", "u-3", "--format", "json"], ["profiles"], ["lint"]):
        done = subprocess.run([sys.executable, "-m", "harness", *command, "--db", str(db)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, (command, done.stderr[-2000:])
        assert done.stderr.startswith("harness: store damaged: "), done.stderr


# ---- item 4: a userId filter reads the graph's index, not every row ------------------------------------------
def test_item4_a_user_id_filter_is_answered_from_an_index(tmp_path: Path) -> None:
    """``/api/beacons?userId=`` was a json_extract over every row (2.2 s at 1 M stored: an iframe loop's weapon)."""
    store = BeaconStore(str(tmp_path / "b.sqlite"))
    where, args = store_mod._sql_filter(None, None, None, None, {"userId": "u-1"})
    with store._reading() as db:
        plan = " / ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN SELECT seq FROM beacons WHERE {where}",
                                                        args))
    store.close()
    assert "SCAN beacons" not in plan, plan


def test_item4_the_indexed_user_id_filter_finds_exactly_what_a_scan_finds(tmp_path: Path) -> None:
    """Numbers, empty and non-ASCII ids, and messages the identity graph has not caught up with yet."""
    ids: list[Any] = ["u-1", "u-2", 7, "7", 7.5, "", "é-ü", "\udf20", None, True]
    store = BeaconStore(str(tmp_path / "b.sqlite"), memory_limit=5)  # the window cannot answer: SQL does

    def batch(start: int) -> list[dict[str, Any]]:
        return [{"type": "track", "event": "E", "anonymousId": f"a-{i % 7}", "messageId": f"m-{start + i}",
                 **({"userId": ids[i % len(ids)]} if ids[i % len(ids)] is not None else {})} for i in range(60)]

    store.add(batch(0))
    store.catch_up_graph()
    store.add(batch(100))  # left in the graph's backlog
    assert store.graph_backlog() > 0
    everything = store.query()
    for want in ("u-1", "u-2", "7", "", "é-ü", "nobody"):
        expected = [r["messageId"] for r in everything if store_mod.matches(r, userId=want)]
        found, total = store.page(userId=want)
        assert [r["messageId"] for r in found] == expected and total == len(expected), want
        assert [r["messageId"] for r in store.page(userId=want, limit=3)[0]] == expected[-3:], want
    store.close()


# ---- item 3: stalled stream subscribers hold no private copies -------------------------------------------------
def test_item3_a_flush_is_shared_blocks_taken_one_at_a_time() -> None:
    """A stalled writer pinned a private join of its whole queue (up to 4 MB) in its transport, per subscriber."""
    import asyncio

    from harness.collecting import stream

    block_bytes = getattr(stream, "BLOCK_BYTES", 64 * 1024)

    async def scenario() -> None:
        hub = stream.Hub(BeaconStore())
        first, second = hub.join(None), hub.join(None)
        assert first is not None and second is not None
        frames = [stream.frame("beacon", '"' + "x" * 30_000 + '"', str(i)) for i in range(16)]  # 480 KB
        hub._frames = list(frames)
        hub._flush()
        assert first.dropped is None, "one flush always fits an empty queue"
        taken = []
        while True:
            first.wake.clear()
            block = first.take()
            if not block:
                break
            taken.append(block)
            assert len(block) <= block_bytes + 31_000
            assert first.wake.is_set() == bool(first.blocks), "woken again while blocks wait"
        assert b"".join(taken) == b"".join(frames)
        assert second.take() is taken[0], "the block is shared, not copied per subscriber"
        hub.leave(first)
        hub.leave(second)

    asyncio.run(scenario())


def test_item3_stalled_subscribers_do_not_hold_the_servers_memory() -> None:
    """64 subscribers that never read, three bursts of 3.8 MB: the server grew by ~240 MB and kept it."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "benchmarks.sse_stalled", "--subscribers", "64", "--bursts", "3"],
                          cwd=root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["peak_mb"] - seen["start_mb"] < 120, seen
    assert seen["after_mb"] - seen["start_mb"] < 60, seen


def test_item3_remembered_answers_are_bounded_in_bytes() -> None:
    """Every distinct /api/profiles query's answer was kept as text (64 kinds, one was 151 MB)."""
    import asyncio

    from harness.inspection.api import Analysis

    limit = getattr(Analysis, "MAX_BYTES", 64 * 1024 * 1024)

    async def scenario() -> int:
        answers = Analysis()
        for kind in range(12):
            text = await answers.get(f"profiles {kind}", (0, kind), False, lambda: "x" * (limit // 5))
            assert len(text) == limit // 5
        huge = await answers.get("profiles huge", (0, 99), False, lambda: "y" * limit)
        assert len(huge) == limit, "a big answer is still sent"
        return sum(len(done[1]) for done in answers._done.values())

    assert asyncio.run(scenario()) <= limit
