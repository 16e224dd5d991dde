"""Remote browsers: ``pytest --browser-ws ws://HOST:PORT/`` drives a browser a Playwright server launched.

A Playwright server (``python -m playwright run-server``, shipped with the Python package) is
started on a free loopback port; a pytest subprocess runs tests/scale/remote_scenario.py through
it. The server is started with ``--unsafe`` so it honours the executable path and quiet flags the
plugin sends (without it, it would only launch Playwright's own downloaded Chromium).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.browser import BrowserNotFound, find_chromium

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy_output(proc: subprocess.Popen[bytes], log: Path, settled: threading.Event, listening: list[bool]) -> None:
    """Copy the server's output to the log; ``settled`` at its "Listening on ws://" line or when it exits."""
    assert proc.stdout is not None
    with log.open("wb") as fh:
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            if line.startswith(b"Listening on ws://"):
                listening.append(True)
                settled.set()
    settled.set()


@pytest.fixture
def browser_server(tmp_path: Path):
    """A Playwright browser server on loopback; stopped (its whole process group) afterwards."""
    port = _free_port()
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "playwright", "run-server", "--host", "127.0.0.1", "--port", str(port), "--unsafe"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "DEBUG": "pw:server"},
    )
    settled, listening = threading.Event(), []
    threading.Thread(target=_copy_output, args=(proc, log, settled, listening), daemon=True).start()
    try:
        assert settled.wait(30) and listening, \
            f"playwright run-server did not listen on {port} within 30 s:\n{log.read_text(errors='replace')[-2000:]}"
        yield f"ws://127.0.0.1:{port}/", log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the python launcher and the node driver it started
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _chromium_version() -> str | None:
    try:
        path = find_chromium()
    except BrowserNotFound:
        return None
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL).stdout
    return next((word for word in out.split() if word[:1].isdigit()), None)


def test_scenario_runs_through_a_playwright_browser_server(browser_server, tmp_path: Path) -> None:
    ws, log = browser_server
    probe = tmp_path / "probe.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--browser-ws", ws, "--harness-host", "127.0.0.1",
         f"--rootdir={tmp_path}", f"--basetemp={tmp_path / 'basetemp'}", f"--output={tmp_path / 'out'}",
         "-c", str(ROOT / "pyproject.toml"), str(ROOT / "tests/scale/remote_scenario.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "REMOTE_PROBE_OUT": str(probe)},
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "1 passed" in out, f"rc={result.returncode}\n{out[-4000:]}"
    server_log = log.read_text(errors="replace")
    assert "serving connection" in server_log and 'launch mode for "chromium"' in server_log, \
        f"the browser should come from the Playwright server:\n{server_log[-2000:]}"
    seen = json.loads(probe.read_text())
    version = _chromium_version()
    if version:  # the server launched the Chromium the plugin named, not a browser of its own
        assert seen["browser_version"] == version, (seen, version)
    assert seen["device"], "the harness device cookie travelled through the remote browser"
