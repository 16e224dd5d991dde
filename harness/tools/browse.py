"""``harness browse``: open your own site in Chromium with the vendor traffic captured by a running harness.

Start ``harness serve`` (its inspector shows what arrives), then ``harness browse --site-url URL``.
Where a display exists the browser opens headed and you click around until you close it; otherwise
(or with ``--script``) it runs steps headless, one per line::

    goto /pricing            # a path on the site, or a full URL (`` # `` starts a comment)
    click #choose-pro
    fill #join-email rita@acme.example
    wait-for-url **/dashboard**
    signup | login | logout  # the site map's forms (--site-map)

The site's vendor requests are answered as in :mod:`harness.sites.intercept`: the bundled profiles stand in
for the vendor CDNs, beacons go to the server's collector, anything else is blocked and counted.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import urllib.request
from pathlib import Path
from typing import Any

import click

from harness.collecting.transport import observe
from harness.sites.intercept import Interceptor, vendor_hosts
from harness.sites.sitemap import MissingFlow, Person, SiteMap, SiteMapError, load_site_map, submit_form
from harness.sites.snippet import ProfileError, available, load_profile
from harness.tools.cli import HarnessError

DEFAULT_STEPS = ["goto {landing}", "goto {second}"]


def _stats(server: str) -> dict[str, int]:
    with urllib.request.urlopen(server.rstrip("/") + "/api/stats", timeout=5) as reply:
        return json.loads(reply.read())


def parse_script(text: str) -> list[list[str]]:
    """Steps, one per line; each is a verb and its arguments, shell-quoted. A line starting with ``#`` and a
    `` # `` after the step are comments (``#id`` selectors are not)."""
    steps = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = "" if raw.lstrip().startswith("#") else re.sub(r"\s+#\s.*$", "", raw)
        words = shlex.split(line)
        if not words:
            continue
        verb = words[0]
        wants = {"goto": 1, "click": 1, "fill": 2, "wait-for-url": 1, "signup": 0, "login": 0, "logout": 0}
        if verb not in wants:
            raise ValueError(f"line {number}: unknown step {verb!r}; one of {', '.join(wants)}")
        if len(words) - 1 != wants[verb]:
            raise ValueError(f"line {number}: {verb} takes {wants[verb]} argument(s), got {len(words) - 1}")
        steps.append(words)
    return steps


@click.command("browse")
@click.option("--site-url", required=True, envvar="HARNESS_SITE_URL", help="the site to open, unchanged")
@click.option("--site-map", default=None, type=click.Path(dir_okay=False), help="its site map (for signup/login)")
@click.option("--server", default="http://127.0.0.1:8000", show_default=True,
              help="the running `harness serve` whose collector receives the beacons")
@click.option("--capture-host", "capture_hosts", multiple=True, help="also capture this host (glob) as beacons")
@click.option("--script", "script", default=None, type=click.Path(exists=True, dir_okay=False),
              help="run these steps headless instead of opening a window")
@click.option("--headless", is_flag=True, help="never open a window (runs --script, or a short default walk)")
def browse(site_url: str, site_map: str | None, server: str, capture_hosts: tuple[str, ...], script: str | None,
           headless: bool) -> None:
    """Open your site in Chromium; its vendor traffic goes to the harness's collector and inspector."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from harness.browser import BrowserNotFound, launch_args

    try:
        site = load_site_map(site_map).with_url(site_url) if site_map else SiteMap(site_url, site_url.rstrip("/"))
        steps = parse_script(Path(script).read_text()) if script else [
            shlex.split(s.format(landing=site.landing, second=site.second)) for s in DEFAULT_STEPS]
        profiles = [load_profile(name) for name in available() if name != "none"]
    except (SiteMapError, ProfileError, ValueError, OSError) as exc:
        raise HarnessError(str(exc)) from None
    try:
        before = _stats(server)
    except OSError as exc:
        raise HarnessError(f"no harness at {server} ({exc}); start `harness serve` first") from None
    headed = not headless and not script and bool(os.environ.get("DISPLAY"))
    interceptor = Interceptor(harness_url=server, site_url=site.url, vendors=vendor_hosts(profiles),
                              capture_hosts=capture_hosts)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**launch_args(headless=not headed))
            context = interceptor.attach(browser.new_context(service_workers="block"))
            observe(context)  # how each beacon leaves the page, observed (harness.collecting.transport)
            page = context.new_page()
            if headed:
                page.goto(site.url + site.landing)
                click.echo(f"browsing {site.url}: close the window when done; beacons appear in "
                           f"{server}/inspector")
                page.wait_for_event("close", timeout=0)
            else:
                _run_steps(page, site, steps)
                page.wait_for_load_state("networkidle")  # the last page's calls are made after load
                context.close()  # pending beacons are delivered by the routes before the context goes
            browser.close()
    except BrowserNotFound as exc:
        raise HarnessError(str(exc)) from None
    except PlaywrightError as exc:
        raise HarnessError(f"browse: {str(exc).splitlines()[0]}") from None
    after = _stats(server)
    summary = interceptor.summary()
    click.echo(f"stored {after.get('stored', 0) - before.get('stored', 0)} beacon(s) from {site.url}; "
               f"captured {sum(summary['captured'].values())}, served {sum(summary['served'].values())} vendor "
               f"file(s), blocked {sum(summary['blocked'].values())} request(s)"
               + (f" ({', '.join(sorted(summary['blocked']))})" if summary["blocked"] else ""))


def _run_steps(tab: Any, site: SiteMap, steps: list[list[str]]) -> None:
    """Run the steps on ``tab`` (a Playwright page); signup/login/logout walk the site map's forms."""
    for step in steps:
        verb, args = step[0], step[1:]
        if verb == "goto":
            tab.goto(args[0] if "://" in args[0] else site.url + args[0])
        elif verb == "click":
            tab.click(args[0])
        elif verb == "fill":
            tab.fill(args[0], args[1])
        elif verb == "wait-for-url":
            tab.wait_for_url(args[0])
        else:
            try:
                form = site.require(verb)
            except MissingFlow as exc:
                raise HarnessError(f"step {verb}: {exc} (pass --site-map)") from None
            submit_form(tab, site.url, form, Person())
