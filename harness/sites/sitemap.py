"""Site maps: where a site's pages and forms are, so the identity suite can walk any site unchanged.

The suite's library-neutral tests never name our shop's paths; they ask the site map for a page to
land on, a second page, and how to sign up, log in and log out. The sample shop has one
(``fixtures/sitemaps/shop.toml``); a user writes one for their own site (``--site-map PATH``)::

    [site]
    name = "Acme Notes"
    url = "http://127.0.0.1:8123"            # --site-url overrides it
    library = "analytics-next"               # the profile the suite reads (--snippet overrides)
    allow = ["api.acme.test"]                # first-party hosts passed through untouched (also --site-allow)

    [before]                                 # on every page the harness opens, before it waits for the library
    steps = [{click = "#consent-accept", optional = true}]

    [pages]
    landing = "/"                            # where a visitor arrives
    second = {path = "/pricing", via = "click"}   # reached by clicking a link (a single-page app's route)
    third = "/"                              # a third (defaults to landing)

    [signup]                                 # the sign-up form as the site has it
    url = "/join"
    submit = "#join-submit"
    after = "**/dashboard**"                 # glob of the URL the browser lands on afterwards
    steps = [{wait_for_selector = "#join-form"}]   # after the fields are filled, before submit
    expect = [{type = "identify"}, {type = "track", event = "Account Created"}]
    user_id_selector = "#member-id"          # the userId the site made: text on the page it lands on
    [signup.fields]                          # selector = value; placeholders are filled in
    "#join-name" = "{name}"
    "#join-email" = "{email}"

    [login]   # same keys as [signup]; {email} and {user_id} are the account the sign-up created
    [logout]  # url (a page that calls reset()), or submit (a button) on the current page

Placeholders: ``{name}``, ``{email}``, ``{slug}`` (the e-mail's letters and digits), ``{n}`` (the
person's number in the run), ``{run}`` (the run's id) and ``{user_id}`` (the account's id, once the
site made one). Every person is unique in a run (:meth:`Person.unique`), so a site that rejects a
second account with the same e-mail is fine. Steps: :mod:`harness.sites.steps`. A flow the site does
not have is simply left out; tests that need it skip, naming the missing section. A table or key the
map format does not know is an error (a typo such as ``[singup]`` never silently skips a flow).
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.resources import SITEMAPS_DIR
from harness.sites.steps import Step, StepError, absolute, parse_steps, run_steps
from harness.userfiles import NestingError, parse_bounded

SHOP_MAP = SITEMAPS_DIR / "shop.toml"
TABLES = ("site", "before", "pages", "signup", "login", "logout")
SITE_KEYS = ("name", "url", "library", "allow")
FORM_KEYS = ("url", "fields", "submit", "after", "user_id", "user_id_selector", "user_id_pattern", "steps",
             "expect")
PAGE_NAMES = ("landing", "second", "third")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


class SiteMapError(ValueError):
    """A site map that cannot be read; the message names the file and the key."""


class MissingFlow(LookupError):
    """The site has no such flow (sign-up, login, logout): a test needing it cannot run on this site."""


def new_run_id() -> str:
    """A short id for one run (a pytest session, a repro run): people made in it carry it."""
    return os.environ.get("HARNESS_RUN_ID") or uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Person:
    """Who signs up or logs in: the values a form is filled with.

    The default is the seeds' example person; :meth:`unique` makes a new one per device and run, so a
    site that rejects a second account with the same e-mail accepts every sign-up.
    """

    name: str = "Peter Gibbons"
    email: str = "peter@initech.example"
    n: int = 1
    user_id: str = "97980cfea0067"  # what a site that lets the form choose it is given (the seeds' example)
    run: str = "run"

    @classmethod
    def unique(cls, run: str, n: int) -> Person:
        """Person ``n`` of run ``run``: ``Test Person <run> <n>``, ``harness+<run>-<n>@example.test``."""
        return cls(name=f"Test Person {run} {n}", email=f"harness+{run}-{n}@example.test", n=n,
                   user_id=f"u-{run}-{n}", run=run)

    @property
    def slug(self) -> str:
        return "".join(ch for ch in self.email.lower() if ch.isalnum())

    def fill(self, template: str) -> str:
        """Only the placeholders named above are filled: a template cannot reach into Python objects."""
        values = {"name": self.name, "email": self.email, "slug": self.slug, "n": str(self.n),
                  "user_id": self.user_id, "run": self.run}
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class People:
    """Makes the unique people of one run (thread-safe: a counter)."""

    def __init__(self, run: str | None = None) -> None:
        self.run = run or new_run_id()
        self._count = itertools.count(1)

    def next(self) -> Person:
        return Person.unique(self.run, next(self._count))


@dataclass(frozen=True)
class Form:
    """A page with a form: where it is, what to type where, what to press, where the browser goes after."""

    url: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    submit: str = ""
    after: str = ""
    user_id: str = ""  # a template: the userId the site gives, from the person's values
    user_id_selector: str = ""  # ... or the text of this element on the page the form lands on
    user_id_pattern: str = ""  # ... or group 1 of this regex on the URL it lands on
    steps: tuple[Step, ...] = ()  # after the fields, before submit
    expect: tuple[dict[str, str], ...] = ()  # the calls a sign-up makes ({type, event}); the repro's default

    def user_id_for(self, person: Person) -> str | None:
        return person.fill(self.user_id) if self.user_id else None

    def reads_user_id(self) -> bool:
        return bool(self.user_id or self.user_id_selector or self.user_id_pattern)


@dataclass(frozen=True)
class SiteMap:
    name: str
    url: str
    library: str = ""  # the profile whose storage keys and API the suite reads (default: analytics-next)
    landing: str = "/"
    second: str = "/"
    third: str = "/"
    signup: Form | None = None
    login: Form | None = None
    logout: Form | None = None
    source: Path | None = None
    allow: tuple[str, ...] = ()  # first-party hosts passed through untouched
    before: tuple[Step, ...] = ()  # on every page the harness opens, before it waits for the library
    clicks: dict[str, str] = field(default_factory=dict)  # page name -> link selector (via = "click")

    def require(self, flow: str) -> Form:
        """The ``signup``/``login``/``logout`` form; :class:`MissingFlow` when this site has no such flow
        (the pytest plugin turns it into a skip that names the missing section)."""
        form = getattr(self, flow)
        if form is None:
            raise MissingFlow(f"the site map of {self.name} has no [{flow}] section")
        return form

    def with_url(self, url: str | None) -> SiteMap:
        if not url:
            return self
        return replace(self, url=url.rstrip("/"))

    def with_allow(self, hosts: tuple[str, ...] | list[str]) -> SiteMap:
        return replace(self, allow=tuple(dict.fromkeys([*self.allow, *hosts]))) if hosts else self

    def expected_signup(self, event: str = "Signed Up") -> tuple[dict[str, str], ...]:
        """The calls a sign-up must deliver: the map's ``[signup] expect``, else identify + track ``event``."""
        if self.signup is not None and self.signup.expect:
            return self.signup.expect
        return ({"type": "identify"}, {"type": "track", "event": event})


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SiteMapError(f"{where}: expected a list of host names, e.g. [\"api.example.test\"]")
    return tuple(value)


def _expect(data: Any, where: str) -> tuple[dict[str, str], ...]:
    if data is None:
        return ()
    if not isinstance(data, list) or not data:
        raise SiteMapError(f"{where}: expected a list such as [{{type = \"identify\"}}, {{type = \"track\", "
                           f"event = \"Signed Up\"}}]")
    out = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str) or set(item) - {"type", "event"} \
                or not all(isinstance(v, str) and v for v in item.values()):
            raise SiteMapError(f"{where} {i}: a call is {{type = \"...\"}} with an optional event = \"...\"")
        if item["type"] == "track" and not item.get("event"):
            raise SiteMapError(f"{where} {i}: a track call needs event = \"...\"")
        out.append(dict(item))
    return tuple(out)


def _check_template(value: str, where: str) -> str:
    for name in PLACEHOLDER.findall(value):
        if name not in ("name", "email", "slug", "n", "run", "user_id"):
            raise SiteMapError(f"{where}: unknown placeholder {{{name}}}; use {{name}} {{email}} {{slug}} {{n}} "
                               f"{{run}} {{user_id}}")
    return value


def _form(data: Any, where: str) -> Form | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SiteMapError(f"{where}: expected a table")
    fields = data.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise SiteMapError(f"{where}.fields: expected selector = \"value\" pairs")
    unknown = sorted(set(data) - set(FORM_KEYS))
    if unknown:
        raise SiteMapError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(FORM_KEYS))}")
    strings = {key: data.get(key, "") for key in FORM_KEYS if key not in ("fields", "steps", "expect")}
    for key, value in strings.items():
        if not isinstance(value, str):
            raise SiteMapError(f"{where}.{key}: expected a string")
        _check_template(value, f"{where}.{key}")
    for value in fields.values():
        _check_template(value, f"{where}.fields")
    if strings["user_id_pattern"]:
        try:
            re.compile(strings["user_id_pattern"])
        except re.error as exc:
            raise SiteMapError(f"{where}.user_id_pattern: not a regular expression: {exc}") from None
    try:
        steps = parse_steps(data.get("steps"), f"{where}.steps")
    except StepError as exc:
        raise SiteMapError(str(exc)) from None
    return Form(fields=dict(fields), steps=steps, expect=_expect(data.get("expect"), f"{where}.expect"), **strings)


def _pages(pages: dict[str, Any], where: str) -> tuple[dict[str, str], dict[str, str]]:
    """Page paths, and the selectors of pages reached by a click."""
    unknown = sorted(set(pages) - set(PAGE_NAMES))
    if unknown:
        raise SiteMapError(f"{where}: unknown page(s) {', '.join(unknown)}; known: {', '.join(PAGE_NAMES)}")
    paths: dict[str, str] = {}
    clicks: dict[str, str] = {}
    for name, entry in pages.items():
        if isinstance(entry, str):
            paths[name] = entry
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) \
                or set(entry) - {"path", "via", "selector"}:
            raise SiteMapError(f"{where}.{name}: a path, or {{path = \"/pricing\", via = \"click\"}}")
        via = entry.get("via", "goto")
        if via not in ("goto", "click"):
            raise SiteMapError(f"{where}.{name}: via is \"goto\" or \"click\", not {via!r}")
        paths[name] = entry["path"]
        if via == "click":
            clicks[name] = str(entry.get("selector") or f"a[href='{entry['path']}']")
    return paths, clicks


def load_site_map(path: str | Path) -> SiteMap:
    """Read a site map TOML file; every mistake is one :class:`SiteMapError` line."""
    source = Path(path)
    try:
        data = parse_bounded(tomllib.loads, source.read_text())
    except OSError as exc:
        raise SiteMapError(f"site map {source}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, NestingError) as exc:
        raise SiteMapError(f"site map {source}: not valid TOML: {str(exc)[:200]}") from None
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise SiteMapError(f"site map {source}: unknown table(s) {', '.join(f'[{t}]' for t in unknown)}; "
                           f"known: {', '.join(f'[{t}]' for t in TABLES)}")
    site, pages, before = data.get("site") or {}, data.get("pages") or {}, data.get("before") or {}
    if not all(isinstance(t, dict) for t in (site, pages, before)):
        raise SiteMapError(f"site map {source}: [site], [pages] and [before] must be tables")
    bad_site = sorted(set(site) - set(SITE_KEYS))
    if bad_site:
        raise SiteMapError(f"site map {source} [site]: unknown key(s) {', '.join(bad_site)}; known: "
                           f"{', '.join(SITE_KEYS)}")
    if set(before) - {"steps"}:
        raise SiteMapError(f"site map {source} [before]: only steps = [...]")
    paths, clicks = _pages(pages, f"site map {source} [pages]")
    landing = paths.get("landing", "/")
    try:
        before_steps = parse_steps(before.get("steps"), f"site map {source} [before]")
    except StepError as exc:
        raise SiteMapError(str(exc)) from None
    return SiteMap(
        name=str(site.get("name", source.stem)), url=str(site.get("url", "")).rstrip("/"),
        library=str(site.get("library", "")),
        landing=landing, second=paths.get("second", landing), third=paths.get("third", landing),
        signup=_form(data.get("signup"), f"{source} [signup]"), login=_form(data.get("login"), f"{source} [login]"),
        logout=_form(data.get("logout"), f"{source} [logout]"), source=source,
        allow=_strings(site["allow"], f"site map {source} [site] allow") if "allow" in site else (),
        before=before_steps, clicks=clicks)


def submit_form(tab: Any, base_url: str, form: Form, person: Person, before: tuple[Step, ...] = (),
                ready_js: str | None = None) -> str | None:
    """Open the form's page on ``tab`` (a Playwright page), fill it for ``person``, submit, wait where it lands.

    ``before`` (the map's [before] steps) run on the form's page once it loaded. A form with only a
    ``url`` (a logout page) is just visited. Returns the userId the site made (``user_id``,
    ``user_id_selector`` or ``user_id_pattern``), None when the map says nothing about it.
    """
    if form.url:
        tab.goto(absolute(person.fill(form.url), base_url))
        run_steps(tab, before, person, base_url, ready_js)
    for selector, value in form.fields.items():
        tab.fill(selector, person.fill(value))
    run_steps(tab, form.steps, person, base_url, ready_js)
    if form.submit:
        tab.click(form.submit)
        if form.after:
            tab.wait_for_url(form.after)
    tab.wait_for_load_state("load")
    return read_user_id(tab, form, person)


def read_user_id(tab: Any, form: Form, person: Person) -> str | None:
    """The userId the site made for ``person``, as the map says to read it (sync page)."""
    if form.user_id_selector:
        return tab.locator(form.user_id_selector).first.inner_text(timeout=15_000).strip() or None
    if form.user_id_pattern:
        found = re.search(form.user_id_pattern, tab.url)
        return (found.group(1) if found.groups() else found.group(0)) if found else None
    return form.user_id_for(person)

