"""`harness profiles` (profiles + Monthly Tracked Users) and `harness lint` (exit status 1 on errors)."""

from __future__ import annotations

from cli_helpers import EMAIL_USER_ID, USER_ID, email_user, scenario_2, scenario_3


def test_scenario_3_is_one_person_on_two_devices(live, feed, cli) -> None:
    stored = feed(scenario_3())
    doc = cli("profiles", "--server", live.base_url, "--format", "json").json()
    assert len(doc["profiles"]) == 1
    person = doc["profiles"][0]
    assert person["user_ids"] == [USER_ID]
    assert sorted(person["anonymous_ids"]) == sorted({b["anonymousId"] for b in stored})
    assert len(person["devices"]) == 2
    assert person["event_count"] == len(stored)
    assert doc["mtu"] == {"2025-11": 1}
    assert doc["mtu_without_identify"] == {"2025-11": 2}


def test_profiles_table_shows_people_and_mtu(live, feed, cli) -> None:
    feed(scenario_3())
    result = cli("profiles", "--server", live.base_url)
    assert result.code == 0, result.err
    assert "Identity profiles (1)" in result.out
    assert USER_ID in result.out and "Peter Gibbons" in result.out
    assert "2025-11: MTU 1 (would be 2 without identify)" in result.out


def test_scenario_2_phone_stays_a_separate_anonymous_profile(live, feed, cli) -> None:
    feed(scenario_2())
    result = cli("profiles", "--server", live.base_url)
    assert "Identity profiles (2)" in result.out
    assert "anonymous" in result.out
    assert "2025-11: MTU 2 (would be 2 without identify)" in result.out


def test_timeline_puts_each_device_in_its_own_column(live, feed, cli) -> None:
    stored = feed(scenario_3())
    result = cli("profiles", "--server", live.base_url, "--timeline")
    assert f"Timeline: {USER_ID}" in result.out
    assert f"device 1 · {stored[0]['anonymousId'][:8]}" in result.out
    assert f"device 2 · {stored[3]['anonymousId'][:8]}" in result.out


def test_profiles_from_a_store_file_match_the_server(live, feed, cli) -> None:
    feed(scenario_3())
    over_http = cli("profiles", "--server", live.base_url, "--format", "json").json()
    from_file = cli("profiles", "--db", live.db, "--format", "json").json()
    assert from_file == over_http


def test_no_beacons_no_profiles(live, cli) -> None:
    result = cli("profiles", "--server", live.base_url)
    assert result.code == 0
    assert "No profiles" in result.out and "MTU 0" in result.out


def test_lint_exits_1_on_an_email_user_id(live, feed, cli) -> None:
    feed(email_user())
    result = cli("lint", "--server", live.base_url)
    assert result.code == 1
    assert "userid-email-or-username" in result.out and EMAIL_USER_ID in result.out
    assert "1 error" in result.out
    doc = cli("lint", "--server", live.base_url, "--format", "json")
    assert doc.code == 1
    assert doc.json()["errors"] is True
    finding = next(f for f in doc.json()["findings"] if f["rule"] == "userid-email-or-username")
    assert finding["claim"] == "C24" and finding["severity"] == "error" and finding["fix"]


def test_lint_exits_0_on_scenario_3(live, feed, cli) -> None:
    feed(scenario_3())
    result = cli("lint", "--server", live.base_url)
    assert result.code == 0, result.out
    assert "No findings" in result.out
    doc = cli("lint", "--server", live.base_url, "--format", "json")
    assert doc.code == 0 and doc.json() == {"findings": [], "errors": False}


def test_lint_reads_a_store_file(live, feed, cli) -> None:
    feed(email_user())
    result = cli("lint", "--db", live.db, "--format", "json")
    assert result.code == 1
    assert any(f["rule"] == "userid-email-or-username" for f in result.json()["findings"])


def test_lint_applies_a_tracking_plan_to_a_store_file(live, feed, cli, tmp_path) -> None:
    feed(scenario_3())
    plan = tmp_path / "plan.json"
    plan.write_text('{"events": {"Product Viewed": {"properties": {"type": "object", "required": ["product_id"]}}}}')
    result = cli("lint", "--db", live.db, "--tracking-plan", str(plan), "--format", "json")
    assert result.code == 1
    assert any(f["rule"] == "tracking-plan" and "Order Completed" in f["message"] for f in result.json()["findings"])
