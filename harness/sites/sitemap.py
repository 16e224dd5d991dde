"""Site maps: where a site's pages and forms are, so the identity suite can walk any site unchanged.

The suite's library-neutral tests never name our shop's paths; they ask the site map for a page to
land on, a second page, and how to sign up, log in and log out. The sample shop has one
(``fixtures/sitemaps/shop.toml``); a user writes one for their own site (``--site-map PATH``)::

    [site]
    name = "Acme Notes"
    url = "http://127.0.0.1:8123"            # --site-url overrides it

    [pages]
    landing = "/"                            # where a visitor arrives
    second = "/pricing"                      # another page with the snippet
    third = "/"                              # a third (defaults to landing)

    [signup]                                 # the sign-up form as the site has it
    url = "/join"
    submit = "#join-submit"
    after = "**/dashboard**"                 # glob of the URL the browser lands on afterwards
    user_id = "acme-{slug}"                  # the userId the site identifies the person with
    [signup.fields]                          # selector = value; {email} {name} {slug} {n} are filled in
    "#join-name" = "{name}"
    "#join-email" = "{email}"

    [login]   # same keys as [signup]
    [logout]  # url (a page that calls reset()), or submit (a button) on the current page

Values may use ``{email}``, ``{name}``, ``{slug}`` (the email's letters and digits), ``{n}`` (a
number unique to the person) and ``{user_id}`` (for a site whose form takes one). A flow the site
does not have is simply left out; tests that need it
skip, naming the missing section.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.resources import SITEMAPS_DIR

SHOP_MAP = SITEMAPS_DIR / "shop.toml"


class SiteMapError(ValueError):
    """A site map that cannot be read; the message names the file and the key."""


class MissingFlow(LookupError):
    """The site has no such flow (sign-up, login, logout): a test needing it cannot run on this site."""


@dataclass(frozen=True)
class Person:
    """Who signs up or logs in: the values a form is filled with."""

    name: str = "Peter Gibbons"
    email: str = "peter@initech.example"
    n: int = 1
    user_id: str = "97980cfea0067"  # what a site that lets the form choose it is given (the seeds' example)

    @property
    def slug(self) -> str:
        return "".join(ch for ch in self.email.lower() if ch.isalnum())

    def fill(self, template: str) -> str:
        return template.format(name=self.name, email=self.email, slug=self.slug, n=self.n, user_id=self.user_id)


@dataclass(frozen=True)
class Form:
    """A page with a form: where it is, what to type where, what to press, where the browser goes after."""

    url: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    submit: str = ""
    after: str = ""
    user_id: str = ""

    def user_id_for(self, person: Person) -> str | None:
        return person.fill(self.user_id) if self.user_id else None


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
        from dataclasses import replace

        return replace(self, url=url.rstrip("/"))


def _form(data: Any, where: str) -> Form | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SiteMapError(f"{where}: expected a table")
    fields = data.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise SiteMapError(f"{where}.fields: expected selector = \"value\" pairs")
    known = {"url", "fields", "submit", "after", "user_id"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SiteMapError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return Form(url=str(data.get("url", "")), fields=dict(fields), submit=str(data.get("submit", "")),
                after=str(data.get("after", "")), user_id=str(data.get("user_id", "")))


def load_site_map(path: str | Path) -> SiteMap:
    """Read a site map TOML file; every mistake is one :class:`SiteMapError` line."""
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text())
    except OSError as exc:
        raise SiteMapError(f"site map {source}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SiteMapError(f"site map {source}: not valid TOML: {exc}") from None
    site, pages = data.get("site") or {}, data.get("pages") or {}
    if not isinstance(site, dict) or not isinstance(pages, dict):
        raise SiteMapError(f"site map {source}: [site] and [pages] must be tables")
    landing = str(pages.get("landing", "/"))
    return SiteMap(
        name=str(site.get("name", source.stem)), url=str(site.get("url", "")).rstrip("/"),
        library=str(site.get("library", "")),
        landing=landing, second=str(pages.get("second", landing)), third=str(pages.get("third", landing)),
        signup=_form(data.get("signup"), f"{source} [signup]"), login=_form(data.get("login"), f"{source} [login]"),
        logout=_form(data.get("logout"), f"{source} [logout]"), source=source)


def submit_form(tab: Any, base_url: str, form: Form, person: Person) -> None:
    """Open the form's page on ``tab`` (a Playwright page), fill it for ``person``, submit, wait where it lands.

    A form with only a ``url`` (a logout page) is just visited.
    """
    if form.url:
        url = person.fill(form.url)
        tab.goto(url if "://" in url else base_url.rstrip("/") + url)
    for selector, value in form.fields.items():
        tab.fill(selector, person.fill(value))
    if form.submit:
        tab.click(form.submit)
        if form.after:
            tab.wait_for_url(form.after)
    tab.wait_for_load_state("load")
