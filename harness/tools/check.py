"""``harness check``: run the shipped claim suite (:mod:`harness.suite`) against a site or a profile, from any folder.

The suite is a package inside the installed harness, so a user's project needs no copy of it: this is
``pytest --pyargs harness.suite`` with the options spelled out, run in the current folder (its pytest
configuration, if any, applies) and exiting with pytest's code.
"""

from __future__ import annotations

import subprocess
import sys

import click

SUITE = "harness.suite"


@click.command("check", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--site-url", default=None, help="your running site (vendor traffic is captured by interception)")
@click.option("--site-map", default=None, type=click.Path(dir_okay=False),
              help="the site map (TOML) naming its sign-up, login and logout pages")
@click.option("--snippet", default=None, help="snippet profile(s), comma-separated names or folders")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def check(site_url: str | None, site_map: str | None, snippet: str | None, pytest_args: tuple[str, ...]) -> None:
    """Run the identity claim suite (C1-C26) against your site or a profile; extra arguments go to pytest.

    e.g. harness check --site-url http://localhost:8000 --site-map sitemap.toml -k anonymous_id -x
    """
    cmd = [sys.executable, "-m", "pytest", "--pyargs", SUITE,
           *(["--site-url", site_url] if site_url else []), *(["--site-map", site_map] if site_map else []),
           *(["--snippet", snippet] if snippet else []), *pytest_args]
    raise SystemExit(subprocess.call(cmd))
