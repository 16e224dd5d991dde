"""A profile as its vendor's CDN: exactly what it declares is served under /snippet-assets/, nothing else.

Regression tests for the old behaviour (the whole profile folder was served: dotfiles, profile.toml,
templates, and subfolders through %2F). Plain HTTP against a real server; no browser needed.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Generator
from pathlib import Path

import pytest

from harness.keys import Config
from harness.resources import npm_modules
from harness.server import HarnessServer
from harness.sites.snippet import ProfileError, load_profile

PROFILE_TOML = """
name = "cdn-test"
template = "snippet.html.j2"

[library]
name = "cdn-test-lib"
not_loaded = "!window.analytics.initialized"

[[assets]]
path = "lib/v1/{write_key}/lib.min.js"
file = "dist/lib.js"

[[assets]]
path = "bundles/"
dir = "dist/chunks"

[[routes]]
path = "v1/projects/{write_key}/settings"
template = "settings.json.j2"

[[routes]]
path = "config/source"
template = "config.json.j2"

[[routes]]
path = "control/sourceConfig/"
template = "config.json.j2"
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def cdn_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write(tmp_path_factory.mktemp("cdn-profile"), {
        "profile.toml": PROFILE_TOML,
        "snippet.html.j2": "<script src='{{ cdn_url }}/lib/v1/{{ write_key }}/lib.min.js'></script>",
        "settings.json.j2": '{"apiHost": {{ (collector_host ~ "/v1")|tojson }}, "key": {{ params.write_key|tojson }},'
                            ' "scheme": {{ collector_scheme|tojson }}, "origin": {{ collector_origin|tojson }},'
                            ' "assets": {{ asset_origin|tojson }}}',
        "config.json.j2": '{"ok": true}',
        "dist/lib.js": "window.lib = 1;",
        "dist/chunks/a.bundle.js": "chunk a",
        "dist/chunks/deep/er/b.bundle.js": "chunk b",
        "dist/chunks/.hidden.js": "hidden",
        "dist/chunks/.git/config": "secret",
        "dist/secret.txt": "not declared",
        ".env": "TOKEN=1",
    })
    (root / "dist" / "chunks" / "escape.js").symlink_to(root / "dist" / "secret.txt")
    return root


@pytest.fixture(scope="module")
def cdn_server(cdn_profile: Path) -> Generator[HarnessServer, None, None]:
    server = HarnessServer(snippet=str(cdn_profile), config=Config(write_key="wk-1")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def folder_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No [[assets]]: only the snippet's own entry (the files its template names) is served."""
    return write(tmp_path_factory.mktemp("folder-profile"), {
        "profile.toml": 'name = "mine"\n',
        "snippet.html.j2": "<script src='{{ asset_url }}my-build.js'></script>"
                           "<script src='{{ cdn_url }}/sub/entry.js'></script>"
                           "<script src='{{ asset_url }}../outside.js'></script>",
        "sub/entry.js": "entry",
        "harness.db": "SQLite format 3",
        "harness.db-wal": "an e-mail",
        "partial.j2": "{{ write_key }}",
        "my-build.js": "window.mine = 1;",
        "sub/more.js": "more",
        ".secret": "s",
        "sub/.also-secret": "s",
    })


@pytest.fixture(scope="module")
def folder_server(folder_profile: Path) -> Generator[HarnessServer, None, None]:
    server = HarnessServer(snippet=str(folder_profile)).start()
    yield server
    server.stop()


def get(server: HarnessServer, path: str) -> tuple[int, str, dict[str, str]]:
    """A raw GET (the path is sent exactly as written: no client-side normalisation of .. or %2F)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace"), dict(response.getheaders())
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "body"), [
    ("/snippet-assets/lib/v1/wk-1/lib.min.js", "window.lib = 1;"),
    ("/snippet-assets/lib/v1/any-key/lib.min.js", "window.lib = 1;"),
    ("/snippet-assets/bundles/a.bundle.js", "chunk a"),
    ("/snippet-assets/bundles/deep/er/b.bundle.js", "chunk b"),
    ("/snippet-assets/config/source", '{"ok": true}'),
    ("/snippet-assets/control/sourceConfig/", '{"ok": true}'),  # a route declared with a trailing slash
    ("/snippet-assets/control/sourceConfig/?p=npm&writeKey=wk-1", '{"ok": true}'),
])
def test_declared_files_and_routes_are_served_at_any_depth(cdn_server: HarnessServer, path: str, body: str) -> None:
    status, text, headers = get(cdn_server, path)
    assert (status, text) == (200, body)
    assert headers["Cache-Control"] == "no-store", "library files are fetched on every page (faults apply)"


def test_settings_route_is_rendered_with_the_collector_and_path_parameters(cdn_server: HarnessServer) -> None:
    status, text, headers = get(cdn_server, "/snippet-assets/v1/projects/wk-1/settings")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(text) == {"apiHost": f"127.0.0.1:{cdn_server.port}/v1", "key": "wk-1", "scheme": "http",
                                "origin": f"http://127.0.0.1:{cdn_server.port}",
                                "assets": f"http://127.0.0.1:{cdn_server.port}"}


@pytest.mark.parametrize("path", [
    "/snippet-assets/profile.toml",
    "/snippet-assets/snippet.html.j2",
    "/snippet-assets/settings.json.j2",
    "/snippet-assets/.env",
    "/snippet-assets/dist/lib.js",  # the source file is served only at its declared path
    "/snippet-assets/dist/secret.txt",
    "/snippet-assets/bundles/.hidden.js",
    "/snippet-assets/bundles/.git/config",
    "/snippet-assets/bundles/escape.js",  # a symlink out of the declared folder
    "/snippet-assets/bundles/../../profile.toml",
    "/snippet-assets/bundles/%2E%2E/%2E%2E/profile.toml",
    "/snippet-assets/bundles/..%2F..%2Fprofile.toml",
    "/snippet-assets/bundles%2F..%2F..%2Fprofile.toml",
    "/snippet-assets/bundles//a.bundle.js",
    "/snippet-assets/bundles/",
    "/snippet-assets/",
    "/snippet-assets/v1/projects/wk-1/settings/extra",
    "/snippet-assets/lib/v1/wk-1/other.js",
    "/snippet-assets/config/source/",  # the slash is part of a route's path: exactly one form is declared
    "/snippet-assets/control/sourceConfig",
    "/snippet-assets/control/",
])
def test_nothing_undeclared_is_served(cdn_server: HarnessServer, path: str) -> None:
    status, text, _ = get(cdn_server, path)
    assert status == 404, f"{path} answered {status}: {text[:80]!r}"


@pytest.mark.parametrize(("path", "status"), [
    ("/snippet-assets/my-build.js", 200),
    ("/snippet-assets/sub/entry.js", 200),
    ("/snippet-assets/sub/more.js", 404),  # in the folder, but not the snippet's entry: declare it
    ("/snippet-assets/harness.db", 404),  # a --db kept in the profile folder
    ("/snippet-assets/harness.db-wal", 404),
    ("/snippet-assets/profile.toml", 404),
    ("/snippet-assets/snippet.html.j2", 404),
    ("/snippet-assets/partial.j2", 404),
    ("/snippet-assets/.secret", 404),
    ("/snippet-assets/sub/.also-secret", 404),
    ("/snippet-assets/sub%2F.also-secret", 404),
    ("/snippet-assets/sub/..%2Fprofile.toml", 404),
])
def test_a_profile_without_assets_serves_its_snippets_entry_only(folder_server: HarnessServer, path: str,
                                                            status: int) -> None:
    assert get(folder_server, path)[0] == status


@pytest.mark.parametrize("host", ["rebind.evil.test", "evil.test:80"])
def test_assets_keep_the_host_rule(folder_server: HarnessServer, host: str) -> None:
    """A DNS-rebinding page must not read the profile's files (they live on the user's disk)."""
    conn = http.client.HTTPConnection("127.0.0.1", folder_server.port, timeout=10)
    try:
        conn.request("GET", "/snippet-assets/my-build.js", headers={"Host": host})
        response = conn.getresponse()
        assert response.status == 403, response.read()[:80]
    finally:
        conn.close()
    assert get(folder_server, "/snippet-assets/my-build.js")[0] == 200


def test_npm_sources_stay_inside_the_npm_packages(tmp_path: Path) -> None:
    """``npm:../../../../etc/passwd`` climbed out of node_modules and was served."""
    write(tmp_path / "p", {"profile.toml": '[[assets]]\npath = "p.txt"\nfile = "npm:../../../../../../../etc/passwd"\n',
                           "snippet.html.j2": ""})
    with pytest.raises(ProfileError, match="outside the npm packages folder"):
        load_profile(str(tmp_path / "p"))
    write(tmp_path / "q", {"profile.toml": '[[assets]]\npath = "x/"\ndir = "npm:@segment/../../../.."\n',
                           "snippet.html.j2": ""})
    with pytest.raises(ProfileError, match="outside the npm packages folder"):
        load_profile(str(tmp_path / "q"))


def test_library_file_faults_apply_to_every_asset_and_route(cdn_server: HarnessServer) -> None:
    """A slow, failing or unreachable CDN: the script-delay, -status and -drop faults hit every library file."""
    cdn_server.faults.clear()
    cdn_server.faults.configure({"script_status": 503, "count": 2})
    assert get(cdn_server, "/snippet-assets/bundles/a.bundle.js")[0] == 503
    assert get(cdn_server, "/snippet-assets/v1/projects/wk-1/settings")[0] == 503
    assert get(cdn_server, "/snippet-assets/bundles/a.bundle.js")[0] == 200
    cdn_server.faults.configure({"script_drop": True, "count": 1})
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        get(cdn_server, "/snippet-assets/lib/v1/wk-1/lib.min.js")
    cdn_server.faults.configure({"script_delay_ms": 300})
    started = time.monotonic()
    assert get(cdn_server, "/snippet-assets/v1/projects/wk-1/settings")[0] == 200
    assert time.monotonic() - started >= 0.3
    cdn_server.faults.clear()
    assert get(cdn_server, "/snippet-assets/nothing-here")[0] == 404, "undeclared paths are 404 before any fault"


@pytest.mark.parametrize(("toml", "error"), [
    ('[[assets]]\npath = "x.js"\nfile = "missing.js"\n', "does not exist"),
    ('[[assets]]\npath = "x.js"\nfile = "../outside.js"\n', "outside the profile folder"),
    ('[[assets]]\npath = "x/"\n', "needs 'file' or 'dir'"),
    ('[[assets]]\npath = ".hidden.js"\nfile = "snippet.html.j2"\n', "dot segment"),
    ('[[assets]]\npath = "lib.js"\nfile = "npm:@nobody/not-installed/x.js"\n', "harness install"),
    ('[[routes]]\npath = "settings"\ntemplate = "nope.j2"\n', "does not exist"),
    ('[storage]\ncookie = "rot13"\n', "unknown storage encoding 'rot13'"),
    ('[delivery]\ndefault = "fast"\n[delivery.modes.slow]\nsummary = "s"\n', "not one of its"),
    ('[api]\nglobal = "window.x"\n', "not a JavaScript identifier"),
    ('[api]\nanonymousId = "lib.id()"\n', "unknown \\[api\\] entry 'anonymousId'"),
    ('[api.missing]\nuser = "no"\n', "unknown \\[api.missing\\] entry 'user'"),
    ('[api]\nreset = "lib.reset()"\n[api.missing]\nreset = "none"\n', "both given and listed"),
])
def test_bad_profiles_say_what_is_wrong(tmp_path: Path, toml: str, error: str) -> None:
    write(tmp_path / "p", {"profile.toml": toml, "snippet.html.j2": ""})
    (tmp_path / "outside.js").write_text("x")
    with pytest.raises(ProfileError, match=error):
        load_profile(str(tmp_path / "p"))


def test_bundled_profiles_load() -> None:
    for name in ("intilery", "broken-reset", "hostonly", "analytics-next", "rudderstack"):
        profile = load_profile(name)
        assert profile.enabled and profile.library and profile.not_loaded
    nxt = load_profile("analytics-next")
    assert nxt.library == "analytics-next" and nxt.library_version == "1.84.3"
    served = nxt.serve("analytics.js/v1/some-key/analytics.min.js")
    assert served is not None and served.file is not None and served.file.name == "standalone.js"
    assert served.file.is_relative_to(npm_modules()), "from the npm lockfile install (harness install), not vendored"


def test_rudderstack_is_its_own_cdn_and_control_plane() -> None:
    """The stand-in entry file is the profile's; the SDK itself is the npm package's file, unchanged."""
    rs = load_profile("rudderstack")
    assert (rs.library, rs.library_version, rs.api.global_name) == ("rudderstack", "3.34.1", "rudderanalytics")
    entry = rs.serve("v3/modern/rsa.min.js")
    assert entry is not None and entry.file is not None and entry.file.parent.name == "rudderstack"
    sdk = rs.serve("v3/modern/npm/modern/bundled/esm/index.mjs")
    assert sdk is not None and sdk.file is not None
    assert sdk.file.is_relative_to(npm_modules() / "@rudderstack" / "analytics-js"), sdk.file
    config = rs.serve("sourceConfig/")
    assert config is not None and config.route is not None
    doc = json.loads(rs.render_route(config.route, write_key="wk-9", params={}))
    source = doc["source"]
    assert source["writeKey"] == "wk-9" and source["enabled"] is True and source["destinations"] == []
    assert source["config"]["statsCollection"] == {"errors": {"enabled": False}, "metrics": {"enabled": False}}
    assert rs.serve("sourceConfig") is None and rs.serve("v3/modern/plugins/rsa-plugins.js") is None


def test_rudderstack_files_are_served_as_javascript() -> None:
    """``import()`` refuses a module served with a non-JavaScript type, whatever the OS maps .mjs to."""
    with HarnessServer(snippet="rudderstack", db=":memory:") as server:
        for path in ("/snippet-assets/v3/modern/rsa.min.js",
                     "/snippet-assets/v3/modern/npm/modern/bundled/esm/index.mjs"):
            status, _, headers = get(server, path)
            assert status == 200 and headers["Content-Type"].startswith("text/javascript"), (path, headers)
        status, text, headers = get(server, "/snippet-assets/sourceConfig/?p=npm&v=3.34.1&writeKey=harness-dev-key")
        assert status == 200 and json.loads(text)["source"]["writeKey"] == "harness-dev-key"


def test_an_edited_snippet_or_route_template_is_served_as_edited(tmp_path: Path) -> None:
    """Templates compile once per process (not per page), yet a profile edited while serving is seen at once."""
    root = write(tmp_path, {"profile.toml": PROFILE_TOML, "snippet.html.j2": "<script>window.v = 'one';</script>",
                            "settings.json.j2": '{"v": 1}', "config.json.j2": "{}", "dist/lib.js": "",
                            "dist/chunks/a.js": ""})
    server = HarnessServer(snippet=str(root)).start()
    try:
        assert "window.v = 'one'" in get(server, "/")[1]
        assert json.loads(get(server, "/snippet-assets/v1/projects/k/settings")[1]) == {"v": 1}
        later = time.time() + 5  # a later modification time, whatever the file system's resolution
        for name, text in (("snippet.html.j2", "<script>window.v = 'two';</script>"), ("settings.json.j2", '{"v": 2}')):
            (root / name).write_text(text)
            os.utime(root / name, (later, later))
        page = get(server, "/")[1]
        assert "window.v = 'two'" in page and "window.v = 'one'" not in page
        assert json.loads(get(server, "/snippet-assets/v1/projects/k/settings")[1]) == {"v": 2}
    finally:
        server.stop()
