"""Browser provisioning: one place finds Chromium; a missing one is one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness import browser


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_CHROMIUM": "/nonexistent/chrome"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_override_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CHROMIUM", "/nonexistent/chrome")
    with pytest.raises(browser.BrowserNotFound, match="HARNESS_CHROMIUM=/nonexistent/chrome"):
        browser.find_chromium()


def test_found_browser_gets_the_quiet_flags() -> None:
    args = browser.launch_args()
    assert args["executable_path"] and os.access(args["executable_path"], os.X_OK)
    for flag in ("--disable-background-networking", "--disable-component-update", "--no-sandbox"):
        assert flag in args["args"]


@pytest.mark.parametrize("argv", [["-m", "harness.browser"], ["-m", "harness", "demo"]])
def test_missing_browser_is_one_line_and_nonzero(argv: list[str]) -> None:
    result = run(*argv)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "HARNESS_CHROMIUM" in lines[0] and "install" in lines[0], result.stderr
