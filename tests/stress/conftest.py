"""Fixtures for the load, crash and memory tests: ``harness serve`` as a real subprocess on a free port.

A subprocess (not the in-process thread server) so the server has its own interpreter and can be
SIGKILLed, and so its resident memory can be read from /proc.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HARNESS = str(Path(sys.executable).with_name("harness"))


def _pump(stream: Any, out: queue.Queue[str]) -> None:
    for line in iter(stream.readline, b""):
        out.put(line.decode(errors="replace"))
    out.put("")


@dataclass
class ServeProcess:
    """One ``harness serve --db FILE`` process."""

    db: str
    args: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServeProcess:
        """Start on a free port (``--port 0``) and wait until it has printed its URLs and accepts connections."""
        cmd = [HARNESS, "serve", "--port", "0", "--db", self.db, "--snippet", "none", *self.args]
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115  a file, not a pipe: a chatty server never blocks
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errors)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if not line:
                break
            seen.append(line)
            if line.strip().startswith("site"):
                self.port = int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])
            if line.startswith("Ctrl-C to stop") and self.port:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5):
                    return self
        self.proc.kill()
        raise AssertionError(f"harness serve did not start: {seen} {self.stderr()!r}")

    def stderr(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_mb(self) -> float:
        """Resident memory (VmRSS) in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=60) as resp:
            return json.loads(resp.read())

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> int:
        """Ctrl-C and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def serve_process(tmp_path: Path) -> Generator[Any, None, None]:
    """``serve_process(db=None, *args)`` -> a started ServeProcess; every one is stopped after the test."""
    started: list[ServeProcess] = []

    def start(db: str | None = None, *args: str) -> ServeProcess:
        proc = ServeProcess(db or str(tmp_path / "beacons.sqlite"), args).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.stop()
