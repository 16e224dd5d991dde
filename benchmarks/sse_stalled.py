"""Issue 29 item 3: stalled SSE subscribers must not hold the server's memory (loopback only, bounded).

``python -m benchmarks.sse_stalled --subscribers 256 --bursts 3`` starts ``harness serve`` (``:memory:``),
opens that many ``/api/stream`` subscribers that never read (4 KB receive buffers), posts bursts of eight
concurrent 480 KB batches (15 messages of 30 KB each), and reports the server's resident memory (VmRSS):
at start, at its peak while the subscribers stay, and 8 s after they left; ``--subscribers 0`` is the
same traffic without them (the store's own share).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from typing import Any


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post(port: int, batch: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/batch", json.dumps({"batch": batch}).encode(),
                                     {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=60).read()


def _burst(port: int) -> None:
    pad = "x" * 30_000
    batches = [[{"type": "track", "event": "E", "anonymousId": "a", "messageId": uuid.uuid4().hex,
                 "properties": {"pad": pad}} for _ in range(15)] for _ in range(8)]
    threads = [threading.Thread(target=_post, args=(port, b)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(subscribers: int, bursts: int = 3, settle: float = 8.0) -> dict[str, int]:
    """Start a server, stall ``subscribers`` streams, send ``bursts``; RSS in MB at start, peak, after leaving."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--port", str(port), "--db", ":memory:",
                               "--snippet", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        start = rss_mb(server.pid)
        for _ in range(subscribers):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            socks.append(sock)
        time.sleep(1.0)  # every subscriber has its hello
        peak = rss_mb(server.pid)
        for _ in range(bursts):
            _burst(port)
            time.sleep(0.3)
            peak = max(peak, rss_mb(server.pid))
        for sock in socks:
            sock.close()
        socks.clear()
        time.sleep(settle)
        return {"subscribers": subscribers, "start_mb": start, "peak_mb": peak, "after_mb": rss_mb(server.pid)}
    finally:
        for sock in socks:
            sock.close()
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=256)
    parser.add_argument("--bursts", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.subscribers, args.bursts)))


if __name__ == "__main__":
    main()
