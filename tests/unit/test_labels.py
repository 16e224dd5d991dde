"""Labels never lie (issue 25): the library a result is reported under is the one that ran, and a user's
profile wins every vendor host it declares over the bundled ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.sites.intercept import Interceptor, vendor_hosts
from harness.sites.snippet import ProfileError, available, library_mismatch, load_profile

ROOT = Path(__file__).resolve().parents[2]
SEGMENT_CDN = "https://cdn.segment.com/analytics.js/v1/KEY/analytics.min.js"


def my_build(tmp_path: Path, extra: str = "", context_name: str = "") -> Path:
    """A user's own build of another library (intilery.js under another name) that claims Segment's CDN."""
    mine = tmp_path / "my-build"
    shutil.copytree(ROOT / "fixtures" / "snippets" / "intilery", mine)
    toml = mine / "profile.toml"
    text = toml.read_text().replace('name = "intilery"', 'name = "my-build"')  # the profile and its library
    text = text.replace('context_name = "intilery.js"', f'context_name = "{context_name}"' if context_name else "")
    toml.write_text(text + '\n[intercept]\ncdn = ["https://cdn.segment.com/"]\napi = ["https://api.segment.io/"]\n'
                    + extra)
    return mine


def bundled() -> list:
    return [load_profile(name) for name in available() if name != "none"]


def test_a_users_profile_wins_the_vendor_hosts_it_declares(tmp_path: Path) -> None:
    mine = load_profile(str(my_build(tmp_path)))
    assert mine.name == mine.library == "my-build"
    for hosts in (vendor_hosts([*bundled(), mine]), vendor_hosts(bundled(), preferred=mine),
                  vendor_hosts([*bundled(), mine], preferred=mine)):
        interceptor = Interceptor(harness_url="http://127.0.0.1:1", site_url="http://site.test", vendors=hosts)
        decision = interceptor.decide(SEGMENT_CDN)
        assert decision.kind == "cdn" and decision.vendor is not None
        assert decision.vendor.profile.name == "my-build", "the bundled analytics-next answered the user's host"
        assert interceptor.decide("https://api.segment.io/v1/t").vendor.profile.name == "my-build"
    # the bundled profiles still answer the hosts nobody else declares
    rudder = Interceptor(harness_url="http://127.0.0.1:1", site_url="http://site.test",
                         vendors=vendor_hosts(bundled(), preferred=mine)).decide(
        "https://cdn.rudderlabs.com/v3/modern/rsa.min.js")
    assert rudder.vendor is not None and rudder.vendor.profile.name == "rudderstack"


def test_the_selected_bundled_profile_comes_first() -> None:
    profiles = bundled()
    rudder = next(p for p in profiles if p.name == "rudderstack")
    assert vendor_hosts(profiles, preferred=rudder)[0].profile is rudder


def beacon(name: str, transport: str = "fetch") -> dict:
    return {"type": "page", "context": {"library": {"name": name, "version": "1"}}, "_meta": {"transport": transport}}


def test_the_library_the_beacons_name_must_be_the_profiles(tmp_path: Path) -> None:
    rudder = load_profile("rudderstack")
    assert library_mismatch(rudder, [beacon("RudderLabs JavaScript SDK")]) == ""
    problem = library_mismatch(rudder, [beacon("analytics.js")])
    assert "'analytics.js'" in problem and "--snippet rudderstack" in problem and "wrong library" in problem
    assert library_mismatch(rudder, [beacon("analytics-python", "server")]) == "", "a server library's own call"
    assert library_mismatch(rudder, [{"type": "track", "context": {}}]) == "", "nothing named: nothing to check"
    # a user's profile that declares no context_name: another bundled library's name is still a mismatch
    mine = load_profile(str(my_build(tmp_path)))
    assert mine.context_name == ""
    assert "not the bundled analytics-next" in library_mismatch(mine, [beacon("analytics.js")])
    assert library_mismatch(mine, [beacon("my-build.js")]) == ""


def test_a_mislabelled_run_fails_loudly(tmp_path: Path) -> None:
    """A profile declaring one library while the page runs another (intilery.js): the first test that captures
    a beacon fails naming both, and so does every other test of that profile: none reports under it."""
    mine = my_build(tmp_path, context_name="my-build.js")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_run.py").write_text(
        "def test_first(new_device, beacons):\n    new_device().land()\n    beacons.one(type='page')\n\n"
        "def test_second(new_device, beacons):\n    new_device().land()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "-p", "no:xdist", "--snippet", str(mine)], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    out = done.stdout
    assert done.returncode == 1, out[-3000:]
    assert "the beacons were sent by 'intilery.js' (context.library.name), but --snippet my-build declares its " \
           "[library] context_name 'my-build.js'" in out, out[-3000:]
    assert "ERROR at teardown of test_first" in out and "ERROR at teardown of test_second" in out, out[-3000:]


@pytest.mark.parametrize(("table", "message"), [
    ('C27 = "x"', "unknown claim id(s) C27 (claims are C1-C26)"),
    ('c9 = "x"', "unknown claim id(s) c9"),
    ('C9 = ""', "C9 need(s) a reason string"),
    ("C9 = 3", "C9 need(s) a reason string"),
])
def test_a_differs_table_names_claims_with_reasons(tmp_path: Path, table: str, message: str) -> None:
    mine = my_build(tmp_path, extra=f"\n[differs]\n{table}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(mine))
    text = str(caught.value)
    assert message in text and "[differs]" in text and "\n" not in text, text


def test_a_differs_table_is_read(tmp_path: Path) -> None:
    mine = my_build(tmp_path, extra='\n[differs]\nC20 = "sends no sentAt"\nC9 = "reset keeps the id"\n')
    assert load_profile(str(mine)).differs == {"C20": "sends no sentAt", "C9": "reset keeps the id"}


def test_a_site_mode_wait_reports_the_time_it_waited(tmp_path: Path) -> None:
    """With interception the wait is a pump loop; its timeout said "waited 0.0s" (the store's last look)."""
    import threading
    import time

    from harness.collecting.store import BeaconStore, WaitTimeout
    from harness.testing.capture import Beacons

    store = BeaconStore(":memory:")
    try:
        captured = Beacons(store)
        # a browser with nothing to deliver: pump blocks on a request that never finishes, as Playwright's does
        never_finishes = threading.Event()
        captured.pump = lambda seconds: never_finishes.wait(min(seconds, 0.1)) or True
        started = time.monotonic()
        with pytest.raises(WaitTimeout) as caught:
            captured.wait_for(type="page", timeout=0.6)
        took = time.monotonic() - started
    finally:
        store.close()
    message = str(caught.value)
    assert message.startswith("waited 0.6s") or message.startswith(f"waited {took:.1f}s"), message
    assert not message.startswith("waited 0.0s")
