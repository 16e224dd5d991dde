"""Snapshots in a user's project: the re-record hint, run as printed, records the library the test ran with,
and --snapshot-update refuses (one line) when two tests of the run would write one file, with xdist too."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

SNAP = """
def test_home(beacons, harness_server):
    import json, urllib.request
    body = json.dumps({"type": "page", "name": "Home", "anonymousId": "a1", "messageId": "m1",
                       "context": {"library": {"name": harness_server.profile.context_name}}}).encode()
    urllib.request.urlopen(urllib.request.Request(harness_server.base_url + "/v1/page", body,
                                                  {"Content-Type": "application/json"}))
    beacons.expect("page")
    beacons.match_snapshot("home")
"""


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("snippet", ["intilery", "rudderstack"])
def test_the_hint_run_as_printed_records_the_library_that_ran(tmp_path: Path, snippet: str) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_snap.py").write_text(SNAP)
    first = run(tmp_path, "tests", "--snippet", snippet)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-2000:]
    hint = re.search(r"with `(pytest [^`]*)`", first.stdout)
    assert hint, first.stdout[-3000:]
    command = shlex.split(hint[1])
    assert f"--snippet {snippet}" in hint[1] and "tests/test_snap.py::test_home" in hint[1], hint[1]
    recorded = run(tmp_path, *command[1:])  # exactly what the hint says, after "pytest"
    assert recorded.returncode == 0, recorded.stdout[-3000:] + recorded.stderr[-2000:]
    library = "intilery" if snippet == "intilery" else "rudderstack"
    assert (tmp_path / "tests" / "__snapshots__" / library / "home.json").is_file(), "the library's own folder"
    again = run(tmp_path, "tests", "--snippet", snippet)
    assert again.returncode == 0, again.stdout[-3000:]


TWO = SNAP + SNAP.replace("def test_home", "def test_home_again")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_snapshot_update_refuses_two_tests_writing_one_file(tmp_path: Path, workers: list[str]) -> None:
    (tmp_path / "test_two.py").write_text(TWO)
    result = run(tmp_path, "--snapshot-update", "-rf", *workers)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if "--snapshot-update: " in line and "both write" in line]
    assert lines, result.stdout[-3000:]
    assert re.search(r"test_two\.py::test_home(_again)? and test_two\.py::test_home(_again)? both write "
                     r".*__snapshots__/intilery/home\.json; nothing was written for", lines[0]), lines[0]
    assert "1 failed, 1 passed" in result.stdout, result.stdout[-1500:]


def test_one_test_may_rewrite_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(SNAP.replace('beacons.match_snapshot("home")',
                                                       'beacons.match_snapshot("home")\n'
                                                       '    beacons.match_snapshot("home")'))
    result = run(tmp_path, "--snapshot-update")
    assert result.returncode == 0, result.stdout[-3000:]
