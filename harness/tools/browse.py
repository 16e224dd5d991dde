"""``harness browse``: open your own site in Chromium with the vendor traffic captured by a running harness.

Start ``harness serve`` (its inspector shows what arrives), then ``harness browse --site-url URL``.
Where a display exists the browser opens headed and you click around until you close it; otherwise
(or with ``--script``) it runs steps headless: the site maps' step format (:mod:`harness.sites.steps`),
as TOML (``steps = [{goto = "/pricing"}, {click = "#choose-pro"}]``) or one step per line, shell-quoted::

    goto /pricing            # a path on the site, or a full URL (`` # `` starts a comment)
    click #choose-pro
    fill '#join-email' '{email}'
    wait-for-url '**/dashboard**'
    signup | login | logout  # the site map's forms (--site-map)

The library is ``--snippet``, else the site map's ``[site] library``, else analytics-next (as the pytest
plugin and the repro choose it); its vendor hosts win over the other bundled profiles'.

The site's vendor requests are answered as in :mod:`harness.sites.intercept`: the bundled profiles stand in
for the vendor CDNs, beacons go to the server's collector, anything else is blocked and counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from harness.collecting.transport import observe
from harness.sites.intercept import Interceptor, vendor_hosts
from harness.sites.sitemap import MissingFlow, People, SiteMap, SiteMapError, load_site_map, submit_form
from harness.sites.snippet import ProfileError, SnippetProfile, load_profile
from harness.sites.steps import FLOWS, Step, StepError, StepFailed, parse_script, ready_script, run_steps
from harness.tools.cli import HarnessError

DEFAULT_STEPS = "goto {landing}\ngoto {second}\n"


def _stats(server: str) -> dict[str, int]:
    with urllib.request.urlopen(server.rstrip("/") + "/api/stats", timeout=5) as reply:
        return json.loads(reply.read())


@click.command("browse")
@click.option("--site-url", required=True, envvar="HARNESS_SITE_URL", help="the site to open, unchanged")
@click.option("--site-map", default=None, type=click.Path(dir_okay=False), help="its site map (for signup/login)")
@click.option("--server", default="http://127.0.0.1:8000", show_default=True,
              help="the running `harness serve` whose collector receives the beacons")
@click.option("--capture-host", "capture_hosts", multiple=True, help="also capture this host (glob) as beacons")
@click.option("--site-allow", "allow", multiple=True,
              help="pass this host (the site's own API or assets; no port = any port) through untouched")
@click.option("--snippet", default=None, envvar="HARNESS_SNIPPET",
              help="the library's profile (name or folder); default: the site map's [site] library, else "
                   "analytics-next")
@click.option("--script", "script", default=None, type=click.Path(exists=True, dir_okay=False),
              help="run these steps headless instead of opening a window")
@click.option("--headless", is_flag=True, help="never open a window (runs --script, or a short default walk)")
def browse(site_url: str, site_map: str | None, server: str, capture_hosts: tuple[str, ...], allow: tuple[str, ...],
           snippet: str | None, script: str | None, headless: bool) -> None:
    """Open your site in Chromium; its vendor traffic goes to the harness's collector and inspector."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from harness.browser import BrowserNotFound, launch_args, resolver_rules, seal_hosts

    try:
        site = load_site_map(site_map).with_url(site_url) if site_map else SiteMap(site_url, site_url.rstrip("/"))
        site = site.with_allow(allow)
        text = Path(script).read_text() if script else DEFAULT_STEPS.format(landing=site.landing, second=site.second)
        steps = parse_script(text)
        library = load_profile(snippet or site.library or "analytics-next")
    except StepError as exc:
        raise HarnessError(f"{script}: {exc}" if script else str(exc)) from None
    except (SiteMapError, ProfileError, ValueError, OSError) as exc:
        raise HarnessError(str(exc)) from None
    try:
        before = _stats(server)
    except OSError as exc:
        raise HarnessError(f"no harness at {server} ({exc}); start `harness serve` first") from None
    headed = not headless and not script and bool(os.environ.get("DISPLAY"))
    interceptor = Interceptor(harness_url=server, site_url=site.url,
                              vendors=vendor_hosts(preferred=library), capture_hosts=capture_hosts,
                              allow=site.allow)
    failure: str | None = None
    try:
        with sync_playwright() as pw:
            sealed = resolver_rules(sealed_to=seal_hosts(site.url, *site.allow, server))
            browser = pw.chromium.launch(**launch_args(headless=not headed, extra_args=[sealed]))
            try:
                context = interceptor.attach(browser.new_context(service_workers="block"))
                observe(context)  # how each beacon leaves the page, observed (harness.collecting.transport)
                page = context.new_page()
                if headed:
                    page.goto(site.url + site.landing)
                    click.echo(f"browsing {site.url}: close the window when done; beacons appear in "
                               f"{server}/inspector")
                    page.wait_for_event("close", timeout=0)
                else:
                    _run_steps(page, site, steps, library)
                    page.wait_for_load_state("networkidle")  # the last page's calls are made after load
                    context.close()  # pending beacons are delivered by the routes before the context goes
            except StepFailed as exc:
                failure = f"browse: {exc}"
            except PlaywrightError as exc:
                failure = f"browse: {str(exc).splitlines()[0]}"
            finally:
                # closed here, inside Playwright's loop: a failed long step left requests pending, and leaving
                # the loop with them printed a CancelledError traceback each and no summary
                with contextlib.suppress(PlaywrightError):
                    browser.close()
    except BrowserNotFound as exc:
        raise HarnessError(str(exc)) from None
    except PlaywrightError as exc:
        failure = failure or f"browse: {str(exc).splitlines()[0]}"
    _summary(server, before, site.url, interceptor)  # always, also after a failed step
    if failure:
        raise HarnessError(failure)


def _summary(server: str, before: dict[str, int], site_url: str, interceptor: Interceptor) -> None:
    """The one summary line: what reached the server, what the interception captured, served and blocked."""
    try:
        stored = str(_stats(server).get("stored", 0) - before.get("stored", 0))
    except OSError:
        stored = "?"  # the server went away meanwhile
    summary = interceptor.summary()
    click.echo(f"stored {stored} beacon(s) from {site_url}; "
               f"captured {sum(summary['captured'].values())}, served {sum(summary['served'].values())} vendor "
               f"file(s), blocked {sum(summary['blocked'].values())} request(s)"
               + (f" ({', '.join(sorted(summary['blocked']))})" if summary["blocked"] else ""))


def _run_steps(tab: Any, site: SiteMap, steps: list[Step], library: SnippetProfile) -> None:
    """Run the steps on ``tab`` (a Playwright page); signup/login/logout walk the site map's forms, as a new
    person each sign-up (login: the account the sign-up made)."""
    people = People()
    person = people.next()  # the account a login uses: the last sign-up's (its userId once the site made one)
    ready = ready_script(library)
    for step in steps:
        if step.action not in FLOWS:
            run_steps(tab, [step], person, site.url, ready)
            if step.action == "goto":
                run_steps(tab, site.before, person, site.url, ready)
            continue
        try:
            form = site.require(step.action)
        except MissingFlow as exc:
            raise HarnessError(f"step {step.action}: {exc} (pass --site-map)") from None
        if step.action == "signup":
            person = people.next()  # a second sign-up is another person: a site may refuse the same e-mail twice
        made = submit_form(tab, site.url, form, person, site.before, ready)
        if step.action == "signup" and made:
            person = replace(person, user_id=made)
