"""pytest-xdist: ``pytest -n 2`` gives every worker its own server, port, SQLite store and files.

The run is a subprocess in a temporary root (its failure reports and pytest-playwright output
stay there): part of the claim suite (harness/suite) plus tests/scale/xdist_probe.py, whose tests record which
worker and which server ran them, and fail on purpose twice so the failure reports can be read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E_SUBSET = ["harness/suite/test_first_beacon.py", "harness/suite/test_reset.py"]  # the whole suite runs under -n too


def _run(tmp_path: Path, tests: list[str], *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    probe_out = tmp_path / "probe"
    probe_out.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         f"--rootdir={tmp_path}", f"--basetemp={tmp_path / 'basetemp'}", f"--output={tmp_path / 'out'}",
         "-c", str(ROOT / "pyproject.toml"), *extra, *[str(ROOT / t) for t in tests]],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        env={**os.environ, "XDIST_PROBE_OUT": str(probe_out), "XDIST_PROBE_FAIL": "1"},
    )
    return result, probe_out


def _records(probe_out: Path) -> list[dict]:
    return [json.loads(line) for f in probe_out.glob("*.jsonl") for line in f.read_text().splitlines()]


@pytest.mark.long(5)
def test_two_workers_each_run_their_own_harness(tmp_path: Path) -> None:
    """One nested ``pytest -n 2`` run (it costs two browsers): servers, stores, reports and ``--harness-db``.

    ``--harness-db PATH`` with ``-n`` gives PATH.gw0, PATH.gw1 ...: never one SQLite file for two stores.
    """
    shared = tmp_path / "store" / "beacons.sqlite"
    shared.parent.mkdir()  # --harness-db never creates folders
    result, probe_out = _run(tmp_path, [*E2E_SUBSET, "tests/scale/xdist_probe.py"], f"--harness-db={shared}")
    out = result.stdout + result.stderr
    summary = re.findall(r"^(\d+) failed, (\d+) passed(?:, \d+ warnings?)? in ", out, re.M)
    assert result.returncode == 1 and summary and summary[-1][0] == "2" and int(summary[-1][1]) >= 9, \
        f"expected every test to pass but the two deliberate failures; rc={result.returncode}\n{out[-4000:]}"
    assert "deliberate failure" in out
    failed_lines = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed_lines) == 2 and all("test_failing" in line for line in failed_lines), out[-3000:]

    records = _records(probe_out)
    assert len(records) == 8, records
    workers = {r["worker"] for r in records}
    assert workers == {"gw0", "gw1"}, f"both workers should run probe tests: {workers}"
    by_worker = {w: {(r["pid"], r["port"], r["db"]) for r in records if r["worker"] == w} for w in workers}
    assert all(len(servers) == 1 for servers in by_worker.values()), f"one server per worker session: {by_worker}"
    (pid0, port0, db0), (pid1, port1, db1) = (next(iter(by_worker[w])) for w in sorted(workers))
    assert pid0 != pid1 and port0 != port1 and db0 != db1, by_worker
    assert {r["worker"]: r["db"] for r in records} == {
        w: str(shared.with_name(f"beacons.{w}.sqlite")) for w in ("gw0", "gw1")}, "one --harness-db file per worker"
    assert len({r["anonymousId"] for r in records}) == 8, "every test had a fresh device"

    # failure reports: one folder per failing test (pytest-playwright's, under --output), each with only its beacons
    reports = sorted((tmp_path / "out").glob("*test-failing*/beacons.json"))
    assert len(reports) == 2, f"failure reports: {reports}\n{out[-2000:]}"
    failing = {r["test"]: r["anonymousId"] for r in records if r["test"].startswith("test_failing")}
    for report in reports:
        dumped = json.loads(report.read_text())
        ids = {b.get("anonymousId") for b in dumped["beacons"]}
        assert len(ids) == 1 and ids <= set(failing.values()), f"{report}: {ids} vs {failing}"
