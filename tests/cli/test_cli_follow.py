"""`harness beacons --follow`: a beacon posted after the command started is printed as it arrives."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cli_helpers import USER_ID, Browser, harness_command, post

WAIT = 20.0  # upper bound only: every read returns as soon as its line arrives


class Running:
    """A CLI subprocess whose stdout and stderr lines are read by threads, so reads can time out."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(harness_command() + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream, sink: queue.Queue[str]) -> None:
        for line in stream:
            sink.put(line.rstrip("\n"))

    def line(self, which: str = "out") -> str:
        try:
            return (self.out if which == "out" else self.err).get(timeout=WAIT)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"no {which} line within {WAIT}s; stderr: {self._drain(self.err)}") from None

    @staticmethod
    def _drain(sink: queue.Queue[str]) -> list[str]:
        lines = []
        while not sink.empty():
            lines.append(sink.get_nowait())
        return lines

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def follow() -> Iterator[type[Running]]:
    started: list[Running] = []

    class Tracked(Running):
        def __init__(self, argv: list[str]) -> None:
            super().__init__(argv)
            started.append(self)

    yield Tracked
    for running in started:
        running.stop()


def send(base_url: str, browser: Browser, event: str, user_id: str | None = None) -> str:
    body, headers = browser.message("track", datetime.now(UTC), user_id, event=event)
    assert post(base_url, "/v1/track", body, headers) == 200
    return body["messageId"]


def test_follow_jsonl_prints_a_beacon_posted_after_it_started(live, follow) -> None:
    browser = Browser.new()
    earlier = send(live.base_url, browser, "Before Following")
    running = follow(["beacons", "--server", live.base_url, "--follow", "--format", "jsonl"])
    assert running.line("err").startswith(f"following {live.base_url}")
    assert json.loads(running.line())["messageId"] == earlier  # the backlog first
    posted = send(live.base_url, browser, "Signed Up", USER_ID)
    record = json.loads(running.line())
    assert record["messageId"] == posted
    assert record["event"] == "Signed Up" and record["_meta"]["seq"] == 2
    assert running.proc.poll() is None  # still following


def test_follow_applies_filters_to_the_stream(live, follow) -> None:
    browser = Browser.new()
    running = follow(["beacons", "--server", live.base_url, "-f", "--format", "jsonl", "--event", "Wanted"])
    running.line("err")
    send(live.base_url, browser, "Unwanted")
    wanted = send(live.base_url, browser, "Wanted")
    assert json.loads(running.line())["messageId"] == wanted


def test_follow_table_prints_one_aligned_line_per_beacon(live, follow) -> None:
    running = follow(["beacons", "--server", live.base_url, "--follow"])
    running.line("err")
    header = running.line()
    assert header.split()[:4] == ["#", "received", "type", "event"]
    send(live.base_url, Browser.new("mobile"), "Order Completed", USER_ID)
    row = running.line()
    assert "track" in row and "Order Completed" in row and USER_ID in row and "xhr" in row
    assert row.index("track") == header.index("type")


def test_follow_a_store_file(live, follow) -> None:
    running = follow(["beacons", "--db", live.db, "--follow", "--format", "jsonl"])
    assert running.line("err").startswith(f"following {live.db}")
    posted = send(live.base_url, Browser.new(), "Written To The File")
    assert json.loads(running.line())["messageId"] == posted


def test_follow_says_so_when_the_server_goes_away(follow) -> None:
    """A real `harness serve` process is stopped (Ctrl-C) under a following CLI."""
    server = follow(["serve", "--port", "0", "--db", ":memory:", "--snippet", "none"])
    site = next(line for line in iter(server.line, None) if line.strip().startswith("site"))
    base_url = site.split()[-1].rstrip("/")
    running = follow(["beacons", "--server", base_url, "--follow", "--format", "jsonl"])
    assert running.line("err").startswith(f"following {base_url}")
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(WAIT) == 0
    assert running.line("err") == f"harness: lost the stream from {base_url} (server stopped?)"
    assert running.proc.wait(WAIT) == 1
