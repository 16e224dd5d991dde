"""The identity graph kept incrementally in SQLite, so profiles and MTU never re-read the whole store.

:mod:`harness.profile` computes profiles from a list of beacons (every message decoded, one
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
The answers equal :func:`harness.profile.build_profiles` / ``monthly_tracked_users`` /
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

from harness.profile import Node, anonymous_id, device_of, event_time, iso, message_nodes, user_id

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
MESSAGES_PER_ANSWER = 20_000  # messages in one answer at most: a long page gets fewer per profile


def messages_per_profile(limit: int | None, messages: int) -> int:
    """How many messages each profile of a page carries so the page stays within MESSAGES_PER_ANSWER."""
    if limit is None or limit <= 0:
        return messages
    return max(0, min(messages, MESSAGES_PER_ANSWER // limit))


def _key(node: Node) -> str:
    return ("u:" if node[0] == "user" else "a:") + node[1]


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


class _Known:
    """``as_anon in known`` for message_nodes(): has this id been some message's anonymousId?"""

    def __init__(self, tx: _Tx) -> None:
        self.tx = tx

    def __contains__(self, node: object) -> bool:
        return isinstance(node, tuple) and self.tx.listed(_key(node))  # type: ignore[arg-type]


class _Tx:
    """One apply(): a cache of roots and the deltas per component, flushed at the end."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.roots: dict[str, str] = {}  # node -> root, as far as this transaction looked
        self.sizes: dict[str, int] = {}  # root -> component size
        self.seen: dict[str, tuple[float, int]] = {}  # node -> earliest (t, seq) as a userId/anonymousId here
        self.deltas: dict[str, _Delta] = {}
        self.raw_months: set[tuple[str, str]] = set()
        self.messages: list[tuple[int, str, float]] = []
        self.known = _Known(self)

    def listed(self, key: str) -> bool:
        if key in self.seen:
            return True
        row = self.db.execute("SELECT seq FROM graph_nodes WHERE node = ?", (key,)).fetchone()
        return row is not None and row[0] is not None

    def find(self, key: str) -> str:
        """The node's root, creating the node (its own component) when new."""
        root = self.roots.get(key)
        if root is not None:
            return root
        row = self.db.execute("SELECT root FROM graph_nodes WHERE node = ?", (key,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO graph_nodes(node, root) VALUES(?, ?)", (key, key))
            self.db.execute("INSERT INTO graph_profiles(root, size, t, seq, events, last_seq) "
                            "VALUES(?, 1, ?, 0, 0, 0)", (key, NO_TIME))
            root = key
            self.sizes[root] = 1
        else:
            root = row[0]
        self.roots[key] = root
        return root

    def size(self, root: str) -> int:
        if root not in self.sizes:
            self.sizes[root] = self.db.execute("SELECT size FROM graph_profiles WHERE root = ?", (root,)).fetchone()[0]
        return self.sizes[root]

    def union(self, a: str, b: str) -> str:
        """Join two components (roots); the smaller one's nodes are re-pointed. Returns the new root."""
        if a == b:
            return a
        big, small = (a, b) if self.size(a) >= self.size(b) else (b, a)
        db = self.db
        db.execute("UPDATE graph_nodes SET root = ? WHERE root = ?", (big, small))
        row = db.execute("SELECT size, t, seq, first_us, last_us, events, last_seq, traits FROM graph_profiles "
                         "WHERE root = ?", (small,)).fetchone()
        db.execute("DELETE FROM graph_profiles WHERE root = ?", (small,))
        moved = _Delta(t=row[1], seq=row[2], first_us=row[3], last_us=row[4], events=row[5], last_seq=row[6],
                       traits=json.loads(row[7]) if row[7] else {})
        for device, t, seq in db.execute("SELECT device, t, seq FROM graph_devices WHERE root = ?", (small,)):
            moved.devices[device] = (t, seq)
        db.execute("DELETE FROM graph_devices WHERE root = ?", (small,))
        db.execute("INSERT OR IGNORE INTO graph_months(root, month) SELECT ?, month FROM graph_months WHERE root = ?",
                   (big, small))
        db.execute("DELETE FROM graph_months WHERE root = ?", (small,))
        if small in self.deltas:
            moved.merge(self.deltas.pop(small))
        self.delta(big).merge(moved)
        self.sizes[big] = self.size(big) + row[0]
        db.execute("UPDATE graph_profiles SET size = ? WHERE root = ?", (self.sizes[big], big))
        self.sizes.pop(small, None)
        for node, root in self.roots.items():
            if root == small:
                self.roots[node] = big
        return big

    def delta(self, root: str) -> _Delta:
        found = self.deltas.get(root)
        if found is None:
            found = self.deltas[root] = _Delta()
        return found

    def add(self, seq: int, message: dict[str, Any]) -> None:
        nodes = message_nodes(message, self.known)  # type: ignore[arg-type]
        if not nodes:
            return  # no id: no profile (lint reports it)
        moment = event_time(message)
        t = moment.timestamp() if moment is not None else NO_TIME
        order = (t, seq)
        keys = [_key(n) for n in nodes]
        uid, aid = user_id(message), anonymous_id(message)
        for listed in ([_key(("user", uid))] if uid is not None else []) + \
                ([_key(("anon", aid))] if aid is not None else []):
            self.seen[listed] = min(self.seen.get(listed, order), order)
        root = self.find(keys[0])
        for key in keys[1:]:
            root = self.union(root, self.find(key))
        delta = self.delta(root)
        delta.merge(_Delta(t=t, seq=seq, events=1, last_seq=seq))
        if moment is not None:
            us = _micros(moment)
            delta.first_us, delta.last_us = _min(delta.first_us, us), _max(delta.last_us, us)
            month = f"{moment.year:04d}-{moment.month:02d}"
            delta.months.add(month)
            raw = ("anon", aid) if aid is not None else ("user", uid) if uid is not None else None
            if raw is not None:
                self.raw_months.add((_key(raw), month))
        device = device_of(message)
        if device is not None:
            delta.devices[device] = min(delta.devices.get(device, order), order)
        traits = message.get("traits")
        if message.get("type") == "identify" and isinstance(traits, dict) and traits:
            delta.traits = merge_traits(delta.traits, {
                str(k): [v, t, seq, t, seq, i] for i, (k, v) in enumerate(traits.items())})
        self.messages.append((seq, keys[0], t))

    def flush(self) -> None:
        db = self.db
        db.executemany("UPDATE graph_nodes SET t = ?, seq = ? WHERE node = ? AND (seq IS NULL OR (t, seq) > (?, ?))",
                       [(t, s, node, t, s) for node, (t, s) in self.seen.items()])
        for root, delta in self.deltas.items():
            row = db.execute("SELECT t, seq, first_us, last_us, events, last_seq FROM graph_profiles "
                             "WHERE root = ?", (root,)).fetchone()
            have = _Delta(t=row[0], seq=row[1], first_us=row[2], last_us=row[3], events=row[4], last_seq=row[5])
            traits = delta.traits
            delta.traits = {}
            have.merge(delta)
            db.execute("UPDATE graph_profiles SET t = ?, seq = ?, first_us = ?, last_us = ?, events = ?, last_seq = ? "
                       "WHERE root = ?", (have.t, have.seq, have.first_us, have.last_us, have.events, have.last_seq,
                                          root))
            if traits:  # read and rewritten only when an identify brought some
                old = db.execute("SELECT traits FROM graph_profiles WHERE root = ?", (root,)).fetchone()[0]
                merged = merge_traits(json.loads(old) if old else {}, traits)
                db.execute("UPDATE graph_profiles SET traits = ? WHERE root = ?", (_traits_json(merged), root))
            db.executemany("INSERT INTO graph_devices(root, device, t, seq) VALUES(?, ?, ?, ?) "
                           "ON CONFLICT(root, device) DO UPDATE SET t = excluded.t, seq = excluded.seq "
                           "WHERE (excluded.t, excluded.seq) < (t, seq)",
                           [(root, device, t, s) for device, (t, s) in delta.devices.items()])
            db.executemany("INSERT OR IGNORE INTO graph_months(root, month) VALUES(?, ?)",
                           [(root, month) for month in delta.months])
        db.executemany("INSERT OR IGNORE INTO graph_raw_months(node, month) VALUES(?, ?)", sorted(self.raw_months))
        db.executemany("INSERT OR REPLACE INTO graph_messages(seq, node, t) VALUES(?, ?, ?)", self.messages)


def _traits_json(traits: dict[str, list[Any]]) -> str | None:
    if not traits:
        return None
    return json.dumps(traits, separators=(",", ":"), allow_nan=False)


def apply(db: sqlite3.Connection, rows: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """Add stored beacons (seq, record) to the graph, inside the caller's open transaction."""
    tx = _Tx(db)
    last = 0
    for seq, record in rows:
        tx.add(seq, record)
        last = max(last, seq)
    tx.flush()
    if last:
        db.execute("INSERT INTO graph_state(name, value) VALUES('seq', ?) "
                   "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)", (last,))


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
    """Profiles as :meth:`harness.profile.Profile.to_dict` gives them, first-seen order (``order="recent"``:
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
