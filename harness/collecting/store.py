"""The beacon store: every accepted beacon, de-duplicated by messageId, in SQLite and in memory.

Thread-safe (the server runs in a background thread while tests wait in the main one).
A beacon is committed before :meth:`BeaconStore.add` returns, so the collector acknowledges
only what is on disk: WAL mode survives ``kill -9`` of the process. Tests block on a
condition variable in :meth:`BeaconStore.wait_for` rather than polling.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.identity import graph

Record = dict[str, Any]
log = logging.getLogger(__name__)
Listener = Callable[[Record], None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS beacons (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bad (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
COUNTERS = ("received", "duplicates", "unauthorized", "bad", "resent")
RESEND_DIFF_SHOWN = 20  # changed fields listed in a re-send note
BAD_LIMIT = 1_000  # rejected submissions kept (oldest out); the "bad" counter keeps the total
BAD_BYTES = 4 * 1024 * 1024  # ... and at most this much of their JSON
BAD_RAW_KEEP = 16 * 1024  # characters of a rejected body kept in its entry
IGNORED_IN_CONFLICTS = ("receivedAt", "sentAt", "_meta", "_metadata")  # differ between honest re-sends
# The identity graph is derived data: a write commits beacons only, and the graph catches up in chunks
# (many messages of one person share a component's row updates). It catches up when this many stored
# messages wait (inside the write that passes it, so its CPU is spent while ingesting), 50 ms after a
# commit left it behind (:class:`harness.collecting.collector.GroupCommit`), before any read of it, on close.
GRAPH_BACKLOG = 5_000


class StoreDamaged(sqlite3.DatabaseError):
    """The store file has malformed pages: nothing is acknowledged into it (a beacon that cannot be read back
    would be lost silently) until it is reset (the file is set aside) or recovered."""


# a file store up to this size is checked (PRAGMA quick_check) at open: about 0.4 s per 365 MB with a warm
# page cache; a bigger one is found damaged at its first read error
OPEN_CHECK_BYTES = 1024 * 1024 * 1024


class StoreInUse(RuntimeError):
    """Another harness server (another process, or another store in this one) writes this file."""

LAST_SEQ = """SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'beacons'), 0),
                  coalesce((SELECT max(seq) FROM beacons), 0))"""  # what AUTOINCREMENT continues from


WRITER_CACHE_KIB = 32 * 1024  # the writer connection's SQLite page cache (PRAGMA cache_size), KiB


class Checkpointer:
    """Copies the WAL into the database file on a thread of its own.

    A checkpoint waits on fsync; done by the writer it would stall the server's event loop.
    The writer calls :meth:`wrote` after each commit; at most one PASSIVE checkpoint runs per ``every`` seconds.
    """

    def __init__(self, db_path: str, every: float = 0.2) -> None:
        self._db_path = db_path
        self._every = every
        self._dirty = threading.Event()
        self._stopped = threading.Event()
        self.checkpointed = threading.Event()  # set after each checkpoint (tests wait on it)
        self._thread = threading.Thread(target=self._run, name="beacon-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._db_path, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            return  # the file is gone; the writer's last close checkpoints anyway
        try:
            while True:
                self._dirty.wait()
                if self._stopped.is_set():
                    return
                self._dirty.clear()
                with contextlib.suppress(sqlite3.Error):  # busy or gone: the next commit asks again
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.checkpointed.set()
                self._stopped.wait(self._every)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped.set()
        self._dirty.set()
        if self._thread is not threading.current_thread():
            self._thread.join(10)


class WaitTimeout(AssertionError):
    """Raised by wait_for; an AssertionError so pytest shows it as a plain test failure."""


def _get(record: Record, dotted: str) -> Any:
    """Field lookup with ``context__page__path`` or ``context.page.path`` addressing nested keys."""
    value: Any = record
    for part in dotted.replace("__", ".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def matches(record: Record, type: str | None = None, event: str | None = None, **filters: Any) -> bool:
    """True when the record has this type, event and every field filter (exact equality)."""
    if type is not None and record.get("type") != type:
        return False
    if event is not None and record.get("event") != event:
        return False
    return all(_get(record, key) == want for key, want in filters.items())


def describe(record: Record) -> str:
    """One line per beacon for failure messages: what arrived, so a failing test explains itself."""
    what = record.get("event") or record.get("name") or ""
    return (
        f"#{record.get('_meta', {}).get('seq', '?')} {record.get('type')}"
        f"{' ' + repr(what) if what else ''} userId={record.get('userId')!r} "
        f"anonymousId={record.get('anonymousId')!r} messageId={record.get('messageId')!r}"
    )


@dataclass
class Stats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    bad: int = 0
    unauthorized: int = 0
    resent: int = 0  # re-sends of a stored messageId with changed content (notes in the bad list, not rejections)

    def to_dict(self) -> dict[str, int]:
        """The /api/stats counters (``resent`` is reported by /api/bad, beside the notes it counts)."""
        return {k: v for k, v in self.__dict__.items() if k != "resent"}


@dataclass
class BeaconStore:
    """In-memory window over a SQLite file (or ``:memory:``) of captured beacons."""

    db_path: str = ":memory:"
    memory_limit: int = 20_000  # beacons kept in memory (as their stored JSON); older ones are read from SQLite
    memory_bytes: int = 16 * 1024 * 1024  # ... and at most this much of their JSON, so big beacons stay bounded
    readonly: bool = False  # a reader (the CLI's --db): takes no writer lock
    bad_limit: int = BAD_LIMIT
    bad_bytes: int = BAD_BYTES
    _records: deque[tuple[int, str]] = field(init=False)
    _listeners: list[Listener] = field(init=False, default_factory=list)
    _duplicate_listeners: list[Callable[[Any], None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.db_path != ":memory:":
            Path(self.db_path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.damaged: str | None = None  # why the file cannot be trusted (StoreDamaged), None when sound
        self._open()
        self._checkpointer: Checkpointer | None = None  # started by the first write to a file
        # the memory window: (seq, stored JSON) of the newest beacons, decoded when read. Text, not decoded
        # records: a str is one object the garbage collector never walks, where a record is ten or more
        # containers that every full collection would (issue 20: GC was a fifth of ingest's CPU)
        self._records = deque()
        self._window_bytes = 0
        self._bad_rows: deque[tuple[int, int]] = deque()  # (id, JSON length) of the kept bad entries, oldest first
        self._bad_kept_bytes = 0
        self._pending_cut = 0  # bad rows an open transaction deletes (applied to _bad_rows after COMMIT)
        self._local = threading.local()  # each reading thread's read-only connection (file stores)
        self._generation = 0  # bumped by clear(): cached analysis of an older generation is stale
        self._graph = graph.Cache()  # what committed graph updates learnt (see harness.identity.graph.Cache)
        # committed beacons the graph lacks, in seq order (what the graph reads of each: graph.slim)
        self._graph_pending: list[tuple[int, graph.Slim]] = []
        self._readers: list[sqlite3.Connection] = []
        self._stats = Stats()
        self._check_at_open()
        try:  # a damaged file still loads what it can (its counters): its readable beacons are still served
            self._load()
        except sqlite3.DatabaseError as exc:
            if not self._note_damage(exc):
                raise

    def _open(self) -> None:
        """Connect the writer's connection (schema, pragmas, the writer lock of a file)."""
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._wal = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crash (kill -9)
        self._db.executescript(SCHEMA)
        graph.setup(self._db)
        self._lock_fd: int | None = None
        if self.db_path != ":memory:" and not self.readonly:
            self._take_writer_lock()
            # messageIds are random, so each insert lands on a random page of their UNIQUE index: past about
            # 50,000 beacons that index outgrows SQLite's default 2 MiB page cache and every commit re-reads
            # pages from the OS. Up to 32 MiB here (used only as the file grows) kept batch ingest near its
            # small-store cost (issue 20's third part, docs/benchmarks.md)
            self._db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")

    # ---- damage ------------------------------------------------------------------------------
    def _check_at_open(self) -> None:
        """A damaged file is found at open (PRAGMA quick_check) when it is at most OPEN_CHECK_BYTES."""
        if self.db_path == ":memory:":
            return
        size = sum(os.path.getsize(self.db_path + s) for s in ("", "-wal") if os.path.exists(self.db_path + s))
        if size > OPEN_CHECK_BYTES:
            return
        try:
            found = self._db.execute("PRAGMA quick_check(1)").fetchone()
        except sqlite3.DatabaseError as exc:
            self._note_damage(exc)
            return
        if found and found[0] != "ok":
            self._mark_damaged(str(found[0]))

    def _note_damage(self, exc: BaseException) -> bool:
        """Mark the store damaged when ``exc`` says a page is malformed; True when it did."""
        if isinstance(exc, StoreDamaged):
            return True
        name = str(getattr(exc, "sqlite_errorname", None) or "")
        if not (name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(exc)):
            return False
        self._mark_damaged(str(exc))
        return True

    def _mark_damaged(self, detail: str) -> None:
        if self.damaged is None:
            detail = " ".join(detail.replace("*** in database main ***", "").split())  # one line
            self.damaged = (f"store damaged: {self.db_path} ({detail}); new beacons are refused until it is reset "
                            f"(harness reset: the damaged file is kept beside it) or recovered "
                            f"(sqlite3 {self.db_path} .recover)")
            log.error("harness: %s", self.damaged)

    def _set_aside(self) -> str:
        """Reset of a damaged file: rename it (and its WAL) ``<db>.damaged-<time>`` and start an empty one."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        for reader in self._readers:
            reader.close()
        self._readers.clear()
        self._local = threading.local()
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        aside = f"{self.db_path}.damaged-{time.strftime('%Y%m%dT%H%M%S')}"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.db_path + suffix, aside + suffix)
        self._open()
        self.damaged = None
        log.warning("harness: the damaged store was set aside as %s; %s starts empty", aside, self.db_path)
        return aside

    def _take_writer_lock(self) -> None:
        """One writer per file: a second server on the same --db would each see part of the beacons.

        An advisory ``flock`` on the database file itself (SQLite's own locks are POSIX byte-range
        locks, independent of it); released when the store closes or the process dies.
        """
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return
        fd = os.open(self.db_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self._db.close()
            raise StoreInUse(f"{self.db_path} is in use by another harness server; stop it, or give this one "
                             "another --db (readers such as `harness beacons --db` need no lock)") from None
        self._lock_fd = fd

    # ---- loading and writing -------------------------------------------------------------
    def _load(self) -> None:
        """Pick up what an earlier run committed to the same file."""
        counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        for name, value in counters.items():
            if name in COUNTERS:
                setattr(self._stats, name, value)
        self._stats.stored = self._db.execute("SELECT COUNT(*) FROM beacons").fetchone()[0]
        self._bad_rows.extend(self._db.execute("SELECT id, length(body) FROM bad ORDER BY id"))
        self._bad_kept_bytes = sum(size for _, size in self._bad_rows)
        if "bad" not in counters or "resent" not in counters:  # none yet, or a store from before they were counted
            notes = self._db.execute("SELECT COUNT(*) FROM bad WHERE body LIKE '%\"kind\": \"conflict\"%' "
                                     "OR body LIKE '%\"kind\":\"conflict\"%'").fetchone()[0]
            if "bad" not in counters:  # before the bad list was capped every entry is still there: notes aside
                self._stats.bad = len(self._bad_rows) - notes
            if "resent" not in counters:
                self._stats.resent = notes
        if not self.readonly:
            self._trim_bad_now()
            self._catch_up_graph()

    def _catch_up_graph(self, chunk: int = 5_000) -> None:
        """A store written before the identity graph existed (or by an older harness): add what it lacks."""
        done = graph.analysed_seq(self._db)
        last = self._db.execute("SELECT coalesce(max(seq), 0) FROM beacons").fetchone()[0]
        if done >= last:
            return
        log.info("building the identity graph of %s (%d beacons)", self.db_path, last - done)
        while True:
            rows = self._db.execute("SELECT seq, body FROM beacons WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (done, chunk)).fetchall()
            if not rows:
                return
            with self._transaction():
                tx = graph.apply(self._db, [(seq, graph.slim(self._decode(seq, body))) for seq, body in rows],
                                 self._graph)
            self._graph.commit(tx)
            done = rows[-1][0]

    def graph_backlog(self) -> int:
        """Stored beacons the identity graph does not hold yet (see GRAPH_BACKLOG)."""
        return len(self._graph_pending)

    def catch_up_graph(self) -> None:
        """Bring the identity graph up to the last committed beacon: one transaction for the whole backlog.

        Under the store lock with the writer's connection, so a reader on another thread that calls this
        first then reads a snapshot that holds every beacon committed before. Raises what SQLite raises
        (the backlog stays, for the next try).
        """
        with self._lock:
            if not self._graph_pending or self.readonly:
                return
            pending = self._graph_pending
            with self._transaction():
                tx = graph.apply(self._db, pending, self._graph)
            self._graph.commit(tx)
            self._graph_pending = []
            self._wrote()
            self._changed.notify_all()  # a waiter on the graph (wait_until) sees it current

    def _catch_up_quietly(self) -> None:
        """catch_up_graph() on the write path: the beacons are committed whatever happens to the graph, so a
        failure is logged, not turned into an error for their senders (the next write or read tries again)."""
        try:
            self.catch_up_graph()
        except sqlite3.Error as exc:
            log.error("identity graph update failed (it is retried): %s", exc)

    def _remember(self, seq: int, body: str) -> None:
        """Add to the memory window, dropping the oldest beyond ``memory_limit`` / ``memory_bytes``."""
        self._records.append((seq, body))
        self._window_bytes += len(body)
        while len(self._records) > self.memory_limit or (
                self._window_bytes > self.memory_bytes and len(self._records) > 1):
            self._window_bytes -= len(self._records.popleft()[1])

    @staticmethod
    def _decode(seq: int, body: str) -> Record:
        record = from_json_fast(body)
        record.setdefault("_meta", {})["seq"] = seq
        return record

    def _newest(self, limit: int) -> list[tuple[int, str]]:
        """Under the lock: the window's newest ``limit`` entries (decoded by the caller, outside the lock)."""
        if limit >= len(self._records):
            return list(self._records)
        return [self._records[i] for i in range(len(self._records) - limit, len(self._records))]

    def _count(self, deltas: dict[str, int]) -> None:
        """Add to the persisted counters inside the open transaction; :meth:`_counted` applies them in memory."""
        for name, n in deltas.items():
            if n:
                self._db.execute(
                    "INSERT INTO counters(name, value) VALUES(?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (name, n),
                )

    def _counted(self, deltas: dict[str, int]) -> None:
        """After COMMIT only: live stats never count what a failed transaction rolled back."""
        for name, n in deltas.items():
            setattr(self._stats, name, getattr(self._stats, name) + n)

    def _rollback(self) -> None:
        """Roll back if a transaction is still open (SQLite ends one itself on some errors, e.g. SQLITE_FULL)."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error is the one worth raising
                self._db.execute("ROLLBACK")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction on the writer's connection: committed if the block ends, rolled back if it raises.

        What the caller does after the ``with`` (in-memory caches, counters) happens only once committed.
        """
        if self.damaged is not None:
            raise StoreDamaged(self.damaged)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if self._note_damage(exc):
                raise StoreDamaged(self.damaged) from None
            raise

    def add(self, records: Iterable[Record], received: int | None = None,
            bodies: list[str] | None = None) -> tuple[list[Record], int]:
        """Store new beacons (one transaction); return (stored records, duplicates seen).

        ``bodies``, when given, are the records' :func:`to_json` (the collector has them already).
        """
        records = list(records)
        return self.add_groups([(records, bodies)], [len(records) if received is None else received])[0]

    def add_groups(self, groups: list[tuple[list[Record], list[str] | None]],
                   received: list[int] | None = None) -> list[tuple[list[Record], int]]:
        """Several add() calls in one transaction (group commit); (stored, duplicates) for each group.

        A messageId already stored, or earlier in these groups, is a duplicate.
        """
        results: list[tuple[list[Record], int]] = []
        rows: list[tuple[int, Any, str]] = []
        repeated: list[Any] = []
        with self._lock:
            with self._transaction():
                # seqs are given here, in order, under the write lock: AUTOINCREMENT still keeps
                # sqlite_sequence at the largest seq ever used, so none is reused, even after a restart
                seq = self._db.execute(LAST_SEQ).fetchone()[0]
                ids = [self._id_key(r["messageId"]) for records, _ in groups for r in records]
                seen = self._stored_ids(ids)
                new_bodies: dict[Any, str] = {}
                fresh: list[tuple[int, Record]] = []
                conflicts: list[tuple[Any, str, str | None]] = []  # (messageId, re-sent body, first body if new here)
                keys = iter(ids)
                for records, bodies in groups:
                    stored: list[Record] = []
                    for i, record in enumerate(records):
                        mid = next(keys)
                        body = bodies[i] if bodies is not None else to_json(record)
                        if mid in seen:
                            repeated.append(mid)
                            conflicts.append((mid, body, new_bodies.get(mid)))
                            continue
                        seen.add(mid)
                        seq += 1
                        rows.append((seq, mid, body))
                        fresh.append((seq, record))
                        new_bodies[mid] = body
                        stored.append(record)
                    results.append((stored, len(records) - len(stored)))
                self._db.executemany("INSERT INTO beacons(seq, message_id, body) VALUES(?, ?, ?)", rows)
                notes = self._conflict_notes(conflicts)
                bad_kept = self._insert_bad(notes) if notes else []
                deltas = {"received": sum(received) if received is not None else len(ids),
                          "duplicates": len(ids) - len(rows), "resent": len(notes)}
                self._count(deltas)
            self._counted(deltas)
            self._bad_kept(bad_kept)
            self._wrote()
            new = [record for stored, _ in results for record in stored]
            for record, (seq, _, body) in zip(new, rows, strict=True):
                record.setdefault("_meta", {})["seq"] = seq
                self._remember(seq, body)
            self._stats.stored += len(new)
            self._graph_pending.extend((seq, graph.slim(record)) for seq, record in fresh)
            if len(self._graph_pending) >= GRAPH_BACKLOG:
                self._catch_up_quietly()
            self._changed.notify_all()
            listeners, duplicate_listeners = list(self._listeners), list(self._duplicate_listeners)
        for record in new:
            for listener in listeners:
                listener(record)
        for mid in repeated:
            for on_duplicate in duplicate_listeners:
                on_duplicate(mid)
        return results

    def _conflict_notes(self, conflicts: list[tuple[Any, str, str | None]]) -> list[Record]:
        """A messageId re-sent with *different* content: still a duplicate (the first copy is kept),
        answered 200 -- not a rejection: libraries do this (analytics-next re-sends a queued message with
        updated fields). A note in the bad list (``kind: "conflict"``, counted as ``resent``, never as bad)
        quotes the dropped copy and lists the changed fields. Honest re-sends (same content, new
        sentAt/receivedAt) leave no note."""
        if not conflicts:
            return []
        earlier = {mid: body for mid, body in self._stored_bodies([m for m, _, first in conflicts if first is None])}
        notes: list[Record] = []
        for mid, body, first in conflicts:
            original = first if first is not None else earlier.get(mid)
            if original is None or _same_content(original, body):
                continue
            changed = resend_diff(original, body)
            fields = ", ".join(d["field"] for d in changed[:3]) + (", ..." if len(changed) > 3 else "")
            notes.append(bad_entry(
                f"re-send of messageId {_short(mid)} with different content ({fields}): answered 200 and counted "
                "as a duplicate; the first copy is kept", body, 200, "", kind="conflict", messageId=mid,
                diff=changed[:RESEND_DIFF_SHOWN]))
        return notes

    def _stored_bodies(self, ids: list[Any]) -> list[tuple[Any, str]]:
        found: list[tuple[Any, str]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.extend(self._db.execute(f"SELECT message_id, body FROM beacons WHERE message_id IN ({marks})",
                                          chunk))
        return found

    def _wrote(self) -> None:
        """After a commit: checkpoint soon, off this thread (the first write to a file starts the checkpointer)."""
        if self._checkpointer is None:
            if not self._wal:
                return
            self._db.execute("PRAGMA wal_autocheckpoint=10000")  # only a safety net now, should the thread fall behind
            self._checkpointer = Checkpointer(self.db_path)
            weakref.finalize(self, self._checkpointer.stop)  # a store dropped without close() ends it too
        self._checkpointer.wrote()

    def _id_key(self, mid: Any) -> Any:
        """A messageId as SQLite keeps it in the TEXT column (the collector's are strings already)."""
        if isinstance(mid, str):
            return mid
        return self._db.execute("SELECT CAST(? AS TEXT)", (mid,)).fetchone()[0]

    def _stored_ids(self, ids: list[Any]) -> set[Any]:
        """Which of these messageIds are stored already: one query per 500."""
        seen: set[Any] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(mid for (mid,) in self._db.execute(
                f"SELECT message_id FROM beacons WHERE message_id IN ({marks})", chunk))
        return seen

    def add_bad(self, reason: str, raw: bytes | str, status: int = 400, path: str = "",
                received: int = 1, **extra: Any) -> Record:
        """Keep a rejected submission with its reason: bad input is explained, never dropped silently.

        ``raw`` is the submission as sent (bytes are kept as UTF-8 text, other bytes escaped; cut to
        BAD_RAW_KEEP characters); ``extra`` adds context such as a batch ``index``.
        """
        return self.add_bad_many([bad_entry(reason, raw, status, path, **extra)], received)[0]

    def add_bad_many(self, entries: list[Record], received: int | None = None, rejected: int | None = None
                     ) -> list[Record]:
        """Several rejections of one request in one transaction (see :func:`bad_entry`).

        ``received`` messages are counted as received (default: one per entry) and ``rejected`` as
        bad (default: one per entry; more when a huge batch keeps only its first rejections). The
        list keeps the newest ``bad_limit`` entries within ``bad_bytes``; the counters keep the totals.
        """
        if self.damaged is not None:
            return entries  # not kept: the file cannot be trusted (the collector's replies say so)
        received = len(entries) if received is None else received
        rejected = len(entries) if rejected is None else rejected
        deltas = {"received": received, "bad": rejected,
                  "unauthorized": sum(1 for e in entries if e.get("status") == 401)}
        with self._lock:
            with self._transaction():
                kept = self._insert_bad(entries)
                self._count(deltas)
            self._bad_kept(kept)
            self._counted(deltas)
            self._wrote()
            self._changed.notify_all()
        return entries

    def _insert_bad(self, entries: list[Record]) -> list[tuple[int, int]]:
        """INSERT the entries (inside the caller's transaction) and drop the oldest beyond the caps.

        Returns (id, size) of the new rows; :meth:`_bad_kept` records them once committed.
        """
        kept: list[tuple[int, int]] = []
        for entry in entries:
            body = to_json(entry)
            cur = self._db.execute("INSERT INTO bad(body) VALUES(?)", (body,))
            entry["id"] = cur.lastrowid
            kept.append((int(cur.lastrowid or 0), len(body)))
        rows = len(self._bad_rows) + len(kept)
        size = self._bad_kept_bytes + sum(n for _, n in kept)
        cut = 0  # how many of the oldest rows go
        everything = list(self._bad_rows) + kept if rows > self.bad_limit or size > self.bad_bytes else []
        while everything and cut < len(everything) - 1 and (rows - cut > self.bad_limit or size > self.bad_bytes):
            size -= everything[cut][1]
            cut += 1
        if cut:
            self._db.execute("DELETE FROM bad WHERE id <= ?", (everything[cut - 1][0],))
        self._pending_cut = cut
        return kept

    def _bad_kept(self, kept: list[tuple[int, int]]) -> None:
        self._bad_rows.extend(kept)
        self._bad_kept_bytes += sum(n for _, n in kept)
        for _ in range(self._pending_cut):
            self._bad_kept_bytes -= self._bad_rows.popleft()[1]
        self._pending_cut = 0

    def _trim_bad_now(self) -> None:
        """At open: a store written before the caps (or with bigger ones) is cut down to them."""
        if len(self._bad_rows) <= self.bad_limit and self._bad_kept_bytes <= self.bad_bytes:
            return
        with self._transaction():
            self._insert_bad([])
        self._bad_kept([])

    def clear(self) -> None:
        """Forget everything (tests start empty; DELETE /api/beacons)."""
        with self._lock:
            try:
                with self._transaction():
                    for table in ("beacons", "bad", "counters"):
                        self._db.execute(f"DELETE FROM {table}")
                    graph.clear(self._db)
            except StoreDamaged:
                self._set_aside()  # a damaged file cannot be emptied in place
            self._graph.clear()
            self._graph_pending.clear()
            self._generation += 1
            self._records.clear()
            self._window_bytes = 0
            self._bad_rows.clear()
            self._bad_kept_bytes = 0
            self._stats = Stats()
            self._changed.notify_all()

    # ---- reading ---------------------------------------------------------------------------
    def _window_complete(self) -> bool:
        return self._stats.stored == len(self._records)

    def _window_covers(self, after: int | None) -> bool:
        """True when the memory window holds every beacon a query could return."""
        return self._window_complete() or (
            after is not None and bool(self._records) and after >= self._records[0][0] - 1
        )

    def page(self, type: str | None = None, event: str | None = None, since: int | str | None = None,
             limit: int | None = None, before: int | None = None, **filters: Any) -> tuple[list[Record], int]:
        """The last ``limit`` matching beacons (all when None) and how many matched in total.

        ``since`` is a seq (beacons after it) or an ISO time (received at or after it); ``before``
        a seq (beacons before it: paging back). Served from the memory window when it holds every
        candidate; otherwise from SQLite -- on a read-only connection of the calling thread (file
        stores), so a read never holds the writer's lock -- with the filters in SQL and ``LIMIT``,
        decoding only the rows returned. Filters SQL cannot express exactly (a bool, a key with odd
        characters) fall back to streaming rows through :func:`matches`, keeping only ``limit``.
        """
        after = _seq(since)
        newest: list[tuple[int, str]] | None = None
        stored = 0
        with self._lock:
            unfiltered = type is None and event is None and not filters and before is None and not since
            if unfiltered and limit and len(self._records) >= min(limit, self._stats.stored):
                # the newest few of a big store (the inspector's backlog): straight from the window
                newest, stored = self._newest(limit), self._stats.stored
            window = list(self._records) if newest is None and self._window_covers(after) else None
        if newest is not None:
            return _decode_all(newest), stored  # decoded outside the lock: commits do not wait on a reader
        if window is not None:
            kept: deque[Record] = deque(maxlen=limit) if limit else deque()
            total = 0
            needles = _needles(type, event, filters)
            for seq, body in window:
                if before is not None and seq >= before or after is not None and seq <= after:
                    continue  # what _before / _after would refuse, without decoding
                if needles and not all(needle in body for needle in needles):
                    continue  # a wanted string is nowhere in the text: the record cannot match
                record = self._decode(seq, body)
                if matches(record, type, event, **filters) and _after(record, since) and _before(record, before):
                    total += 1
                    kept.append(record)
            return list(kept), total
        exact = _sql_filter(type, event, since, before, filters)
        if exact is not None:
            where, args = exact
            clause = f" WHERE {where}" if where else ""
            with self._reading() as db:
                total = db.execute(f"SELECT COUNT(*) FROM beacons{clause}", args).fetchone()[0]
                sql = f"SELECT seq, body FROM beacons{clause} ORDER BY seq DESC" + (" LIMIT ?" if limit else "")
                rows = db.execute(sql, [*args, *([limit] if limit else [])]).fetchall()
            return [self._decode(seq, body) for seq, body in reversed(rows)], total
        kept = deque(maxlen=limit) if limit else deque()
        total = 0
        sql, args = _prefilter(type, event, after, filters)
        with self._reading() as db:
            for seq, body in db.execute(sql, args):
                record = self._decode(seq, body)
                if matches(record, type, event, **filters) and _after(record, since) and _before(record, before):
                    total += 1
                    kept.append(record)
        return list(kept), total

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """:meth:`_connection`; a malformed page read marks the store damaged (StoreDamaged), so no new
        beacon is acknowledged into it."""
        with self._connection() as db:
            try:
                yield db
            except sqlite3.DatabaseError as exc:
                if self._note_damage(exc):
                    raise StoreDamaged(self.damaged) from None
                raise

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection to read from: this thread's read-only one (file stores, WAL: no writer lock held,
        a consistent snapshot per statement), else the writer's own under its lock (``:memory:``)."""
        if self.db_path == ":memory:" or not self._wal:
            with self._lock:
                yield self._db
            return
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"{Path(self.db_path).resolve().as_uri()}?mode=ro", uri=True,
                                 check_same_thread=False, isolation_level=None)
            self._local.db = db
            with self._lock:
                self._readers.append(db)
        yield db

    def query(self, type: str | None = None, event: str | None = None, since: int | str | None = None,
              limit: int | None = None, before: int | None = None, **filters: Any) -> list[Record]:
        """Beacons in arrival order matching type/event/field filters; ``since`` is a seq or ISO time."""
        return self.page(type, event, since, limit, before, **filters)[0]

    # ---- analysis (the identity graph, see harness.identity.graph) --------------------------------------
    def version(self) -> tuple[int, int]:
        """Changes whenever the beacons analysis reads change: (clear generation, beacons stored)."""
        with self._lock:
            return self._generation, self._stats.stored

    def profiles_page(self, limit: int | None = None, offset: int = 0, order: str = "first",
                      messages: int = graph.MESSAGES_SHOWN) -> dict[str, Any]:
        """Identity profiles (a page of them) and Monthly Tracked Users, from the identity graph.

        Indexed reads of one consistent snapshot: nothing scales with the store's size but the
        page asked for. A store file written by an older harness and opened read-only has no
        graph yet: then the profiles are computed from every beacon, as before.

        A writable store first brings its graph up to date and opens the read snapshot under the
        store lock, so no commit slips in between: the snapshot's graph holds every beacon it holds.
        A read-only store (the CLI's ``--db``) reads the graph as the writing server left it: while
        that server's graph lags (GRAPH_BACKLOG, collector.GRAPH_LAG_SECONDS) the newest messages may
        be missing from the page -- never a fall-back to decoding every beacon of a big store.
        """
        with self._reading() as db:
            snapshot = not db.in_transaction and db is not self._db
            with self._lock:
                self.catch_up_graph()
                if snapshot:
                    db.execute("BEGIN")  # one read snapshot for every query below (WAL: writers go on)
                # the first read fixes the snapshot: still under the lock, so it holds the graph just caught up
                last = db.execute("SELECT coalesce(max(seq), 0) FROM beacons").fetchone()[0]
            try:
                done = graph.analysed_seq(db)
                if done >= last or done > 0:
                    return {
                        "profiles": graph.profiles(db, limit, offset, order, messages, decode=from_json_fast),
                        "total": graph.profile_count(db),
                        "mtu": graph.monthly_tracked_users(db),
                        "mtu_without_identify": graph.mtu_without_identify(db),
                    }
            finally:
                if snapshot:
                    db.execute("COMMIT")
        return self._profiles_from_beacons(limit, offset)

    def _profiles_from_beacons(self, limit: int | None, offset: int) -> dict[str, Any]:
        from harness.identity.profile import build_profiles, monthly_tracked_users, mtu_without_identify

        beacons = self.all()
        found = build_profiles(beacons)
        return {"profiles": [p.to_dict() for p in found[offset:None if limit is None else offset + limit]],
                "total": len(found), "mtu": monthly_tracked_users(beacons),
                "mtu_without_identify": mtu_without_identify(beacons)}

    def recent(self, limit: int) -> tuple[list[Record], int]:
        """The newest ``limit`` beacons (from the memory window when it holds them) and how many are stored."""
        with self._lock:
            newest = self._newest(limit) if len(self._records) >= min(limit, self._stats.stored) else None
            stored = self._stats.stored
        if newest is not None:
            return _decode_all(newest), stored  # decoded outside the lock
        found, total = self.page(limit=limit)
        return found, total

    def all(self) -> list[Record]:
        return self.query()

    def bad(self) -> list[Record]:
        """Every kept rejection, oldest first (at most ``bad_limit``)."""
        return self.bad_page()[0]

    def bad_page(self, since: int | None = None, limit: int | None = None) -> tuple[list[Record], int]:
        """Kept rejections with id > ``since``, the newest ``limit`` of them, oldest first; and how many are kept."""
        where, args = ("WHERE id > ?", [since]) if since is not None else ("", [])
        sql = f"SELECT id, body FROM bad {where} ORDER BY id DESC" + (" LIMIT ?" if limit else "")
        with self._lock:
            rows = self._db.execute(sql, [*args, *([limit] if limit else [])]).fetchall()
            kept = len(self._bad_rows)
        return [{**from_json(body), "id": i} for i, body in reversed(rows)], kept

    def stats(self) -> dict[str, int]:
        with self._lock:
            return self._stats.to_dict()

    def bad_counts(self) -> dict[str, int]:
        """What the bad list ever received: ``rejected`` submissions (stats' ``bad``) and ``resent`` notes."""
        with self._lock:
            return {"rejected": self._stats.bad, "resent": self._stats.resent}

    def wait_for(self, type: str | None = None, event: str | None = None, count: int = 1,
                 timeout: float = 5.0, **filters: Any) -> list[Record]:
        """Block until ``count`` matching beacons exist; return them. On timeout say what did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.query(type, event, **filters)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            arrived = self.query()
        want = ", ".join(f"{k}={v!r}" for k, v in {"type": type, "event": event, **filters}.items() if v is not None)
        lines = "\n  ".join(describe(r) for r in arrived[-30:]) or "(nothing)"
        raise WaitTimeout(
            f"waited {timeout:.1f}s for {count} beacon(s) with {want or 'any fields'}; "
            f"found {len(found)}. {len(arrived)} arrived:\n  {lines}"
        )

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` is true (re-checked on every store change); False at timeout.

        The generic form of :meth:`wait_for` for matchers that need more than field equality.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(record)`` for every beacon stored from now on; returns the unsubscribe."""
        return self._subscribe(self._listeners, listener)

    def subscribe_duplicates(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``listener(messageId)`` for every re-sent message from now on (counted, not stored)."""
        return self._subscribe(self._duplicate_listeners, listener)

    def _subscribe(self, listeners: list[Any], listener: Any) -> Callable[[], None]:
        with self._lock:
            listeners.append(listener)

        def unsubscribe() -> None:
            with self._changed:
                if listener in listeners:
                    listeners.remove(listener)
                self._changed.notify_all()  # a change too: wait_until can wait for a subscriber to go

        return unsubscribe

    def close(self) -> None:
        with self._lock:
            if self._graph_pending:
                self._catch_up_quietly()  # a clean stop leaves the graph current for readers of the file
            if self._checkpointer is not None:
                self._checkpointer.stop()
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._db.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing the descriptor releases the flock
                self._lock_fd = None


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _seq(since: int | str | None) -> int | None:
    if isinstance(since, int) and not isinstance(since, bool):
        return since
    return int(since) if isinstance(since, str) and since.isdigit() else None


_INT64 = (-(2**63), 2**63 - 1)


def _sql_filter(type: str | None, event: str | None, since: int | str | None, before: int | None,
                filters: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """A WHERE clause selecting exactly what :func:`matches`, :func:`_after` and :func:`_before` would,
    or None when some condition has no exact SQL form (then rows are checked in Python)."""
    where: list[str] = []
    args: list[Any] = []
    wanted = {"type": type, "event": event, **filters}
    for key, want in wanted.items():
        if key in ("type", "event") and want is None:
            continue  # not asked for
        parts = key.replace("__", ".").split(".")
        if not all(_PLAIN_KEY.match(p) for p in parts):
            return None
        path = "$." + ".".join(parts)
        if want is None:  # Python: missing, null, or under something that is not an object
            where.append(f"json_extract(body, '{path}') IS NULL")
        elif isinstance(want, str):
            where.append(f"json_type(body, '{path}') = 'text' AND json_extract(body, '{path}') = ?")
            args.append(want)
        elif isinstance(want, int) and not isinstance(want, bool) and _INT64[0] <= want <= _INT64[1]:
            # SQLite gives true/false as 1/0 and compares 5 = 5.0, as Python's == does
            where.append(f"json_type(body, '{path}') IN ('integer', 'real', 'true', 'false') "
                         f"AND json_extract(body, '{path}') = ?")
            args.append(want)
        else:
            return None
    user = filters.get("userId")
    if isinstance(user, str) and user:
        # a userId is the first graph node of each of its messages (graph_messages, indexed by node): those rows
        # by index, plus the graph's backlog by seq -- not a json_extract over every row (2.2 s at 1 M stored)
        where.append("seq IN (SELECT seq FROM graph_messages WHERE node = ? UNION ALL SELECT seq FROM beacons "
                     "WHERE seq > coalesce((SELECT value FROM graph_state WHERE name = 'seq'), 0))")
        args.append("u:" + graph.storable(user))
    after = _seq(since)
    if after is not None:
        where.append("seq > ?")
        args.append(after)
    elif since is not None and since != "":
        where.append("json_type(body, '$.receivedAt') = 'text' AND json_extract(body, '$.receivedAt') >= ?")
        args.append(str(since))
    if before is not None:
        where.append("seq < ?")
        args.append(min(before, _INT64[1]))
    return " AND ".join(where), args


def _needles(type: str | None, event: str | None, filters: dict[str, Any]) -> list[str]:
    """Text a stored record must contain to match: each wanted string value as :func:`to_json` writes it.

    A field equal to the string ``want`` is stored as ``to_json(want)`` (the window's text is to_json's,
    byte for byte), so a record without that text is skipped undecoded. Other values (numbers, bools,
    None) have more than one spelling or none, and are left to :func:`matches`.
    """
    wanted = [type, event, *filters.values()]
    return [to_json(want) for want in wanted if isinstance(want, str)]


def _before(record: Record, before: int | None) -> bool:
    return before is None or int(record.get("_meta", {}).get("seq", 0)) < before


def _prefilter(type: str | None, event: str | None, after: int | None,
               filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """SQL narrowing a query before Python's exact :func:`matches` check (never narrower than it)."""
    where: list[str] = []
    args: list[Any] = []
    wanted = {"type": type, "event": event, **filters}
    for key, want in wanted.items():
        parts = key.replace("__", ".").split(".")
        if want is None or isinstance(want, bool) or not isinstance(want, str | int) \
                or not all(_PLAIN_KEY.match(p) for p in parts):
            continue  # left to matches(): SQL would compare these differently from Python
        where.append(f"json_extract(body, '$.{'.'.join(parts)}') = ?")
        args.append(want)
    if after is not None:
        where.append("seq > ?")
        args.append(after)
    sql = "SELECT seq, body FROM beacons" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
    return sql, args


# records are trees (parsed JSON); NaN and Infinity are not JSON, so they are refused rather than written
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, allow_nan=False)


def to_json(value: Any) -> str:
    """Compact JSON with non-ASCII escaped: lone surrogates a client sent survive SQLite's UTF-8.

    Raises ValueError on NaN or Infinity: what is stored is always valid JSON for every reader.
    """
    return _ENCODER.encode(value)


_DIGITS = frozenset(b"0123456789")
_DIGIT_OR_POINT = frozenset(b"0123456789.")
_BEFORE_NUMBER = frozenset(b":,[")


def _short_exponent(data: bytes) -> bool:
    """True when orjson's text may hold a one-digit negative exponent (``1e-7``; json writes ``1e-07``).

    A number starts after ':', ',' or '[' (or is the whole text). A string that looks the same ("x:1e-7")
    only sends the record to json, which is still right. Scans from each "e-" (rare outside such numbers), not the text.
    """
    at = data.find(b"e-")
    end = len(data)
    while at != -1:
        if at + 2 < end and data[at + 2] in _DIGITS and (at + 3 == end or data[at + 3] not in _DIGITS):
            start = at - 1
            while start >= 0 and data[start] in _DIGIT_OR_POINT:
                start -= 1
            if start < at - 1:
                if start >= 0 and data[start] == 45:  # '-'
                    start -= 1
                if start < 0 or data[start] in _BEFORE_NUMBER:  # a number after ':', ',', '[', or the text itself
                    return True
        at = data.find(b"e-", at + 2)
    return False


def to_json_fast(value: Any) -> str:
    """:func:`to_json` byte for byte, via orjson when its text is provably the same, else to_json itself.

    For parsed JSON (finite numbers, str keys) orjson's compact output equals the standard library's
    except: non-ASCII and DEL (json escapes them, orjson writes them as UTF-8), floats under 1e-4
    (``1e-05`` vs ``0.00001``; ``1e-07`` vs ``1e-7``), ints past 64 bits and lone surrogates (orjson
    refuses), and NaN/Infinity (orjson writes null, json refuses: parsed JSON never holds them, so
    callers pass only parsed records).
    Each of the others goes to :func:`to_json`.
    """
    try:
        data = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return to_json(value)
    if not data.isascii() or b"\x7f" in data or b"0.0000" in data or _short_exponent(data):
        return to_json(value)
    return data.decode("ascii")


def _non_finite_as_null(name: str) -> None:
    return None


_READER = json.JSONDecoder(parse_constant=_non_finite_as_null)


def from_json(text: str) -> Any:
    """Stored JSON back to Python. Rows written before NaN/Infinity were refused read them as null."""
    return _READER.decode(text)


_DIGITS_AS_ZERO = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))  # translate() runs at C speed
_LONG_NUMBER = b"0" * 19


def has_long_number(data: bytes) -> bool:
    """A run of 19 digits anywhere: maybe an integer past 64 bits, which orjson reads as a float and json keeps
    an int, so such a document goes to json (the collector's parse and the store's read both ask this)."""
    return _LONG_NUMBER in data.translate(_DIGITS_AS_ZERO)


def from_json_fast(text: str) -> Any:
    """:func:`from_json`, via orjson when it reads the same value (about 2 µs for a beacon instead of 4).

    orjson refuses what json reads differently here -- lone surrogate escapes, NaN/Infinity (json: null) --
    and those go to from_json; a 19-digit run (a maybe-64-bit+ integer that orjson would make a float)
    goes there without trying. Stored text is ASCII (:func:`to_json` escapes the rest).
    """
    if text.isascii() and not has_long_number(text.encode("ascii")):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return from_json(text)


def _decode_all(entries: list[tuple[int, str]]) -> list[Record]:
    return [BeaconStore._decode(seq, body) for seq, body in entries]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bad_entry(reason: str, raw: bytes | str, status: int = 400, path: str = "", **extra: Any) -> Record:
    """A bad-list entry: the reason, the HTTP status answered, and the body as sent (cut to BAD_RAW_KEEP)."""
    if isinstance(raw, bytes):
        raw = raw[:BAD_RAW_KEEP * 4].decode("utf-8", errors="backslashreplace")
    text = raw if len(raw) <= BAD_RAW_KEEP else raw[:BAD_RAW_KEEP] + "...(truncated)"
    return {
        "reason": reason,
        "status": status,
        "path": path,
        "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        **extra,
        "raw": text,
    }


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": leaf}`` for every leaf of a JSON value (empty objects and lists are leaves)."""
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{prefix}.{key}" if prefix
                                                                             else str(key)).items()}
    if isinstance(value, list) and value:
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{prefix}[{i}]").items()}
    return {prefix: value}


def resend_diff(first: str, again: str) -> list[Record]:
    """The fields a re-send changed: ``{"field", "stored", "resent"}`` per leaf (a side without the field has
    no key), fields that differ between honest re-sends aside."""
    try:
        a, b = from_json(first), from_json(again)
    except ValueError:
        return [{"field": "(body)", "stored": first[:200], "resent": again[:200]}]
    if isinstance(a, dict) and isinstance(b, dict):
        for name in IGNORED_IN_CONFLICTS:
            a.pop(name, None)
            b.pop(name, None)
    old, new = _leaves(a), _leaves(b)
    out: list[Record] = []
    for path in [*old, *(f for f in new if f not in old)]:
        if path in old and path in new and old[path] == new[path] and type(old[path]) is type(new[path]):
            continue
        out.append({"field": path or "(message)", **({"stored": old[path]} if path in old else {}),
                    **({"resent": new[path]} if path in new else {})})
    return out


def _same_content(first: str, again: str) -> bool:
    """Two stored bodies of one messageId say the same thing (fields that differ between re-sends aside)."""
    if first == again:
        return True
    try:
        a, b = from_json(first), from_json(again)
    except ValueError:
        return False
    if not isinstance(a, dict) or not isinstance(b, dict):
        return a == b
    for name in IGNORED_IN_CONFLICTS:
        a.pop(name, None)
        b.pop(name, None)
    return bool(a == b)


def _after(record: Record, since: int | str | None) -> bool:
    if since is None or since == "":
        return True
    if isinstance(since, int) or str(since).isdigit():
        return int(record.get("_meta", {}).get("seq", 0)) > int(since)
    return str(record.get("receivedAt", "")) >= str(since)


def check_store_file(db_path: str) -> None:
    """Refuse, in one line, what is not a harness store: missing, a folder, not SQLite, no beacons table.

    Looked at read-only, so pointing the CLI at someone else's SQLite file never adds our tables to it.
    Raises FileNotFoundError for a missing file and ValueError for the rest.
    """
    path = Path(db_path)
    if not path.exists():
        raise FileNotFoundError(f"no such database file: {db_path}")
    if not path.is_file():
        raise ValueError(f"{db_path} is not a file (expected a SQLite store such as .harness/beacons.sqlite)")
    try:
        with path.open("rb") as fh:
            header = fh.read(16)
    except OSError as exc:
        raise ValueError(f"cannot read {db_path}: {exc.strerror or exc}") from None
    if header != b"SQLite format 3\x00":
        raise ValueError(f"{db_path} is not a SQLite database")
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = probe.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'beacons'").fetchone()
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise ValueError(f"{db_path} is not a readable SQLite database: {exc}") from None
    if not found:
        raise ValueError(f"{db_path} is a SQLite database but not a harness beacon store (no beacons table)")


def open_readonly(db_path: str) -> BeaconStore:
    """Open an existing store file for the CLI; a clear error (:func:`check_store_file`) if it is not one."""
    check_store_file(db_path)
    return BeaconStore(db_path, readonly=True)
