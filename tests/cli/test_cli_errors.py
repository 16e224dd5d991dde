"""Bad input and unreachable sources: one `harness: ...` line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
from cli_helpers import closed_port, harness_command


def one_clear_line(err: str, out: str = "") -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("harness: "), lines[0]
    assert "Traceback" not in err + out
    return lines[0]


@pytest.fixture
def files(tmp_path):
    """Paths for every kind of wrong --db."""
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things (x)")
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20)
    return {"missing": str(tmp_path / "nope.sqlite"), "text": str(text), "empty": str(empty),
            "other": str(other), "folder": str(tmp_path), "truncated": str(truncated)}


def test_server_not_running(cli) -> None:
    port = closed_port()
    result = cli("beacons", "--server", f"http://127.0.0.1:{port}")
    assert result.code == 1
    assert one_clear_line(result.err) == (
        f"harness: cannot reach http://127.0.0.1:{port} — is `harness serve` running?")
    assert result.out == ""


def test_default_server_is_local_port_8000(cli) -> None:
    result = cli("profiles", "--help")
    assert "http://127.0.0.1:8000" in result.out


@pytest.mark.parametrize("command", ["beacons", "profiles", "lint"])
def test_every_read_command_explains_an_unreachable_server(cli, command) -> None:
    result = cli(command, "--server", f"http://127.0.0.1:{closed_port()}")
    assert result.code != 0
    assert "is `harness serve` running?" in one_clear_line(result.err)


@pytest.mark.parametrize(("kind", "says"), [
    ("missing", "no such database file"),
    ("text", "is not a SQLite database"),
    ("empty", "is not a SQLite database"),
    ("folder", "is not a file"),
    ("other", "not a harness beacon store"),
    ("truncated", "SQLite"),
])
@pytest.mark.parametrize("command", ["beacons", "profiles", "lint"])
def test_wrong_store_files(cli, files, kind, says, command) -> None:
    result = cli(command, "--db", files[kind])
    assert result.code != 0
    assert says in one_clear_line(result.err, result.out)


def test_a_foreign_sqlite_file_is_left_untouched(cli, files) -> None:
    with sqlite3.connect(files["other"]) as db:
        before = db.execute("SELECT name FROM sqlite_master").fetchall()
    cli("beacons", "--db", files["other"])
    with sqlite3.connect(files["other"]) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == before


@pytest.mark.parametrize(("args", "says"), [
    (["--limit", "0"], "--limit"),
    (["--limit", "abc"], "--limit"),
    (["--limit", "-3"], "--limit"),
    (["--type", "click"], "--type"),
    (["--event", ""], "--event"),
    (["--user-id", " "], "--user-id"),
    (["--format", "xml"], "--format"),
    (["--bad", "--type", "track"], "--bad"),
    (["--follow", "--format", "json"], "--follow"),
    (["--db", "x.sqlite", "--server", "http://127.0.0.1:8000"], "not both"),
    (["--no-such-flag"], "no-such-flag"),
])
def test_bad_filters_and_options(cli, args, says) -> None:
    result = cli("beacons", *args)
    assert result.code != 0
    assert says in one_clear_line(result.err, result.out)


@pytest.mark.parametrize("url", [
    "localhost:8000", "ftp://127.0.0.1:8000", "http://", "http://127.0.0.1:99999", "http://127.0.0.1:80x",
    "http://127.0.0.1:8000/?token=x", "not a url", "http://user:pw@127.0.0.1:8000",
])
def test_bad_server_urls(cli, url) -> None:
    result = cli("lint", "--server", url)
    assert result.code != 0
    assert "bad --server URL" in one_clear_line(result.err, result.out)


def test_unknown_host(cli) -> None:
    result = cli("beacons", "--server", "http://no-such-host.invalid:8000")
    assert result.code != 0
    assert "cannot reach" in one_clear_line(result.err)


def test_something_that_is_not_a_harness(cli) -> None:
    """A web server that is not a harness (here: a plain HTTP server that 404s everything)."""
    import http.server
    import threading

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    httpd.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        result = cli("beacons", "--server", f"http://127.0.0.1:{httpd.server_address[1]}/nowhere")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.code != 0
    assert "harness server" in one_clear_line(result.err)


def test_api_token_required(tmp_path, cli) -> None:
    from harness.keys import Config
    from harness.server import HarnessServer

    with HarnessServer(port=0, snippet="none", config=Config(api_token="s3cret")) as server:
        denied = cli("beacons", "--server", server.base_url)
        allowed = cli("beacons", "--server", server.base_url, "--api-token", "s3cret", "--format", "json")
    assert "--api-token" in one_clear_line(denied.err)
    assert allowed.code == 0 and allowed.json() == {"beacons": [], "total": 0}


def test_lazy_commands_are_listed(cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for name in ("serve", "beacons", "profiles", "lint", "repro", "demo"):
        assert name in result.out


@pytest.mark.parametrize("args", [
    ["beacons", "--server", "http://127.0.0.1:{port}"],
    ["profiles", "--db", "{missing}"],
    ["lint", "--db", "{text}"],
    ["beacons", "--limit", "0"],
    ["beacons", "--limit", "abc"],
    ["beacons", "--server", "nonsense"],
])
def test_the_installed_command_never_shows_a_traceback(files, args) -> None:
    """The real console script, as a user runs it."""
    argv = [a.format(port=closed_port(), **files) for a in args]
    done = subprocess.run(harness_command() + argv, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    one_clear_line(done.stderr, done.stdout)
    assert done.stdout == ""


def test_a_lazily_loaded_command_that_is_missing_explains_itself(cli, monkeypatch) -> None:
    import harness.tools.cli as cli_module

    monkeypatch.setitem(cli_module.LAZY_COMMANDS, "ghost", ("harness.no_such_module", "ghost", "A missing command."))
    listed = cli("--help")
    assert "ghost" in listed.out and listed.code == 0
    result = cli("ghost", "--anything")
    assert result.code == 1
    assert one_clear_line(result.err) == (
        "harness: `harness ghost` is unavailable: harness.no_such_module is not installed in this build")
