"""`harness beacons`: formats, filters, --bad and --limit, from a running server and from a store file."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cli_helpers import USER_ID, Browser, post, scenario_3


def test_table_lists_every_beacon_for_people(live, feed, cli) -> None:
    stored = feed(scenario_3())
    result = cli("beacons", "--server", live.base_url)
    assert result.code == 0, result.err
    assert result.err == ""
    assert f"Beacons ({len(stored)})" in result.out
    for word in ("identify", "Product Viewed", "Order Completed", USER_ID, "xhr"):
        assert word in result.out
    assert stored[0]["anonymousId"][:8] in result.out  # anonymousIds shortened, still recognisable


def test_json_is_one_document_with_the_full_records(live, feed, cli) -> None:
    stored = feed(scenario_3())
    result = cli("beacons", "--server", live.base_url, "--format", "json")
    assert result.code == 0
    doc = result.json()  # nothing but JSON on stdout
    assert doc["total"] == len(stored)
    assert [b["messageId"] for b in doc["beacons"]] == [b["messageId"] for b in stored]
    assert doc["beacons"][0]["_meta"]["transport"] == "xhr"
    assert doc["beacons"][0]["receivedAt"]


def test_jsonl_is_one_record_per_line(live, feed, cli) -> None:
    stored = feed(scenario_3())
    result = cli("beacons", "--server", live.base_url, "--format", "jsonl")
    lines = result.out.splitlines()
    assert len(lines) == len(stored)
    assert [json.loads(line)["messageId"] for line in lines] == [b["messageId"] for b in stored]


def test_filters_by_type_event_user_and_anonymous_id(live, feed, cli) -> None:
    stored = feed(scenario_3())
    phone_anon = stored[3]["anonymousId"]

    def ids(*args: str) -> list[str]:
        result = cli("beacons", "--server", live.base_url, "--format", "json", *args)
        assert result.code == 0, result.err
        return [b["messageId"] for b in result.json()["beacons"]]

    assert ids("--type", "identify") == [b["messageId"] for b in stored if b["type"] == "identify"]
    assert ids("--type", "TRACK", "--event", "Order Completed") == [stored[8]["messageId"]]
    assert ids("--user-id", USER_ID) == [b["messageId"] for b in stored if b.get("userId") == USER_ID]
    assert ids("--anonymous-id", phone_anon) == [b["messageId"] for b in stored if b["anonymousId"] == phone_anon]
    assert ids("--event", "No Such Event") == []


def test_limit_keeps_the_most_recent(live, feed, cli) -> None:
    stored = feed(scenario_3())
    result = cli("beacons", "--server", live.base_url, "--format", "json", "--limit", "2")
    doc = result.json()
    assert [b["messageId"] for b in doc["beacons"]] == [b["messageId"] for b in stored[-2:]]
    assert doc["total"] == len(stored)
    table = cli("beacons", "--server", live.base_url, "--limit", "2")
    assert f"last 2 of {len(stored)}" in table.out


def test_bad_lists_rejections_with_their_reasons(live, cli) -> None:
    assert post(live.base_url, "/v1/track", b"{not json", {"Content-Type": "text/plain"}) == 400
    body, headers = Browser.new().message("track", datetime.now(UTC))
    assert post(live.base_url, "/v1/track", body, headers) == 400
    doc = cli("beacons", "--server", live.base_url, "--bad", "--format", "json").json()
    reasons = [entry["reason"] for entry in doc["bad"]]
    assert len(reasons) == 2 and doc["total"] == 2
    assert reasons[0].startswith("malformed JSON")
    assert "event" in reasons[1]
    table = cli("beacons", "--server", live.base_url, "--bad")
    assert table.code == 0
    assert "Rejected submissions (2)" in table.out and "malformed JSON" in table.out


def test_empty_store_says_so(live, cli) -> None:
    result = cli("beacons", "--server", live.base_url)
    assert result.code == 0
    assert "No beacons captured yet" in result.out
    assert cli("beacons", "--server", live.base_url, "--format", "json").json() == {"beacons": [], "total": 0}


def test_reads_a_store_file_directly(live, feed, cli) -> None:
    """--db reads the SQLite file (here while its server runs: WAL lets both read)."""
    stored = feed(scenario_3())
    result = cli("beacons", "--db", live.db, "--format", "json", "--type", "identify")
    assert result.code == 0, result.err
    assert [b["messageId"] for b in result.json()["beacons"]] == [
        b["messageId"] for b in stored if b["type"] == "identify"]
    table = cli("beacons", "--db", live.db, "--event", "Order Completed")
    assert "Order Completed" in table.out and "Beacons (1)" in table.out


def test_reads_a_file_left_by_a_stopped_server(tmp_path, cli) -> None:
    from harness.server import HarnessServer

    path = tmp_path / "left.sqlite"
    with HarnessServer(port=0, db=str(path), snippet="none") as server:
        for body, headers in scenario_3():
            assert post(server.base_url, f"/v1/{body['type']}", body, headers) == 200
        assert post(server.base_url, "/v1/page", b"[]", {"Content-Type": "application/json"}) == 400
    doc = cli("beacons", "--db", str(path), "--format", "json").json()
    assert doc["total"] == 9
    bad = cli("beacons", "--db", str(path), "--bad", "--format", "jsonl")
    assert len(bad.out.splitlines()) == 1


def test_payload_text_cannot_style_or_control_the_terminal(live, feed, cli) -> None:
    """Console markup and escape sequences in a beacon print as literal text."""
    browser = Browser.new()
    body, headers = browser.message("track", datetime.now(UTC), "[bold red]mallory[/]",
                                    event="Hi \x1b[2J[/] [link=http://evil.example]x[/link]")
    feed([(body, headers)])
    result = cli("beacons", "--server", live.base_url)
    assert result.code == 0, result.err
    assert "[bold red]mallory[/]" in result.out
    assert "\x1b" not in result.out and "\\x1b[2J[/]" in result.out
    assert "[link=http://evil.example]x[/link]" in result.out
    from harness.tools import views

    assert "\\x1b" in views.beacon_line(body).plain
    assert "\x1b" not in views.beacon_line(body).plain
