"""Golden payloads: captured messages compared, in order, with a JSON file in the user's project.

Fields that change on every run (ids, clocks, ports, the browser build) are replaced by
placeholders such as ``<timestamp>`` before comparing, but only after checking their type: a
masked ``timestamp`` must still be an ISO-8601 string, a masked ``messageId`` a non-empty
string. A value that fails its check is kept as it is, so the diff shows it against the
placeholder. Ids that tie messages together are numbered (``<anonymousId:1>``): two messages
of one visitor must keep sharing one id, and a second visitor shows up as ``<anonymousId:2>``.
Explicitly anonymized values stay literal (``context.ip`` "0.0.0.0", an empty referrer).
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.collecting.store import Record

PLACEHOLDER = re.compile(r"^<(?P<kind>[A-Za-z_][\w.]*)(?::\d+)?>$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")
MAX_DIFF_LINES = 60


def default_dir() -> Path:
    """``$HARNESS_SNAPSHOT_DIR``, else ``./__snapshots__``: never inside the installed package.

    The pytest plugin passes its own folder (beside the test file, or the ``harness_snapshot_dir``
    ini value); this default only serves :class:`harness.testing.capture.Beacons` used outside pytest.
    """
    if env := os.environ.get("HARNESS_SNAPSHOT_DIR"):
        return Path(env)
    return Path.cwd() / "__snapshots__"


# ---- masks ------------------------------------------------------------------------------------

def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _iso_timestamp(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ip(value: Any) -> bool:
    if not isinstance(value, str):  # ip_address() also takes ints: 167837955 is not a payload's IP string
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _anonymized_ip(value: Any) -> bool:
    """"" and "0.0.0.0" are what a page sends to anonymize (C19): part of the payload, not noise."""
    return value == "" or (_ip(value) and ipaddress.ip_address(value).is_unspecified)


def _url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


@dataclass(frozen=True)
class Mask:
    """How one volatile field is checked and replaced."""

    kind: str
    what: str  # what the check accepts, for diffs: "an ISO-8601 timestamp"
    check: Callable[[Any], bool]
    numbered: bool = False  # equal values get equal placeholders
    keep: Callable[[Any], bool] = lambda value: False  # values that are meaningful, kept literally
    url: bool = False  # replace only the scheme://host:port part


_TIMESTAMP = Mask("timestamp", "an ISO-8601 timestamp", _iso_timestamp)
_URL = Mask("host", "an absolute URL", _url, keep=lambda v: v == "", url=True)
MASKS: dict[str, Mask] = {
    "messageId": Mask("messageId", "a non-empty string", _nonempty_str),
    "timestamp": _TIMESTAMP,
    "sentAt": _TIMESTAMP,
    "originalTimestamp": _TIMESTAMP,
    "receivedAt": _TIMESTAMP,
    "anonymousId": Mask("anonymousId", "a non-empty string", _nonempty_str, numbered=True),
    "context.userAgent": Mask("userAgent", "a non-empty string", _nonempty_str),
    # client hints (analytics-next sends them): brands and versions change with every browser release
    "context.userAgentData": Mask("userAgentData", "an object", lambda v: isinstance(v, dict)),
    "context.ip": Mask("ip", "an IP address", _ip, keep=_anonymized_ip),
    "context.page.url": _URL,
    "context.page.referrer": _URL,
    "properties.url": _URL,
    "properties.referrer": _URL,
    # RudderStack v3: the tab's URL beside page.url, and the session id (its start, epoch ms)
    "context.page.tab_url": _URL,
    "properties.tab_url": _URL,
    "context.sessionId": Mask("sessionId", "a number", _number, numbered=True),
    "_meta.seq": Mask("seq", "a positive integer", _positive_int),
    "_meta.received_ms": Mask("received_ms", "a number", _number),
    "_meta.device": Mask("device", "a non-empty string", _nonempty_str, numbered=True, keep=lambda v: v is None),
}
KINDS: dict[str, str] = {m.kind: m.what for m in MASKS.values()}


def extra_mask(path: str) -> Mask:
    """A mask a test asks for (``mask=["properties.order_id"]``): any non-null value, numbered."""
    return Mask(path, "any non-null value", lambda v: v is not None, numbered=True)


def mask_messages(messages: Iterable[Record], extra: Iterable[str] = ()) -> list[Record]:
    """Deep copies of the messages with every volatile field checked and replaced."""
    masks = dict(MASKS)
    for path in extra:
        masks[path.replace("__", ".")] = extra_mask(path.replace("__", "."))
    numbers: dict[str, dict[str, int]] = {}
    out: list[Record] = []
    for message in messages:
        copy = json.loads(json.dumps(message))
        for path, mask in masks.items():
            _apply(copy, path.split("."), mask, numbers)
        out.append(copy)
    return out


def _apply(node: Any, parts: list[str], mask: Mask, numbers: dict[str, dict[str, int]]) -> None:
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return
        node = node.get(part)
    if not isinstance(node, dict) or parts[-1] not in node:
        return
    value = node[parts[-1]]
    if mask.keep(value) or not mask.check(value):
        return  # meaningful, or the wrong type: left for the diff to show
    if mask.url:
        parts_ = urlsplit(value)
        node[parts[-1]] = value.replace(f"{parts_.scheme}://{parts_.netloc}", f"{parts_.scheme}://<host>", 1)
        return
    if mask.numbered:
        seen = numbers.setdefault(mask.kind, {})
        number = seen.setdefault(json.dumps(value, sort_keys=True), len(seen) + 1)
        node[parts[-1]] = f"<{mask.kind}:{number}>"
        return
    node[parts[-1]] = f"<{mask.kind}>"


# ---- files ------------------------------------------------------------------------------------

def snapshot_path(name: str, directory: Path | None = None) -> Path:
    __tracebackhide__ = True
    if not NAME.match(name):
        raise ValueError(f"snapshot name {name!r} must be letters, digits, '_', '-', '.' (no slashes)")
    return (directory or default_dir()) / f"{name}.json"


def render(name: str, masked: list[Record], selection: str, extra: Iterable[str]) -> str:
    doc = {
        "snapshot": name,
        "selection": selection,
        "note": "Volatile fields are replaced by <placeholders> after a type check; numbered ones "
                "(<anonymousId:1>) must stay equal across messages. Rewrite with pytest --snapshot-update.",
        "extra_masks": sorted(extra),
        "messages": masked,
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load(path: Path) -> tuple[list[Record], list[str]]:
    """The golden messages and the extra masks they were recorded with."""
    __tracebackhide__ = True
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssertionError(f"snapshot {path} cannot be read: {exc}; fix or delete it and run "
                             "pytest --snapshot-update") from None
    messages = doc.get("messages") if isinstance(doc, dict) else doc
    if not isinstance(messages, list):
        raise AssertionError(f"snapshot {path} has no 'messages' list; re-record it with pytest --snapshot-update")
    extra = doc.get("extra_masks") if isinstance(doc, dict) else None
    return messages, [str(p) for p in extra] if isinstance(extra, list) else []


# ---- diffs ------------------------------------------------------------------------------------

def _signature(message: Any) -> str:
    if not isinstance(message, dict):
        return repr(message)
    what = message.get("event") or message.get("name") or ""
    return f"{message.get('type')} {what!r}" if what else str(message.get("type"))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key in value:
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _show(value: Any, kinds: dict[str, str]) -> str:
    if isinstance(value, str) and (m := PLACEHOLDER.match(value)) and m["kind"] in kinds:
        return f"{value} ({kinds[m['kind']]})"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 100 else text[:99] + "…"


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def field_diff(expected: Any, actual: Any, kinds: dict[str, str] | None = None) -> list[str]:
    """``path: expected X, got Y`` per differing leaf; missing and unexpected fields named as such."""
    kinds = kinds or KINDS
    want, got = _flatten(expected), _flatten(actual)
    lines: list[str] = []
    for path in list(want) + [p for p in got if p not in want]:
        if path in want and path in got:
            if not _same(want[path], got[path]):
                lines.append(f"{path}: expected {_show(want[path], kinds)}, got {_show(got[path], kinds)}")
        elif path in want:
            lines.append(f"{path}: missing (expected {_show(want[path], kinds)})")
        else:
            lines.append(f"{path}: unexpected {_show(got[path], kinds)}")
    return lines


def diff(expected: list[Record], actual: list[Record], kinds: dict[str, str] | None = None) -> list[str]:
    """Messages aligned by type/event (an extra page view does not shift every later message)."""
    matcher = difflib.SequenceMatcher(a=[_signature(m) for m in expected], b=[_signature(m) for m in actual],
                                      autojunk=False)
    lines: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        pairs = list(zip(range(i1, i2), range(j1, j2), strict=False)) if op in ("equal", "replace") else []
        for i, j in pairs:
            found = field_diff(expected[i], actual[j], kinds)
            if found:
                lines.append(f"message {j + 1} ({_signature(actual[j])}), snapshot message {i + 1}:")
                lines.extend(f"    {line}" for line in found)
        for i in range(i1 + len(pairs), i2):
            lines.append(f"snapshot message {i + 1} ({_signature(expected[i])}): missing, nothing captured for it")
        for j in range(j1 + len(pairs), j2):
            lines.append(f"message {j + 1} ({_signature(actual[j])}): unexpected, not in the snapshot")
    return lines


class SnapshotCollision(AssertionError):
    """``--snapshot-update``: a second test of the run would overwrite a file another test wrote."""


def claim(path: Path, test_id: str, claims: Path) -> None:
    """Mark ``path`` as written by ``test_id`` in this run (``claims`` is a folder every xdist worker shares).

    The first test to write a file owns it for the run; another test writing it raises SnapshotCollision,
    naming both, before anything is written -- without the check the last writer silently wins.
    """
    __tracebackhide__ = True
    claims.mkdir(parents=True, exist_ok=True)
    marker = claims / hashlib.sha256(str(path.resolve()).encode()).hexdigest()
    # the marker appears whole or not at all (a hard link of a written file): a worker never reads it half-made
    draft = claims / f"{marker.name}.{os.getpid()}.{threading.get_ident()}"
    draft.write_text(test_id, encoding="utf-8")
    try:
        os.link(draft, marker)
    except FileExistsError:
        owner = marker.read_text(encoding="utf-8")
        if owner != test_id:
            raise SnapshotCollision(
                f"--snapshot-update: {test_id} and {owner} both write {path}; nothing was written for {test_id}: "
                "give one of them another snapshot name") from None
    finally:
        draft.unlink(missing_ok=True)


def check(name: str, messages: list[Record], *, directory: Path | None = None, update: bool = False,
          extra: Iterable[str] = (), selection: str = "all messages", test_name: str = "",
          rerun: str = "", test_id: str = "", claims: Path | None = None) -> Path:
    """Compare with (or, with ``update``, rewrite) the golden file; AssertionError with a diff on a mismatch.

    ``rerun`` is the command that re-records this test (the plugin names the test and every option that
    chose the library); without it, ``pytest --snapshot-update -k <test_name>``. With ``claims`` (a folder
    shared by the run), an update refuses to overwrite a file another test of the run wrote.
    """
    __tracebackhide__ = True
    path = snapshot_path(name, directory)
    extra = list(extra)
    masked = mask_messages(messages, extra)
    rerun = rerun or f"pytest --snapshot-update{f' -k {test_name}' if test_name else ''}"
    if update:
        if claims is not None:
            claim(path, test_id or test_name or name, claims)
        text = render(name, masked, selection, extra)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return path
    if not path.exists():
        raise AssertionError(
            f"no snapshot {path} yet. Record the {len(messages)} captured message(s) with `{rerun}`, "
            "review the file, and commit it.")
    golden, recorded_masks = load(path)
    kinds = {**KINDS, **{m.replace("__", "."): extra_mask(m).what for m in [*extra, *recorded_masks]}}
    problems = diff(golden, masked, kinds)
    if sorted(recorded_masks) != sorted(extra):
        problems.append(f"(the snapshot was recorded with mask={sorted(recorded_masks)}, this call masks "
                        f"{sorted(extra)})")
    if problems:
        shown = problems[:MAX_DIFF_LINES]
        more = f"\n  ... {len(problems) - MAX_DIFF_LINES} more line(s)" if len(problems) > MAX_DIFF_LINES else ""
        raise AssertionError(
            f"snapshot {name!r} ({path}) differs from the {len(masked)} captured message(s) "
            f"(snapshot has {len(golden)}):\n  " + "\n  ".join(shown) + more
            + f"\nIf the new payloads are right, accept them with `{rerun}` and review the file's diff.")
    return path
