"""Issue 29 item 7: the user's own files (profiles, site maps, scripts, plans, saved conformance runs) are input.

Each mistake, however hostile, is one ``harness:`` line (or one error of the loader's own type), never a
traceback or a hang; every string a saved run puts into the Markdown matrix is escaped.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Generator
from pathlib import Path

import pytest
from aiohttp import web

from harness.identity.matrix import Column, read_matrix, render
from harness.identity.plan import PlanError, load_plan
from harness.server import HarnessServer
from harness.sites.sitemap import Person, SiteMapError, load_site_map
from harness.sites.snippet import ProfileError, load_profile
from harness.sites.steps import StepError, absolute, parse_script

ROOT = Path(__file__).resolve().parents[2]
DEEP = 5_000


def _harness(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


# ---- nesting: 5,000 levels of TOML / JSON / YAML -----------------------------------------------------------
@pytest.mark.parametrize(("name", "text"), [
    ("plan.json", "[" * DEEP + "]" * DEEP),
    ("plan.yaml", "events: " + "[" * DEEP + "]" * DEEP + "\n"),
    ("plan.json", '{"events": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}"),  # parses, but too deep to judge by
])
def test_a_deeply_nested_plan_is_one_line(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(PlanError, match="nested deeper than 64 levels") as caught:
        load_plan(tmp_path / name)
    assert "\n" not in str(caught.value)


LAUGHS = "".join(f"x-{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else '"lol"'] * 10) + "]\n" for i in range(9))


def test_a_billion_laughs_plan_is_refused_at_once(tmp_path: Path) -> None:
    """Aliases repeating a list: 10^9 values in a few hundred bytes (walking them took minutes)."""
    import time

    (tmp_path / "plan.yaml").write_text(LAUGHS + "events: {}\n")
    started = time.monotonic()
    with pytest.raises(PlanError, match="holds more than 200,000 values"):
        load_plan(tmp_path / "plan.yaml")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("schema", "message"), [
    ("{$ref: 'http://127.0.0.1:9/x.json'}", "names another document"),
    ("{$ref: '#/$defs/nope'}", "points at nothing"),
    ("{$ref: '#nowhere'}", r"names no \$anchor"),
])
def test_a_plan_reference_the_lint_cannot_resolve_offline_is_one_line(tmp_path: Path, schema: str,
                                                                       message: str) -> None:
    """The lint crashed later (Unresolvable) on these; a remote one would have needed the network."""
    (tmp_path / "plan.yaml").write_text(f"events:\n  E:\n    properties: {schema}\n")
    with pytest.raises(PlanError, match=message):
        load_plan(tmp_path / "plan.yaml")
    ok = "events:\n  E:\n    properties: {$ref: '#/$defs/a', $defs: {a: {type: object}}}\n"
    (tmp_path / "ok.yaml").write_text(ok)
    assert load_plan(tmp_path / "ok.yaml")["events"]["E"]


def test_a_deeply_nested_profile_site_map_or_script_is_one_line(tmp_path: Path) -> None:
    deep = "x = " + "[" * DEEP + "]" * DEEP + "\n"
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "profile.toml").write_text(deep)
    (tmp_path / "p" / "snippet.html.j2").write_text("")
    with pytest.raises(ProfileError, match="nested deeper than 64 levels"):
        load_profile(str(tmp_path / "p"))
    (tmp_path / "map.toml").write_text(deep)
    with pytest.raises(SiteMapError, match="not valid TOML"):
        load_site_map(tmp_path / "map.toml")
    with pytest.raises(StepError, match="nested deeper than 64 levels"):
        parse_script("steps = " + "[" * DEEP + "]" * DEEP + "\n")


# ---- profiles: every value of the wrong type is one line -------------------------------------------------------
@pytest.mark.parametrize(("toml", "message"), [
    ("keys = 3", "keys must be a table, not int"),
    ("keys = {anonymous_id = 3}", "[keys] anonymous_id must be a string"),
    ("assets = [3]", "[[assets]] 1 must be a table"),
    ("routes = 3", "routes must be an array"),
    ("template = 3", "template must be a string"),
    ("[library]\ncookie_scopes = 3", "[library] cookie_scopes must be an array"),
    ("[delivery]\nmodes = 3", "[delivery] modes must be a table"),
    ('[delivery.modes.x]\nhold_ms = "abc"', "[delivery.modes.x] hold_ms must be a whole number"),
    ("storage = 3", "storage must be a table"),
    ("[storage]\nkeys = 3", "[storage] keys must be a table"),
    ('template = "../../../../etc/passwd"', "must be a file inside the profile folder"),
    ('template = "/etc/passwd"', "must be a file inside the profile folder"),
    ('[[routes]]\npath = "s"\ntemplate = "../x.j2"', "must be a file inside the profile folder"),
])
def test_a_profile_value_of_the_wrong_type_is_one_line(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "profile.toml").write_text(toml + "\n")
    (tmp_path / "p" / "snippet.html.j2").write_text("")
    (tmp_path / "x.j2").write_text("")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(tmp_path / "p"))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_declared_as_the_profile_itself_serves_no_profile_file_nor_store(tmp_path: Path) -> None:
    from harness.collecting.store import BeaconStore

    root = tmp_path / "p"
    root.mkdir()
    (root / "profile.toml").write_text('[[assets]]\npath = "all/"\ndir = "."\n[[assets]]\npath = "db"\n'
                                       'file = "beacons.sqlite"\n')
    (root / "snippet.html.j2").write_text("")
    (root / "lib.js").write_text("window.lib = 1;")
    store = BeaconStore(str(root / "beacons.sqlite"))
    store.add([{"type": "identify", "userId": "u", "traits": {"email": "rita@acme.example"}, "messageId": "m"}])
    profile = load_profile(str(root))
    served = profile.serve("all/lib.js")
    assert served is not None and served.file is not None
    for tail in ("all/profile.toml", "all/snippet.html.j2", "all/beacons.sqlite", "all/beacons.sqlite-wal",
                 "all/beacons.sqlite-shm", "db"):
        assert profile.serve(tail) is None, tail
    store.close()


# ---- site-map placeholders and paths (already fixed: verified here) -----------------------------------------
@pytest.mark.parametrize("template", ["{n:>300000000}", "{name.__class__.__mro__}", "{0}", "{", "{email!r}"])
def test_placeholders_are_only_the_documented_names(template: str) -> None:
    """Format fields hung browse at 1.5 GB ({n:>300000000}) or evaluated attribute access into the URL."""
    assert Person.unique("r", 1).fill(template) == template


@pytest.mark.parametrize("field", ["{password}", "{0}", "{__class__}"])
def test_an_unknown_placeholder_in_a_site_map_is_a_map_error(tmp_path: Path, field: str) -> None:
    (tmp_path / "map.toml").write_text(f'[signup]\nuser_id = "{field}"\n')
    with pytest.raises(SiteMapError, match="unknown placeholder"):
        load_site_map(tmp_path / "map.toml")


def test_a_path_whose_query_holds_a_url_stays_on_the_site() -> None:
    assert absolute("/go?next=http://evil.test/", "http://127.0.0.1:5") == "http://127.0.0.1:5/go?next=http://evil.test/"
    assert absolute("https://other.test/x", "http://127.0.0.1:5") == "https://other.test/x"


# ---- harness conformance --from-json ------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON (line 1, column 2)"),
    ('{"a": 1}', "expected a list of columns"),
    ("[]", "expected a list of columns"),
    ('[{"profile": 3}]', "each column needs a 'profile' string and a 'records' list"),
    ('[{"profile": "p", "records": [{"test": "t"}]}]', "record 0 of 'p' needs"),
    ('[{"profile": "p", "records": [], "loss": [1]}]', "'loss' an object"),
    ("[" * DEEP + "]" * DEEP, "nested deeper than 64 levels"),
])
def test_from_json_mistakes_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    saved = tmp_path / "run.json"
    saved.write_text(text)
    done = _harness("conformance", "--from-json", str(saved), "--out", str(tmp_path / "out.md"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr[-3000:]
    assert done.stderr.startswith(f"harness: --from-json {saved}: ") and message in done.stderr, done.stderr
    assert not (tmp_path / "out.md").exists()


HOSTILE = ["<script>alert(1)</script>", "# Owned\n## heading", "a|b", "`code` **bold** [x](http://evil.test)"]


def test_every_string_of_a_saved_run_is_escaped_in_the_markdown() -> None:
    """Profile, library, flow and mode strings were written raw: a heading, a <script>, broken rows."""
    loss = {"settings": {"modes": ["<img src=x>|m"], "delivery": {"<img src=x>|m": "# sends\n<b>now</b>"},
                         "window_s": 5},
            "cells": [{"mode": "<img src=x>|m", "flow": "<script>x</script>", "submit": "a|b|c", "trials": "1\n# h",
                       "delivered": 1, "lost": 0, "duplicated": 0, "loss_pct": "0|0", "loss_ci": ["a", "b"]}]}
    columns = [Column(name, [{"test": f"tests/t.py::test_{i}|x`y", "claims": ["C1"], "browser": True,
                              "outcome": "failed", "reason": "r", "evidence": f"saw {name}"}],
                      library=name, loss=loss) for i, name in enumerate(HOSTILE)]
    text = render(columns, "harness conformance --snippet " + ",".join(HOSTILE))
    ours = {"# Conformance: which of the seeds' claims hold for which library", "## Notes",
            "## Missing sign-ups, measured per library"}
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        line for line in text.splitlines() if line in ours]
    prose = re.sub(r"`[^`\n]*`", "", text)  # inside a code span HTML is shown, not run
    assert "<script>" not in prose and "<img" not in prose and "<b>" not in prose, prose
    for line in text.splitlines():
        if line.startswith("| C1 |") or line.startswith("| library |") or line.startswith("| package |"):
            assert len(_unescaped_pipes(line)) == len(HOSTILE) + (3 if line.startswith("| C1") else 2), line
        if line.startswith("| <") or line.startswith("| \\<"):
            assert len(_unescaped_pipes(line)) == 10, line  # a loss row keeps its nine columns


def _unescaped_pipes(line: str) -> list[int]:
    return [i for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\")]


def test_escaped_names_read_back(tmp_path: Path) -> None:
    columns = [Column(name, [{"test": "t", "claims": ["C1"], "browser": True, "outcome": "passed", "reason": "",
                              "evidence": ""}]) for name in ("intilery", "my_lib", "a|b")]
    doc = tmp_path / "conformance.md"
    doc.write_text(render(columns, "c"))
    assert set(read_matrix(doc)) == {"intilery", "my_lib", "a|b"}
    from harness.identity.matrix import read_saved

    assert read_saved('[{"profile": "p", "records": []}]')[0].profile == "p"


# ---- harness browse: a long step that fails still ends with the summary -------------------------------------
@pytest.fixture
def slow_site() -> Generator[str, None, None]:
    """A site whose page answers only after 20 s (a step waiting on it times out first)."""
    import asyncio

    stop = threading.Event()
    started = threading.Event()
    where: dict[str, str] = {}

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(20)
        return web.Response(text="<html><body>late</body></html>", content_type="text/html")

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", slow)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        where["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert started.wait(10)
    yield where["url"]
    stop.set()
    thread.join(10)


def test_a_failed_browse_step_ends_with_the_summary_and_one_line(slow_site: str, tmp_path: Path) -> None:
    script = tmp_path / "steps.toml"
    script.write_text('steps = [{goto = "/slow", timeout_ms = 1500}]\n')
    with HarnessServer(snippet="none") as server:
        done = _harness("browse", "--site-url", slow_site, "--server", server.base_url, "--script", str(script),
                        timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stdout.startswith("stored 0 beacon(s) from "), done.stdout
    assert done.stderr.startswith("harness: browse: step goto /slow failed: ") and done.stderr.count("\n") == 1, \
        done.stderr[-3000:]
