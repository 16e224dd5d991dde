"""A device: one person's browser or phone (a Playwright browser context) with a virtual clock.

Everything goes through the library's public API as the snippet profile's ``[api]`` names it
(analytics.js's by default: ``window.analytics``, ``user().anonymousId()``, ...) and the profile's key names
and storage encodings, never through a library's internals, so the same tests run against any library that
has a profile.

The time machine. A device's clock is ``real time + skew``: it starts at the pinned start instant
(``--harness-start-time``; real now by default) and ``advance()`` adds to the skew. Pages see it
through Playwright's clock (``Date``, ``performance``, timers keep running). Chromium's cookie jar
cannot be moved: it always compares expiries with the wall clock. So the jar is kept in *wall*
time and every expiry is translated by ``-skew`` on its way in:

- an init script wraps ``document.cookie`` (and ``cookieStore.set``): an ``expires=`` the page
  computed from its own clock is moved back by the skew before Chromium stores it (``max-age`` is
  relative and needs nothing; neither do the server's ``Set-Cookie`` headers, made on real time);
- when the clock advances by D, every stored expiry moves back by D and the cookies whose expiry
  has now passed are dropped -- exactly what the jar would have done had D really elapsed.

So "expires in a year" and "expired yesterday" mean the same to the page and to the jar, whether a
library deletes a cookie with a fixed 1970 date or with ``expires: -1`` from its own clock (as
js-cookie does). :meth:`Device.raw_cookies` reports expiries on the device clock again, so tests
compare them with :meth:`Device.now`, never with the wall clock. localStorage has no expiry of its
own (libraries that store one compare it with the page clock, which is consistent by itself).
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright
from playwright.sync_api import Error as PlaywrightError

from harness.collecting.transport import observe as observe_transport
from harness.sites.sitemap import Form, People, Person, SiteMap, submit_form
from harness.sites.snippet import SnippetProfile
from harness.sites.steps import ready_script, run_steps

MOBILE_DEVICE = "iPhone 13"
CALLBACK_TIMEOUT_MS = 5000  # upper bound on a library's callback; the call resolves as soon as it fires

# Resolves when the library calls back (analytics.js calls back after delivery or its own timeout).
# Every call goes through the profile's API global (``[api] global``; ``window.analytics`` by default).
_CALL_JS = """([name, method, args, limit]) => new Promise((resolve) => {
  const done = () => resolve(true);
  window[name][method](...args, done);
  setTimeout(done, limit);
})"""
# ``ready`` is the profile's [api] ready expression: a function of (callback).
_READY_JS = """(limit) => new Promise((resolve, reject) => {
  if (!window[%(name)s]) { reject(new Error('no window.' + %(name)s + ' on this page')); return; }
  (%(ready)s)([() => resolve(true)]);
  setTimeout(() => reject(new Error(%(name)s + '.ready() did not fire within ' + limit + ' ms')), limit);
})"""
# The identity the library reports, read inside ready() (what C21 asks of user()/group()).
_IDENTITY_JS = """() => new Promise((resolve) => (%(ready)s)([() => resolve({
  user_id: (%(user_id)s)(), anonymous_id: (%(anonymous_id)s)(), user_traits: (%(user_traits)s)(),
  group_id: (%(group_id)s)(), group_traits: (%(group_traits)s)(),
})]))"""

# Translates the expiries a page writes from its clock (real + skew) to the jar's wall clock.
# The skew is read at each write from a global the harness sets (init script + open pages).
_COOKIE_SHIM_JS = """(() => {
  if (globalThis.__harnessCookieShim) return;
  Object.defineProperty(globalThis, '__harnessCookieShim', {value: true});  // not enumerable: pages never see it
  const skew = () => Number(globalThis.__harnessClockSkewMs) || 0;
  const parse = Date.parse.bind(Date);
  const shift = (text) => text.replace(/(;\\s*expires\\s*=\\s*)([^;]*)/i, (whole, head, when) => {
    const at = parse(when.trim());
    return Number.isFinite(at) ? head + new Date(at - skew()).toUTCString() : whole;
  });
  const desc = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  if (desc && desc.set && desc.get) {
    Object.defineProperty(Document.prototype, 'cookie', {
      configurable: true, enumerable: desc.enumerable,
      get() { return desc.get.call(this); },
      set(value) { desc.set.call(this, typeof value === 'string' && skew() ? shift(value) : value); },
    });
  }
  if (globalThis.cookieStore && typeof cookieStore.set === 'function') {
    const original = cookieStore.set.bind(cookieStore);
    cookieStore.set = function (nameOrOptions, ...rest) {
      if (nameOrOptions && typeof nameOrOptions === 'object' && nameOrOptions.expires != null && skew()) {
        nameOrOptions = {...nameOrOptions, expires: Number(nameOrOptions.expires) - skew()};
      }
      return original(nameOrOptions, ...rest);
    };
  }
})()"""
# A non-enumerable global, so a page listing its globals never sees the harness.
_SET_SKEW_JS = """(ms) => {
  Object.defineProperty(globalThis, '__harnessClockSkewMs', {value: ms, writable: true, configurable: true});
}"""


def context_options(playwright: Playwright, kind: str) -> dict[str, Any]:
    """Browser-context options for a device kind: ``desktop`` or ``mobile`` (Playwright emulation)."""
    if kind == "desktop":
        return {"viewport": {"width": 1280, "height": 800}}
    if kind == "mobile":
        return dict(playwright.devices[MOBILE_DEVICE])
    raise ValueError(f"unknown device kind {kind!r}; use 'desktop' or 'mobile'")


class Device:
    """A person's browser: ``visit`` pages, make analytics calls, read storage, let days pass."""

    def __init__(self, context: BrowserContext, base_url: str, profile: SnippetProfile, kind: str = "desktop",
                 name: str = "", start: datetime | None = None, site: SiteMap | None = None,
                 people: People | None = None, accounts: list[Person] | None = None) -> None:
        self.context = context
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.site = site or SiteMap(name=base_url, url=base_url.rstrip("/"))  # where land()/sign_up() go
        self.kind = kind
        self.name = name or kind
        # who signs up: a new person per sign-up; log_in() defaults to the last account a sign-up made
        # (``accounts`` is shared by the devices of one test: a person signs up on one, logs in on another)
        self.people = people or People()
        self.accounts: list[Person] = [] if accounts is None else accounts
        self.offset = timedelta(0)  # how far advance() has moved this device past its start
        self.skew = timedelta(0)  # device clock minus wall clock
        observe_transport(context)  # how each beacon leaves the page: observed, not reported (collecting.transport)
        context.add_init_script(script=_COOKIE_SHIM_JS)
        if profile.api.script is not None:  # the profile's adapter ([api] script), on any site
            context.add_init_script(path=profile.api.script)
        if start is not None:
            self._set_skew(start.astimezone(UTC) - datetime.now(UTC))
        self.tab: Page = context.new_page()
        self.console_errors: list[str] = []
        self.tab.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.tab.on("pageerror", lambda e: self.console_errors.append(str(e)))

    # ---- navigation ---------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def visit(self, path: str = "/", wait_ready: bool = True, wait_until: str = "load") -> Device:
        """Open a page; wait until the library is ready (unless the page has no snippet).

        ``wait_until="domcontentloaded"`` returns before async scripts (the library) have run.
        """
        self.tab.goto(self.url(path), wait_until=wait_until)  # type: ignore[arg-type]
        self.before()
        if wait_ready and self.profile.enabled:
            self.ready()
        return self

    def before(self) -> None:
        """The site map's ``[before]`` steps on the page now open (a consent banner's accept, ...)."""
        if self.site.before and self.tab.url.startswith(self.site.url):
            run_steps(self.tab, self.site.before, self.accounts[-1] if self.accounts else Person(),
                      self.site.url, ready_script(self.profile))

    # ---- the site, through its site map (any site: the shop or --site-url) ---------------------
    def land(self, query: str = "") -> Device:
        """Arrive on the site's landing page (``query`` e.g. ``"?utm_source=ad"``)."""
        return self.visit(self.site.landing + query)

    def browse(self, n: int = 1) -> Device:
        """Another page of the site: ``n=1`` the map's second page, ``n=2`` its third.

        A page the map reaches ``via = "click"`` is opened by clicking its link on the page now open
        (a single-page app's client-side route: no new document, the router's own ``page()`` call).
        """
        name = "second" if n == 1 else "third"
        path = getattr(self.site, name)
        selector = self.site.clicks.get(name)
        if selector is None or not self.tab.url.startswith(self.site.url):
            return self.visit(path)
        self.tab.click(selector)
        self.tab.wait_for_url(lambda url: url.split("?")[0].split("#")[0].endswith(path.split("?")[0]))
        if self.profile.enabled:
            self.ready()
        return self

    def sign_up(self, person: Person | None = None) -> str | None:
        """Fill and submit the site's sign-up form as a new person (unique in the run), wait for where it
        lands; the userId the site made (as the map says to read it, else the library's ``user().id()``)."""
        person = person or self.people.next()
        user_id = self._submit(self.site.require("signup"), person)
        self.accounts.append(Person(person.name, person.email, person.n, user_id or person.user_id, person.run))
        return user_id

    def log_in(self, person: Person | None = None) -> str | None:
        """Log in as ``person``; by default as the account the last sign-up in this test created (with
        none yet, this device signs up first, so the account exists on a site that checks)."""
        form = self.site.require("login")
        if person is None and not self.accounts and self.site.signup is not None:
            self.sign_up()
        return self._submit(form, person or self.account())

    def account(self) -> Person:
        """The last account a sign-up created (on any device of the test), else a new person."""
        if not self.accounts:
            self.accounts.append(self.people.next())
        return self.accounts[-1]

    def log_out(self) -> None:
        submit_form(self.tab, self.base_url, self.site.require("logout"), self.account(), self.site.before,
                    ready_script(self.profile))
        self.ready()

    def _submit(self, form: Form, person: Person) -> str | None:
        user_id = submit_form(self.tab, self.base_url, form, person, self.site.before, ready_script(self.profile))
        self.ready()
        if user_id is None and not form.reads_user_id():
            with contextlib.suppress(PlaywrightError):
                found = self.user_id()  # what the site's identify() left in the library, public API
                user_id = found if isinstance(found, str) and found else None
        return user_id

    def ready(self, timeout_ms: int = 10_000) -> None:
        api = self.profile.api
        self.tab.evaluate(_READY_JS % {"name": json.dumps(api.global_name), "ready": api.js("ready", "callback")},
                          timeout_ms)

    def library_pending(self) -> bool:
        """True while the loader stub still stands in for the library (the profile's ``not_loaded`` test)."""
        return bool(self.tab.evaluate(f"() => !!({self.profile.not_loaded})"))

    # ---- analytics calls (public API only) -------------------------------------------------
    @property
    def api_global(self) -> str:
        """The page global the library's API lives on (``analytics``; ``rudderanalytics`` for RudderStack)."""
        return self.profile.api.global_name

    def call(self, method: str, *args: Any) -> None:
        """``window[global][method](...args, callback)``; returns once the library calls back."""
        self.tab.evaluate(_CALL_JS, [self.api_global, method, list(args), CALLBACK_TIMEOUT_MS])

    def api(self, name: str, *args: Any) -> Any:
        """Run one entry of the profile's ``[api]`` (``anonymous_id``, ``reset``, ``set_anonymous_id``, ...).

        Raises :class:`harness.sites.snippet.Unsupported` (an AssertionError) when the library has no such API.
        """
        params = {"set_anonymous_id": ("id",), "user_set_anonymous_id": ("id",), "ready": ("callback",)}.get(name, ())
        return self.tab.evaluate(self.profile.api.js(name, *params), list(args))

    def identify(self, user_id: str | None = None, traits: dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        args: list[Any] = [user_id] if user_id is not None else []
        self.call("identify", *args, traits or {}, options or {})

    def track(self, event: str, properties: dict[str, Any] | None = None,
              options: dict[str, Any] | None = None) -> None:
        self.call("track", event, properties or {}, options or {})

    def page(self, name: str | None = None, properties: dict[str, Any] | None = None,
             options: dict[str, Any] | None = None) -> None:
        """analytics.page([name], properties, options) — the Playwright page is ``self.tab``."""
        args: list[Any] = [name] if name is not None else []
        self.call("page", *args, properties or {}, options or {})

    def group(self, group_id: str, traits: dict[str, Any] | None = None,
              options: dict[str, Any] | None = None) -> None:
        self.call("group", group_id, traits or {}, options or {})

    def reset(self) -> None:
        self.api("reset")

    def set_anonymous_id(self, anonymous_id: str) -> None:
        self.api("set_anonymous_id", anonymous_id)

    def set_user_anonymous_id(self, anonymous_id: str) -> None:
        """analytics.js's other setter, ``user().anonymousId(id)``."""
        self.api("user_set_anonymous_id", anonymous_id)

    def anonymous_id(self) -> str | None:
        return self.api("anonymous_id")

    def user_id(self) -> str | None:
        return self.api("user_id")

    def traits(self) -> dict[str, Any]:
        return self.api("user_traits") or {}

    def group_id(self) -> str | None:
        return self.api("group_id")

    def group_traits(self) -> dict[str, Any]:
        return self.api("group_traits") or {}

    def clear_traits(self) -> None:
        """analytics.js ``user().traits({})``: forget the cached user traits."""
        self.api("clear_user_traits")

    def clear_group_traits(self) -> None:
        """analytics.js ``group().traits({})``: forget the cached group traits."""
        self.api("clear_group_traits")

    def identity(self) -> dict[str, Any]:
        """What the library reports once ready: user_id, anonymous_id, user_traits, group_id, group_traits."""
        api = self.profile.api
        return self.tab.evaluate(_IDENTITY_JS % {
            "ready": api.js("ready", "callback"),
            **{k: api.js(k) for k in ("user_id", "anonymous_id", "user_traits", "group_id", "group_traits")}})

    # ---- storage --------------------------------------------------------------------------
    def raw_cookies(self) -> list[dict[str, Any]]:
        """The jar's cookies for the current page, ``expires`` on the device clock (epoch seconds)."""
        shift = self.skew.total_seconds()
        cookies = self.context.cookies(self.tab.url if self.tab.url.startswith("http") else self.base_url)
        return [{**c, "expires": c["expires"] + shift} if (c.get("expires") or -1) >= 0 else dict(c)
                for c in cookies]

    def cookies(self) -> dict[str, Any]:
        """Cookie name -> value decoded as the profile declares (its [storage]), as the current page's URL sees them."""
        return {c["name"]: self.profile.decode(c["name"], c["value"], "cookie") for c in self.raw_cookies()}

    def cookie(self, key: str) -> dict[str, Any] | None:
        """The full cookie (expires, domain, ...) for a profile key name (e.g. 'anonymous_id') or a name."""
        return next((c for c in self.raw_cookies() if self.profile.owns(key, c["name"])), None)

    def local_storage(self) -> dict[str, Any]:
        raw = self.tab.evaluate(
            "() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)]))")
        return {k: self.profile.decode(k, v, "local") for k, v in raw.items()}

    def stored(self, key: str) -> tuple[Any, Any]:
        """(cookie value, localStorage value) for a profile key such as 'anonymous_id' (a record's field too)."""
        return self.profile.lookup(key, self.cookies()), self.profile.lookup(key, self.local_storage())

    def clear_cookies(self) -> None:
        self.context.clear_cookies()

    def clear_storage(self) -> None:
        self.tab.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")

    # ---- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The device's virtual 'now' (what ``Date`` reads in its pages)."""
        return datetime.now(UTC) + self.skew

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        """Let time pass on this device: pages see the later time and the cookie jar ages with them."""
        step = timedelta(days=days, hours=hours, minutes=minutes)
        if step < timedelta(0):
            raise ValueError(f"time only moves forward; advance({step}) would go back")
        self.offset += step
        self._set_skew(self.skew + step)
        self._age_cookies(step)
        return self.now()

    def _set_skew(self, skew: timedelta) -> None:
        """Move the page clock and tell the cookie shim (new documents and the ones already open)."""
        self.skew = skew
        self.context.clock.set_system_time(self.now())
        ms = round(skew.total_seconds() * 1000)
        self.context.add_init_script(script=f"({_SET_SKEW_JS})({ms})")
        for tab in self.context.pages:
            for frame in tab.frames:
                # a frame navigating away gets the skew from the init script in its next document
                with contextlib.suppress(PlaywrightError):
                    frame.evaluate(_SET_SKEW_JS, ms)

    def _age_cookies(self, step: timedelta) -> None:
        """Move every stored expiry back by ``step``; drop what has expired (as the jar would have)."""
        if not step:
            return
        cookies = self.context.cookies()
        wall = datetime.now(UTC).timestamp()
        moved: list[dict[str, Any]] = []
        for cookie in cookies:
            expires = cookie.get("expires", -1)
            if expires is None or expires < 0:  # session cookie: lives as long as the browser
                moved.append(dict(cookie))
                continue
            expires -= step.total_seconds()
            if expires > wall:
                moved.append({**cookie, "expires": expires})
        self.context.clear_cookies()
        if moved:
            self.context.add_cookies(moved)  # type: ignore[arg-type]

    def close(self) -> None:
        self.context.close()

    def __repr__(self) -> str:
        return f"<Device {self.name} {self.kind} +{self.offset} at {time.strftime('%H:%M:%S')}>"
