"""Identity profiles and Monthly Tracked Users, computed from stored beacon records.

The seeds' merge model (000 "Merging Identified and Anonymous user profiles", scenarios #1-#3):
every anonymousId and every userId is a node; a message that carries both links them; a
profile is a connected set. A person who identifies on two devices is one profile; a device
that never identifies stays its own anonymous profile. Pure functions, no I/O.

The small message helpers here (time order, device, server-or-browser) are shared with
:mod:`harness.identity.lint`, so both read a beacon record the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Beacon = dict[str, Any]
Node = tuple[str, str]  # ("user", id) or ("anon", id): the two id spaces never collide


# --- reading one beacon record -------------------------------------------------------------

def id_value(value: Any) -> str | None:
    """An id as the collector accepts it (non-empty string or number) -> str; anything else -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value != "":
        return value
    return None


def user_id(message: Beacon) -> str | None:
    return id_value(message.get("userId"))


def anonymous_id(message: Beacon) -> str | None:
    return id_value(message.get("anonymousId"))


def meta(message: Beacon) -> dict[str, Any]:
    value = message.get("_meta")
    return value if isinstance(value, dict) else {}


def context(message: Beacon) -> dict[str, Any]:
    value = message.get("context")
    return value if isinstance(value, dict) else {}


def page_path(message: Beacon) -> str | None:
    """``context.page.path`` (the page the call was made on), if the library sent one."""
    page = context(message).get("page")
    path = page.get("path") if isinstance(page, dict) else None
    return path if isinstance(path, str) else None


def page_host(message: Beacon) -> str | None:
    """Host name of ``context.page.url`` (www.shop.test vs app.shop.test), if any."""
    page = context(message).get("page")
    url = page.get("url") if isinstance(page, dict) else None
    if not isinstance(url, str) or "://" not in url:
        return None
    return url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0] or None


def is_server(message: Beacon) -> bool:
    """Sent by a server library (the site's Python backend), not by a browser."""
    if meta(message).get("transport") == "server":
        return True
    library = context(message).get("library")
    name = library.get("name") if isinstance(library, dict) else None
    return isinstance(name, str) and "python" in name.lower()


def device_of(message: Beacon) -> str | None:
    """The harness's own browser id (``_meta.device``): which browser profile sent it, library-independent."""
    device = id_value(meta(message).get("device"))
    return None if is_server(message) else device


def ref(message: Beacon) -> str:
    """How findings and reports name a message: its messageId, else its arrival number, else type@time."""
    mid = id_value(message.get("messageId"))
    if mid:
        return mid
    seq = meta(message).get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool):
        return f"seq:{seq}"
    when = message.get("originalTimestamp") or message.get("timestamp") or message.get("receivedAt") or "?"
    return f"{message.get('type')}@{when}"


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 (with Z, offset or naive=UTC) or epoch seconds/milliseconds -> aware UTC datetime."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return None
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        # a time at the edge of the calendar (0001-01-01T00:00+01:00) overflows in UTC: unusable, not fatal
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def event_time(message: Beacon) -> datetime | None:
    """When the call was made: originalTimestamp, then timestamp (device clock), then receivedAt."""
    for key in ("originalTimestamp", "timestamp", "receivedAt"):
        found = parse_time(message.get(key))
        if found is not None:
            return found
    return None


def iso(moment: datetime | None) -> str | None:
    """The analytics.js timestamp format: UTC, milliseconds, ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seq(message: Beacon) -> float:
    seq = meta(message).get("seq")
    return float(seq) if isinstance(seq, int) and not isinstance(seq, bool) else math.inf


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else math.inf


def unique(beacons: Iterable[Any]) -> list[Beacon]:
    """Dict records only, once per messageId (the store already de-duplicates; merged exports may not)."""
    seen: set[str] = set()
    kept: list[Beacon] = []
    for message in beacons:
        if not isinstance(message, dict):
            continue
        mid = id_value(message.get("messageId"))
        if mid is not None:
            if mid in seen:
                continue
            seen.add(mid)
        kept.append(message)
    return kept


def time_order(beacons: Iterable[Any]) -> list[Beacon]:
    """Messages in the order they were made (device clock), arrival order breaking ties.

    The device clock is the right order for one device's story (retried or batched calls arrive
    late but keep their timestamps) and for calendar months (tests move the browser clock).
    """
    records = unique(beacons)
    keyed = sorted(enumerate(records), key=lambda im: (_epoch(event_time(im[1])), _seq(im[1]), im[0]))
    return [m for _, m in keyed]


def arrival_order(beacons: Iterable[Any]) -> list[Beacon]:
    """Messages in the order the collector received them (one clock for browser and server)."""
    records = unique(beacons)

    def key(item: tuple[int, Beacon]) -> tuple[float, float, int]:
        index, message = item
        received = meta(message).get("received_ms")
        if not isinstance(received, int | float) or isinstance(received, bool):
            received = _epoch(parse_time(message.get("receivedAt")))
        return (float(received), _seq(message), index)

    return [m for _, m in sorted(enumerate(records), key=key)]


# --- the identity graph --------------------------------------------------------------------

class _UnionFind:
    """Connected components of id nodes; the representative is the first node ever added."""

    def __init__(self) -> None:
        self.parent: dict[Node, Node] = {}
        self.order: dict[Node, int] = {}

    def add(self, node: Node) -> None:
        if node not in self.parent:
            self.parent[node] = node
            self.order[node] = len(self.order)

    def find(self, node: Node) -> Node:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: Node, b: Node) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            first, second = (ra, rb) if self.order[ra] <= self.order[rb] else (rb, ra)
            self.parent[second] = first


def message_nodes(message: Beacon, known: set[Node] | None = None) -> list[Node]:
    """The id nodes one message names. Links them all (alias: previousId joins userId too)."""
    nodes: list[Node] = []
    if (uid := user_id(message)) is not None:
        nodes.append(("user", uid))
    if (aid := anonymous_id(message)) is not None:
        nodes.append(("anon", aid))
    if message.get("type") == "alias" and (prev := id_value(message.get("previousId"))) is not None:
        # previousId is whatever id the person had before: an anonymousId or an older userId.
        as_anon = ("anon", prev)
        nodes.append(as_anon if known is not None and as_anon in known else ("user", prev))
    return nodes


def _components(ordered: list[Beacon]) -> tuple[_UnionFind, dict[int, Node]]:
    """Union-find over all messages; maps each message's position to its component root."""
    uf = _UnionFind()
    for message in ordered:
        for node in message_nodes(message):
            if node[0] == "anon":
                uf.add(node)
    known = set(uf.parent)
    per_message: list[list[Node]] = []
    for message in ordered:
        nodes = message_nodes(message, known)
        for node in nodes:
            uf.add(node)
        for node in nodes[1:]:
            uf.union(nodes[0], node)
        per_message.append(nodes)
    roots = {i: uf.find(nodes[0]) for i, nodes in enumerate(per_message) if nodes}
    return uf, roots


@dataclass
class Profile:
    """One person as the beacons show them: a connected set of userIds and anonymousIds.

    ``devices`` are the harness's ``_meta.device`` ids (browser profiles); ``event_count`` counts
    every message (page, track, identify, ...); ``first_seen``/``last_seen`` use the device clock.
    """

    id: str
    user_ids: list[str] = field(default_factory=list)
    anonymous_ids: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    traits: dict[str, Any] = field(default_factory=dict)
    first_seen: str | None = None
    last_seen: str | None = None
    event_count: int = 0
    messages: list[Beacon] = field(default_factory=list)
    identified: bool = False

    def to_dict(self, messages: bool = True) -> dict[str, Any]:
        """JSON-ready; ``messages=False`` leaves out the (possibly long) message list."""
        data: dict[str, Any] = {
            "id": self.id, "identified": self.identified, "user_ids": list(self.user_ids),
            "anonymous_ids": list(self.anonymous_ids), "devices": list(self.devices), "traits": dict(self.traits),
            "first_seen": self.first_seen, "last_seen": self.last_seen, "event_count": self.event_count,
        }
        if messages:
            data["messages"] = list(self.messages)
        return data


def _add_once(items: list[str], value: str | None) -> None:
    if value is not None and value not in items:
        items.append(value)


def build_profiles(beacons: list[Beacon]) -> list[Profile]:
    """Merge anonymous and identified activity into profiles, ordered by first_seen.

    Scenario #1 (one device, signs up days later) -> 1 profile; #2 (web sign-up, phone stays
    anonymous) -> 2; #3 (logged in on both) -> 1. After reset() the new anonymousId is a new
    anonymous profile until it is identified with a known userId. A message with neither id
    belongs to no profile (lint reports it). If a library keeps the anonymousId when a
    *different* user identifies, the two users join one profile through it: that is the
    attribution problem the seeds warn about, and lint's C14 rule names it.
    """
    ordered = time_order(beacons)
    _, roots = _components(ordered)
    groups: dict[Node, list[Beacon]] = defaultdict(list)
    for index, root in roots.items():
        groups[root].append(ordered[index])
    # Groups were created in time order of their first message, so this is first_seen order.
    return [_profile(messages) for messages in groups.values()]


def _profile(messages: list[Beacon]) -> Profile:
    user_ids: list[str] = []
    anonymous_ids: list[str] = []
    devices: list[str] = []
    traits: dict[str, Any] = {}
    for message in messages:
        _add_once(user_ids, user_id(message))
        _add_once(anonymous_ids, anonymous_id(message))
        _add_once(devices, device_of(message))
        if message.get("type") == "identify" and isinstance(message.get("traits"), dict):
            traits.update(message["traits"])  # time order: the latest identify wins per key
    times = [t for t in (event_time(m) for m in messages) if t is not None]
    return Profile(
        id=user_ids[0] if user_ids else anonymous_ids[0] if anonymous_ids else "?",
        user_ids=user_ids, anonymous_ids=anonymous_ids, devices=devices, traits=traits,
        first_seen=iso(min(times)) if times else None, last_seen=iso(max(times)) if times else None,
        event_count=len(messages), messages=list(messages), identified=bool(user_ids),
    )


# --- Monthly Tracked Users -----------------------------------------------------------------

def _month(message: Beacon) -> str | None:
    moment = event_time(message)
    return f"{moment.year:04d}-{moment.month:02d}" if moment is not None else None


def monthly_tracked_users(beacons: list[Beacon]) -> dict[str, int]:
    """``"YYYY-MM" -> distinct profiles seen that month`` (seed 000: identify reduces MTU).

    The profile graph is built over *all* beacons, so a user identified on two devices counts
    once in every month either device was active; anonymousIds never linked count one each.
    """
    ordered = time_order(beacons)
    _, roots = _components(ordered)
    seen: dict[str, set[Node]] = defaultdict(set)
    for index, root in roots.items():
        if (month := _month(ordered[index])) is not None:
            seen[month].add(root)
    return {month: len(seen[month]) for month in sorted(seen)}


def mtu_without_identify(beacons: list[Beacon]) -> dict[str, int]:
    """What MTU would be with no identify linking anything: distinct anonymousIds per month.

    A message with no anonymousId (a server call with only a userId) counts under its userId.
    """
    seen: dict[str, set[Node]] = defaultdict(set)
    for message in unique(beacons):
        month = _month(message)
        aid, uid = anonymous_id(message), user_id(message)
        node: Node | None = ("anon", aid) if aid is not None else ("user", uid) if uid is not None else None
        if month is not None and node is not None:
            seen[month].add(node)
    return {month: len(seen[month]) for month in sorted(seen)}


@dataclass
class MonthlyUsers:
    """One month's MTU next to what it would be without identify, for the CLI and demo."""

    month: str
    mtu: int
    without_identify: int

    @property
    def saved(self) -> int:
        return self.without_identify - self.mtu

    def __str__(self) -> str:
        return f"{self.month}: MTU {self.mtu} (would be {self.without_identify} without identify)"

    def to_dict(self) -> dict[str, Any]:
        return {"month": self.month, "mtu": self.mtu, "without_identify": self.without_identify,
                "saved": self.saved}


def mtu_report(beacons: list[Beacon]) -> list[MonthlyUsers]:
    """MTU and MTU-without-identify side by side, one row per month, oldest first."""
    mtu = monthly_tracked_users(beacons)
    raw = mtu_without_identify(beacons)
    return [MonthlyUsers(month, mtu.get(month, 0), raw.get(month, 0)) for month in sorted(set(mtu) | set(raw))]
