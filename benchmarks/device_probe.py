"""Per-test cost of ``new_device`` vs a bare ``browser.new_context()`` + ``new_page()``.

Not a test of the project: :mod:`benchmarks.suite` runs this file with pytest (named explicitly,
so the ``test_`` prefix rule does not apply) and reads the JSON it writes to $BENCH_DEVICE_OUT.
Tests alternate bare/device so noise hits both alike. Each test is timed from before its first
function-scoped fixture is set up until after the last one is torn down (the autouse clock is
set up first and torn down last), so fixture setup and context teardown are included.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from typing import Any

import pytest

N = int(os.environ.get("BENCH_DEVICE_N", "30"))
TIMES: dict[str, list[float]] = {"bare": [], "device": []}


@pytest.fixture(scope="session", autouse=True)
def _write_times() -> Generator[None, None, None]:
    yield
    out = os.environ.get("BENCH_DEVICE_OUT")
    if out:
        with open(out, "w") as fh:
            json.dump(TIMES, fh)


@pytest.fixture(autouse=True)
def _clock(request: pytest.FixtureRequest) -> Generator[None, None, None]:
    start = time.perf_counter()
    yield
    kind = request.node.callspec.params["kind"]
    TIMES[kind].append((time.perf_counter() - start) * 1000)


@pytest.mark.parametrize(("i", "kind"), [(i, k) for i in range(N) for k in ("bare", "device")])
def test_cost(i: int, kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "bare":
        browser: Any = request.getfixturevalue("browser")
        context = browser.new_context()
        context.new_page()
        context.close()
    else:
        new_device = request.getfixturevalue("new_device")
        new_device("desktop")  # closed by pytest-playwright's new_context teardown
