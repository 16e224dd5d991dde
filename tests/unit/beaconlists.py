"""Beacon lists for the analysis tests: simulated devices that produce stored beacon records.

A :class:`Recorder` plays the collector (one clock, arrival numbers, enrichment, ``_meta``);
each :class:`Device` plays one browser profile running an analytics.js-style library: a lazy
anonymousId, identify that saves the userId (and, like analytics.js, takes a new anonymousId
when a *different* user identifies), reset, setAnonymousId. ``lost=True`` on a call updates
the device's state but never delivers the message — a redirect killing the request.
Deterministic ids, so failures are readable and reproducible.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
USER_ID = "97980cfea0067"  # the seeds' database-id example
_NS = uuid.UUID("6f0b3a52-5c1e-4c55-9d7e-0d8a5b1f2c3d")
_AGENTS = {
    "desktop": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
    "mobile": "Mozilla/5.0 (Linux; Android 14; Pixel 7) Chrome/131.0 Mobile Safari/537.36",
}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Recorder:
    """The collector's view: the stored records in arrival order, and the one clock everyone shares."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.beacons: list[dict[str, Any]] = []
        self.devices: dict[str, Device] = {}
        self._server_count = 0

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0) -> None:
        """Move time forward ("comes back two days later")."""
        self.now += timedelta(days=days, hours=hours, minutes=minutes)

    def device(self, name: str, kind: str = "desktop", host: str = "www.shop.test",
               new_anonymous_id_on_user_change: bool = True) -> Device:
        dev = Device(self, name, kind, host, new_anonymous_id_on_user_change)
        self.devices[name] = dev
        return dev

    def store(self, message: dict[str, Any], transport: str, device: str | None) -> dict[str, Any]:
        """Stamp a message like the library + collector would and keep it; the clock ticks one second."""
        self.now += timedelta(seconds=1)
        record = dict(message)
        record.setdefault("timestamp", _iso(self.now))
        record.setdefault("originalTimestamp", record["timestamp"])
        record["sentAt"] = _iso(self.now)
        record["receivedAt"] = _iso(self.now + timedelta(milliseconds=20))
        record["_meta"] = {"seq": len(self.beacons) + 1, "path": f"/v1/{message['type']}", "transport": transport,
                           "device": device, "received_ms": (self.now.timestamp() * 1000) + 20}
        self.beacons.append(record)
        return record

    def server(self, type_: str, user_id: str | None = None, anonymous_id: str | None = None,
               **fields: Any) -> dict[str, Any]:
        """A message from the site's Python server library (no device, no page)."""
        self._server_count += 1
        message: dict[str, Any] = {"type": type_, "messageId": f"py-{self._server_count}",
                                   "context": {"library": {"name": "intilery-python", "version": "0.1.0"},
                                               "ip": "127.0.0.1"}, **fields}
        if user_id is not None:
            message["userId"] = user_id
        if anonymous_id is not None:
            message["anonymousId"] = anonymous_id
        return self.store(message, "server", None)


class Device:
    """One browser profile: what its tracking library stores and the messages it sends."""

    def __init__(self, recorder: Recorder, name: str, kind: str, host: str,
                 new_anonymous_id_on_user_change: bool) -> None:
        self.recorder = recorder
        self.name = name
        self.kind = kind
        self.host = host
        self.new_anonymous_id_on_user_change = new_anonymous_id_on_user_change
        self.device_id = uuid.uuid5(_NS, f"device-{name}").hex
        self.anonymous_id: str | None = None
        self.user_id: str | None = None
        self.traits: dict[str, Any] = {}
        self.path = "/"
        self._anon_count = 0
        self._count = 0

    def new_anonymous_id(self) -> str:
        self._anon_count += 1
        return str(uuid.uuid5(_NS, f"anon-{self.name}-{self._anon_count}"))

    def current_anonymous_id(self) -> str:
        """Never null: generated and saved on first use (C10)."""
        if self.anonymous_id is None:
            self.anonymous_id = self.new_anonymous_id()
        return self.anonymous_id

    def _send(self, type_: str, lost: bool = False, path: str | None = None, **fields: Any) -> dict[str, Any]:
        self._count += 1
        page_path = path or self.path
        message: dict[str, Any] = {
            "type": type_, "messageId": f"{self.name}-{self._count}",
            "anonymousId": self.current_anonymous_id(), "userId": self.user_id,
            "context": {"library": {"name": "intilery.js", "version": "1.0.0"},
                        "page": {"path": page_path.split("?")[0], "url": f"https://{self.host}{page_path}",
                                 "search": "?" + page_path.split("?", 1)[1] if "?" in page_path else ""},
                        "userAgent": _AGENTS.get(self.kind, _AGENTS["desktop"]), "ip": "127.0.0.1"},
            "integrations": {}, **fields,
        }
        if lost:
            return message
        return self.recorder.store(message, "beacon", self.device_id)

    def page(self, path: str = "/", lost: bool = False) -> dict[str, Any]:
        self.path = path
        return self._send("page", lost, properties={"path": path.split("?")[0]})

    def track(self, event: str, properties: dict[str, Any] | None = None, lost: bool = False) -> dict[str, Any]:
        return self._send("track", lost, event=event, properties=dict(properties or {}))

    def identify(self, user_id: str, traits: dict[str, Any] | None = None, lost: bool = False) -> dict[str, Any]:
        if self.user_id is not None and self.user_id != user_id and self.new_anonymous_id_on_user_change:
            self.anonymous_id = self.new_anonymous_id()  # analytics.js: a different user gets a new anonymousId
            self.traits = {}
        self.user_id = user_id
        self.traits.update(traits or {})
        return self._send("identify", lost, traits=dict(self.traits))

    def reset(self) -> None:
        """analytics.reset(): userId, anonymousId and traits gone; a new anonymousId on the next call."""
        self.user_id = None
        self.anonymous_id = None
        self.traits = {}

    def set_anonymous_id(self, anonymous_id: str) -> None:
        self.anonymous_id = anonymous_id

    def clear_storage(self) -> None:
        """Cookies and localStorage cleared: ids gone, and the harness's device cookie too."""
        self.reset()
        self.device_id = uuid.uuid5(_NS, f"device-{self.name}-{self.recorder.now.isoformat()}").hex

    def sign_up(self, user_id: str = USER_ID, traits: dict[str, Any] | None = None,
                lose_identify: bool = False, lose_track: bool = False) -> None:
        """The sample site's welcome-page flow: sign-up form, then identify + "Signed Up" on /welcome."""
        traits = traits or {"name": "Peter Gibbons", "email": "peter@initech.example", "plan": "premium"}
        self.page("/signup?flow=welcome-page")
        self.recorder.advance(minutes=1)
        self.page(f"/welcome?flow=welcome-page&uid={user_id}")
        self.identify(user_id, traits, lost=lose_identify)
        self.track("Signed Up", {"plan": traits.get("plan", "premium")}, lost=lose_track)

    def log_in(self, user_id: str = USER_ID, traits: dict[str, Any] | None = None) -> None:
        """The sample site's login: /login, then identify on /account?login=1."""
        self.page("/login")
        self.page("/account?login=1")
        self.identify(user_id, traits or {"name": "Peter Gibbons", "email": "peter@initech.example"})

    def log_out(self) -> None:
        """/logout: the page call (still identified), then reset()."""
        self.page("/logout")
        self.reset()

    def browse(self, *paths: str) -> None:
        for path in paths or ("/", "/products/p1", "/cart"):
            self.page(path)


# --- the seeds' scenarios ----------------------------------------------------------------

def scenario_1() -> Recorder:
    """#1 multi-day, single device: anonymous from an ad, signs up two days later."""
    rec = Recorder()
    web = rec.device("web")
    web.browse("/?utm_source=ad", "/products/p1", "/products/p2")
    rec.advance(days=2)
    web.browse("/", "/products/p1")
    web.sign_up()
    web.browse("/account")
    return rec


def scenario_2() -> Recorder:
    """#2 multi-day, multi-device, single login: signs up on the web; the phone stays anonymous."""
    rec = Recorder()
    web, phone = rec.device("web"), rec.device("phone", "mobile")
    web.browse("/", "/products/p3")
    rec.advance(hours=5)
    phone.browse("/", "/products/p4")
    rec.advance(days=2)
    web.sign_up()
    rec.advance(days=1)
    phone.browse("/cart")
    return rec


def scenario_3() -> Recorder:
    """#3 multi-day, multi-device, multiple logins: signs up on the web, later logs in on the phone."""
    rec = scenario_2()
    rec.advance(days=1)
    phone = rec.devices["phone"]
    phone.log_in()
    phone.browse("/products/p1")
    return rec


def reset_scenario(log_in_again: bool = False) -> Recorder:
    """Signs up, logs out (reset), browses anonymously; optionally logs in again as the same user."""
    rec = Recorder()
    web = rec.device("web")
    web.browse("/")
    web.sign_up()
    rec.advance(hours=1)
    web.log_out()
    rec.advance(minutes=5)
    web.browse("/", "/products/p2")
    if log_in_again:
        rec.advance(hours=2)
        web.log_in()
    return rec


def different_user_scenario(new_anonymous_id_on_user_change: bool = True, reset_between: bool = False) -> Recorder:
    """Peter logs in; then Samir identifies on the same browser (with or without a logout first)."""
    rec = Recorder()
    web = rec.device("web", new_anonymous_id_on_user_change=new_anonymous_id_on_user_change)
    web.browse("/")
    web.log_in("97980cfea0067")
    web.browse("/products/p1")
    rec.advance(hours=3)
    if reset_between:
        web.log_out()
    web.log_in("a41f0e9c55d21", {"name": "Samir Nagheenanajar", "email": "samir@initech.example"})
    web.browse("/cart")
    return rec
