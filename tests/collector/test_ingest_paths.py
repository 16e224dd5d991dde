"""The fast ingest paths give the same answers as the plain ones.

The nesting pre-scan, the size bound taken from the stored JSON, the one-transaction store
(one dedup query, seqs given in order) and the collector's group commit are checked against
the straightforward definitions they replace.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.collecting.beacon import (
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    Rejected,
    RequestInfo,
    _enrich_only_adds,
    _may_be_too_deep,
    _too_deep,
    check,
    enrich,
    message_size,
    parse_json,
    size_error,
    validate,
)
from harness.collecting.store import BeaconStore, to_json

INFO = RequestInfo("/v1/batch", "127.0.0.1", "wk", "test", None, 1.5, "2024-01-01T00:00:00.000Z")
TRICKY = st.text(alphabet='ab"\\[]{}/é\U0001f600\n\t\x00', max_size=6)  # quotes, escapes, brackets in strings


def cfg(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@st.composite
def nested_values(draw: st.DrawFn) -> Any:
    """A chain of containers MAX_DEPTH-2 .. MAX_DEPTH+2 deep, tricky strings all along, many siblings."""
    value: Any = draw(TRICKY | st.integers() | st.none())
    for _ in range(draw(st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2))):
        if draw(st.booleans()):
            value = [draw(TRICKY), value, *draw(st.lists(TRICKY, max_size=2))]
        else:
            value = {draw(TRICKY): draw(TRICKY), "k" + draw(TRICKY): value}
    return [{"s": draw(TRICKY), "n": [[1], {"x": "]]]"}]} for _ in range(draw(st.integers(0, 30)))] + [value]


@cfg(120)
@given(value=nested_values(), ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_nesting_prescan_agrees_with_the_walk(value: Any, ascii_only: bool, indent: int | None) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    too_deep = _depth(value) > MAX_DEPTH
    assert _too_deep(value) == too_deep
    if not too_deep:
        assert not _may_be_too_deep(raw), "no duplicate keys here, so the pre-scan is exact"
        assert parse_json(raw) == value
    else:
        assert _may_be_too_deep(raw)
        with pytest.raises(Rejected, match="nested too deeply"):
            parse_json(raw)


def test_duplicate_keys_nest_as_the_decoded_value_does() -> None:
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    raw = ('{"a": ' + deep + ', "a": 1}').encode()
    assert _may_be_too_deep(raw), "the text is deep ..."
    assert parse_json(raw) == {"a": 1}, "... the value is not: accepted, as before"


def test_a_bom_is_refused_as_json_loads_refuses_it() -> None:
    with pytest.raises(Rejected, match="Unexpected UTF-8 BOM"):
        parse_json(b"\xef\xbb\xbf{}")


@st.composite
def checked_messages(draw: st.DrawFn) -> dict[str, Any]:
    """Messages that pass check(), sized around the limit, with the fields enrich() overwrites sometimes."""
    pad = draw(st.integers(MAX_MESSAGE_BYTES - 400, MAX_MESSAGE_BYTES + 50))
    text = draw(st.text(alphabet="xé\U0001f600\ud800\"\\\x01", min_size=1, max_size=4))
    message: dict[str, Any] = {"type": "track", "event": "E", "anonymousId": "a",
                               "properties": {"pad": text * (pad // (4 * len(text))),
                                              "n": draw(st.sampled_from([1e15, 1e-7, 5e-324, 1e300, 0.1, 7]))}}
    for name in draw(st.lists(st.sampled_from(["receivedAt", "_meta", "writeKey", "messageId", "context",
                                               "timestamp", "originalTimestamp"]), max_size=4, unique=True)):
        message[name] = draw(st.sampled_from(["", "x" * 300, None, 0, False, {"k": "v" * 200}, [1, 2]])
                             if name in ("receivedAt", "_meta", "writeKey") else
                             st.sampled_from(["", None, "m-1"]) if name == "messageId" else
                             st.sampled_from([None, {}, {"ip": "1.2.3.4"}, {"page": {"path": "/p"}}])
                             if name == "context" else st.sampled_from([None, "2024-01-01T00:00:00Z"]))
    return message


@cfg(400)
@given(message=checked_messages())
def test_the_size_bound_gives_validates_answer(message: dict[str, Any]) -> None:
    if check(message) is not None:
        return
    stored = to_json(enrich(message, {}, INFO))
    if _enrich_only_adds(message):
        assert len(stored) >= message_size(message), "the stored JSON bounds the size from above"
    assert size_error(message, len(stored)) == validate(message)


def test_the_size_bound_is_skipped_when_enrich_replaces_a_field() -> None:
    big = {"type": "track", "event": "E", "anonymousId": "a", "receivedAt": "x" * MAX_MESSAGE_BYTES}
    stored = to_json(enrich(big, {}, INFO))
    assert len(stored) < MAX_MESSAGE_BYTES, "receivedAt was overwritten ..."
    assert size_error(big, len(stored)) == validate(big) is not None, "... but the message was too big"


# ---- the store's one transaction ------------------------------------------------------------
def _rec(mid: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "E", "anonymousId": "a", "messageId": mid, **extra}


def test_add_groups_dedups_within_and_across_groups(tmp_path: Path) -> None:
    store = BeaconStore(str(tmp_path / "g.sqlite"))
    heard: list[int] = []
    store.subscribe(lambda record: heard.append(record["_meta"]["seq"]))
    store.add([_rec("old")])
    results = store.add_groups([([_rec("a"), _rec("a"), _rec("old"), _rec("b")], None),
                                ([_rec("b"), _rec("c")], [to_json(_rec("b")), to_json(_rec("c"))])])
    assert [([r["messageId"] for r in stored], dups) for stored, dups in results] == [(["a", "b"], 2), (["c"], 1)]
    assert [r["_meta"]["seq"] for r in store.all()] == [1, 2, 3, 4] == heard, "no seq used up by a duplicate"
    assert store.stats() == {"received": 7, "stored": 4, "duplicates": 3, "bad": 0, "unauthorized": 0}
    store.clear()
    store.add([_rec("d"), _rec("d")])
    assert [r["_meta"]["seq"] for r in store.all()] == [5], "seqs go on after a clear"
    store.close()
    again = BeaconStore(str(tmp_path / "g.sqlite"))
    again.add([_rec("d"), _rec("e")])
    assert [(r["messageId"], r["_meta"]["seq"]) for r in again.all()] == [("d", 5), ("e", 6)]
    assert again.stats()["duplicates"] == 2
    again.close()


def test_many_ids_in_one_transaction(tmp_path: Path) -> None:
    store = BeaconStore(str(tmp_path / "many.sqlite"))
    first = [_rec(f"m{i}") for i in range(1200)]
    store.add(first[:700])
    stored, dups = store.add(first)  # the dedup query goes in chunks
    assert (len(stored), dups) == (500, 700)
    assert [r["_meta"]["seq"] for r in store.all()] == list(range(1, 1201))
    store.close()


def test_a_failed_transaction_stores_nothing(tmp_path: Path) -> None:
    store = BeaconStore(str(tmp_path / "fail.sqlite"))
    with pytest.raises(sqlite3.Error):
        store.add_groups([([_rec("a")], None), ([{"messageId": None}], None)])  # NOT NULL message_id
    store.add([_rec("b")])
    assert [(r["messageId"], r["_meta"]["seq"]) for r in store.all()] == [("b", 1)]
    store.close()


def test_checkpoints_run_off_the_writer_and_stop_with_the_store(tmp_path: Path) -> None:
    db = tmp_path / "wal.sqlite"
    store = BeaconStore(str(db))
    for i in range(20):
        store.add([_rec(f"{i}-{j}", properties={"pad": "p" * 2000}) for j in range(50)])
    checkpointer = store._checkpointer
    assert checkpointer is not None and checkpointer.checkpointed.wait(5), "the checkpoint thread ran"
    thread = checkpointer._thread
    assert thread is not threading.current_thread() and thread.is_alive()
    store.close()
    assert not thread.is_alive()
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM beacons").fetchone()[0] == 1000


def test_a_dropped_store_ends_its_checkpointer(tmp_path: Path) -> None:
    store = BeaconStore(str(tmp_path / "dropped.sqlite"))
    store.add([_rec("a")])
    thread = store._checkpointer._thread  # type: ignore[union-attr]
    del store
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


# ---- the collector's group commit -------------------------------------------------------------
def test_concurrent_repeats_are_stored_once(server_factory: Any, client_for: Any) -> None:
    srv = server_factory()
    client = client_for(srv)
    mid = f"m-{uuid.uuid4()}"
    statuses: list[int] = []
    start = threading.Barrier(24)

    def send(i: int) -> None:
        start.wait()
        body = _rec(mid) if i % 2 else _rec(f"u-{i}-{uuid.uuid4()}")
        statuses.append(client.post("/v1/track", body).status)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 24
    assert srv.store.stats() == {"received": 24, "stored": 13, "duplicates": 11, "bad": 0, "unauthorized": 0}
    seqs = [b["_meta"]["seq"] for b in client.beacons()]
    assert seqs == list(range(1, 14)), "one seq per stored message, in order, none skipped"


def test_a_batch_with_rejections_reports_what_was_stored(client: Any) -> None:
    batch = [_rec("x1"), {"type": "track"}, _rec("x1"), _rec("x2", properties={"s": "z" * MAX_MESSAGE_BYTES})]
    reply = client.post("/v1/batch", {"batch": batch})
    assert reply.status == 400
    assert (reply.body["stored"], reply.body["duplicates"]) == (1, 1)
    assert [r["index"] for r in reply.body["rejected"]] == [1, 3]
    assert reply.body["rejected"][1]["reason"].startswith("message is")
    assert [b["index"] for b in client.bad()] == [1, 3]
