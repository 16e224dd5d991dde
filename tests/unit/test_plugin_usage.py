"""The pytest plugin in a user's project: each option mistake is one line at configure time; snapshots
land where the user's project says; base_url is the harness."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TEST = "def test_nothing(beacons):\n    pass\n"


def run(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_user.py").write_text(TEST)
    (tmp_path / "bad-plan.yaml").write_text("events:\n  Signed Up:\n    properties: {type: objekt}\n")
    (tmp_path / "broken.yaml").write_text("events: [unclosed\n")
    return tmp_path


@pytest.mark.parametrize(("args", "says"), [
    (["--browser", "firefox"], "the harness drives Chromium only: --browser firefox is not supported"),
    (["--browser", "chromium", "--browser", "webkit"], "--browser webkit is not supported"),
    (["--snippet", "nosuch"], "--snippet: snippet profile 'nosuch' not found"),
    (["--tracking-plan", "missing.yaml"], "--tracking-plan: tracking plan file not found: missing.yaml"),
    (["--tracking-plan", "bad-plan.yaml"], "--tracking-plan: bad-plan.yaml"),
    (["--tracking-plan", "broken.yaml"], "is not valid YAML"),
    (["--harness-db", "/etc/passwd/x.sqlite"], "--harness-db /etc/passwd/x.sqlite: /etc/passwd is a file"),
    (["--harness-db", "no/such/dir/x.sqlite"], "the folder no/such/dir does not exist"),
])
def test_an_option_mistake_is_one_usage_line(project: Path, args: list[str], says: str) -> None:
    started = time.monotonic()
    result = run(project, *args, timeout=30)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage-error exit status
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and says in lines[0], lines
    assert time.monotonic() - started < 10


def test_snapshots_follow_the_ini_option_and_base_url_is_the_harness(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nharness_snapshot_dir = golden\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_snap.py").write_text(
        "def test_snap(page, beacons, base_url, harness_server):\n"
        "    assert base_url == harness_server.base_url\n"
        "    page.goto('/cart')\n"
        "    beacons.expect('page', context__page__path='/cart')\n"
        "    assert beacons.match_snapshot('cart', type='page') == harness_server_dir()\n"
        "\n"
        "def harness_server_dir():\n"
        "    import pathlib\n"
        "    return pathlib.Path(__file__).resolve().parent.parent / 'golden' / 'intilery' / 'cart.json'\n")
    result = run(tmp_path, "--snapshot-update")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert (tmp_path / "golden" / "intilery" / "cart.json").is_file(), "one snapshot folder per library"
    assert "warning" not in result.stdout.lower(), result.stdout


def test_base_url_option_still_wins(tmp_path: Path) -> None:
    (tmp_path / "test_base.py").write_text(
        "def test_base(base_url):\n    assert base_url == 'http://example.invalid:1234'\n")
    result = run(tmp_path, "--base-url", "http://example.invalid:1234")
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_wrong_harness_chromium_is_one_usage_line(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                            env={**env, "HARNESS_CHROMIUM": str(project / "no-chrome")}, capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 4 and len(lines) == 1 and "HARNESS_CHROMIUM=" in lines[0], lines
