"""``--snippet A,B,C``: one session for several libraries (issue 20).

Every test runs with A; the library-neutral ones (ini ``harness_library_neutral``) run with B and C too,
each profile on a server of its own, made once per worker and kept while that profile's tests run.
A user project in a temporary folder, run by a real pytest with the harness plugin; no browser needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NEUTRAL = '''
import json, os
import pytest

def _note(harness_server, harness_profile, name):
    with open(os.environ["SEEN"], "a") as fh:
        fh.write(json.dumps([name, harness_profile.name, harness_server.profile.name, harness_server.base_url]) + "\\n")

@pytest.mark.claims("C1")
def test_first(harness_server, harness_profile):
    _note(harness_server, harness_profile, "first")

def test_second(harness_server, harness_profile):
    _note(harness_server, harness_profile, "second")

@pytest.mark.library("intilery", reason="our own option")
def test_ours_only(harness_server):
    pass

@pytest.mark.differs("rudderstack", reason="measured: kept the id")
def test_differs(harness_profile):
    from harness.testing import measured
    measured(harness_profile.library != "rudderstack", "measured: kept the id")

def test_no_server():
    pass

@pytest.mark.long(5)
def test_long_one(harness_server):
    pass
'''

OTHER = '''
def test_elsewhere(harness_server, harness_profile):
    assert harness_profile.name == "intilery"
'''


def run(project: Path, *args: str, seen: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    env["SEEN"] = str(seen or project / "seen.jsonl")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rxs", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\nharness_library_neutral = neutral\n")
    (tmp_path / "neutral").mkdir()
    (tmp_path / "neutral" / "test_neutral.py").write_text(NEUTRAL)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "test_other.py").write_text(OTHER)
    return tmp_path


def test_neutral_tests_run_once_per_profile_and_the_rest_with_the_first(project: Path) -> None:
    done = run(project, "--collect-only", "-q", "--snippet", "intilery,rudderstack")
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert ids[0] == "neutral/test_neutral.py::test_long_one[intilery]", "a long test goes first"
    assert "neutral/test_neutral.py::test_first[intilery]" in ids
    assert "neutral/test_neutral.py::test_first[rudderstack]" in ids
    assert "neutral/test_neutral.py::test_no_server" in ids, "a test without the server runs once"
    assert "other/test_other.py::test_elsewhere" in ids, "outside harness_library_neutral: once, first profile"
    assert len(ids) == 2 * 5 + 2, ids


def test_each_profile_has_its_own_server_shared_by_its_tests(project: Path) -> None:
    done = run(project, "-q", "--snippet", "intilery,rudderstack")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIPPED" in done.stdout and "intilery only (our own option); --snippet rudderstack embeds" in done.stdout
    assert "XFAIL neutral/test_neutral.py::test_differs[rudderstack] - rudderstack differs" in done.stdout
    assert "1 skipped, 1 xfailed" in done.stdout, done.stdout
    seen = [json.loads(line) for line in (project / "seen.jsonl").read_text().splitlines()]
    assert sorted((name, profile) for name, profile, _, _ in seen) == [
        ("first", "intilery"), ("first", "rudderstack"), ("second", "intilery"), ("second", "rudderstack")]
    assert all(profile == served for _, profile, served, _ in seen), "each test's server embeds its profile"
    urls = {profile: {url for _, p, _, url in seen if p == profile} for profile in ("intilery", "rudderstack")}
    assert len(urls["intilery"]) == len(urls["rudderstack"]) == 1, "one server per profile, shared by its tests"
    assert urls["intilery"] != urls["rudderstack"]


def test_the_conformance_records_are_written_per_profile(project: Path) -> None:
    out = project / "records" / "column.json"
    done = run(project, "-q", "--snippet", "intilery,rudderstack", "--conformance-out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("intilery", "rudderstack"):
        column = json.loads((out.parent / f"column.{name}.json").read_text())
        assert column["profile"] == name
        assert [r["test"] for r in column["records"]] == [f"neutral/test_neutral.py::test_first[{name}]"]


@pytest.mark.parametrize(("value", "says"), [
    ("intilery,intilery", "--snippet: profile 'intilery' is named twice"),
    ("intilery,,rudderstack", "an empty name between commas"),
    ("intilery,nosuch", "--snippet: snippet profile 'nosuch' not found"),
])
def test_a_bad_list_is_one_usage_error(project: Path, value: str, says: str) -> None:
    done = run(project, "-q", "--snippet", value)
    assert done.returncode == 4 and says in done.stderr, done.stdout + done.stderr
