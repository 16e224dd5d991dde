"""Rich renderings of beacons, profiles and lint findings, shared by the CLI and ``harness demo``.

Every function takes the plain dicts the inspection API returns (a stored beacon record,
``Profile.to_dict()``, ``Finding.to_dict()``), so the same view works for data read over HTTP
and for data computed from a SQLite file. Payload text is always wrapped in :class:`rich.text.Text`,
never parsed as console markup: a beacon cannot restyle or spoof the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

Record = Mapping[str, Any]

TYPE_STYLES = {
    "identify": "bold magenta",
    "track": "cyan",
    "page": "green",
    "screen": "green",
    "group": "yellow",
    "alias": "bold yellow",
}
SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "blue"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
LINT_FIX_COLUMN_WIDTH = 110  # narrower terminals show a finding's fix in the finding's cell
ANON_WIDTH = 8  # enough to tell devices apart in a table; --format json has the full id

# (header, width) of the one-line-per-beacon view used by ``harness beacons --follow``.
LINE_COLUMNS = (("#", 5), ("received", 12), ("type", 8), ("event / name", 24), ("userId", 16),
                ("anonymousId", ANON_WIDTH + 1), ("via", 15))


def _text(value: Any, style: str = "") -> Text:
    """Untrusted value -> Text (no markup, no emoji codes, control characters made visible)."""
    if value is None or value == "":
        return Text("–", style="dim")
    raw = value if isinstance(value, str) else str(value)
    return Text(_printable(raw), style=style)


def _printable(raw: str) -> str:
    """Make control characters visible so a payload cannot move the cursor or clear the screen."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
                   for ch in raw)


def _table(title: str, **options: Any) -> Table:
    """A borderless table whose title is plain text (never console markup, even with payload in it)."""
    return Table(title=Text(_printable(title), style="bold"), box=box.SIMPLE_HEAD, title_justify="left",
                 pad_edge=False, **options)


# ---- tables that fit ------------------------------------------------------------------------
GAP = 3  # between columns: a space of padding each side and the (blank) SIMPLE_HEAD divider
EDGES = 2  # ... and one edge character on each side of the table
MIN_WRAP = 14  # a free-text column narrower than this reads badly


@dataclass
class Column:
    """A column before it is placed: ids, times and numbers stay on one line; free text may wrap.

    ``priority`` 0 is never dropped; higher numbers are dropped first when the table is too wide.
    """

    header: str
    priority: int = 0
    wrap: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    cells: list[Text] = field(default_factory=list)
    min_wrap: int = MIN_WRAP  # a wrapping column is kept at least this wide (or its longest cell)

    def need(self) -> int:
        """The narrowest this column can be without breaking a cell (or, if it wraps, reading badly)."""
        longest = max((cell_len(line) for cell in self.cells for line in cell.plain.split("\n")), default=1)
        if self.wrap:
            return max(min(self.min_wrap, longest), min(cell_len(self.header), self.min_wrap))
        return max(longest, cell_len(self.header))


def fitted_table(title: str, columns: list[Column], width: int | None, **options: Any) -> Table:
    """A table that fits ``width`` columns: low-value columns are dropped first, ids never split.

    ``width=None`` keeps every column (``--wide``). A caption names what was dropped.
    """
    kept = list(columns)
    dropped: list[Column] = []
    need = {id(c): c.need() for c in columns}  # each measures every cell: once per column, not once per pass
    if width is not None:
        while sum(need[id(c)] for c in kept) + GAP * (len(kept) - 1) + EDGES > width:
            droppable = [c for c in kept if c.priority > 0]
            if not droppable:
                break
            victim = max(droppable, key=lambda c: (c.priority, kept.index(c)))
            kept.remove(victim)
            dropped.append(victim)
    table = _table(title, **options)
    for column in kept:
        if column.wrap:
            table.add_column(column.header, overflow="fold", min_width=need[id(column)], **column.options)
        else:  # whole on one line: an id is never split
            table.add_column(column.header, no_wrap=True, min_width=need[id(column)], **column.options)
    rows = max((len(c.cells) for c in columns), default=0)
    for i in range(rows):
        table.add_row(*(c.cells[i] if i < len(c.cells) else Text("") for c in kept))
    if dropped:
        names = ", ".join(c.header for c in sorted(dropped, key=columns.index))
        table.caption = Text(f"--wide shows {names} (hidden at {width} columns)", style="dim")
        table.caption_justify = "left"
    return table


def short_id(value: Any, width: int = ANON_WIDTH) -> str:
    """First characters of an id (``3f2a9c1e…``) for tables; None stays empty."""
    if not value:
        return ""
    text = str(value)
    return text if len(text) <= width + 1 else text[:width] + "…"


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 (``...Z`` or offset) -> aware datetime; anything else -> None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def clock(value: Any, with_date: bool = False) -> str:
    """``2025-11-23T09:12:00.123Z`` -> ``09:12:00.123`` (or ``11-23 09:12:00``)."""
    when = parse_time(value)
    if when is None:
        return str(value or "")
    if with_date:
        return when.strftime("%Y-%m-%d %H:%M:%S")
    return when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def what(record: Record) -> str:
    """The human name of a beacon: track's event, page/screen's name, group's id, alias's previousId."""
    kind = record.get("type")
    if kind == "track":
        return str(record.get("event") or "")
    if kind in ("page", "screen"):
        props = record.get("properties") if isinstance(record.get("properties"), Mapping) else {}
        return str(record.get("name") or (props or {}).get("path") or _page_path(record) or "")
    if kind == "group":
        return str(record.get("groupId") or "")
    if kind == "alias":
        return f"{record.get('previousId', '')} → {record.get('userId', '')}"
    if kind == "identify":
        traits = record.get("traits")
        return ", ".join(sorted(traits)) if isinstance(traits, Mapping) else ""
    return ""


def _page_path(record: Record) -> str:
    context = record.get("context")
    page = context.get("page") if isinstance(context, Mapping) else None
    return str(page.get("path") or "") if isinstance(page, Mapping) else ""


def transport(record: Record) -> str:
    """How the beacon travelled (``_meta.transport``: beacon, fetch-keepalive, xhr, server, ...)."""
    meta = record.get("_meta")
    return str(meta.get("transport") or "") if isinstance(meta, Mapping) else ""


def library(record: Record) -> str:
    """Who sent it: ``context.library`` name and version, after the vendor whose wire the collector decoded
    (``_vendor.name``, e.g. ``posthog web 1.449.2``) when that is another name."""
    context = record.get("context")
    lib = context.get("library") if isinstance(context, Mapping) else None
    lib = lib if isinstance(lib, Mapping) else {}
    vendor = record.get("_vendor")
    vendor_name = str(vendor.get("name") or "") if isinstance(vendor, Mapping) else ""
    name, version = str(lib.get("name") or ""), str(lib.get("version") or "")
    return " ".join(p for p in (vendor_name if vendor_name != name else "", name, version) if p)


def seq(record: Record) -> Any:
    meta = record.get("_meta")
    return meta.get("seq", "") if isinstance(meta, Mapping) else ""


# ---- beacons --------------------------------------------------------------------------------
def beacons_table(records: Iterable[Record], total: int | None = None, title: str = "Beacons",
                  width: int | None = None) -> Table:
    """Arrival-ordered table: seq, time received, type, event/name, userId, anonymousId, transport, library.

    ``width``: fit that many columns (drops library, received, then via, then anonymousId); None keeps all.
    """
    rows = list(records)
    shown = f"{len(rows)}" if total is None or total == len(rows) else f"last {len(rows)} of {total}"
    seq_col = Column("#", options={"justify": "right", "style": "dim"})
    received = Column("received", priority=4)
    kind_col = Column("type")
    name_col = Column("event / name", wrap=True)
    user = Column("userId")
    anon = Column("anonymousId", priority=2)
    via = Column("via", priority=3, options={"style": "dim"})
    lib = Column("library", priority=5, options={"style": "dim"})
    for record in rows:
        kind = str(record.get("type") or "")
        seq_col.cells.append(_text(seq(record)))
        received.cells.append(_text(clock(record.get("receivedAt"))))
        kind_col.cells.append(_text(kind, TYPE_STYLES.get(kind, "")))
        name_col.cells.append(_text(what(record)))
        user.cells.append(_text(record.get("userId"), "bold"))
        anon.cells.append(_text(short_id(record.get("anonymousId"))))
        via.cells.append(_text(transport(record)))
        lib.cells.append(_text(library(record)))
    return fitted_table(f"{title} ({shown})", [seq_col, received, kind_col, name_col, user, anon, via, lib], width)


def beacon_line_header() -> Text:
    """Column titles for :func:`beacon_line` (printed once before a ``--follow`` stream)."""
    return Text(" ".join(name.ljust(width) if i < len(LINE_COLUMNS) - 1 else name
                         for i, (name, width) in enumerate(LINE_COLUMNS)), style="bold")


def beacon_line(record: Record) -> Text:
    """One beacon as one fixed-width line, so a live stream lines up without a table."""
    kind = str(record.get("type") or "")
    cells = [
        (str(seq(record)), ""),
        (clock(record.get("receivedAt")), ""),
        (kind, TYPE_STYLES.get(kind, "")),
        (what(record), ""),
        (str(record.get("userId") or "–"), "bold"),
        (short_id(record.get("anonymousId")) or "–", ""),
        (transport(record), "dim"),
    ]
    line = Text()
    for i, ((value, style), (_, width)) in enumerate(zip(cells, LINE_COLUMNS, strict=True)):
        value = _printable(value)
        last = i == len(cells) - 1
        if not last and len(value) > width and LINE_COLUMNS[i][0] != "userId":  # a userId is never cut
            value = value[: width - 1] + "…"
        line.append(value if last else value.ljust(width), style=style)
        if not last:
            line.append(" ")
    return line


def bad_table(entries: Iterable[Record], total: int | None = None, width: int | None = None) -> Table:
    """Rejected submissions with the collector's reason (never silently dropped), and re-sends of a stored
    message with changed content (``kind: "conflict"``: answered 200, the stored copy kept), marked as such."""
    rows = list(entries)
    shown = f"{len(rows)}" if total is None or total == len(rows) else f"last {len(rows)} of {total}"
    ident = Column("id", options={"justify": "right", "style": "dim"})
    received = Column("received", priority=3)
    status = Column("status", priority=1)
    path = Column("path", priority=2)
    reason = Column("reason", wrap=True, options={"style": "red"})
    body = Column("body", priority=4, wrap=True, options={"style": "dim"})
    for entry in rows:
        raw = str(entry.get("raw") or "")
        ident.cells.append(_text(entry.get("id")))
        received.cells.append(_text(clock(entry.get("receivedAt"), with_date=True)))
        status.cells.append(_text(entry.get("status")))
        path.cells.append(_text(entry.get("path")))
        resent = entry.get("kind") == "conflict"
        why = str(entry.get("reason") or "")
        if resent:
            changed = ", ".join(str(d.get("field")) for d in entry.get("diff") or [] if isinstance(d, Mapping))
            why = f"re-send of stored {entry.get('messageId')}" + (f" (changed: {changed})" if changed else "")
        reason.cells.append(Text(why, style="yellow") if resent else _text(why))
        body.cells.append(_text(raw if len(raw) <= 120 else raw[:117] + "..."))
    resends = sum(1 for entry in rows if entry.get("kind") == "conflict")
    title = (f"Rejected submissions and re-sends ({shown}; {resends} re-send(s), stored copy kept)" if resends
             else f"Rejected submissions ({shown})")
    return fitted_table(title, [ident, received, status, path, reason, body], width)


# ---- profiles ---------------------------------------------------------------------------------
def _traits_text(traits: Any) -> Text:
    if not isinstance(traits, Mapping) or not traits:
        return Text("–", style="dim")
    parts = [f"{k}={v}" for k, v in traits.items() if not isinstance(v, Mapping | list)]
    nested = [k for k, v in traits.items() if isinstance(v, Mapping | list)]
    return _text(", ".join(parts + [f"{k}={{…}}" for k in nested]))


def person_label(profile: Record) -> str:
    """A profile's name for people: its userId(s), or ``anonymous`` plus its first anonymousId."""
    users = [str(u) for u in profile.get("user_ids") or []]
    if users:
        return ", ".join(users)
    anons = profile.get("anonymous_ids") or []
    return f"anonymous {short_id(anons[0])}" if anons else "anonymous"


def profiles_table(profiles: Iterable[Record], width: int | None = None) -> Table:
    """One row per identity profile: who, which anonymousIds/devices, how much, when, traits.

    Every userId is shown whole, one per line. ``width``: fit that many columns (first and last
    seen go first, then devices); None keeps all.
    """
    rows = list(profiles)
    number = Column("#", options={"justify": "right", "style": "dim"})
    person = Column("person")
    anons_col = Column("anonymousIds", priority=3)
    devices = Column("devices", priority=4, options={"justify": "right"})
    events = Column("events", priority=2, options={"justify": "right"})
    first = Column("first seen", priority=6)
    last = Column("last seen", priority=5)
    traits = Column("traits", priority=1, wrap=True)
    for i, profile in enumerate(rows, 1):
        anons = Text("\n").join(_text(short_id(a)) for a in profile.get("anonymous_ids") or []) or _text(None)
        identified = bool(profile.get("identified", bool(profile.get("user_ids"))))
        users = [str(u) for u in profile.get("user_ids") or []]
        who = (Text("\n").join(_text(u, "bold") for u in users) if users
               else _text(person_label(profile), "bold" if identified else "italic"))
        number.cells.append(_text(i))
        person.cells.append(who)
        anons_col.cells.append(anons)
        devices.cells.append(_text(len(profile.get("devices") or [])))
        events.cells.append(_text(profile.get("event_count", len(profile.get("messages") or []))))
        first.cells.append(_text(clock(profile.get("first_seen"), with_date=True)))
        last.cells.append(_text(clock(profile.get("last_seen"), with_date=True)))
        traits.cells.append(_traits_text(profile.get("traits")))
    return fitted_table(f"Identity profiles ({len(rows)})",
                        [number, person, anons_col, devices, events, first, last, traits], width)


def _mtu_count(value: Any, month: str) -> int | None:
    if isinstance(value, Mapping):
        got = value.get(month)
        return int(got) if isinstance(got, int | float) else None
    return int(value) if isinstance(value, int | float) else None


def mtu_lines(mtu: Mapping[str, Any], without_identify: Any = None) -> Text:
    """``2025-11: MTU 1 (would be 2 without identify)``, one line per calendar month.

    A month is the UTC calendar month of each message's timestamp (not the browser's local month).
    """
    if not mtu:
        return Text("MTU 0 (no beacons yet)", style="dim")
    out = Text("Monthly Tracked Users (UTC calendar months of each message's timestamp)\n", style="dim")
    for i, month in enumerate(sorted(mtu)):
        if i:
            out.append("\n")
        out.append(f"{_printable(str(month))}: ")
        out.append(f"MTU {mtu[month]}", style="bold")
        other = _mtu_count(without_identify, month)
        if other is not None:
            out.append(f" (would be {other} without identify)", style="dim")
    return out


def _message_time(message: Record) -> str:
    """When the call was made (the device clock), as :mod:`harness.identity.profile` orders messages."""
    return str(message.get("originalTimestamp") or message.get("timestamp") or message.get("receivedAt") or "")


def timeline_table(profile: Record) -> Table:
    """A profile's messages in time order, one column per device lane (its anonymousId)."""
    messages = [m for m in profile.get("messages") or [] if isinstance(m, Mapping)]  # already in time order
    lanes: list[str] = []
    for anon in profile.get("anonymous_ids") or []:
        lanes.append(str(anon))
    for message in messages:
        anon = str(message.get("anonymousId") or "")
        if anon and anon not in lanes:
            lanes.append(anon)
    label = person_label(profile)
    table = _table(f"Timeline: {label}")
    table.add_column("time", no_wrap=True)
    for i, anon in enumerate(lanes, 1):
        table.add_column(Text(f"device {i} · {_printable(short_id(anon))}"), overflow="fold")
    if not lanes:
        table.add_column("(no anonymousId)", overflow="fold")
    for message in messages:
        kind = str(message.get("type") or "")
        cell = Text(kind, style=TYPE_STYLES.get(kind, ""))
        if what(message):
            cell.append(" " + _printable(what(message)))
        if message.get("userId"):
            style = "bold" if kind == "identify" else "dim"
            cell.append(f" · userId={_printable(str(message['userId']))}", style=style)
        anon = str(message.get("anonymousId") or "")
        cells: list[RenderableType] = [Text("") for _ in range(max(len(lanes), 1))]
        cells[lanes.index(anon) if anon in lanes else 0] = cell
        table.add_row(_text(clock(_message_time(message), with_date=True)), *cells)
    return table


def device_timeline(messages: Iterable[Record], title: str, width: int | None = None) -> Table:
    """One device's calls in the order they were made (device clock): what ``harness demo`` prints per device."""
    rows = sorted((m for m in messages if isinstance(m, Mapping)), key=_message_time)
    when = Column("time", priority=3)
    kind_col = Column("type")
    name_col = Column("event / name", wrap=True)
    user = Column("userId")
    anon = Column("anonymousId", priority=1)
    via = Column("via", priority=2, options={"style": "dim"})
    for message in rows:
        kind = str(message.get("type") or "")
        when.cells.append(_text(clock(_message_time(message), with_date=True)))
        kind_col.cells.append(_text(kind, TYPE_STYLES.get(kind, "")))
        name_col.cells.append(_text(what(message)))
        user.cells.append(_text(message.get("userId"), "bold"))
        anon.cells.append(_text(short_id(message.get("anonymousId"))))
        via.cells.append(_text(transport(message)))
    return fitted_table(title, [when, kind_col, name_col, user, anon, via], width)


# ---- lint -----------------------------------------------------------------------------------------
def sort_findings(findings: Iterable[Record]) -> list[Record]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(str(f.get("severity")), 9), str(f.get("rule"))))


def lint_table(findings: Iterable[Record], width: int | None = None) -> Table:
    """Findings, errors first: severity, rule and claim, what is wrong, the one-line fix."""
    rows = sort_findings(findings)
    inline_fix = width is not None and width < LINT_FIX_COLUMN_WIDTH  # narrow: the fix goes under the finding
    severity_col = Column("severity")
    rule = Column("rule")
    claim = Column("claim", priority=2)
    finding_col = Column("finding", wrap=True, min_wrap=36)
    fix = Column("fix", priority=3, wrap=True, options={"style": "green"})
    msgs = Column("msgs", priority=1, options={"justify": "right"})
    for finding in rows:
        severity = str(finding.get("severity") or "")
        severity_col.cells.append(_text(severity, SEVERITY_STYLES.get(severity, "")))
        rule.cells.append(_text(finding.get("rule")))
        claim.cells.append(_text(finding.get("claim")))
        message = _text(finding.get("message"))
        if inline_fix and finding.get("fix"):
            message.append("\nfix: ", style="bold green").append(_printable(str(finding["fix"])), style="green")
        finding_col.cells.append(message)
        fix.cells.append(_text(finding.get("fix"), "green"))
        msgs.cells.append(_text(len(finding.get("message_ids") or [])))
    columns = [severity_col, rule, claim, finding_col, *([] if inline_fix else [fix]), msgs]
    return fitted_table(f"Lint findings ({len(rows)})", columns, width, show_lines=True)


def lint_summary(findings: Iterable[Record]) -> Text:
    """``2 errors, 1 warning, 0 info`` or a clean bill of health."""
    rows = list(findings)
    counts = {s: sum(1 for f in rows if f.get("severity") == s) for s in SEVERITY_ORDER}
    if not rows:
        return Text("No findings: the beacons follow the sources' advice.", style="bold green")
    out = Text()
    for i, (severity, n) in enumerate(counts.items()):
        if i:
            out.append(", ")
        word = severity if n == 1 or severity == "info" else severity + "s"
        out.append(f"{n} {word}", style=SEVERITY_STYLES[severity] if n else "dim")
    return out


def lint_view(findings: Iterable[Record], width: int | None = None) -> RenderableType:
    rows = list(findings)
    return Group(lint_table(rows, width), lint_summary(rows)) if rows else lint_summary(rows)
