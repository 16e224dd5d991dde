"""Shared by the site tests: a socket standing in for "the network"."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Generator

import pytest


@pytest.fixture
def sink() -> Generator[tuple[int, list[float]], None, None]:
    """A local TCP socket standing in for a host off the machine: the (monotonic) time of every connection it
    accepts. A test maps a host name to it (``*.localhost``, or ``--host-resolver-rules``): a connection is a
    request that went around the harness's routes."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    server.settimeout(0.2)
    hits: list[float] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(time.monotonic())
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join(2)
    server.close()
