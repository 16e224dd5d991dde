"""Rich renderings of beacons, profiles and lint findings, shared by the CLI and ``harness demo``.

Every function takes the plain dicts the inspection API returns (a stored beacon record,
``Profile.to_dict()``, ``Finding.to_dict()``), so the same view works for data read over HTTP
and for data computed from a SQLite file. Payload text is always wrapped in :class:`rich.text.Text`,
never parsed as console markup: a beacon cannot restyle or spoof the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from rich import box
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


def seq(record: Record) -> Any:
    meta = record.get("_meta")
    return meta.get("seq", "") if isinstance(meta, Mapping) else ""


# ---- beacons --------------------------------------------------------------------------------
def beacons_table(records: Iterable[Record], total: int | None = None, title: str = "Beacons") -> Table:
    """Arrival-ordered table: seq, time received, type, event/name, userId, anonymousId, transport."""
    rows = list(records)
    shown = f"{len(rows)}" if total is None or total == len(rows) else f"last {len(rows)} of {total}"
    table = _table(f"{title} ({shown})")
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("received", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("event / name", overflow="fold", ratio=3)
    table.add_column("userId", overflow="fold", ratio=2)
    table.add_column("anonymousId", no_wrap=True)
    table.add_column("via", style="dim", overflow="fold")
    for record in rows:
        kind = str(record.get("type") or "")
        table.add_row(
            _text(seq(record)),
            _text(clock(record.get("receivedAt"))),
            _text(kind, TYPE_STYLES.get(kind, "")),
            _text(what(record)),
            _text(record.get("userId"), "bold"),
            _text(short_id(record.get("anonymousId"))),
            _text(transport(record)),
        )
    return table


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
        if not last and len(value) > width:
            value = value[: width - 1] + "…"
        line.append(value if last else value.ljust(width), style=style)
        if not last:
            line.append(" ")
    return line


def bad_table(entries: Iterable[Record], total: int | None = None) -> Table:
    """Rejected submissions with the collector's reason (never silently dropped)."""
    rows = list(entries)
    shown = f"{len(rows)}" if total is None or total == len(rows) else f"last {len(rows)} of {total}"
    table = _table(f"Rejected submissions ({shown})")
    table.add_column("id", justify="right", style="dim", no_wrap=True)
    table.add_column("received", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("path", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=3, style="red")
    table.add_column("body", overflow="fold", ratio=2, style="dim")
    for entry in rows:
        raw = str(entry.get("raw") or "")
        table.add_row(
            _text(entry.get("id")),
            _text(clock(entry.get("receivedAt"), with_date=True)),
            _text(entry.get("status")),
            _text(entry.get("path")),
            _text(entry.get("reason")),
            _text(raw if len(raw) <= 120 else raw[:117] + "..."),
        )
    return table


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


def profiles_table(profiles: Iterable[Record]) -> Table:
    """One row per identity profile: who, which anonymousIds/devices, how much, when, traits."""
    rows = list(profiles)
    table = _table(f"Identity profiles ({len(rows)})")
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("person", overflow="fold", ratio=2)
    table.add_column("anonymousIds", no_wrap=True)
    table.add_column("devices", justify="right", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    table.add_column("first seen", no_wrap=True)
    table.add_column("last seen", no_wrap=True)
    table.add_column("traits", overflow="fold", ratio=3)
    for i, profile in enumerate(rows, 1):
        anons = Text("\n").join(_text(short_id(a)) for a in profile.get("anonymous_ids") or []) or _text(None)
        identified = bool(profile.get("identified", bool(profile.get("user_ids"))))
        table.add_row(
            _text(i),
            _text(person_label(profile), "bold" if identified else "italic"),
            anons,
            _text(len(profile.get("devices") or [])),
            _text(profile.get("event_count", len(profile.get("messages") or []))),
            _text(clock(profile.get("first_seen"), with_date=True)),
            _text(clock(profile.get("last_seen"), with_date=True)),
            _traits_text(profile.get("traits")),
        )
    return table


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
    """When the call was made (the device clock), as :mod:`harness.profile` orders messages."""
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


def device_timeline(messages: Iterable[Record], title: str) -> Table:
    """One device's calls in the order they were made (device clock): what ``harness demo`` prints per device."""
    rows = sorted((m for m in messages if isinstance(m, Mapping)), key=_message_time)
    table = _table(title)
    table.add_column("time", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("event / name", overflow="fold", ratio=3)
    table.add_column("userId", overflow="fold", ratio=2)
    table.add_column("anonymousId", no_wrap=True)
    table.add_column("via", style="dim", no_wrap=True)
    for message in rows:
        kind = str(message.get("type") or "")
        table.add_row(
            _text(clock(_message_time(message), with_date=True)),
            _text(kind, TYPE_STYLES.get(kind, "")),
            _text(what(message)),
            _text(message.get("userId"), "bold"),
            _text(short_id(message.get("anonymousId"))),
            _text(transport(message)),
        )
    return table


# ---- lint -----------------------------------------------------------------------------------------
def sort_findings(findings: Iterable[Record]) -> list[Record]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(str(f.get("severity")), 9), str(f.get("rule"))))


def lint_table(findings: Iterable[Record]) -> Table:
    """Findings, errors first: severity, rule and claim, what is wrong, the one-line fix."""
    rows = sort_findings(findings)
    table = _table(f"Lint findings ({len(rows)})", show_lines=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", overflow="fold", ratio=1)
    table.add_column("claim", no_wrap=True)
    table.add_column("finding", overflow="fold", ratio=3)
    table.add_column("fix", overflow="fold", ratio=2, style="green")
    table.add_column("msgs", justify="right", no_wrap=True)
    for finding in rows:
        severity = str(finding.get("severity") or "")
        table.add_row(
            _text(severity, SEVERITY_STYLES.get(severity, "")),
            _text(finding.get("rule")),
            _text(finding.get("claim")),
            _text(finding.get("message")),
            _text(finding.get("fix"), "green"),
            _text(len(finding.get("message_ids") or [])),
        )
    return table


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


def lint_view(findings: Iterable[Record]) -> RenderableType:
    rows = list(findings)
    return Group(lint_table(rows), lint_summary(rows)) if rows else lint_summary(rows)
