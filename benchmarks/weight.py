"""Library weight: gzip -9 size and navigation-start -> ``ready`` time, ours beside Segment's.

The well-known analytics.js-compatible library is ``@segment/analytics-next`` from the npm
registry (``npm pack`` into ``benchmarks/.work/``, pinned below). Its standalone bundle is what
Segment's snippet loads from its CDN; here every file is served from loopback: the snippet sets
``analytics._cdn`` to a local site that serves the bundle, its lazily loaded chunks and a settings
document pointing the Segment.io destination at the harness collector (metrics off), so nothing
leaves the machine (any non-loopback request is counted and reported). Both libraries load in
the same browser, alternately, each navigation in a fresh context (cold cache); each page embeds
the library's own loader snippet, makes one ``page()`` call and records ``ready``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.sync_api import Browser, sync_playwright

from benchmarks import ROOT, WORK, Result, median
from harness import browser as browser_mod
from harness.server import HarnessServer
from harness.sites.snippet import load_profile

SEGMENT_SPEC = os.environ.get("BENCH_SEGMENT_SPEC", "@segment/analytics-next@1.84.3")
OURS = ROOT / "static" / "intilery.js"
WRITE_KEY = "benchWriteKey"
ROUNDS = 15
# the size target: "a fraction of its size and load time"
FRACTION = 0.5
# only loopback: a request for any other host fails at once instead of waiting for DNS
OFFLINE_FLAG = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"

TIMES_JS = ("() => [window.__readyAt, performance.timeOrigin, "
            "performance.getEntriesByType('navigation')[0].responseEnd]")
READY_JS = "<script>analytics.ready(function () { window.__readyAt = performance.now(); });</script>"

# Segment's published loader snippet (v5.2.0 shape), with its CDN replaced by the local one.
SEGMENT_SNIPPET = """<script>
!function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)if(analytics.invoked)
window.console&&console.error&&console.error("Segment snippet included twice.");else{analytics.invoked=!0;
analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track",
"ready","alias","debug","page","screen","once","off","on","addSourceMiddleware","addIntegrationMiddleware",
"setAnonymousId","addDestinationMiddleware","register"];analytics.factory=function(e){return function(){
if(window[i].initialized)return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);
if(["track","screen","alias","group","page","identify"].indexOf(e)>-1){
var c=document.querySelector("link[rel='canonical']");
n.push({__t:"bpc",c:c&&c.getAttribute("href")||void 0,p:location.pathname,u:location.href,s:location.search,
t:document.title,r:document.referrer})}n.unshift(e);analytics.push(n);return analytics}};
for(var n=0;n<analytics.methods.length;n++){var key=analytics.methods[n];analytics[key]=analytics.factory(key)}
analytics.load=function(key,n){var t=document.createElement("script");t.type="text/javascript";t.async=!0;
t.setAttribute("data-global-segment-analytics-key",i);t.src=CDN+"/analytics.js/v1/"+key+"/analytics.min.js";
var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);analytics._loadOptions=n};
analytics._cdn=CDN;analytics._writeKey=WRITE_KEY;analytics.SNIPPET_VERSION="5.2.0";
analytics.load(WRITE_KEY);analytics.page();}}();
</script>"""

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><h1>{title}</h1><p>Library weight benchmark page.</p></body></html>"""


def gz9(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def fetch_segment(work: Path = WORK / "npm") -> tuple[Path | None, str]:
    """``npm pack`` the pinned package (once) and unpack it; (package dir or None, what happened)."""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed: the side-by-side comparison was skipped (install nodejs/npm)"
    work.mkdir(parents=True, exist_ok=True)
    unpacked = work / SEGMENT_SPEC.replace("/", "_").replace("@", "")
    if (unpacked / "package" / "dist" / "umd" / "standalone.js").is_file():
        return unpacked / "package", f"{SEGMENT_SPEC} (cached in {unpacked.relative_to(ROOT)})"
    try:
        out = subprocess.run([npm, "pack", SEGMENT_SPEC, "--silent", "--pack-destination", str(work)],
                             capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"npm pack {SEGMENT_SPEC} timed out: comparison skipped"
    name = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    tarball = work / name
    if out.returncode != 0 or not name or not tarball.is_file():
        return None, f"npm pack {SEGMENT_SPEC} failed (rc={out.returncode}): {out.stderr.strip()[-300:]}"
    unpacked.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(unpacked, filter="data")
    return unpacked / "package", f"{SEGMENT_SPEC} (npm pack)"


def segment_settings(collector_host: str) -> dict[str, Any]:
    """A CDN settings document: only the Segment.io destination, aimed at the harness collector."""
    return {
        "integrations": {"Segment.io": {"apiKey": WRITE_KEY, "apiHost": f"{collector_host}/v1", "protocol": "http",
                                        "unbundledIntegrations": [], "addBundledMetadata": True,
                                        "maybeBundledConfigIds": {}}},
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {}, "analyticsNextEnabled": True, "middlewareSettings": {}, "enabledMiddleware": {},
        "metrics": {"sampleRate": 0}, "legacyVideoPluginsEnabled": False, "remotePlugins": [],
    }


class Site:
    """The two benchmark pages and the libraries' files, on a loopback aiohttp server in a thread."""

    def __init__(self, collector: HarnessServer, segment_dir: Path | None) -> None:
        self.collector = collector
        self.umd = segment_dir / "dist" / "umd" if segment_dir else None
        self.base = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-site")

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/intilery.html", self.intilery_page)
        app.router.add_get("/lib/intilery.js", lambda r: web.FileResponse(OURS))
        if self.umd is not None:
            app.router.add_get("/segment.html", self.segment_page)
            app.router.add_get("/segcdn/analytics.js/v1/{key}/analytics.min.js",
                               lambda r: web.FileResponse(self.umd / "standalone.js"))  # type: ignore[operator]
            app.router.add_get("/segcdn/v1/projects/{key}/settings", self.settings)
            app.router.add_static("/segcdn/analytics-next/bundles/", self.umd)
        return app

    async def intilery_page(self, request: web.Request) -> web.Response:
        snippet = load_profile("intilery").render(collector_url=self.collector.base_url, write_key=WRITE_KEY,
                                                  library_url="/lib/intilery.js", load_options={}, asset_url="/")
        return web.Response(text=PAGE.format(title="intilery.js", head=snippet + READY_JS), content_type="text/html")

    async def segment_page(self, request: web.Request) -> web.Response:
        snippet = SEGMENT_SNIPPET.replace("CDN", json.dumps(self.base + "/segcdn"), 2).replace(
            "WRITE_KEY", json.dumps(WRITE_KEY))
        return web.Response(text=PAGE.format(title="analytics-next", head=snippet + READY_JS),
                            content_type="text/html")

    async def settings(self, request: web.Request) -> web.Response:
        host = self.collector.base_url.split("://", 1)[1]
        return web.json_response(segment_settings(host), headers={"Access-Control-Allow-Origin": "*"})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self._app(), access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())

    def start(self) -> Site:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _load_once(browser: Browser, url: str, collector: HarnessServer,
               escaped: list[str]) -> dict[str, Any]:
    """One cold navigation: ready time, first beacon time, the scripts fetched."""
    collector.store.clear()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    scripts: list[str] = []
    page.on("request", lambda r: escaped.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:",
                                                                                  "about:")) else None)
    page.on("response", lambda r: scripts.append(r.url) if r.request.resource_type == "script" else None)
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function("() => window.__readyAt !== undefined", timeout=15_000)
        ready_ms, origin_ms, html_ms = page.evaluate(TIMES_JS)
        beacon = collector.store.wait_for("page", timeout=10)[0]
        first_beacon_ms = beacon["_meta"]["received_ms"] - origin_ms
    finally:
        context.close()
    return {"ready": ready_ms, "beacon": first_beacon_ms, "after_html": ready_ms - html_ms, "scripts": scripts}


def _script_bytes(urls: list[str], site: Site) -> tuple[int, int]:
    """(raw bytes, gzip -9 bytes) of the distinct library scripts a page fetched."""
    raw = gz = 0
    for url in dict.fromkeys(urls):
        path = url.split(site.base, 1)[-1].split("?", 1)[0]
        if path == "/lib/intilery.js":
            file = OURS
        elif site.umd is not None and path.startswith("/segcdn/analytics.js/"):
            file = site.umd / "standalone.js"
        elif site.umd is not None and path.startswith("/segcdn/analytics-next/bundles/"):
            file = site.umd / path.rsplit("/", 1)[1]
        else:
            continue
        data = file.read_bytes()
        raw += len(data)
        gz += gz9(data)
    return raw, gz


def run(rounds: int = ROUNDS) -> Result:
    result = Result("Library weight")
    started = time.perf_counter()
    segment_dir, how = fetch_segment()
    version = ""
    if segment_dir is not None:
        version = json.loads((segment_dir / "package.json").read_text()).get("version", "?")
    ours = OURS.read_bytes()
    result.figure("intilery.js (static/intilery.js)", f"{len(ours):,} B raw, {gz9(ours):,} B gzip -9")
    if segment_dir is not None:
        standalone = (segment_dir / "dist" / "umd" / "standalone.js").read_bytes()
        result.figure(f"@segment/analytics-next {version} standalone.js",
                      f"{len(standalone):,} B raw, {gz9(standalone):,} B gzip -9")
    else:
        result.notes.append(how)
    samples: dict[str, list[dict[str, Any]]] = {"intilery": [], "segment": []}
    escaped: list[str] = []
    with sync_playwright() as pw:
        collector = HarnessServer().start()
        site = Site(collector, segment_dir).start()
        browser = pw.chromium.launch(**browser_mod.launch_args(extra_args=[OFFLINE_FLAG]))
        try:
            names = [name for name in samples if name != "segment" or segment_dir is not None]
            for name in names:  # warm-up (browser processes, Python imports)
                _load_once(browser, f"{site.base}/{name}.html", collector, escaped)
            for _ in range(rounds):
                for name in names:
                    samples[name].append(_load_once(browser, f"{site.base}/{name}.html", collector, escaped))
        finally:
            browser.close()
            site.stop()
            collector.stop()
    figures: dict[str, dict[str, float]] = {}
    for name, runs in samples.items():
        if not runs:
            continue
        raw, gz = _script_bytes(runs[-1]["scripts"], site)
        figures[name] = {"ready": median([r["ready"] for r in runs]), "beacon": median([r["beacon"] for r in runs]),
                         "after_html": median([r["after_html"] for r in runs]),
                         "raw": raw, "gz": gz, "files": len(dict.fromkeys(runs[-1]["scripts"]))}
        label = "intilery.js" if name == "intilery" else f"analytics-next {version}"
        f = figures[name]
        result.figure(f"{label}: navigation start -> ready (median of {len(runs)})", f"{f['ready']:.1f} ms")
        result.figure(f"{label}: HTML received -> ready (the library's own share)", f"{f['after_html']:.1f} ms")
        result.figure(f"{label}: navigation start -> page() at collector", f"{f['beacon']:.1f} ms")
        result.figure(f"{label}: library JS fetched", f"{f['files']:.0f} file(s), {f['raw']:,.0f} B raw, "
                                                       f"{f['gz']:,.0f} B gzip -9")
    if escaped:
        result.notes.append(f"{len(escaped)} request(s) left loopback and were refused: {sorted(set(escaped))[:5]}")
    else:
        result.figure("requests beyond 127.0.0.1", "none")
    if "segment" in figures:
        us, them = figures["intilery"], figures["segment"]
        size_ratio = us["gz"] / them["gz"]
        time_ratio = us["ready"] / them["ready"]
        result.check("gzip size, ours / analytics-next (all JS fetched)", f"{size_ratio:.2f} "
                     f"({us['gz']:,.0f} / {them['gz']:,.0f} B)", f"< {FRACTION}", size_ratio < FRACTION)
        result.check("navigation -> ready, ours / analytics-next", f"{time_ratio:.2f} "
                     f"({us['ready']:.0f} / {them['ready']:.0f} ms)", f"< {FRACTION}", time_ratio < FRACTION)
    else:
        result.check("gzip size vs analytics-next", "n/a", f"< {FRACTION}", None)
        result.check("navigation -> ready vs analytics-next", "n/a", f"< {FRACTION}", None)
    if segment_dir is not None:
        result.notes.append(f"comparison library: {how}")
    result.seconds = time.perf_counter() - started
    return result


if __name__ == "__main__":
    from benchmarks.report import print_results

    print_results([run()])
