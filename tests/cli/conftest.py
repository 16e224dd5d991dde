"""Fixtures for the CLI tests: a real harness server in this process, fed over HTTP, and a CLI runner.

The CLI is run through :func:`harness.tools.cli.main` (the console-script entry point, so error handling
is the real one) with pytest's ``capsys``; a few tests run it as a subprocess as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cli_helpers import Result, Sent, post

from harness.server import HarnessServer
from harness.tools.cli import main


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HarnessServer]:
    """One harness server per test module, with a real SQLite file, on a free port."""
    db = tmp_path_factory.mktemp("cli") / "beacons.sqlite"
    running = HarnessServer(port=0, db=str(db), snippet="none").start()
    yield running
    running.stop()


@pytest.fixture
def live(server: HarnessServer) -> HarnessServer:
    """The module's server, emptied for this test."""
    server.store.clear()
    return server


@pytest.fixture
def feed(live: HarnessServer) -> Callable[[Sent], list[dict[str, Any]]]:
    """Send messages to the collector as browsers would; returns the stored records."""

    def send(messages: Sent) -> list[dict[str, Any]]:
        before = len(live.store.all())
        for body, headers in messages:
            status = post(live.base_url, f"/v1/{body['type']}", body, headers)
            assert status == 200, f"collector refused {body['type']}: {status}"
        return live.store.wait_for(count=before + len(messages), timeout=5)

    return send


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``harness ARGS...`` in-process through the console-script entry point."""
    monkeypatch.setenv("COLUMNS", "220")  # wide rich tables: rows stay on one line
    for name in ("HARNESS_SERVER", "HARNESS_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
