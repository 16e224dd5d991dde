"""Run by tests/scale/test_xdist.py under ``pytest -n 2`` (named explicitly; not collected otherwise).

Each test records which worker ran it and that worker's server (port, SQLite file, process) in
$XDIST_PROBE_OUT/<worker>.jsonl, and checks its store holds only its own device's beacons. With
$XDIST_PROBE_FAIL set, the ``failing`` tests fail on purpose so their failure reports can be checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def _record(harness_server, name: str, anonymous_id: str) -> None:
    out = Path(os.environ["XDIST_PROBE_OUT"])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    line = {"worker": worker, "pid": os.getpid(), "port": harness_server.port, "db": harness_server.store.db_path,
            "test": name, "anonymousId": anonymous_id}
    with (out / f"{worker}.jsonl").open("a") as fh:
        fh.write(json.dumps(line) + "\n")


@pytest.mark.parametrize("n", range(6))
def test_worker_server_is_its_own(n, new_device, beacons, harness_server, request) -> None:
    device = new_device("desktop")
    device.visit(f"/products/p{n % 4 + 1}")
    device.track("Probe", {"n": n})
    beacons.one(type="track", event="Probe")
    mine = device.anonymous_id()
    _record(harness_server, request.node.name, mine)
    foreign = [b for b in beacons.all() if b.get("anonymousId") != mine]
    assert not foreign, f"another worker's beacons reached this store: {foreign[:3]}"


@pytest.mark.parametrize("n", range(2))
def test_failing(n, new_device, beacons, harness_server, request) -> None:
    device = new_device("desktop")
    device.visit("/")
    device.track("Failing Probe", {"n": n})
    beacons.one(type="track", event="Failing Probe")
    _record(harness_server, request.node.name, device.anonymous_id())
    assert not os.environ.get("XDIST_PROBE_FAIL"), f"deliberate failure {n}"
