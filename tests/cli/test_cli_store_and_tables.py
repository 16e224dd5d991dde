"""`harness reset`, `harness serve --db` mistakes, the serve banner with a token, and tables at 80 columns."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time

import pytest
from cli_helpers import EMAIL_USER_ID, closed_port, harness_command, scenario_2, scenario_3

LONG_USER_ID = "usr_0123456789abcdef0123456789"


def one_line(result) -> str:
    lines = [line for line in (result.err + result.out).splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{result.err}{result.out}"
    assert lines[0].startswith("harness: ") and "Traceback" not in result.err
    return lines[0]


# ---- harness reset -------------------------------------------------------------------------------
def test_reset_clears_a_running_server(live, feed, cli) -> None:
    feed(scenario_3())
    stored = len(live.store.all())
    result = cli("reset", "--server", live.base_url)
    assert result.code == 0, result.err
    assert result.out.strip() == f"cleared {stored} beacons and 0 rejected submissions from {live.base_url}"
    assert live.store.all() == [] and live.store.stats()["stored"] == 0


def test_reset_clears_a_store_file(tmp_path, cli) -> None:
    from harness.collecting.store import BeaconStore

    path = tmp_path / "store.sqlite"
    store = BeaconStore(str(path))
    store.add([{"type": "track", "event": "E", "anonymousId": "a", "messageId": "m1"}])
    store.close()
    result = cli("reset", "--db", str(path))
    assert result.code == 0, result.err
    assert result.out.strip() == f"cleared 1 beacon and 0 rejected submissions from {path}"
    again = BeaconStore(str(path))
    try:
        assert again.all() == []
    finally:
        again.close()


def test_reset_leaves_a_store_file_a_running_server_has_open(tmp_path, cli) -> None:
    """Clearing the file behind the server's back would leave its window, counters and graph wrong: refused."""
    from harness.server import HarnessServer

    path = tmp_path / "served.sqlite"
    with HarnessServer(db=str(path)) as server:
        server.store.add([{"type": "track", "event": "E", "anonymousId": "a", "messageId": "m1"}])
        result = cli("reset", "--db", str(path))
        assert result.code != 0
        assert "harness reset --server" in one_line(result)
        assert len(server.store.all()) == 1 and server.store.stats()["stored"] == 1


def test_reset_explains_an_unreachable_server_and_a_missing_file(cli, tmp_path) -> None:
    port = closed_port()
    assert "is `harness serve` running?" in one_line(cli("reset", "--server", f"http://127.0.0.1:{port}"))
    assert "no such database file" in one_line(cli("reset", "--db", str(tmp_path / "nope.sqlite")))


# ---- harness serve --db ------------------------------------------------------------------------------
@pytest.fixture
def bad_dbs(tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(4096))
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    other = tmp_path / "app.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE users (id)")
    return {
        "/etc/passwd/x.sqlite": "/etc/passwd is a file, not a folder",
        str(tmp_path / "no" / "such" / "dir" / "x.sqlite"): "does not exist (create it first)",
        str(tmp_path): "is a folder, not a file",
        str(garbage): "is not a SQLite database",
        str(damaged): "damaged SQLite database",
        str(other): "not a harness store",
    }


def test_serve_refuses_each_bad_db_in_one_line(cli, bad_dbs, tmp_path) -> None:
    for path, says in bad_dbs.items():
        result = cli("serve", "--port", "0", "--db", path)
        assert result.code == 1, path
        line = one_line(result)
        assert says in line, (path, line)
    assert not (tmp_path / "no").exists(), "a --db in a missing folder must not create folders"


def test_serve_banner_gives_the_inspector_url_with_its_token(tmp_path) -> None:
    server = subprocess.Popen([*harness_command(), "serve", "--port", "0", "--db", ":memory:", "--api-token", "s3cr t"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("inspector" in line for line in lines):
            line = server.stdout.readline()
            if not line:
                break
            lines.append(line)
        inspector = next(line for line in lines if "inspector" in line)
        assert re.search(r"/inspector\?token=s3cr%20t$", inspector.strip()), inspector
    finally:
        server.terminate()
        server.wait(10)


# ---- tables at 80 columns ------------------------------------------------------------------------------
@pytest.fixture
def people(live, feed):
    feed(scenario_3(LONG_USER_ID) + scenario_2() + scenario_3(EMAIL_USER_ID))
    return live


def test_profiles_at_80_columns_keep_every_user_id_whole(people, cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("profiles", "--server", people.base_url)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= 80, result.out
    for user in (LONG_USER_ID, EMAIL_USER_ID, "97980cfea0067"):
        assert any(user in line for line in lines), f"{user} split:\n{result.out}"
    header = next(line for line in lines if "person" in line)
    for column in ("#", "person", "anonymousIds", "traits"):
        assert column in header, header
    assert re.search(r"--wide shows .*first seen, last seen \(hidden at 80 columns\)", result.out), result.out


def test_wide_shows_every_column(people, cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("profiles", "--server", people.base_url, "--wide")
    header = next(line for line in result.out.splitlines() if "person" in line)
    for column in ("devices", "events", "first seen", "last seen", "traits"):
        assert column in header, header
    assert "hidden at" not in result.out


def test_beacons_at_80_columns_never_split_a_user_id(people, cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("beacons", "--server", people.base_url)
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= 80, result.out
    assert sum(LONG_USER_ID in line for line in lines) >= 3, result.out
    assert not any(re.search(r"usr_0123\S*\s*$", line) and LONG_USER_ID not in line for line in lines)


def test_piped_output_fits_80_columns(people) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = subprocess.run([*harness_command(), "profiles", "--server", people.base_url], capture_output=True,
                            text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert LONG_USER_ID in result.stdout and EMAIL_USER_ID in result.stdout


def test_lint_at_80_columns_keeps_the_fix(people, cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("lint", "--server", people.base_url)
    assert result.code == 1
    assert "userid-email-or-username" in result.out and "fix:" in result.out
    assert max(len(line) for line in result.out.splitlines()) <= 80


def test_latency_that_is_not_a_number_names_the_option(cli) -> None:
    result = cli("repro", "signup-loss", "--latency-ms", "abc")
    assert result.code == 2
    assert "--latency-ms must be a whole number, got 'abc'" in one_line(result)
