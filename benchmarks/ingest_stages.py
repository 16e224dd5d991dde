"""Per-stage ingest cost in µs per message (issue 20): parse, validate, enrich, encode, SQLite insert, graph.

In-process, no HTTP, CPU time of this process (``time.process_time``): each stage of
:func:`harness.collecting.collector._accept` timed on its own over benchmarks.ingest-style bodies,
single messages and batches of 100, with the standard-library JSON path (``beacon.parse_json_stdlib`` /
``store.to_json``) and the fast path side by side in one run.
``python -m benchmarks.ingest_stages [--rounds 3] [--profile]``. Where the store updates the identity graph
outside the commit (``catch_up_graph``), that work is the "graph" stage (every backlog caught up before the
end); where the graph is applied inside the commit (older trees), it is part of "insert" and "graph" is 0.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks.ingest import batch_requests, single_requests
from harness.collecting import beacon, store
from harness.collecting.beacon import RequestInfo, check, enrich, merge_shared, size_error, split_request


def _info() -> RequestInfo:
    return RequestInfo(path="/v1/batch", peer_ip="127.0.0.1", write_key=None, user_agent="bench", device=None,
                       received_ms=time.time() * 1000, received_at=beacon.now_iso(), transport="fetch")


def _stages(bodies: list[bytes], kind: str, parse: Callable[[bytes], Any], encode: Callable[[Any], str]
            ) -> tuple[dict[str, float], int]:
    """Seconds spent in each stage over ``bodies``, and the number of messages."""
    t: dict[str, float] = dict.fromkeys(("parse", "validate", "enrich", "encode", "insert", "graph"), 0.0)
    info = _info()
    tmp = tempfile.mkdtemp()
    db = store.BeaconStore(os.path.join(tmp, "b.db"))
    count = 0
    clock = time.process_time  # CPU, not wall: on a shared machine the wall clock counts other work
    catch_up = getattr(db, "catch_up_graph", None)
    if catch_up is not None:  # the graph catches up outside the commit: its time is its own stage

        def timed() -> None:
            start = clock()
            try:
                catch_up()
            finally:
                t["graph"] += clock() - start

        db.catch_up_graph = timed  # type: ignore[method-assign]
    try:
        for raw in bodies:
            a = clock()
            messages, shared = split_request(kind, parse(raw))
            b = clock()
            merged = [merge_shared(m, shared) for m in messages]
            reasons = [check(m) for m in merged]
            c = clock()
            records = [enrich(m, {}, info) for m in merged]
            d = clock()
            texts = [encode(r) for r in records]
            e = clock()
            sizes = [size_error(m, len(x)) for m, x in zip(merged, texts, strict=True)]
            f = clock()
            db.add_groups([(records, texts)])
            g = clock()
            assert not any(reasons) and not any(sizes)
            t["parse"] += b - a
            t["validate"] += (c - b) + (f - e)
            t["enrich"] += d - c
            t["encode"] += e - d
            t["insert"] += g - f
            count += len(messages)
        t["insert"] -= t["graph"]  # the catch-ups add_groups made when the backlog passed its bound
        if catch_up is not None:
            db.catch_up_graph()  # the last backlog too: a read would have made the store do it
    finally:
        db.close()
    return t, count


def _paths() -> dict[str, tuple[Callable[[bytes], Any], Callable[[Any], str]]]:
    paths = {"stdlib": (getattr(beacon, "parse_json_stdlib", beacon.parse_json), store.to_json)}
    if hasattr(beacon, "parse_json_stdlib"):
        paths["fast"] = (beacon.parse_json, getattr(store, "to_json_fast", store.to_json))
    return paths


def run(rounds: int = 3, singles: int = 3000, batches: int = 60, profile: bool = False) -> dict[str, Any]:
    loads = {"single": ([b for _, b in single_requests(singles)], "track"),
             "batch100": ([b for _, b in batch_requests(batches)], "batch")}
    out: dict[str, Any] = {"load_average": os.getloadavg()}  # before the run
    for name, (bodies, kind) in loads.items():
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in _paths()}
        for _ in range(rounds):  # the paths alternate round by round, so noise hits both alike
            for label, (parse, encode) in _paths().items():
                seconds, count = _stages(bodies, kind, parse, encode)
                runs[label].append({k: v / count * 1e6 for k, v in seconds.items()})
        for label, (parse, encode) in _paths().items():
            got = runs[label]
            out[f"{name}/{label}"] = {k: {"median": statistics.median(r[k] for r in got),
                                          "min": min(r[k] for r in got), "max": max(r[k] for r in got)}
                                      for k in got[0]}
            if profile:
                prof = cProfile.Profile()
                prof.runcall(_stages, bodies, kind, parse, encode)
                print(f"--- cProfile {name}/{label}")
                pstats.Stats(prof).sort_stats("tottime").print_stats(14)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    result = run(args.rounds, profile=args.profile)
    print(f"load average {result.pop('load_average')}")
    for load, stages in result.items():
        total = sum(s["median"] for s in stages.values())
        cells = "  ".join(f"{k} {s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f})" for k, s in stages.items())
        print(f"{load:16} total {total:6.1f} µs/msg  {cells}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
