"""Suite speed: wall time of the whole suite as ``make test`` runs it (``xdist=True`` adds a one-process run
for the speed-up; it takes minutes), and the per-test cost of ``new_device`` against a bare Playwright context.

Every run is a pytest subprocess from the repository root; what ran (the summary line) is
recorded beside the time, because the suite changes as the project grows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import PYTHON, ROOT, Result, median

SUITE_TARGET_S = 90.0  # issue 20: make test, three libraries, 2 cores
# what `make test` runs (Makefile): one session, the library-neutral tests for three libraries, the calendar
MAKE_TEST_ARGS = ["-n", "auto", "--dist", "worksteal", "--harness-calendar", "--snippet",
                  "intilery,analytics-next,rudderstack", "--conformance-check", "docs/conformance.md"]
DEVICE_TARGET = 1.5
SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", re.M)  # "3 failed, 106 passed in 28.3s"


@dataclass
class Run:
    args: list[str]
    seconds: float
    returncode: int
    summary: str
    failures: tuple[str, ...] = ()  # pytest's "FAILED ..." / "ERROR ..." lines (-rfE), so a red run says what

    @property
    def command(self) -> str:
        return " ".join(["pytest", *self.args])


def pytest_run(args: list[str], timeout: float = 900.0, env: dict[str, str] | None = None) -> Run:
    """Run pytest quietly; wall time measured around the whole process (start-up included)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([PYTHON, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return Run(args, time.perf_counter() - start, -1, f"timed out after {timeout:.0f} s")
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    found = SUMMARY.findall(output)
    lines = output.strip().splitlines()
    summary = found[-1].strip() if found else (lines[-1][:200] if lines else f"exit {proc.returncode}")
    failures = tuple(line[:300] for line in lines if line.startswith(("FAILED ", "ERROR ")))
    return Run(args, seconds, proc.returncode, summary, failures)


def device_overhead(n: int = 30, warmup: int = 3) -> tuple[float, float, int]:
    """Median per-test ms of (bare context+page, new_device) from :mod:`benchmarks.device_probe`."""
    with tempfile.TemporaryDirectory(prefix="bench-device-") as tmp:
        out = Path(tmp) / "times.json"
        run = pytest_run(["benchmarks/device_probe.py", f"--output={Path(tmp) / 'out'}"],
                         env={"BENCH_DEVICE_N": str(n), "BENCH_DEVICE_OUT": str(out)})
        if run.returncode != 0 or not out.is_file():
            raise RuntimeError(f"device probe failed: {run.summary}")
        times = json.loads(out.read_text())
    bare, device = times["bare"][warmup:], times["device"][warmup:]
    return median(bare), median(device), len(bare)


def run(full: bool = True, xdist: bool = False, device_n: int = 30) -> Result:
    result = Result("Suite speed")
    started = time.perf_counter()
    if full:
        whole = pytest_run(MAKE_TEST_ARGS)  # what `make test` runs
        result.figure(f"whole suite, `{whole.command}` (make test)", f"{whole.seconds:.1f} s: {whole.summary}")
        result.check("whole suite wall time (make test)", f"{whole.seconds:.1f} s", f"< {SUITE_TARGET_S:.0f} s",
                     whole.seconds < SUITE_TARGET_S and whole.returncode == 0)
        runs = [whole]
        if xdist:
            serial = pytest_run(["-n", "0"])
            runs.append(serial)
            result.figure(f"whole suite, `{serial.command}` (one process)", f"{serial.seconds:.1f} s: {serial.summary}")
            result.figure("speed-up of -n auto over one process", f"{serial.seconds / whole.seconds:.2f}x")
        for r in runs:
            if r.returncode != 0:
                result.notes.append(f"`{r.command}` exited {r.returncode} ({r.summary}); the time is still the "
                                    "time it took")
                result.notes.extend(f"- {line}" for line in r.failures[:20])
    bare, device, n = device_overhead(device_n)
    ratio = device / bare if bare else float("nan")
    result.figure(f"bare browser.new_context() + new_page() + close, per test (median of {n})", f"{bare:.1f} ms")
    result.figure(f"new_device('desktop'), per test incl. fixtures and teardown (median of {n})", f"{device:.1f} ms")
    result.check("new_device / bare context per test", f"{ratio:.2f}x", f"< {DEVICE_TARGET}x", ratio < DEVICE_TARGET)
    result.seconds = time.perf_counter() - started
    return result


if __name__ == "__main__":
    from benchmarks.report import print_results

    print_results([run()])
