"""The identity graph kept incrementally in SQLite, so profiles and MTU never re-read the whole store.

:mod:`harness.identity.profile` computes profiles from a list of beacons (every message decoded, one
union-find per call): right for a test's handful of beacons, hopeless for a million. This module
keeps the same model up to date as beacons are stored -- in the store's own write transaction,
so it is exactly as durable and as current as the beacons -- and answers from indexed tables:

* ``graph_nodes``: every id node (``u:<userId>``, ``a:<anonymousId>``) and its component's root
  (union-find with every node pointing straight at its root; a union re-points the smaller
  component), plus when the node first appeared as a message's userId/anonymousId.
* ``graph_profiles``: one row per component: its first message (time order, then arrival), first
  and last seen, message count, newest arrival, size and identify traits (each key's latest
  value, in first-appearance order, as ``dict.update`` in time order leaves them).
* ``graph_devices``, ``graph_months`` (root, month: MTU), ``graph_raw_months`` (node, month:
  MTU without identify) and ``graph_messages`` (each message's first node and time: a profile's
  messages by join, never by scan).

Per message the work is a handful of indexed statements; memory is what one transaction touches.
The answers equal :func:`harness.identity.profile.build_profiles` / ``monthly_tracked_users`` /
``mtu_without_identify`` over the same beacons (a property test checks it, any arrival order),
with one documented difference: an alias whose ``previousId`` is only later used as an
anonymousId was linked as a userId (the batch function looks ahead; a stream cannot).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.identity.profile import device_of, id_value, iso, parse_time

SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS graph_nodes (
    node TEXT PRIMARY KEY, root TEXT NOT NULL, t REAL, seq INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS graph_nodes_root ON graph_nodes(root);
CREATE TABLE IF NOT EXISTS graph_profiles (
    root TEXT PRIMARY KEY, size INTEGER NOT NULL, t REAL NOT NULL, seq INTEGER NOT NULL,
    first_us INTEGER, last_us INTEGER, events INTEGER NOT NULL, last_seq INTEGER NOT NULL, traits TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS graph_profiles_first ON graph_profiles(t, seq);
CREATE INDEX IF NOT EXISTS graph_profiles_recent ON graph_profiles(last_seq);
CREATE TABLE IF NOT EXISTS graph_devices (
    root TEXT NOT NULL, device TEXT NOT NULL, t REAL NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (root, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS graph_months (root TEXT NOT NULL, month TEXT NOT NULL, PRIMARY KEY (root, month))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS graph_months_month ON graph_months(month);
CREATE TABLE IF NOT EXISTS graph_raw_months (node TEXT NOT NULL, month TEXT NOT NULL, PRIMARY KEY (node, month))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS graph_raw_months_month ON graph_raw_months(month);
CREATE TABLE IF NOT EXISTS graph_messages (seq INTEGER PRIMARY KEY, node TEXT NOT NULL, t REAL NOT NULL);
CREATE INDEX IF NOT EXISTS graph_messages_node ON graph_messages(node, t, seq);
"""
TABLES = ("graph_state", "graph_nodes", "graph_profiles", "graph_devices", "graph_months", "graph_raw_months",
          "graph_messages")
# a message without a usable time sorts after every timed one (as math.inf does in profile.time_order);
# the largest float rather than inf, because it must survive JSON (traits) as well as SQLite
NO_TIME = sys.float_info.max
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
IDS_SHOWN = 1_000  # user_ids / anonymous_ids / devices listed per profile; the counts say how many there are
MESSAGES_SHOWN = 200  # a profile's newest messages included by default
PROFILES_PAGE = 200  # profiles per answer by default
MESSAGES_PER_ANSWER = 5_000  # messages in one answer at most: a long page gets fewer per profile


def messages_per_profile(limit: int | None, messages: int) -> int:
    """How many messages each profile of a page carries so the page stays within MESSAGES_PER_ANSWER."""
    if limit is None or limit <= 0:
        return messages
    return max(0, min(messages, MESSAGES_PER_ANSWER // limit))


_UNKNOWN = object()


def _reading(moment: datetime | None) -> tuple[float, int, str] | None:
    """What the graph keeps of a message's time: timestamp, µs since the epoch, and its month."""
    if moment is None:
        return None
    return moment.timestamp(), _micros(moment), f"{moment.year:04d}-{moment.month:02d}"


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // MICROSECOND


def _from_micros(us: int | None) -> str | None:
    return iso(EPOCH + us * MICROSECOND) if us is not None else None


def setup(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def analysed_seq(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM graph_state WHERE name = 'seq'").fetchone()
    return int(row[0]) if row else 0


def clear(db: sqlite3.Connection) -> None:
    """Inside the caller's transaction: forget the graph (the store was cleared)."""
    for table in TABLES:
        db.execute(f"DELETE FROM {table}")


@dataclass
class _Delta:
    """What this transaction adds to one component (applied to its row at flush)."""

    t: float = NO_TIME
    seq: int = 0
    first_us: int | None = None
    last_us: int | None = None
    events: int = 0
    last_seq: int = 0
    traits: dict[str, list[Any]] = field(default_factory=dict)  # key -> [value, t, seq, first_t, first_seq, idx]
    devices: dict[str, tuple[float, int]] = field(default_factory=dict)
    months: set[str] = field(default_factory=set)

    def merge(self, other: _Delta) -> None:
        if (other.t, other.seq) < (self.t, self.seq) or not self.seq:
            self.t, self.seq = other.t, other.seq
        self.first_us = _min(self.first_us, other.first_us)
        self.last_us = _max(self.last_us, other.last_us)
        self.events += other.events
        self.last_seq = max(self.last_seq, other.last_seq)
        self.traits = merge_traits(self.traits, other.traits)
        for device, order in other.devices.items():
            self.devices[device] = min(self.devices.get(device, order), order)
        self.months |= other.months


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def merge_traits(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Per key: the value of the latest identify (t, seq), and the earliest first appearance."""
    if not b:
        return a
    if not a:
        return dict(b)
    out = dict(a)
    for key, theirs in b.items():
        mine = out.get(key)
        if mine is None:
            out[key] = theirs
            continue
        value, t, seq = (theirs[0], theirs[1], theirs[2]) if (theirs[1], theirs[2]) > (mine[1], mine[2]) \
            else (mine[0], mine[1], mine[2])
        first = min((mine[3], mine[4], mine[5]), (theirs[3], theirs[4], theirs[5]))
        out[key] = [value, t, seq, *first]
    return out


class Cache:
    """What recent transactions learnt, so the next ones skip the reads and writes that change nothing.

    Roots of nodes (a union leaves a forward from the old root to the new), components' rows,
    nodes' first appearances, and the (root, month), (node, month) and (root, device) rows known
    to exist. Filled only from committed transactions (:meth:`commit`); bounded: past LIMIT
    entries it starts over, which costs some reads, never a wrong answer.
    """

    LIMIT = 200_000

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.roots: dict[str, str] = {}
        self.forward: dict[str, str] = {}
        self.rows: dict[str, tuple[int, float, int, int | None, int | None, int, int]] = {}
        self.first: dict[str, tuple[float, int]] = {}
        self.months: set[tuple[str, str]] = set()
        self.raw_months: set[tuple[str, str]] = set()
        self.devices: dict[tuple[str, str], tuple[float, int]] = {}

    def resolve(self, root: str, extra: dict[str, str] | None = None) -> str:
        while True:
            nxt = (extra or {}).get(root) or self.forward.get(root)
            if nxt is None:
                return root
            root = nxt

    def size(self) -> int:
        return (len(self.roots) + len(self.forward) + len(self.rows) + len(self.first) + len(self.months)
                + len(self.raw_months) + len(self.devices))

    def commit(self, tx: _Tx) -> None:
        """After COMMIT: keep what the transaction established."""
        if self.size() > self.LIMIT:
            self.clear()
            return
        self.forward.update(tx.forward)
        for small in tx.forward:
            self.rows.pop(small, None)
        self.roots.update(tx.roots)
        self.rows.update(tx.rows)
        self.first.update(tx.first)
        self.months |= tx.months
        self.raw_months |= tx.raw_months
        self.devices.update(tx.device_rows)


class _Tx:
    """One apply(): roots and per-component deltas, written at flush; what it learnt goes to the Cache."""

    def __init__(self, db: sqlite3.Connection, cache: Cache) -> None:
        self.db = db
        self.cache = cache
        self.roots: dict[str, str] = {}  # node -> root, as far as this transaction looked
        self.forward: dict[str, str] = {}  # roots merged away here -> where they went
        self.sizes: dict[str, int] = {}  # root -> component size
        self.seen: dict[str, tuple[float, int]] = {}  # node -> earliest (t, seq) as a userId/anonymousId here
        self.first: dict[str, tuple[float, int]] = {}  # node -> its first appearance, once written
        self.deltas: dict[str, _Delta] = {}
        self.rows: dict[str, tuple[int, float, int, int | None, int | None, int, int]] = {}
        self.months: set[tuple[str, str]] = set()
        self.raw_months: set[tuple[str, str]] = set()
        self.device_rows: dict[tuple[str, str], tuple[float, int]] = {}
        self.messages: list[tuple[int, str, float]] = []
        self.times: dict[str, tuple[float, int, str] | None] = {}  # time string -> its reading (see when())

    def listed(self, key: str) -> bool:
        if key in self.seen or key in self.cache.first:
            return True
        row = self.db.execute("SELECT seq FROM graph_nodes WHERE node = ?", (key,)).fetchone()
        return row is not None and row[0] is not None

    def find(self, key: str) -> str:
        """The node's root, creating the node (its own component) when new."""
        root = self.roots.get(key)
        if root is not None:
            return root
        cached = self.cache.roots.get(key)
        if cached is not None:
            root = self.cache.resolve(cached, self.forward)
        else:
            row = self.db.execute("SELECT root FROM graph_nodes WHERE node = ?", (key,)).fetchone()
            if row is None:
                self.db.execute("INSERT INTO graph_nodes(node, root) VALUES(?, ?)", (key, key))
                self.db.execute("INSERT INTO graph_profiles(root, size, t, seq, events, last_seq) "
                                "VALUES(?, 1, ?, 0, 0, 0)", (key, NO_TIME))
                self.sizes[key] = 1
                self.rows[key] = (1, NO_TIME, 0, None, None, 0, 0)
                root = key
            else:
                root = row[0]
        self.roots[key] = root
        return root

    def row(self, root: str) -> tuple[int, float, int, int | None, int | None, int, int]:
        """(size, t, seq, first_us, last_us, events, last_seq) of a component as stored."""
        found = self.rows.get(root) or self.cache.rows.get(root)
        if found is None:
            found = self.db.execute("SELECT size, t, seq, first_us, last_us, events, last_seq FROM graph_profiles "
                                    "WHERE root = ?", (root,)).fetchone()
            self.rows[root] = found
        return found

    def size(self, root: str) -> int:
        if root not in self.sizes:
            self.sizes[root] = self.row(root)[0]
        return self.sizes[root]

    def union(self, a: str, b: str) -> str:
        """Join two components (roots); the smaller one's nodes are re-pointed. Returns the new root."""
        if a == b:
            return a
        big, small = (a, b) if self.size(a) >= self.size(b) else (b, a)
        db = self.db
        db.execute("UPDATE graph_nodes SET root = ? WHERE root = ?", (big, small))
        gone = self.row(small)
        traits = db.execute("SELECT traits FROM graph_profiles WHERE root = ?", (small,)).fetchone()
        db.execute("DELETE FROM graph_profiles WHERE root = ?", (small,))
        moved = _Delta(t=gone[1], seq=gone[2], first_us=gone[3], last_us=gone[4], events=gone[5], last_seq=gone[6],
                       traits=json.loads(traits[0]) if traits and traits[0] else {})
        for device, t, seq in db.execute("SELECT device, t, seq FROM graph_devices WHERE root = ?", (small,)):
            moved.devices[device] = (t, seq)
        db.execute("DELETE FROM graph_devices WHERE root = ?", (small,))
        months = [m for (m,) in db.execute("SELECT month FROM graph_months WHERE root = ?", (small,))]
        db.execute("DELETE FROM graph_months WHERE root = ?", (small,))
        moved.months.update(months)
        if small in self.deltas:
            moved.merge(self.deltas.pop(small))
        self.delta(big).merge(moved)
        self.sizes[big] = self.size(big) + gone[0]
        db.execute("UPDATE graph_profiles SET size = ? WHERE root = ?", (self.sizes[big], big))
        self.rows[big] = (self.sizes[big], *self.row(big)[1:])
        self.rows.pop(small, None)
        self.sizes.pop(small, None)
        self.forward[small] = big
        for node, root in self.roots.items():
            if root == small:
                self.roots[node] = big
        return big

    def delta(self, root: str) -> _Delta:
        found = self.deltas.get(root)
        if found is None:
            found = self.deltas[root] = _Delta()
        return found

    def when(self, times: tuple[Any, Any, Any]) -> tuple[float, int, str] | None:
        """:func:`harness.identity.profile.event_time` of a message's (originalTimestamp, timestamp,
        receivedAt) as (timestamp, µs since the epoch, month), or None.

        Parsed once per distinct time string in this transaction: a batch's messages share sentAt-era
        times, and one person's messages of one second share theirs.
        """
        cache = self.times
        for value in times:
            if value is None:
                continue
            if value.__class__ is str:
                found = cache.get(value, _UNKNOWN)
                if found is _UNKNOWN:
                    found = cache[value] = _reading(parse_time(value))
            else:
                found = _reading(parse_time(value))
            if found is not None:
                return found  # type: ignore[return-value]
        return None

    def add(self, seq: int, message: Slim) -> None:
        """One stored message (its :func:`slim` reading) into the components it joins."""
        uid, aid, mtype, prev, original, timestamp, received, device, traits = message
        uid = None if uid is None else uid if uid.__class__ is str and uid else id_value(uid)
        aid = None if aid is None else aid if aid.__class__ is str and aid else id_value(aid)
        if uid is not None and not uid.isascii():
            uid = storable(uid)
        if aid is not None and not aid.isascii():
            aid = storable(aid)
        ukey = "u:" + uid if uid is not None else None
        akey = "a:" + aid if aid is not None else None
        first = ukey or akey
        other = None  # an alias's previousId: an anonymousId when one was seen before this message, else a userId
        if mtype == "alias" and (prev := id_value(prev)) is not None:
            prev = storable(prev)
            other = "a:" + prev if self.listed("a:" + prev) else "u:" + prev
        if first is None:
            if other is None:
                return  # no id: no profile (lint reports it)
            first, other = other, None
        when = self.when((original, timestamp, received))
        t = when[0] if when is not None else NO_TIME
        order = (t, seq)
        seen = self.seen
        if ukey is not None:
            earlier = seen.get(ukey)
            if earlier is None or order < earlier:
                seen[ukey] = order
        if akey is not None:
            earlier = seen.get(akey)
            if earlier is None or order < earlier:
                seen[akey] = order
        root = self.find(first)  # first, then the union with each further id, in profile.message_nodes' order
        if ukey is not None and akey is not None:
            root = self.union(root, self.find(akey))
        if other is not None:
            root = self.union(root, self.find(other))
        delta = self.deltas.get(root) or self.delta(root)
        if order < (delta.t, delta.seq) or not delta.seq:
            delta.t, delta.seq = order
        delta.events += 1
        if seq > delta.last_seq:
            delta.last_seq = seq
        if when is not None:
            us = when[1]
            if delta.first_us is None or us < delta.first_us:
                delta.first_us = us
            if delta.last_us is None or us > delta.last_us:
                delta.last_us = us
            month = when[2]
            delta.months.add(month)
            raw = akey or ukey
            if raw is not None:
                self.raw_months.add((raw, month))
        if device is not None:
            had = delta.devices.get(device)
            if had is None or order < had:
                delta.devices[device] = order
        if traits is not None:
            delta.traits = merge_traits(delta.traits, {
                str(k): [v, t, seq, t, seq, i] for i, (k, v) in enumerate(traits.items())})
        self.messages.append((seq, first, t))

    def flush(self) -> None:
        db, cache = self.db, self.cache
        updates = []
        for node, order in self.seen.items():
            known = cache.first.get(node)
            if known is None or order < known:
                updates.append((*order, node, *order))
                self.first[node] = order if known is None else min(order, known)
        if updates:
            db.executemany("UPDATE graph_nodes SET t = ?, seq = ? "
                           "WHERE node = ? AND (seq IS NULL OR (t, seq) > (?, ?))", updates)
        # a node first seen here may have had an earlier appearance on disk (cache cold): read it back
        for node in [n for n in self.first if n not in cache.first]:
            row = db.execute("SELECT t, seq FROM graph_nodes WHERE node = ?", (node,)).fetchone()
            self.first[node] = (row[0], row[1])
        profiles: list[tuple[Any, ...]] = []  # each table's rows for every component, one executemany each
        devices: list[tuple[str, str, float, int]] = []
        months: list[tuple[str, str]] = []
        for root, delta in self.deltas.items():
            have = self.row(root)
            merged = _Delta(t=have[1], seq=have[2], first_us=have[3], last_us=have[4], events=have[5],
                            last_seq=have[6])
            traits, delta.traits = delta.traits, {}
            merged.merge(delta)
            profiles.append((merged.t, merged.seq, merged.first_us, merged.last_us, merged.events, merged.last_seq,
                             root))
            self.rows[root] = (have[0], merged.t, merged.seq, merged.first_us, merged.last_us, merged.events,
                               merged.last_seq)
            if traits:  # read and rewritten only when an identify brought some
                old = db.execute("SELECT traits FROM graph_profiles WHERE root = ?", (root,)).fetchone()[0]
                db.execute("UPDATE graph_profiles SET traits = ? WHERE root = ?",
                           (_traits_json(merge_traits(json.loads(old) if old else {}, traits)), root))
            for d, o in delta.devices.items():
                known = cache.devices.get((root, d))
                if known is None or o < known:
                    devices.append((root, d, *o))
                    self.device_rows[(root, d)] = o if known is None else min(o, known)
            months.extend((root, m) for m in delta.months if (root, m) not in cache.months)
        if profiles:
            db.executemany("UPDATE graph_profiles SET t = ?, seq = ?, first_us = ?, last_us = ?, events = ?, "
                           "last_seq = ? WHERE root = ?", profiles)
        if devices:
            db.executemany("INSERT INTO graph_devices(root, device, t, seq) VALUES(?, ?, ?, ?) "
                           "ON CONFLICT(root, device) DO UPDATE SET t = excluded.t, seq = excluded.seq "
                           "WHERE (excluded.t, excluded.seq) < (t, seq)", devices)
        if months:
            db.executemany("INSERT OR IGNORE INTO graph_months(root, month) VALUES(?, ?)", months)
            self.months.update(months)
        raw = [pair for pair in self.raw_months if pair not in cache.raw_months]
        if raw:
            db.executemany("INSERT OR IGNORE INTO graph_raw_months(node, month) VALUES(?, ?)", raw)
        if self.messages:
            db.executemany("INSERT OR REPLACE INTO graph_messages(seq, node, t) VALUES(?, ?, ?)", self.messages)


def storable(text: str) -> str:
    """An id as SQLite can hold it: JSON lets a string carry a lone surrogate (``"\\udf20"``), which the
    collector accepts and stores inside the beacon's JSON, but which no UTF-8 column can take. Such an id
    becomes its escaped spelling; every other id is itself."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def _traits_json(traits: dict[str, list[Any]]) -> str | None:
    if not traits:
        return None
    return json.dumps(traits, separators=(",", ":"), allow_nan=False)


# what the graph reads of a message: userId, anonymousId, type, previousId, originalTimestamp, timestamp,
# receivedAt, the browser device (profile.device_of) and an identify call's traits (a dict) or None
Slim = tuple[Any, Any, Any, Any, Any, Any, Any, str | None, dict[str, Any] | None]


def slim(record: dict[str, Any]) -> Slim:
    """The part of a record :meth:`_Tx.add` reads, as a flat tuple.

    Read once when a message is stored; a store's graph backlog keeps these. Thousands of whole
    records (or dicts) waiting would be promoted to the oldest GC generation and walked by every
    full collection; a tuple of strings is untracked by the next young one (issue 20).
    """
    get = record.get
    traits = get("traits") if get("type") == "identify" else None
    return (get("userId"), get("anonymousId"), get("type"), get("previousId"), get("originalTimestamp"),
            get("timestamp"), get("receivedAt"), device_of(record),
            traits if traits and isinstance(traits, dict) else None)


def apply(db: sqlite3.Connection, rows: Iterable[tuple[int, Slim]], cache: Cache | None = None) -> _Tx:
    """Add stored beacons (seq, :func:`slim` of the record) to the graph, inside the caller's open transaction.

    Returns the transaction's record: pass it to ``cache.commit`` once the caller has committed.
    """
    tx = _Tx(db, cache if cache is not None else Cache())
    last = 0
    for seq, record in rows:
        tx.add(seq, record)
        last = max(last, seq)
    tx.flush()
    if last:
        db.execute("INSERT INTO graph_state(name, value) VALUES('seq', ?) "
                   "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)", (last,))
    return tx


# ---- reading ----------------------------------------------------------------------------------------
def _ordered_traits(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    traits = json.loads(raw)
    return {k: v[0] for k, v in sorted(traits.items(), key=lambda kv: (kv[1][3], kv[1][4], kv[1][5]))}


def profile_count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM graph_profiles WHERE events > 0").fetchone()[0])


def profiles(db: sqlite3.Connection, limit: int | None = None, offset: int = 0, order: str = "first",
             messages: int = MESSAGES_SHOWN, decode: Any = json.loads) -> list[dict[str, Any]]:
    """Profiles as :meth:`harness.identity.profile.Profile.to_dict` gives them, first-seen order (``order="recent"``:
    most recently active first), ``limit``/``offset`` paging. Each lists at most IDS_SHOWN ids and its
    newest ``messages`` messages in time order; ``*_total`` fields say when there are more."""
    sort = "last_seq DESC" if order == "recent" else "t, seq"
    rows = db.execute(f"SELECT root, first_us, last_us, events, traits FROM graph_profiles WHERE events > 0 "
                      f"ORDER BY {sort} LIMIT ? OFFSET ?", (-1 if limit is None else limit, offset)).fetchall()
    out: list[dict[str, Any]] = []
    for root, first_us, last_us, events, traits in rows:
        user_ids: list[str] = []
        anonymous_ids: list[str] = []
        counts = {"u": 0, "a": 0}
        for (node,) in db.execute("SELECT node FROM graph_nodes WHERE root = ? AND seq IS NOT NULL "
                                  "ORDER BY t, seq", (root,)):
            kind = node[0]
            counts[kind] += 1
            target = user_ids if kind == "u" else anonymous_ids
            if len(target) < IDS_SHOWN:
                target.append(node[2:])
        devices = [d for (d,) in db.execute("SELECT device FROM graph_devices WHERE root = ? ORDER BY t, seq "
                                            "LIMIT ?", (root, IDS_SHOWN))]
        profile: dict[str, Any] = {
            "id": user_ids[0] if user_ids else anonymous_ids[0] if anonymous_ids else "?",
            "identified": bool(user_ids), "user_ids": user_ids, "anonymous_ids": anonymous_ids, "devices": devices,
            "traits": _ordered_traits(traits), "first_seen": _from_micros(first_us),
            "last_seen": _from_micros(last_us), "event_count": events,
        }
        if messages:
            found = db.execute(
                "SELECT b.seq, b.body FROM graph_nodes n JOIN graph_messages m ON m.node = n.node "
                "JOIN beacons b ON b.seq = m.seq WHERE n.root = ? ORDER BY m.t DESC, m.seq DESC LIMIT ?",
                (root, messages)).fetchall()
            profile["messages"] = [_with_seq(decode(body), seq) for seq, body in reversed(found)]
            if events > len(found):
                profile["messages_total"] = events
        if counts["u"] > len(user_ids) or counts["a"] > len(anonymous_ids):
            profile["user_ids_total"], profile["anonymous_ids_total"] = counts["u"], counts["a"]
        out.append(profile)
    return out


def _with_seq(record: Any, seq: int) -> Any:
    if isinstance(record, dict):
        record.setdefault("_meta", {})["seq"] = seq
    return record


def monthly_tracked_users(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT month, COUNT(*) FROM graph_months GROUP BY month ORDER BY month").fetchall())


def mtu_without_identify(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT month, COUNT(*) FROM graph_raw_months GROUP BY month ORDER BY month").fetchall())
