"""Issue 18, item 3 in a real Chromium: a page of another site (or of this host at another port)
cannot change the harness's state with the requests a browser sends without asking (no-cors).

The victim is a harness of its own (its faults are what the attack sets); the attacking page is
served by a second harness on another port, under www.shop.test (cross-site) or 127.0.0.1 (same site).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from inspector_helpers import message, post

from harness.keys import Config
from harness.server import HarnessServer

ATTACK = """async (target) => {
  const body = JSON.stringify({status: 200, count: null});
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    await fetch(target + '/api/faults', {method: 'POST', mode: 'no-cors', credentials: 'include',
                                         headers: {'Content-Type': type}, body});
  }
  await fetch(target + '/api/beacons', {method: 'POST', mode: 'no-cors', credentials: 'include', body: ''});
  return true;
}"""


@pytest.fixture
def servers() -> Generator[dict[str, HarnessServer], None, None]:
    made = {"victim": HarnessServer(snippet="none").start(),
            "victim_with_token": HarnessServer(snippet="none", config=Config(api_token="tok")).start(),
            "attacker": HarnessServer(snippet="none").start()}
    yield made
    for srv in made.values():
        srv.stop()


def _attacked(page: Any, attacker_origin: str, victim: HarnessServer) -> None:
    page.goto(f"{attacker_origin}/")
    assert page.evaluate(ATTACK, victim.base_url) is True
    assert victim.faults.to_dict()["status"] is None, "the page set a fault"
    assert post(victim.base_url, message("track", event="After Attack")) == 200
    assert victim.store.wait_for(event="After Attack"), "beacons are still stored"


def test_a_cross_site_page_cannot_set_a_fault(page: Any, servers: dict[str, HarnessServer]) -> None:
    _attacked(page, f"http://www.shop.test:{servers['attacker'].port}", servers["victim"])


def test_the_same_host_at_another_port_cannot_either(page: Any, servers: dict[str, HarnessServer]) -> None:
    _attacked(page, f"http://127.0.0.1:{servers['attacker'].port}", servers["victim"])


def test_with_a_token_cookie_the_other_port_still_cannot(page: Any, servers: dict[str, HarnessServer]) -> None:
    victim = servers["victim_with_token"]
    page.goto(f"{victim.base_url}/inspector?token=tok")  # the developer opened the inspector: the cookie is set
    assert any(c["name"] == "hx_token" for c in page.context.cookies())
    _attacked(page, f"http://127.0.0.1:{servers['attacker'].port}", victim)
