"""Issue 29 item 8: the transport recorded is the harness's observation, not the page's word.

A page could choose what was recorded by putting ``hx_transport=`` in its own beacon URL (the page script
kept a mark it found). Real Chromium, a harness page with the observer installed, each forgery tried.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from harness.browser import launch_args
from harness.collecting.transport import observe
from harness.server import HarnessServer


@pytest.fixture(scope="module")
def observed_page() -> Generator[tuple[Any, HarnessServer], None, None]:
    from playwright.sync_api import sync_playwright

    with HarnessServer(snippet="none") as server, sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_args(headless=True))
        context = browser.new_context()
        observe(context)
        page = context.new_page()
        page.goto(server.base_url + "/")
        yield page, server
        browser.close()


SEND = """async ([how, url, id]) => {
  const body = JSON.stringify({type: 'track', event: 'E', anonymousId: 'a', messageId: id});
  if (how === 'fetch') {
    await fetch(url, {method: 'POST', body, headers: {'Content-Type': 'text/plain'}});
    return 'sent';
  }
  if (how === 'beacon') { return navigator.sendBeacon(url, body) ? 'sent' : 'refused'; }
  if (how === 'request') {
    try { await fetch(new Request(url, {method: 'POST', body})); return 'sent'; } catch (e) { return String(e); }
  }
  if (how === 'xhr') {
    await new Promise((done) => {
      const x = new XMLHttpRequest(); x.open('POST', url); x.onloadend = done; x.send(body);
    });
    return 'sent';
  }
}"""


@pytest.mark.parametrize(("how", "url", "recorded"), [
    ("fetch", "/v1/track?hx_transport=beacon", "fetch"),
    ("fetch", "/v1/track?hx_transport=beacon&hx_transport=beacon", "fetch"),
    ("beacon", "/v1/track?hx_transport=fetch-keepalive", "beacon"),
    ("xhr", "/v1/track?hx_transport=beacon", "xhr"),
    ("fetch", "/v1/track", "fetch"),
])
def test_a_page_cannot_choose_its_recorded_transport(observed_page: tuple[Any, HarnessServer], how: str, url: str,
                                                     recorded: str) -> None:
    page, server = observed_page
    server.store.clear()
    message_id = f"forge-{how}-{len(url)}"
    assert page.evaluate(SEND, [how, url, message_id]) == "sent"
    stored = server.store.wait_for(type="track", messageId=message_id, timeout=10)
    assert stored[0]["_meta"]["transport"] == recorded


def test_a_request_object_with_its_own_mark_is_refused(observed_page: tuple[Any, HarnessServer]) -> None:
    page, server = observed_page
    server.store.clear()
    reply = page.evaluate(SEND, ["request", "/v1/track?hx_transport=beacon", "forge-request"])
    assert "set by the harness" in reply
    assert page.evaluate(SEND, ["request", "/v1/track", "plain-request"]) == "sent"
    stored = server.store.wait_for(type="track", messageId="plain-request", timeout=10)
    assert stored[0]["_meta"]["transport"] == "browser", "a Request object is sent unmarked"
    assert server.store.query(messageId="forge-request") == []


def test_a_mark_on_a_form_post_is_not_believed() -> None:
    from harness.collecting.transport import observed

    headers = {"Origin": "http://www.shop.test", "Sec-Fetch-Mode": "navigate"}
    assert observed({"hx_transport": "beacon"}, headers) == "browser"
