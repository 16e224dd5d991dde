"""pytest-playwright's own ``page`` and ``context`` are devices too: the transport is observed (not "browser"),
the page lives in ``--harness-timezone`` and on the harness clock (``--harness-start-time``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.collecting.transport import OBSERVED

USER_TEST = f"""
OBSERVED = {OBSERVED!r}


def test_page_is_a_device(page, context, beacons, harness_device):
    assert page.context is context is harness_device.context and page is harness_device.tab
    page.goto("/products/p2")
    record = beacons.expect("page", context__page__path="/products/p2")[0]
    assert record["_meta"]["transport"] in OBSERVED, record["_meta"]
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Pacific/Kiritimati"
    assert page.evaluate("new Date().getUTCFullYear()") == 2031
    harness_device.advance(days=400)
    assert page.evaluate("new Date().getUTCFullYear()") == 2032


def test_context_pages_are_devices_too(context, beacons):
    other = context.new_page()
    other.goto("/cart")
    record = beacons.expect("page", context__page__path="/cart")[0]
    assert record["_meta"]["transport"] in OBSERVED, record["_meta"]
"""


def test_page_and_context_are_devices(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--harness-timezone", "Pacific/Kiritimati", "--harness-start-time",
                             "2031-03-01T12:00:00Z"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=180, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
