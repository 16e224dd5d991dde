"""Benchmarks for issue 9: collector ingest, capture latency, library weight, suite speed.

``python -m benchmarks`` (``make bench``) runs all four, prints one table and rewrites the figures
section of ``docs/benchmarks.md``. Each benchmark returns a :class:`Result`; comparisons are
measured as ratios inside one run because the machine is shared and noisy.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"  # gitignored: npm downloads, probe outputs, temp databases
PYTHON = sys.executable


@dataclass
class Check:
    """One target: what was measured against what the issue asks for."""

    label: str
    value: str
    target: str
    met: bool | None  # None: could not be measured (the note says why)


@dataclass
class Result:
    """A benchmark's figures, its targets and what a reader needs to judge them."""

    name: str
    figures: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def figure(self, label: str, value: str) -> None:
        self.figures.append((label, value))

    def check(self, label: str, value: str, target: str, met: bool | None) -> None:
        self.checks.append(Check(label, value, target, met))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): p99 of 500 samples is the 495th smallest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 5.0) -> None:
    """Ctrl-C first (clean shutdown), then terminate, then kill: never leave a server behind."""
    if proc.poll() is not None:
        return
    for sig_fn in (lambda: proc.send_signal(signal.SIGINT), proc.terminate, proc.kill):
        sig_fn()
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"
