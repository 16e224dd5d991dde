"""Site maps: the bundled ones read, mistakes are one line, a missing flow is MissingFlow (a skip in pytest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sites.sitemap import SHOP_MAP, MissingFlow, Person, SiteMapError, load_site_map

FOREIGN = Path(__file__).resolve().parents[2] / "fixtures" / "foreign_site" / "sitemap.toml"


def test_the_shop_and_acme_maps_read_with_their_forms() -> None:
    shop = load_site_map(SHOP_MAP)
    assert shop.signup is not None and shop.signup.user_id_for(Person(user_id="u7")) == "u7"
    acme = load_site_map(FOREIGN).with_url("http://127.0.0.1:9/")
    assert acme.url == "http://127.0.0.1:9" and acme.second == "/pricing"
    assert acme.signup is not None and acme.signup.fields["#join-email"] == "{email}"


def test_a_flow_the_site_lacks_is_missing_flow(tmp_path: Path) -> None:
    path = tmp_path / "pages.toml"
    path.write_text('[site]\nname = "pages only"\n[pages]\nsecond = "/b"\n')
    site = load_site_map(path)
    assert site.landing == "/" and site.third == "/"
    with pytest.raises(MissingFlow, match=r"pages only has no \[signup\] section"):
        site.require("signup")


def test_an_unknown_form_key_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[signup]\nurl = "/join"\nbutton = "#go"\n')
    with pytest.raises(SiteMapError, match="unknown key"):
        load_site_map(path)


def _map(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_an_unknown_table_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    """A typo such as [singup] used to drop the flow silently (every sign-up test then skipped)."""
    with pytest.raises(SiteMapError, match=r"unknown table\(s\) \[singup\]; known: \[site\]"):
        load_site_map(_map(tmp_path, '[singup]\nurl = "/join"\n'))
    with pytest.raises(SiteMapError, match=r"\[site\]: unknown key\(s\) alow"):
        load_site_map(_map(tmp_path, '[site]\nalow = ["api.x.test"]\n'))


def test_steps_expect_allow_and_click_pages_are_read(tmp_path: Path) -> None:
    site = load_site_map(_map(tmp_path, """
[site]
allow = ["api.localhost"]
[before]
steps = [{click = "#consent-accept", optional = true}, {set_cookie = "seen", value = "1"}]
[pages]
second = {path = "/pricing", via = "click"}
third = {path = "/faq", via = "click", selector = "nav .faq"}
[signup]
url = "/join"
submit = "#go"
steps = [{wait_for_selector = "#join-form", timeout_ms = 500}, {wait_for_ready = true}]
expect = [{type = "identify"}, {type = "track", event = "Account Created"}]
user_id_selector = "#member-id"
"""))
    assert site.allow == ("api.localhost",)
    assert [(s.action, s.target, s.optional) for s in site.before] == [("click", "#consent-accept", True),
                                                                       ("set_cookie", "seen", False)]
    assert site.second == "/pricing" and site.clicks == {"second": "a[href='/pricing']", "third": "nav .faq"}
    assert site.signup is not None and site.signup.steps[0].timeout == 500 and site.signup.reads_user_id()
    assert site.expected_signup() == ({"type": "identify"}, {"type": "track", "event": "Account Created"})
    assert load_site_map(SHOP_MAP).expected_signup("Joined")[1] == {"type": "track", "event": "Joined"}


@pytest.mark.parametrize(("text", "message"), [
    ('[before]\nsteps = [{click = "#a", fill = "#b"}]\n', "exactly one action"),
    ('[before]\nsteps = [{teleport = "/moon"}]\n', "exactly one action"),
    ('[before]\nsteps = [{fill = "#email"}]\n', 'fill needs value = "..."'),
    ('[before]\nsteps = [{click = "#a", timeout_ms = -1}]\n', "timeout_ms"),
    ('[before]\nsteps = [{wait_for_ready = "yes"}]\n', "wait_for_ready = true"),
    ('[before]\nsteps = "click #a"\n', "a list of tables"),
    ('[signup]\nexpect = [{type = "track"}]\n', "a track call needs event"),
    ('[signup]\nuser_id = "{password}"\n', r"unknown placeholder \{password\}"),
    ('[signup]\nuser_id_pattern = "member=("\n', "not a regular expression"),
    ('[pages]\nsecond = {path = "/b", via = "teleport"}\n', 'via is "goto" or "click"'),
    ('[pages]\nfourth = "/d"\n', r"unknown page\(s\) fourth"),
])
def test_a_bad_step_or_key_is_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SiteMapError, match=message) as caught:
        load_site_map(_map(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_people_are_unique_in_a_run_and_fill_only_their_placeholders() -> None:
    from harness.sites.sitemap import People

    people = People("r1")
    first, second = people.next(), people.next()
    assert (first.email, second.email) == ("harness+r1-1@example.test", "harness+r1-2@example.test")
    assert first.fill("{name}|{slug}|{n}|{run}|{user_id}") == "Test Person r1 1|harnessr11exampletest|1|r1|u-r1-1"
    assert first.fill("{name.__class__}{0}{") == "{name.__class__}{0}{", "a template cannot reach into objects"
    assert People().run != People().run, "each run has its own id"


def test_a_browse_script_is_toml_or_the_short_form_with_the_same_steps() -> None:
    from harness.sites.steps import StepError, parse_script

    toml = parse_script('steps = [{goto = "/pricing"}, {fill = "#q", value = "a b"}, {wait_for_ready = true}]\n')
    short = parse_script("goto /pricing   # the plans\nfill '#q' 'a b'\nwait-for-ready\n")
    assert toml == short
    assert [s.action for s in parse_script("signup\nlogin\n")] == ["signup", "login"]
    with pytest.raises(StepError, match="line 1: fill takes 2 argument"):
        parse_script("fill #q\n")
    with pytest.raises(StepError, match="No closing quotation"):
        parse_script("click 'unclosed\n")


def test_a_pinned_run_id_stays_unique_per_xdist_worker(tmp_path: Path) -> None:
    """HARNESS_RUN_ID pins the run's id; every xdist worker still makes its own people (gw0, gw1 ...)."""
    import os
    import subprocess
    import sys

    (tmp_path / "test_people.py").write_text(
        "def test_people(harness_people):\n    print('EMAIL', harness_people.next().email)\n")
    emails = []
    for worker in ("gw0", "gw1"):
        env = {**os.environ, "HARNESS_RUN_ID": "pinned", "PYTEST_XDIST_WORKER": worker}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "no:xdist",
                               "-p", "no:randomly", "test_people.py"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
        emails += [line.split()[1] for line in done.stdout.splitlines() if line.startswith("EMAIL")]
    assert emails == ["harness+pinnedgw0-1@example.test", "harness+pinnedgw1-1@example.test"], emails
