"""How a beacon travelled is observed in the browser, whatever library the page embeds (harness.collecting.transport).

The page itself posts one valid message per browser API straight to the collector; the transport the
collector records must be the API used, and agree with what Playwright saw the browser do
(``Request.resource_type``: ``ping`` for sendBeacon, ``xhr``, ``fetch``). A message that claims a
transport in its payload (``_metadata.transport``) is not believed.
"""

from __future__ import annotations

import pytest

from harness.testing.device import Device

pytestmark = pytest.mark.shop(reason="the page posts its probes straight to the harness's collector")

SEND = """([how, event]) => {
  const body = JSON.stringify({type: 'track', event, anonymousId: 'transport-probe',
                               messageId: event + '-' + Date.now(), _metadata: {transport: 'carrier-pigeon'}});
  const url = '/v1/t';
  if (how === 'beacon-text') return navigator.sendBeacon(url, body);
  if (how === 'beacon-blob') return navigator.sendBeacon(url, new Blob([body], {type: 'application/json'}));
  if (how === 'fetch') return fetch(url, {method: 'POST', body}).then(() => true);
  if (how === 'fetch-request') return fetch(new Request(url, {method: 'POST', body})).then(() => true);
  if (how === 'keepalive-request') {
    return fetch(new Request(url, {method: 'POST', body, keepalive: true})).then(() => true);
  }
  if (how === 'keepalive') return fetch(url, {method: 'POST', body, keepalive: true}).then(() => true);
  if (how === 'fetchlater') { fetchLater(url, {method: 'POST', body, activateAfter: 0}); return true; }
  const x = new XMLHttpRequest(); x.open('POST', url); x.send(body); return true;
}"""
CASES = [("beacon-text", "beacon", "ping"), ("beacon-blob", "beacon", "ping"), ("fetch", "fetch", "fetch"),
         ("keepalive", "fetch-keepalive", "fetch"),
         # a Request object's body cannot be re-wrapped to carry the mark: seen as a browser, unmarked
         ("fetch-request", "browser", "fetch"), ("keepalive-request", "browser", "fetch"),
         ("xhr", "xhr", "xhr"), ("fetchlater", "fetchlater", "fetch")]


@pytest.mark.parametrize(("how", "transport", "resource_type"), CASES, ids=[c[0] for c in CASES])
def test_transport_is_the_browser_api_used(desktop: Device, beacons, how: str, transport: str,
                                           resource_type: str) -> None:
    desktop.land()
    seen: dict[str, str] = {}
    desktop.tab.on("request", lambda r: seen.setdefault(r.resource_type, r.url) if "/v1/t" in r.url else None)
    desktop.tab.evaluate(SEND, [how, f"Probe {how}"])
    [probe] = beacons.expect(event=f"Probe {how}", transport=transport)
    assert probe["_meta"]["path"] == "/v1/t", "the harness's mark is not part of the stored path"
    desktop.tab.evaluate("() => 0")  # let Playwright deliver the request event
    assert resource_type in seen, f"Playwright saw {seen}; expected a {resource_type!r} request"
    assert probe["_metadata"] == {"transport": "carrier-pigeon"}, "the payload is stored as sent, not believed"


def test_a_browser_without_the_harness_script_is_just_browser(new_context, harness_server, beacons) -> None:
    """A page the harness did not instrument (e.g. your own Chrome on ``harness serve``): ``browser``."""
    page = new_context().new_page()
    page.goto(harness_server.base_url + "/", wait_until="load")
    page.evaluate(SEND, ["beacon-text", "Unobserved"])
    assert beacons.expect(event="Unobserved")[0]["_meta"]["transport"] == "browser"
