"""Live fan-out of stored beacons to Server-Sent Events subscribers, bounded per subscriber.

One :class:`Hub` per app holds a single store subscription, whatever the number of subscribers.
Each beacon is encoded once into an SSE frame; frames are gathered for ``FLUSH_SECONDS`` and
handed to every subscriber as one shared ``bytes`` block, so a subscriber costs one queue append
and one socket write per flush, not one JSON encoding and one write per beacon.

Each subscriber has a bounded queue (``MAX_QUEUE_BYTES`` of blocks not yet written). A subscriber
that falls behind -- a slow reader, or one that never reads at all -- is dropped: it is sent an
``event: dropped`` (if its socket takes it) and its connection is closed, then aborted after
``GRACE_SECONDS``. The store never waits on a subscriber. At most ``MAX_SUBSCRIBERS`` subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from harness.collecting.store import BeaconStore, Record, to_json_fast

FLUSH_SECONDS = 0.05  # beacons gathered into one block per subscriber write
MAX_QUEUE_BYTES = 4 * 1024 * 1024  # unwritten blocks per subscriber before it is dropped
# a flush's frames are cut into shared blocks of about this size, and a subscriber's writer takes one at a
# time: a writer stuck on a socket that is never read pins one block in its transport, not a private copy of
# its whole queue (256 stalled subscribers and a few bursts took the server from 44 MB to 837 MB)
BLOCK_BYTES = 64 * 1024
TRIM_SECONDS = 1.0  # at most this often, memory freed by departed subscribers is handed back to the OS
MAX_SUBSCRIBERS = 256
GRACE_SECONDS = 5.0  # a dropped subscriber's socket is aborted if it has not closed by then
SEND_BUFFER = 64 * 1024  # SO_SNDBUF of a stream socket: a reader that stops pins little kernel memory
log = logging.getLogger(__name__)


def frame(event: str, data: str, event_id: str | None = None) -> bytes:
    """One SSE event. ``data`` is JSON from :func:`to_json_fast` (ASCII, no newline), so it cannot break the framing."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode("ascii")


class Subscriber:
    """One /api/stream client: blocks to write, and whether it was dropped."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self.blocks: deque[bytes] = deque()
        self.queued = 0
        self.wake = asyncio.Event()
        self.dropped: str | None = None  # the reason, once dropped
        self.transport = transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

    def offer(self, block: bytes | list[bytes]) -> None:
        """One flush's blocks: they always fit an empty queue; behind by more than MAX_QUEUE_BYTES: dropped."""
        if self.dropped is not None:
            return
        blocks = [block] if isinstance(block, bytes) else block
        size = sum(len(b) for b in blocks)
        if self.blocks and self.queued + size > MAX_QUEUE_BYTES:
            self.drop(f"this subscriber fell {self.queued + size} bytes behind "
                      f"(the limit is {MAX_QUEUE_BYTES}); reconnect and reload the backlog")
            return
        self.blocks.extend(blocks)
        self.queued += size
        self.wake.set()

    def take(self) -> bytes:
        """The oldest block (shared with the other subscribers, not copied); the writer is woken again while
        more wait."""
        if not self.blocks:
            return b""
        block = self.blocks.popleft()
        self.queued -= len(block)
        if self.blocks:
            self.wake.set()
        return block

    def drop(self, reason: str) -> None:
        """Stop feeding it. Its writer tells it why and ends the response; a writer stuck on a socket
        that is never read is cut off by aborting the connection after GRACE_SECONDS."""
        self.dropped = reason
        self.blocks.clear()
        self.queued = 0
        self.wake.set()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            asyncio.get_running_loop().call_later(GRACE_SECONDS, _abort, transport)

    def farewell(self) -> bytes:
        return frame("dropped", json.dumps({"reason": self.dropped}))


def _abort(transport: asyncio.BaseTransport) -> None:
    with contextlib.suppress(Exception):  # already gone: nothing to do
        transport.abort()  # type: ignore[attr-defined]


class Hub:
    """The app's one store subscription, shared by every stream subscriber."""

    def __init__(self, store: BeaconStore) -> None:
        self.store = store
        self.subscribers: set[Subscriber] = set()
        self.dropped = 0  # subscribers dropped for falling behind, since start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._frames: list[bytes] = []
        self._flush_scheduled = False
        self._trim_scheduled = False

    def join(self, transport: asyncio.BaseTransport | None) -> Subscriber | None:
        """A new subscriber, or None when MAX_SUBSCRIBERS are connected."""
        if len(self.subscribers) >= MAX_SUBSCRIBERS:
            return None
        self._loop = asyncio.get_running_loop()
        subscriber = Subscriber(transport)
        self.subscribers.add(subscriber)
        if self._unsubscribe is None:
            self._unsubscribe = self.store.subscribe(self._on_record)
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        subscriber.blocks.clear()
        if not self.subscribers and self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            unsubscribe()
        loop = self._loop
        if not self._trim_scheduled and loop is not None and not loop.is_closed():
            self._trim_scheduled = True  # after the departing connections' buffers are gone
            loop.call_later(TRIM_SECONDS, self._trim)

    def _trim(self) -> None:
        self._trim_scheduled = False
        release_memory()

    def _on_record(self, record: Record) -> None:
        """Store listener (any thread, after the commit): encode once, deliver on the loop. Never raises:
        a stream problem must not turn a stored beacon into an error for its sender."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            seq = record.get("_meta", {}).get("seq", "")
            block = frame("beacon", to_json_fast(record), str(seq))
        except (ValueError, TypeError):
            log.exception("beacon %r cannot be streamed", record.get("messageId"))
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._queue(block)
        else:
            loop.call_soon_threadsafe(self._queue, block)

    def _queue(self, block: bytes) -> None:
        self._frames.append(block)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._frames:
            return
        blocks = _blocks(self._frames)
        self._frames = []
        for subscriber in list(self.subscribers):
            was = subscriber.dropped
            subscriber.offer(blocks)
            if was is None and subscriber.dropped is not None:
                self.dropped += 1

    def stats(self) -> dict[str, Any]:
        return {"subscribers": len(self.subscribers), "dropped": self.dropped, "limit": MAX_SUBSCRIBERS}


def _blocks(frames: list[bytes]) -> list[bytes]:
    """Frames joined into blocks of about BLOCK_BYTES (a bigger frame is a block of its own)."""
    blocks: list[bytes] = []
    pending: list[bytes] = []
    size = 0
    for one in frames:
        if pending and size + len(one) > BLOCK_BYTES:
            blocks.append(b"".join(pending))
            pending, size = [], 0
        pending.append(one)
        size += len(one)
    if pending:
        blocks.append(b"".join(pending))
    return blocks


def release_memory() -> None:
    """Hand freed heap back to the OS (glibc ``malloc_trim``): what departed subscribers' buffers used is
    otherwise kept by the allocator, and the server's RSS never came down. A no-op elsewhere."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes

            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any = None
