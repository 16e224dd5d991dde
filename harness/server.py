"""Run the app: in a background thread with its own event loop (tests), or in the foreground (CLI).

Playwright's sync API owns the test thread's event loop, so the server gets a thread and a loop
of its own; the store it shares with the test is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from harness import keys
from harness.app import create_app
from harness.collecting.faults import Faults
from harness.collecting.store import BeaconStore
from harness.sites.snippet import SnippetProfile

T = TypeVar("T")


def run_in_thread(coro: Coroutine[Any, Any, T], name: str = "harness-async") -> T:
    """Run a coroutine to completion on a fresh loop in its own thread and return its result.

    Playwright's sync API leaves the calling thread's loop marked as running, so ``asyncio.run``
    there refuses; tests, benchmarks and the loss experiment drive asyncio code through this.
    """
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class HarnessServer:
    """A running harness: ``base_url``, ``store``, ``faults``; start()/stop() or use as a context manager."""

    host: str = "127.0.0.1"
    port: int = 0
    db: str = ":memory:"
    config: keys.Config = field(default_factory=keys.Config)
    snippet: SnippetProfile | str | None = None
    public_host: str | None = None  # the address browsers use, if not ``host``
    # a connection must send a complete request head within this many seconds of opening (or of its
    # previous response); slower ones -- slowloris -- are closed. Also the keep-alive idle timeout.
    header_timeout: float = 10.0

    def __post_init__(self) -> None:
        from harness.inspection.guard import env_allowed_hosts

        own = [h for h in (self.host, self.public_host) if h and h not in ("0.0.0.0", "::")]
        self.config.allowed_hosts.extend(n for n in [*own, *env_allowed_hosts()] if n not in self.config.allowed_hosts)
        self.store = BeaconStore(self.db)
        self.app = create_app(self.store, self.config, self.snippet)
        self.faults: Faults = self.app[keys.FAULTS]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.public_host or self.host}:{self.port}"

    @property
    def profile(self) -> SnippetProfile:
        return self.app[keys.PROFILE]

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                                    auto_decompress=False,  # the collector decodes gzip itself, with limits
                                    keepalive_timeout=self.header_timeout)  # armed from connection start
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self_host = "127.0.0.1" if self.host in ("0.0.0.0", "") or is_loopback(self.host) else self.host
        self.config.self_url = f"http://{self_host}:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # surfaced to the starting thread
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        """Stop accepting, finish or cancel open requests (SSE streams included), leave no task behind."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def start(self) -> HarnessServer:
        """Start in a daemon thread; returns once the port is bound (or raises why not)."""
        self._thread = threading.Thread(target=self._run, name="harness-server", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def clear(self, settle_s: float = 2.0) -> None:
        """Empty the store once no collector request is half-way (at most ``settle_s``), on the server's loop.

        A beacon whose body arrived just before a test ended is stored before the clear, never after
        it in the next test's store.
        """
        if self._loop is None or not self._loop.is_running():
            self.store.clear()
            return
        asyncio.run_coroutine_threadsafe(self._clear_when_idle(settle_s), self._loop).result(settle_s + 5)

    async def _clear_when_idle(self, settle_s: float) -> None:
        from harness.collecting.collector import IN_FLIGHT

        for _ in range(3):  # let requests already in the socket buffers be read and counted
            await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.app[IN_FLIGHT].idle.wait(), settle_s)
        self.store.clear()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self.store.close()

    def __enter__(self) -> HarnessServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_forever(self, on_ready: object = None) -> None:
        """Foreground mode for ``harness serve``: blocks until Ctrl-C (SIGINT) or SIGTERM, then shuts down cleanly.

        Both are handled whatever the parent left them as: a shell script's ``harness serve &`` inherits SIGINT
        ignored, and ``kill``, ``docker stop`` and CI runners send SIGTERM; either way the store is closed.
        """
        if threading.current_thread() is threading.main_thread():
            for stop_signal in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stop_signal, _interrupt)
        self.start()
        try:
            if callable(on_ready):
                on_ready(self)
            assert self._thread is not None
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT or SIGTERM in ``harness serve``: what Ctrl-C does, a KeyboardInterrupt in the main thread."""
    raise KeyboardInterrupt
