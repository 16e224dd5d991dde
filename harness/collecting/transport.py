"""How each beacon travelled, observed in the browser, never taken from what the library says.

Measured in this Chromium (156, headless shell) for a POST to the collector:

============================  ==================  ==========================  =====================
call                          Playwright type     CDP requestWillBeSent       what the server sees
============================  ==================  ==========================  =====================
sendBeacon(text)              ping                Ping, priority VeryLow      Sec-Fetch-Mode no-cors
sendBeacon(JSON Blob)         ping                Ping, priority VeryLow      Sec-Fetch-Mode cors
fetch                         fetch               Fetch, High                 Sec-Fetch-Mode cors
fetch keepalive               fetch               Fetch, High (identical)     Sec-Fetch-Mode cors
XMLHttpRequest                xhr                 XHR, High                   Sec-Fetch-Mode cors
fetchLater                    fetch               Fetch, High                 Sec-Fetch-Mode cors
server library, curl          -                   -                           no Sec-Fetch-*, no Origin
============================  ==================  ==========================  =====================

(Sec-Fetch-* only go to trustworthy origins; to http://www.shop.test a browser's POST carries
only Origin.) So the request headers tell a browser from anything else, but not one browser
transport from another; and a keepalive fetch differs from a plain one nowhere at request time
(its only trace is that DevTools never reports a response for it). The harness therefore observes
the call itself: :data:`INIT_SCRIPT`, added to every device's browser context before any page
script runs, wraps ``navigator.sendBeacon``, ``fetch`` (reading its ``keepalive`` flag),
``fetchLater`` and ``XMLHttpRequest.open``, and marks each POST to a collector path (``/v1/``, and
RudderStack's ``/beacon/v1/``) with the query
parameter :data:`QUERY` naming the API the page used. Body, headers, method, credentials and CORS
mode are untouched (a ``fetch(new Request(...))`` with a body is left unmarked: re-wrapping it
would turn the body into a stream upload; libraries pass URLs). The collector reads the mark
(only from a browser: Sec-Fetch-Mode or Origin present) and drops it. The test
``harness/suite/test_transport.py`` checks the marks against Playwright's own ``resource_type`` for
the same requests.

Without the script (a browser the harness does not drive, e.g. ``harness serve`` with your own
Chrome) a beacon is ``browser``; a request with neither Sec-Fetch-* nor Origin is ``server``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

QUERY = "hx_transport"
# Paths of the collector the mark goes on: the tracking API, RudderStack's beacon endpoint, PostHog's capture paths.
COLLECTOR_PREFIXES = ("/v1/", "/beacon/v1/", "/posthog/e/", "/posthog/i/v0/e/", "/posthog/batch/")
OBSERVED = ("beacon", "xhr", "fetch", "fetch-keepalive", "fetchlater")
BROWSER = "browser"  # a browser sent it; which API is unknown (no harness script in that page)
SERVER = "server"  # neither Sec-Fetch-* nor Origin: not a browser (server-side libraries, curl, tests)

INIT_SCRIPT = """(() => {
  // Intilery harness: mark how each POST to a /v1/ path leaves the page (see harness/collecting/transport.py).
  if (window.__hxTransportWrapped) return;
  Object.defineProperty(window, '__hxTransportWrapped', {value: true, enumerable: false});
  const Q = "__QUERY__";
  const mark = (url, how) => {
    try {
      const u = new URL(String(url), location.href);
      if (!__PATHS__.some((p) => u.pathname.startsWith(p))) return url;
      u.searchParams.set(Q, how);  // set: whatever mark the page put in its own URL is replaced
      return u.href;
    } catch (e) { return url; }
  };
  const forged = (url) => {  // a collector URL that already carries the mark
    try {
      const u = new URL(String(url), location.href);
      return __PATHS__.some((p) => u.pathname.startsWith(p)) && u.searchParams.has(Q);
    } catch (e) { return false; }
  };
  const wrap = (owner, name, make) => {
    const original = owner && owner[name];
    if (typeof original !== 'function') return;
    const wrapped = make(original);
    try { Object.defineProperty(wrapped, 'name', {value: name}); } catch (e) { /* cosmetic */ }
    owner[name] = wrapped;
  };
  wrap(Navigator.prototype, 'sendBeacon', (original) => function (url, data) {
    return original.call(this, mark(url, 'beacon'), data);
  });
  const fetchLike = (how) => (original) => function (input, init) {
    // A Request object's body cannot be re-wrapped without turning it into a stream upload (which fails
    // over HTTP/1.1, and is refused for keepalive): sent unmarked, the collector records "browser".
    if (input instanceof Request || String((init && init.method) || 'GET').toUpperCase() !== 'POST') {
      // the mark is the harness's word: a Request the page marked itself is refused, not recorded as its claim
      if (input instanceof Request && forged(input.url)) {
        return Promise.reject(new TypeError('harness: ' + Q + ' is set by the harness, not the page'));
      }
      return original.apply(this, arguments);
    }
    return original.call(this, mark(input, how || (init.keepalive ? 'fetch-keepalive' : 'fetch')), init);
  };
  wrap(window, 'fetch', fetchLike(null));
  wrap(window, 'fetchLater', fetchLike('fetchlater'));
  wrap(XMLHttpRequest.prototype, 'open', (original) => function (method, url) {
    const args = Array.prototype.slice.call(arguments);
    if (String(method).toUpperCase() === 'POST') args[1] = mark(url, 'xhr');
    return original.apply(this, args);
  });
})();""".replace("__QUERY__", QUERY).replace("__PATHS__", json.dumps(list(COLLECTOR_PREFIXES)))


def is_collector_path(path: str) -> bool:
    """A path the collector answers (``/v1/...``, ``/beacon/v1/...``): what the page's mark goes on."""
    return path.startswith(COLLECTOR_PREFIXES)


def observed(query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The transport of one collector request: the page's mark, else what the headers allow to say.

    A browser's POST carries Sec-Fetch-Mode (to a trustworthy origin: https, localhost, 127.0.0.1)
    and always an Origin header (also to plain-http hosts such as www.shop.test, where Chromium
    sends no Sec-Fetch-*); a server-side library sends neither.
    """
    if not headers.get("Sec-Fetch-Mode") and not headers.get("Origin"):
        return SERVER
    if headers.get("Sec-Fetch-Mode") == "navigate" or len(getall(query, QUERY)) != 1:
        return BROWSER  # a form post is no script API; two marks: the page added its own
    mark = query.get(QUERY)
    return mark if mark in OBSERVED else BROWSER


def getall(query: Mapping[str, str], name: str) -> list[str]:
    """Every value of ``name`` in a query (a MultiDict's getall; a plain mapping has at most one)."""
    many = getattr(query, "getall", None)
    if many is not None:
        return list(many(name, []))
    return [query[name]] if name in query else []


def observe(context: object) -> None:
    """Install the observer on a Playwright browser context (sync API) before its pages open."""
    context.add_init_script(INIT_SCRIPT)  # type: ignore[attr-defined]


async def observe_async(context: object) -> None:
    """:func:`observe` for Playwright's async API."""
    await context.add_init_script(INIT_SCRIPT)  # type: ignore[attr-defined]
