"""Browser provisioning: one place finds Chromium; a missing one is one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def _fake_browser(path: Path) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_headless_prefers_the_headless_shell_and_headed_never_gets_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shell, full = _fake_browser(tmp_path / "chromium-headless-shell"), _fake_browser(tmp_path / "chromium")
    monkeypatch.delenv("HARNESS_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "_managed_chromium", lambda: None)
    monkeypatch.setattr(browser, "HEADLESS_SHELL_CANDIDATES", (shell,))
    monkeypatch.setattr(browser, "SYSTEM_CANDIDATES", (full,))
    assert browser.find_chromium(headless=True) == shell
    assert browser.find_chromium(headless=False) == full
    assert browser.launch_args(headless=False)["executable_path"] == full
    monkeypatch.setattr(browser, "HEADLESS_SHELL_CANDIDATES", (str(tmp_path / "missing"),))
    assert browser.find_chromium(headless=True) == full
