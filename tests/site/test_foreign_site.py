"""Your own site, unchanged: Acme Notes (fixtures/foreign_site) embeds Segment's stock snippet from the
vendor's CDN and sends to the vendor's API; the harness stands in for both by interception.

- the library-neutral identity suite passes against it through its site map (a nested pytest run);
- no request leaves loopback: the site and the harness pass through, the vendor is answered by the
  harness, everything else (a web font, another vendor's pixel) is blocked and counted;
- ``harness repro signup-loss --site-url`` finds the redirect loss the site's sign-up form has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.sites.intercept import Interceptor, vendor_hosts
from harness.sites.sitemap import Person, load_site_map
from harness.sites.snippet import load_profile
from harness.testing.device import Device

ROOT = Path(__file__).resolve().parents[2]
SITE_MAP = ROOT / "fixtures" / "foreign_site" / "sitemap.toml"
sys.path.insert(0, str(SITE_MAP.parent))
from app import ForeignSite  # noqa: E402  (the fixture site is not a package)

LOOPBACK = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def acme() -> Generator[ForeignSite, None, None]:
    with ForeignSite() as site:
        yield site


@pytest.mark.long(28)
def test_the_identity_suite_passes_on_a_site_it_does_not_serve(acme: ForeignSite, tmp_path: Path) -> None:
    """The claim suite (harness.suite) with --site-url and the site map: library-neutral tests pass, the rest skip."""
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "harness.suite", "--site-url", acme.url, "--site-map",
         str(SITE_MAP), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0", f"--junitxml={report}", "-rs"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "HARNESS_SNIPPET": ""})
    tail = done.stdout[-4000:]
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 30, f"too few identity tests ran against the site: {summary}"
    assert "sample shop only" in done.stdout, "shop-only tests skip naming why"
    assert " failed" not in summary and "error" not in summary


VENDORS = {  # vendor -> (site map, profile, library name the payload carries, CDN hosts, data plane host)
    "segment": (SITE_MAP, "analytics-next", "analytics.js", {"cdn.segment.com"}, "api.segment.io"),
    "rudderstack": (SITE_MAP.with_name("sitemap-rudderstack.toml"), "rudderstack", "RudderLabs JavaScript SDK",
                    {"cdn.rudderlabs.com", "api.rudderstack.com"}, "acmenotes.dataplane.rudderstack.com"),
    # PostHog: array.js and its remote config from the asset host; /e/ and /flags/ on the ingestion host
    "posthog": (SITE_MAP.with_name("sitemap-posthog.toml"), "posthog", "web", {"us-assets.i.posthog.com"},
                "us.i.posthog.com"),
}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_no_request_leaves_loopback_and_the_vendor_is_answered_by_the_harness(vendor: str, new_context,
                                                                              harness_server, beacons) -> None:
    """Segment's, RudderStack's and PostHog's stock embeds: their CDN, control plane and data plane answered by
    the harness."""
    site_map, profile_name, library_name, cdn_hosts, data_plane = VENDORS[vendor]
    with ForeignSite(vendor=vendor) as acme:
        site = load_site_map(site_map).with_url(acme.url)
        library = load_profile(profile_name)
        interceptor = Interceptor(harness_url=harness_server.base_url, site_url=site.url,
                                  vendors=vendor_hosts([library]))
        beacons.pump = interceptor.pump
        context = interceptor.attach(new_context(service_workers="block"))
        device = Device(context, site.url, library, site=site)
        device.land()
        beacons.wait_for(type="page", count=1)  # a person reads a page before moving on
        device.browse()
        page = beacons.one(type="page", context__page__path="/pricing")
        device.sign_up(Person(email="rita@acme.example"))
        device.visit(site.landing)
        assert page["context"]["library"]["name"] == library_name  # the real library, from its npm package
        assert beacons.wait_for(type="page", count=4)
        context.close()

    assert interceptor.left_loopback() == [], "a request went to the network"
    assert {urlsplit("http://" + host).hostname for host in interceptor.passed} <= LOOPBACK, interceptor.passed
    assert set(interceptor.served) == cdn_hosts, f"library and settings came from the harness: {interceptor.served}"
    assert interceptor.captured[data_plane] >= 4, interceptor.summary()
    assert interceptor.blocked["fonts.googleapis.com"] >= 1 and interceptor.blocked["www.facebook.com"] >= 1
    assert beacons.all(type="page")[0]["_meta"]["device"], "each browser is one device in the analysis"


@pytest.mark.long(5)
def test_repro_finds_the_redirect_loss_on_the_site(acme: ForeignSite) -> None:
    """Submitting before the vendor's library arrives, then the site's redirect: every sign-up lost."""
    done = subprocess.run(
        [sys.executable, "-m", "harness", "repro", "signup-loss", "--site-url", acme.url, "--site-map",
         str(SITE_MAP), "--trials", "3", "--submit", "early,ready", "--latency-ms", "0", "--window", "5",
         "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    early = next(c for c in report["cells"] if c["submit"] == "early")
    assert early["trials"] == 3 and early["errors"] == 0
    assert early["lost"] == 3, f"the stub's queue dies with the page: {early}"
    ready = next(c for c in report["cells"] if c["submit"] == "ready")
    assert ready["trials"] == 3 and ready["errors"] == 0, f"a ready submit waits for the library's ready(): {ready}"
    assert ready["library_at_submit"] == 3, ready
    assert report["settings"]["site"]["url"] == acme.url
    assert report["settings"]["interception"]["blocked"], "the site's other vendors were blocked, not contacted"


def test_repro_on_a_site_uses_the_given_snippet_before_the_site_maps_library() -> None:
    """As the pytest plugin does: --snippet first (here over the map's library = "rudderstack"), then the site
    map's [site] library, then analytics-next."""
    from click.testing import CliRunner

    from harness.tools.repro import repro

    result = CliRunner().invoke(repro, ["signup-loss", "--site-url", "http://127.0.0.1:9", "--site-map",
                                        str(SITE_MAP.with_name("sitemap-rudderstack.toml")), "--snippet",
                                        "no-such-library"])
    assert result.exit_code == 2 and "no-such-library" in result.output, result.output


def test_browse_runs_steps_on_the_site_and_the_beacons_reach_a_running_harness(acme: ForeignSite, harness_server,
                                                                              beacons, tmp_path: Path) -> None:
    script = tmp_path / "steps.txt"
    # a person reads the page after clicking (the track's request is done) before moving on
    script.write_text("# Acme, by hand\ngoto /pricing\nclick #choose-pro   # a track call\nwait-for-network-idle\n"
                      "signup\n")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "browse", "--site-url", acme.url, "--site-map", str(SITE_MAP),
         "--server", harness_server.base_url, "--script", str(script)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("stored "), done.stdout
    chosen = beacons.one(event="Plan Chosen")
    assert chosen["properties"] == {"plan": "pro"} and chosen["_meta"]["transport"] == "fetch"
    beacons.one(type="page", context__page__path="/dashboard")  # the site map's sign-up was walked
    assert "blocked" in done.stdout and "fonts.googleapis.com" in done.stdout


def test_a_bad_browse_script_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "steps.txt"
    script.write_text("goto /\nteleport /moon\n")
    done = subprocess.run([sys.executable, "-m", "harness", "browse", "--site-url", "http://127.0.0.1:9",
                           "--script", str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == f"harness: {script}: line 2: unknown step 'teleport'; one of goto, click, fill, " \
                                  "press, wait-for-selector, wait-for-url, wait-for-ready, wait-for-network-idle, " \
                                  "set-cookie, set-local-storage, evaluate, signup, login, logout", done.stderr


def test_requests_that_leave_the_machine_are_listed_and_the_list_is_bounded(new_context, harness_server,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """left_loopback() names what the routes let off this machine; a long session keeps the first few, counts all.

    The shop is reached as www.shop.test (Chromium maps it to 127.0.0.1, but to the routes it is another host),
    so every page request of the visit counts as one that left loopback.
    """
    from harness.sites import intercept

    monkeypatch.setattr(intercept, "LEFT_KEPT", 2)
    site_url = f"http://www.shop.test:{urlsplit(harness_server.base_url).port}"
    interceptor = Interceptor(harness_url=harness_server.base_url, site_url=site_url, vendors=[])
    page = interceptor.attach(new_context()).new_page()
    page.goto(site_url + "/")
    page.goto(site_url + "/products/p1")
    listed = interceptor.left_loopback()
    assert len(listed) == 2 and listed[0] == site_url + "/", listed
    assert interceptor.left_total >= 3, "every request that left is counted, beyond the ones listed"
