"""The site's other origins: blocked and named unless allowed (Ledgerly's sign-up API is on api.localhost).

A nested pytest run signs up on Ledgerly (fixtures/sites/cross_origin) with its site map minus
``allow``: the sign-up POST to the API is blocked, the failing test's report names it and says to add the
host to ``allow``, and the run's end lists the blocked host with counts. With ``--site-allow`` (or the
map's own ``allow``) the same test passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from test_production_sites import serve, site_map  # noqa: E402  (the fixture sites' runner)

TEST = '''
def test_sign_up(new_device, beacons):
    device = new_device("desktop")
    user_id = device.sign_up()
    assert user_id, "the site made an account"
    beacons.one(type="identify", userId=user_id)
'''


def _run(tmp_path: Path, url: str, map_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_walk.py").write_text(TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_walk.py"), "--site-url", url, "--site-map",
         str(map_path), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0", "--rootdir", str(tmp_path),
         "--output", str(tmp_path / "out"), *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "HARNESS_SNIPPET": ""})


@pytest.mark.long(35)  # the blocked run's sign-up waits out Playwright's 30 s for its destination
def test_a_blocked_first_party_api_is_named_and_allow_lets_it_through(tmp_path: Path) -> None:
    text = site_map("cross_origin").read_text()
    assert 'allow = ["api.localhost"]' in text
    without = tmp_path / "no-allow.toml"
    without.write_text(text.replace('allow = ["api.localhost"]', ""))
    with serve("cross_origin") as site:
        blocked = _run(tmp_path, site.url, without)
        allowed = _run(tmp_path, site.url, without, "--site-allow", "api.localhost")
    out = blocked.stdout
    assert blocked.returncode == 1 and "1 failed" in out, out[-3000:]
    assert "blocked requests" in out and "POST http://api.localhost:" in out, out[-3000:]
    assert "add it to [site] allow (or --site-allow): api.localhost" in out, out[-3000:]
    summary = out[out.index("hosts blocked by the harness"):]
    assert "api.localhost" in summary.splitlines()[1] and "in 1 test(s)" in summary, summary
    assert allowed.returncode == 0 and "1 passed" in allowed.stdout, allowed.stdout[-3000:]
    after = allowed.stdout.partition("hosts blocked by the harness")[2]
    assert "api.localhost" not in after, after


@pytest.mark.long(12)
def test_browse_signs_up_a_new_person_each_time_and_logs_in_as_the_last(harness_server, beacons,
                                                                       tmp_path: Path) -> None:
    """Ledgerly refuses a second account with the same e-mail: browse's second sign-up is another person (it
    was the same one, and the walk timed out on the 409), and login uses the account the last sign-up made."""
    script = tmp_path / "walk.txt"
    script.write_text("goto /\nsignup\nlogout\nsignup\nlogin\n")
    with serve("cross_origin") as site:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "browse", "--site-url", site.url, "--site-map",
             str(site_map("cross_origin")), "--server", harness_server.base_url, "--script", str(script)],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    identifies = beacons.wait_for(type="identify", count=3)
    emails = [b["traits"].get("email") for b in identifies if b.get("traits")]
    assert len(set(b["userId"] for b in identifies)) == 2, [b["userId"] for b in identifies]
    assert identifies[-1]["userId"] == identifies[-2]["userId"], "login identifies the second sign-up's account"
    assert len(set(emails)) >= 2, emails
