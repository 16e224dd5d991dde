"""The seeds' identity best practices as checks over captured beacons.

Each rule is a small function ``(beacons) -> list[Finding]`` that quotes, in its docstring, the
seed sentence it enforces. :data:`RULES` lists them; :func:`lint` runs them all (plus the
tracking-plan rule when a plan is given). Findings name what was seen, the offending
messages and a one-line fix. Pure functions over stored beacon records, no I/O.

Devices come from ``_meta.device``: a first-party cookie the harness server sets on every
browser, independent of the tracking library, so lint can see one browser switch ids.
Server-library messages belong to no device.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from harness.identity.profile import (
    Beacon,
    anonymous_id,
    arrival_order,
    device_of,
    id_value,
    is_server,
    page_host,
    page_path,
    ref,
    time_order,
    unique,
    user_id,
)

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}
SIGNED_UP = "Signed Up"
SIGNUP_PATHS = ("/signup", "/welcome")  # the sample site's sign-up page and the seeds' welcome page


@dataclass
class Finding:
    """One broken best practice: what was seen, which messages, how to fix it."""

    rule: str
    severity: Severity
    claim: str  # the claims-table row (e.g. "C24"); "" for rules that are not from the seeds
    message: str
    fix: str
    message_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "claim": self.claim, "message": self.message,
                "fix": self.fix, "message_ids": list(self.message_ids)}


@dataclass
class Violation:
    """One message breaking the tracking plan: which event, which field, which rule."""

    message_id: str
    event: str  # the track event name, or "identify"
    field: str  # "event", "properties.plan", "traits.email", ...
    rule: str  # "unplanned-event", "required-trait", or the JSON Schema keyword ("type", "required", ...)
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"messageId": self.message_id, "event": self.event, "field": self.field, "rule": self.rule,
                "message": self.message}


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error: ``harness lint`` then exits 1."""
    return any(f.severity == "error" for f in findings)


# --- shared readings -----------------------------------------------------------------------

def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(device: str) -> str:
    return device if len(device) <= 12 else device[:8] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _timelines(beacons: list[Beacon], fallback_to_anonymous_id: bool = False) -> dict[str, list[Beacon]]:
    """Browser messages per device, in time order. Keys read "device 1a2b…" or "anonymousId X"."""
    lanes: dict[str, list[Beacon]] = defaultdict(list)
    for message in time_order(beacons):
        if is_server(message):
            continue
        device = device_of(message)
        if device is not None:
            lanes[f"device {_short(device)}"].append(message)
        elif fallback_to_anonymous_id and (aid := anonymous_id(message)) is not None:
            lanes[f"anonymousId {aid}"].append(message)
    return lanes


def _is_signup_path(path: str | None) -> bool:
    if not path:
        return False
    path = path.rstrip("/") or "/"
    return any(path == p or path.startswith(p + "/") for p in SIGNUP_PATHS)


def _norm_event(name: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower()) if isinstance(name, str) else ""


def _is_signed_up(message: Beacon) -> bool:
    """A "Signed Up" track (also "signed_up", "signed up": spelling varies between sites)."""
    return message.get("type") == "track" and _norm_event(message.get("event")) == _norm_event(SIGNED_UP)


def _properties(message: Beacon) -> dict[str, Any]:
    value = message.get("properties")
    return value if isinstance(value, dict) else {}


def _signup_user(message: Beacon) -> str | None:
    """Whose sign-up a "Signed Up" track reports: its userId, else a userId property (the seeds' example)."""
    return user_id(message) or id_value(_properties(message).get("userId"))


# --- 1. userId best practice (C24) ---------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# A handle: starts with a letter, letters with single separators (._- or space), 3-32 characters,
# then at most 4 trailing digits, maybe after one separator ("peter92", "jdoe_1987").
_HANDLE = re.compile(r"^(?P<word>[A-Za-z](?:[A-Za-z]|[._ -](?=[A-Za-z])){2,31})(?P<digits>[._-]?\d{1,4})?$")
# Generic prefixes that make "prefix + number" a database-style id, not a handle ("user_123", "customer42").
_ID_PREFIXES = frozenset({"user", "usr", "uid", "id", "customer", "cust", "client", "account", "acct", "member",
                          "profile", "person", "visitor", "contact", "u", "c"})
_PLACEHOLDERS = frozenset({"undefined", "null", "none", "nil", "nan", "[object object]", "anonymous", "unknown",
                           "guest", "0", "-1", "true", "false"})


def _case_changes(word: str) -> int:
    return sum(1 for a, b in zip(word, word[1:], strict=False) if a.islower() and b.isupper())


def classify_user_id(uid: str) -> str | None:
    """Why a userId is a poor one: "placeholder", "email", "username", "name"; None when it looks static.

    Heuristic, documented because it is one:
    - email: ``local@domain`` (one @, no spaces);
    - placeholder: a value a bug sends ("undefined", "null", "[object Object]", "0", "guest", ...);
    - username / name: a letters-only handle of 3-32 characters with single ``._-`` or space
      separators (a space makes it a person's name), optionally ending in at most 4 digits.
      Not flagged: anything starting with a digit or with digits inside (hex/ObjectId
      "97980cfea0067", "507f191e810c19729de860ea", UUIDs, "12091906-01011992", "ABC-123-XYZ");
      a generic id prefix plus a number ("user_123", "customer42" — the seeds use "user_123");
      opaque mixed case with more than two lower-to-upper switches ("NffrFeUfNVHib");
      hex-looking letters a-f of 8+ characters ("deadbeef01").
    """
    text = uid.strip()
    if text.lower() in _PLACEHOLDERS:
        return "placeholder"
    if _EMAIL.match(text):
        return "email"
    match = _HANDLE.match(text)
    if match is None:
        return None
    word, digits = match["word"], match["digits"]
    letters = re.sub(r"[._ -]", "", word).lower()
    if digits and letters in _ID_PREFIXES:
        return None
    if _case_changes(word) > 2:
        return None
    if len(text) >= 8 and set(letters) <= set("abcdef"):
        return None
    return "name" if " " in word else "username"


_USERID_WORDS = {"email": "an email address", "username": "a username", "name": "a person's name"}


def check_user_ids(beacons: list[Beacon]) -> list[Finding]:
    """userId that is an email address, a username or a placeholder (C24, error).

    Seed 000: "Intilery does not recommend using simple email addresses or usernames as a User ID,
    as these can change over time" and "A User ID should be a robust, static, unique identifier".
    """
    seen: dict[str, list[str]] = defaultdict(list)
    for message in time_order(beacons):
        if (uid := user_id(message)) is not None:
            seen[uid].append(ref(message))
    findings: list[Finding] = []
    for uid, refs in seen.items():
        kind = classify_user_id(uid)
        if kind is None:
            continue
        count = _plural(len(refs), "message")
        if kind == "placeholder":
            findings.append(Finding(
                "userid-placeholder", "error", "C24",
                f"userId {uid!r} is a placeholder, not a user's id ({count})",
                "Identify only once the real static user id is known; never pass null/undefined as userId",
                refs))
        else:
            findings.append(Finding(
                "userid-email-or-username", "error", "C24",
                f"userId {uid!r} looks like {_USERID_WORDS[kind]}, which can change ({count})",
                "Use a static database id or UUID as userId (like 97980cfea0067); send email/username as traits",
                refs))
    return findings


# --- 2. identify with a different user (C14) -----------------------------------------------

def check_user_changed(beacons: list[Beacon]) -> list[Finding]:
    """A device's userId changes with no reset in between (C14, warning).

    Seed 000: "If you call analytics.identify() with a userId that is different from the currently
    cached userId, this can overwrite the existing one and cause attribution problems."
    Seed 004: the anonymousId changes when "Your site or app calls analytics.identify() with a
    userId that is different from the current userId".

    A reset is visible as a message with no userId and a new anonymousId; after one, the next
    userId starts fresh. Two rule ids: ``userid-changed-on-device`` when the anonymousId stayed
    (both people's activity merges into one profile) and ``anonymousid-changed-by-identify`` when
    it changed with the user (the device's history splits). Without ``_meta.device`` the
    anonymousId is the device, so only the first kind is visible.
    """
    findings: list[Finding] = []
    for lane, timeline in _timelines(beacons, fallback_to_anonymous_id=True).items():
        current: Beacon | None = None  # the last message carrying the device's current userId
        last_anon: str | None = None
        for message in timeline:
            uid, aid = user_id(message), anonymous_id(message)
            if uid is None:
                if aid is not None and last_anon is not None and aid != last_anon:
                    current = None  # reset (or storage cleared): the next user is a new start
                last_anon = aid or last_anon
                continue
            before = user_id(current) if current is not None else None
            if current is not None and before is not None and uid != before:
                old_anon = anonymous_id(current)
                refs = [ref(current), ref(message)]
                what = "identify" if message.get("type") == "identify" else str(message.get("type"))
                if aid == old_anon:
                    findings.append(Finding(
                        "userid-changed-on-device", "warning", "C14",
                        f"{lane}: userId changed {before!r} -> {uid!r} under the same anonymousId {aid} "
                        f"with no reset ({what}); both people's activity merges into one profile",
                        "Call analytics.reset() on logout so the next user gets a new anonymousId",
                        refs))
                else:
                    findings.append(Finding(
                        "anonymousid-changed-by-identify", "warning", "C14",
                        f"{lane}: {what} with userId {uid!r} replaced cached userId {before!r} with no reset; "
                        f"anonymousId {old_anon} -> {aid}, so this device's history splits",
                        "Call analytics.reset() on logout; never identify a different user over a cached one",
                        refs))
            current = message
            last_anon = aid or last_anon
    return findings


# --- 3. two anonymousIds on one device (C13) -----------------------------------------------

def _server_minted(beacons: list[Beacon]) -> dict[str, Beacon]:
    """anonymousIds whose first arrival was a server-library message -> that message."""
    first: dict[str, Beacon] = {}
    for message in arrival_order(beacons):
        aid = anonymous_id(message)
        if aid is not None and aid not in first:
            first[aid] = message
    return {aid: message for aid, message in first.items() if is_server(message)}


def check_two_anonymous_ids(beacons: list[Beacon]) -> list[Finding]:
    """One device's anonymousId changes while the person stays anonymous (C13, warning).

    Seed 000: "If you invoke any call before you set an anonymousId, Intilery automatically sets
    the anonymousId first. This means if you explicitly set an anonymousId, you might give the
    user two anonymousIds". Not flagged: a change after a userId (logout + reset), a change that
    comes with a userId (identify, C14), and a server-minted id (C15 reports it). A reset() while
    anonymous looks the same and is flagged too. A host-only id cookie on subdomains shows up
    here with two page hosts, and the message says so.
    """
    minted = _server_minted(beacons)
    findings: list[Finding] = []
    for lane, timeline in _timelines(beacons).items():
        previous: Beacon | None = None
        reported: set[frozenset[str]] = set()
        for message in timeline:
            aid = anonymous_id(message)
            if aid is None:
                continue
            old = anonymous_id(previous) if previous is not None else None
            if (previous is not None and old is not None and aid != old and user_id(previous) is None
                    and user_id(message) is None and aid not in minted and frozenset((old, aid)) not in reported):
                reported.add(frozenset((old, aid)))
                hosts = (page_host(previous), page_host(message))
                if hosts[0] and hosts[1] and hosts[0] != hosts[1]:
                    why = f"moving {hosts[0]} -> {hosts[1]} (host-only id cookie?)"
                    fix = "Set the id cookie on the parent domain so every subdomain shares one anonymousId"
                else:
                    why = "a call was made before setAnonymousId"
                    fix = "Set the anonymousId (setAnonymousId / options.anonymousId) before the first call"
                findings.append(Finding(
                    "two-anonymous-ids-one-device", "warning", "C13",
                    f"{lane}: anonymous user got a second anonymousId, earlier {old} then later {aid}; {why}",
                    fix, [ref(previous), ref(message)]))
            previous = message
    return findings


# --- 4. server-minted anonymousId overwrote the browser's (C15) ----------------------------

def check_server_anonymous_id(beacons: list[Beacon]) -> list[Finding]:
    """An anonymousId first seen from the server library replaces a browser's own (C15, error).

    Seed 000: "If you generate a new anonymousId on a server library, and passing it from the
    server to the browser, this could overwrite the user's existing anonymousId."
    Silent when the browser had no anonymousId before (nothing overwritten) and for the
    server-side sign-up, which reuses the browser's id (first seen from the browser).
    """
    minted = _server_minted(beacons)
    findings: list[Finding] = []
    for lane, timeline in _timelines(beacons).items():
        earlier: Beacon | None = None  # the last message on this device with an id of its own
        reported: set[str] = set()
        for message in timeline:
            aid = anonymous_id(message)
            if aid is None:
                continue
            if aid in minted and aid not in reported and earlier is not None:
                reported.add(aid)
                server = minted[aid]
                what = server.get("event") or server.get("type")
                findings.append(Finding(
                    "server-anonymous-id-overwrote-browser", "error", "C15",
                    f"{lane}: anonymousId {anonymous_id(earlier)} was overwritten by {aid}, which the server "
                    f"library minted (first seen on server {what!r})",
                    "Never hand server-made anonymousIds to the browser; server calls should reuse the browser's id",
                    [ref(server), ref(earlier), ref(message)]))
            if aid not in minted:
                earlier = message
    return findings


# --- 5. missing sign-ups (C23) -------------------------------------------------------------

def check_signups(beacons: list[Beacon]) -> list[Finding]:
    """Sign-up calls that did not all arrive (C23, error).

    Seed 000: "When a user signs up ... the .identify(UID) and .track("Signed Up") events fire"
    and "Missing sign-ups ... This is usually caused by the page redirecting or reloading before
    the tracking calls get a chance to run." The rule, per userId:
    - ``signup-track-without-identify``: a "Signed Up" track (userId from the message, else a
      ``userId`` property) with no identify for that userId anywhere, or with no userId at all;
    - ``signup-identify-without-track``: an identify made on a sign-up page (``context.page.path``
      under /signup or /welcome) with no "Signed Up" track for that userId. Identify on other
      pages (login, profile change — scenario #3's phone) is not a sign-up and is not checked;
    - ``signup-calls-lost``: on one device, a userId first appears right after a sign-up page,
      yet neither its identify nor its "Signed Up" track arrived (the library saved the userId,
      then the redirect killed both calls).
    """
    ordered = time_order(beacons)
    identified = {uid for m in ordered if m.get("type") == "identify" and (uid := user_id(m)) is not None}
    signed_up: dict[str | None, list[str]] = defaultdict(list)
    for message in ordered:
        if _is_signed_up(message):
            signed_up[_signup_user(message)].append(ref(message))
    findings: list[Finding] = []
    for uid, refs in signed_up.items():
        if uid is None:
            findings.append(Finding(
                "signup-track-without-identify", "error", "C23",
                f'"{SIGNED_UP}" track with no userId ({_plural(len(refs), "message")}): identify never ran first',
                f'Call identify(userId, traits) before track("{SIGNED_UP}"), on the welcome page', refs))
        elif uid not in identified:
            findings.append(Finding(
                "signup-track-without-identify", "error", "C23",
                f'"{SIGNED_UP}" arrived for userId {uid!r} but no identify for it did',
                f'Make identify and "{SIGNED_UP}" together from the welcome page after the redirect', refs))
    lonely: dict[str, list[str]] = defaultdict(list)
    for message in ordered:
        uid = user_id(message)
        if (message.get("type") == "identify" and uid is not None and uid not in signed_up
                and _is_signup_path(page_path(message))):
            lonely[uid].append(ref(message))
    for uid, refs in lonely.items():
        findings.append(Finding(
            "signup-identify-without-track", "error", "C23",
            f'identify for {uid!r} on the sign-up page arrived but its "{SIGNED_UP}" track did not',
            f'Make identify and "{SIGNED_UP}" from the welcome page, or deliver with sendBeacon/keepalive', refs))
    known = identified | {u for u in signed_up if u is not None}
    for lane, timeline in _timelines(beacons).items():
        users_here: set[str] = set()
        for index, message in enumerate(timeline):
            uid = user_id(message)
            if uid is None or uid in users_here:
                continue
            users_here.add(uid)
            before = timeline[index - 1] if index else None
            if uid not in known and before is not None and _is_signup_path(page_path(before)):
                findings.append(Finding(
                    "signup-calls-lost", "error", "C23",
                    f"{lane}: userId {uid!r} appears on {page_path(message) or message.get('type')} right after "
                    f'sign-up page {page_path(before)}, but neither its identify nor "{SIGNED_UP}" arrived',
                    "Make the sign-up calls from the welcome page after the redirect, not just before navigating",
                    [ref(before), ref(message)]))
    return findings


# --- 6. traits sent as event properties ----------------------------------------------------

_USERID_KEYS = frozenset({"userid", "user_id"})
_TRAIT_KEYS = frozenset({"email", "name", "firstname", "first_name", "lastname", "last_name", "phone", "username",
                         "plan", "address", "birthday", "gender", "avatar", "company", "age"})


def check_traits_as_properties(beacons: list[Beacon]) -> list[Finding]:
    """A track/page/screen whose properties carry a userId and identity traits (warning, C18).

    Seed 000 shows ``track("Signed Up", {userId, name, email, plan})`` with every field an "event
    property", and advises "you should still send them in the analytics payload as traits".
    Seed 004: pass traits in ``context.traits`` when an event needs them. Silent on
    ``track("Signed Up", {plan})`` (no userId property) and on identify traits.
    """
    grouped: dict[tuple[str, str], tuple[set[str], list[str]]] = {}
    for message in time_order(beacons):
        if message.get("type") not in ("track", "page", "screen"):
            continue
        keys = {k for k in _properties(message) if isinstance(k, str)}
        lowered = {k.lower(): k for k in keys}
        if not (_USERID_KEYS & set(lowered)):
            continue
        traits = {lowered[k] for k in lowered if k in _TRAIT_KEYS}
        if not traits:
            continue
        label = (str(message.get("type")), str(message.get("event") or message.get("name") or ""))
        found_keys, refs = grouped.setdefault(label, (set(), []))
        found_keys.update(traits | {lowered[k] for k in lowered if k in _USERID_KEYS})
        refs.append(ref(message))
    return [
        Finding(
            "traits-as-properties", "warning", "C18",
            f'{kind} "{name}" sends identity as event properties ({", ".join(sorted(keys))}; '
            f'{_plural(len(refs), "message")})',
            "Send name/email/plan as identify() traits (or options.context.traits); the library adds userId",
            refs)
        for (kind, name), (keys, refs) in grouped.items()
    ]


# --- 7. messages with neither id -----------------------------------------------------------

def check_missing_ids(beacons: list[Beacon]) -> list[Finding]:
    """A message with neither userId nor anonymousId (error; C1 for browsers, C16 for servers).

    Seed 000: "The Intilery libraries generate an anonymousId for each user, even before you
    Identify them" and "If you use Intilery's Server libraries, you must generate an anonymousId
    manually." The collector refuses these; the check catches stores filled some other way.
    """
    by_source: dict[bool, list[str]] = defaultdict(list)
    for message in unique(beacons):
        if user_id(message) is None and anonymous_id(message) is None:
            by_source[is_server(message)].append(ref(message))
    findings: list[Finding] = []
    if refs := by_source.get(False):
        findings.append(Finding(
            "missing-ids", "error", "C1",
            f"{_plural(len(refs), 'message')} from the browser carry neither userId nor anonymousId",
            "Let the library generate the anonymousId before any call; never send null ids", refs))
    if refs := by_source.get(True):
        findings.append(Finding(
            "missing-ids", "error", "C16",
            f"{_plural(len(refs), 'server-library message')} carry neither userId nor anonymousId",
            "Server calls need a userId or a manual anonymousId (the browser's anonymousId or a session id)", refs))
    return findings


# --- 8. tracking plan ----------------------------------------------------------------------

def _validator(schema: Any, where: str) -> Any:
    """A jsonschema validator for one plan schema; a bad schema is the plan's fault: ValueError (PlanError)."""
    from harness.identity.plan import check_schema

    return check_schema(schema, f"tracking plan: {where}")(schema)


def _schema_violations(validator: Any, instance: Any, root: str, message_id: str, event: str) -> list[Violation]:
    found: list[Violation] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        if error.validator == "required" and (missing := re.match(r"^'(.*)' is a required property$", error.message)):
            path += f".{missing[1]}"
        found.append(Violation(message_id, event, path, str(error.validator), _one_line(error.message, 200)))
    return found


def violations(beacons: list[Beacon], plan: dict[str, Any]) -> list[Violation]:
    """Messages that break the tracking plan, in time order.

    Plan: ``{"events": {"Signed Up": {"properties": <JSON Schema>}}, "identify":
    {"required_traits": ["email"], "traits": <optional JSON Schema>}, "allow_unplanned": false}``.
    Checks track events against ``events`` (unknown events unless ``allow_unplanned``) and their
    properties against the event's schema; identify traits against ``required_traits`` (absent or
    null is missing) and the optional traits schema. Raises ValueError for a malformed plan.
    """
    if not isinstance(plan, dict):
        raise ValueError(f"tracking plan must be an object, got {type(plan).__name__}")
    events = plan.get("events") or {}
    if not isinstance(events, dict):
        raise ValueError("tracking plan: 'events' must map event names to {'properties': <JSON Schema>}")
    identify = plan.get("identify") or {}
    if not isinstance(identify, dict):
        raise ValueError("tracking plan: 'identify' must be an object")
    required = identify.get("required_traits") or []
    if not isinstance(required, list) or not all(isinstance(t, str) for t in required):
        raise ValueError("tracking plan: 'identify.required_traits' must be a list of trait names")
    allow_unplanned = bool(plan.get("allow_unplanned", False))
    validators: dict[str, Any] = {}
    for name, spec in events.items():
        if spec is not None and not isinstance(spec, dict):
            raise ValueError(f"tracking plan: event {name!r} must be an object like {{'properties': {{...}}}}")
        if spec and spec.get("properties") is not None:
            validators[name] = _validator(spec["properties"], f"event {name!r} properties")
    traits_validator = _validator(identify["traits"], "identify traits") if identify.get("traits") else None

    found: list[Violation] = []
    for message in time_order(beacons):
        mid = ref(message)
        if message.get("type") == "track":
            event = str(message.get("event"))
            if event not in events:
                if not allow_unplanned:
                    found.append(Violation(mid, event, "event", "unplanned-event",
                                           f'event "{event}" is not in the tracking plan'))
                continue
            if event in validators:
                found.extend(_schema_violations(validators[event], message.get("properties") or {},
                                                "properties", mid, event))
        elif message.get("type") == "identify":
            traits = message.get("traits") if isinstance(message.get("traits"), dict) else {}
            for trait in required:
                if traits.get(trait) is None:
                    found.append(Violation(mid, "identify", f"traits.{trait}", "required-trait",
                                           f"identify for {user_id(message)!r} lacks required trait {trait!r}"))
            if traits_validator is not None:
                found.extend(_schema_violations(traits_validator, traits, "traits", mid, "identify"))
    return found


_PLAN_FIXES = {
    "unplanned-event": "Add the event to the tracking plan, or rename the call to a planned event",
    "required-trait": "Send the required trait in every identify call",
}


def check_tracking_plan(beacons: list[Beacon], plan: dict[str, Any]) -> list[Finding]:
    """Tracking-plan violations grouped by (event, field, rule) (error; not a seed claim, issue 10)."""
    grouped: dict[tuple[str, str, str], list[Violation]] = defaultdict(list)
    for violation in violations(beacons, plan):
        grouped[(violation.event, violation.field, violation.rule)].append(violation)
    findings: list[Finding] = []
    for (event, where, rule), found in grouped.items():
        fix = _PLAN_FIXES.get(rule, f'Send properties that match the plan\'s JSON Schema for "{event}"')
        findings.append(Finding(
            "tracking-plan", "error", "",
            _one_line(f'"{event}" {where} [{rule}]: {found[0].message} ({_plural(len(found), "message")})'),
            fix, [v.message_id for v in found]))
    return findings


# --- running them all ----------------------------------------------------------------------

Rule = Callable[[list[Beacon]], list[Finding]]
RULES: list[Rule] = [
    check_user_ids,
    check_user_changed,
    check_two_anonymous_ids,
    check_server_anonymous_id,
    check_signups,
    check_traits_as_properties,
    check_missing_ids,
]


def lint(beacons: list[Beacon], plan: dict[str, Any] | None = None) -> list[Finding]:
    """Run every rule (and the tracking plan, when given); errors first, then warnings, then info."""
    rules: list[Rule] = list(RULES)
    if plan:
        rules.append(partial(check_tracking_plan, plan=plan))
    findings = [finding for rule in rules for finding in rule(beacons)]
    return sorted(findings, key=lambda f: SEVERITY_RANK.get(f.severity, 3))
