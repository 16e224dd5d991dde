"""Quiet failures in a user's project: a failed assertion shows the test's line and the harness's message,
never the harness's own source; a browser option that cannot work is one usage line before any test runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import harness

HARNESS_DIR = Path(harness.__file__).resolve().parent
FAILING = """
def test_expects_a_signup(beacons, harness_server):
    import json, urllib.request
    body = json.dumps({"type": "track", "event": "Product Viewed", "anonymousId": "a1",
                       "messageId": "m1", "writeKey": "k"}).encode()
    urllib.request.urlopen(urllib.request.Request(harness_server.base_url + "/v1/track", body,
                                                  {"Content-Type": "application/json"}))
    beacons.expect("track", event="Signed Up", timeout=0.2)
"""


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def harness_source_lines() -> set[str]:
    """Every distinctive line of the harness's own Python source, stripped."""
    lines: set[str] = set()
    for path in HARNESS_DIR.rglob("*.py"):
        lines.update(s for line in path.read_text(encoding="utf-8").splitlines() if len(s := line.strip()) > 12)
    return lines


def failure_section(output: str) -> str:
    """The text between pytest's FAILURES banner and the short summary."""
    start = output.index("= FAILURES =")
    end = output.find("short test summary info", start)
    return output[start:end if end > 0 else None]


@pytest.mark.parametrize("tb", ["auto", "long"])
def test_a_failed_expect_shows_no_harness_source(tmp_path: Path, tb: str) -> None:
    (tmp_path / "test_quiet.py").write_text(FAILING)
    result = run(tmp_path, f"--tb={tb}", "-rf")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    section = failure_section(result.stdout)
    assert "expected 1 message(s) matching" in section and "Closest captured messages" in section, section
    assert "beacons.expect(" in section, "the test's own line stays"
    source = harness_source_lines()
    leaked = [line for line in section.splitlines()
              if re.sub(r"^[>E]?\s+", "", line).strip() in source
              or re.search(r"(^|[/\\])harness[/\\][\w/\\]+\.py:\d+", line)]
    assert not leaked, "harness source in the failure section:\n" + "\n".join(leaked)


@pytest.mark.parametrize(("args", "env", "says"), [
    (["--harness-timezone", "Mars/Olympus_Mons"], {}, "--harness-timezone Mars/Olympus_Mons: not an IANA time zone"),
    ([], {"HARNESS_TIMEZONE": "Mars/Olympus_Mons"}, "--harness-timezone Mars/Olympus_Mons"),
    (["--headed"], {"DISPLAY": "", "WAYLAND_DISPLAY": ""}, "--headed needs a display"),
    (["--browser-channel", "chrome-nightly"], {}, "--browser-channel chrome-nightly: not a Chromium channel"),
])
def test_a_browser_option_that_cannot_work_is_one_usage_line(tmp_path: Path, args: list[str],
                                                              env: dict[str, str], says: str) -> None:
    if "--headed" in args and not sys.platform.startswith("linux"):
        pytest.skip("the display check is Linux's ($DISPLAY / $WAYLAND_DISPLAY)")
    (tmp_path / "test_user.py").write_text("def test_one(page):\n    pass\n\ndef test_two(page):\n    pass\n")
    result = run(tmp_path, "-q", *args, env=env)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 4, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and says in lines[0], lines


def test_a_channel_that_is_not_installed_is_one_usage_line(tmp_path: Path) -> None:
    from harness.testing.pytest_plugin import _channel_paths

    paths = _channel_paths("msedge-dev") or ()
    if any(Path(p).is_file() for p in paths):
        pytest.skip("Edge Dev is installed here")
    (tmp_path / "test_user.py").write_text("def test_one(page):\n    pass\n")
    result = run(tmp_path, "-q", "--browser-channel", "msedge-dev")
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 4 and len(lines) == 1, lines
    assert "--browser-channel msedge-dev: that browser is not installed" in lines[0], lines


def test_a_real_zone_and_a_display_pass(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text("def test_zone(harness_instant):\n"
                                           "    assert harness_instant.timezone == 'Pacific/Kiritimati'\n")
    result = run(tmp_path, "-q", "--harness-timezone", "Pacific/Kiritimati")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
