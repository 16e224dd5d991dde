"""What the figures were measured on: cores, CPU model, RAM, software versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from benchmarks import load_average


def _cpuinfo_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _chromium() -> str:
    from harness.browser import BrowserNotFound, find_chromium

    try:
        path = find_chromium()
    except BrowserNotFound as exc:
        return f"none ({exc})"
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return f"{out or '?'} ({path})"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, str]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores (nproc)": str(cores),
        "CPU": _cpuinfo_model(),
        "RAM": _ram(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Chromium": _chromium(),
        "playwright / pytest-playwright / pytest-xdist / aiohttp": " / ".join(
            _version(d) for d in ("playwright", "pytest-playwright", "pytest-xdist", "aiohttp")),
        "load average at start (1/5/15 min)": load_average(),
    }
