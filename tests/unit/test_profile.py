"""Profiles and Monthly Tracked Users over beacon lists (claims C8, C25, C26)."""

from __future__ import annotations

import json
import random

import pytest
from beaconlists import (
    USER_ID,
    Recorder,
    different_user_scenario,
    reset_scenario,
    scenario_1,
    scenario_2,
    scenario_3,
)

from harness.identity.profile import (
    build_profiles,
    event_time,
    monthly_tracked_users,
    mtu_report,
    mtu_without_identify,
    time_order,
)

pytestmark = pytest.mark.claims("C8", "C25", "C26")


def test_scenario_1_one_device_over_days_is_one_profile() -> None:
    rec = scenario_1()
    [profile] = build_profiles(rec.beacons)
    web = rec.devices["web"]
    assert profile.id == USER_ID
    assert profile.identified
    assert profile.user_ids == [USER_ID]
    assert profile.anonymous_ids == [web.anonymous_id]
    assert profile.devices == [web.device_id]
    assert profile.event_count == len(rec.beacons)
    assert profile.first_seen == rec.beacons[0]["timestamp"]
    assert profile.last_seen == rec.beacons[-1]["timestamp"]
    assert profile.traits == {"name": "Peter Gibbons", "email": "peter@initech.example", "plan": "premium"}
    # the anonymous pages from two days before the sign-up are in the same profile
    assert profile.messages[0]["userId"] is None and profile.messages[0]["context"]["page"]["path"] == "/"


def test_scenario_2_phone_stays_anonymous_so_two_profiles() -> None:
    rec = scenario_2()
    web, phone = build_profiles(rec.beacons)
    assert (web.identified, web.id, web.anonymous_ids) == (True, USER_ID, [rec.devices["web"].anonymous_id])
    assert (phone.identified, phone.id, phone.user_ids) == (False, rec.devices["phone"].anonymous_id, [])
    assert phone.devices == [rec.devices["phone"].device_id]
    assert web.event_count + phone.event_count == len(rec.beacons)


def test_scenario_3_logged_in_on_both_devices_is_one_profile() -> None:
    rec = scenario_3()
    [profile] = build_profiles(rec.beacons)
    web, phone = rec.devices["web"], rec.devices["phone"]
    assert profile.user_ids == [USER_ID]
    assert profile.anonymous_ids == [web.anonymous_id, phone.anonymous_id]  # first-seen order
    assert profile.devices == [web.device_id, phone.device_id]
    assert profile.event_count == len(rec.beacons)
    # the phone's anonymous browsing from days before the login belongs to the person
    assert any(m["anonymousId"] == phone.anonymous_id and m["userId"] is None for m in profile.messages)


def test_messages_are_in_time_order_whatever_the_input_order() -> None:
    rec = scenario_3()
    shuffled = list(rec.beacons)
    random.Random(7).shuffle(shuffled)
    [profile] = build_profiles(shuffled)
    assert [m["messageId"] for m in profile.messages] == [m["messageId"] for m in rec.beacons]


def test_profiles_are_ordered_by_first_seen() -> None:
    rec = scenario_2()
    late_first = list(reversed(rec.beacons))
    assert [p.id for p in build_profiles(late_first)] == [USER_ID, rec.devices["phone"].anonymous_id]


def test_reset_then_anonymous_activity_is_a_new_anonymous_profile() -> None:
    rec = reset_scenario()
    identified, anonymous = build_profiles(rec.beacons)
    new_anon = rec.devices["web"].anonymous_id
    assert identified.user_ids == [USER_ID] and new_anon not in identified.anonymous_ids
    assert anonymous.anonymous_ids == [new_anon] and not anonymous.identified
    assert identified.devices == anonymous.devices  # same browser, two profiles


def test_reset_then_same_user_logs_in_again_merges_back() -> None:
    rec = reset_scenario(log_in_again=True)
    [profile] = build_profiles(rec.beacons)
    assert profile.user_ids == [USER_ID]
    assert len(profile.anonymous_ids) == 2


def test_identify_with_a_different_user_gives_the_new_anonymous_id_to_the_new_user() -> None:
    rec = different_user_scenario()
    peter, samir = build_profiles(rec.beacons)
    assert peter.user_ids == ["97980cfea0067"] and samir.user_ids == ["a41f0e9c55d21"]
    assert rec.devices["web"].anonymous_id in samir.anonymous_ids
    assert not set(peter.anonymous_ids) & set(samir.anonymous_ids)
    assert samir.traits["name"] == "Samir Nagheenanajar"


def test_a_library_that_keeps_the_anonymous_id_merges_two_users() -> None:
    """The attribution problem the seeds warn about: a connected set holding two userIds (lint C14)."""
    rec = different_user_scenario(new_anonymous_id_on_user_change=False)
    [profile] = build_profiles(rec.beacons)
    assert profile.user_ids == ["97980cfea0067", "a41f0e9c55d21"]


def test_traits_latest_identify_wins_per_key() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.identify(USER_ID, {"plan": "free", "name": "Peter"})
    web.traits = {}  # a library that does not cache traits: the second identify carries only plan
    web.identify(USER_ID, {"plan": "premium"})
    [profile] = build_profiles(rec.beacons)
    assert profile.traits == {"plan": "premium", "name": "Peter"}


def test_server_identify_links_through_the_browser_anonymous_id() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.browse("/signup?flow=server-side")
    rec.server("identify", USER_ID, web.anonymous_id, traits={"email": "peter@initech.example"})
    rec.server("track", USER_ID, web.anonymous_id, event="Signed Up", properties={"plan": "premium"})
    [profile] = build_profiles(rec.beacons)
    assert profile.user_ids == [USER_ID] and profile.devices == [web.device_id]


def test_alias_links_previous_id_and_user_id() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.browse("/")
    anon = web.anonymous_id
    rec.server("track", USER_ID, event="Order Shipped")
    rec.server("alias", USER_ID, previousId=anon)
    [profile] = build_profiles(rec.beacons)
    assert set(profile.user_ids) == {USER_ID} and profile.anonymous_ids == [anon]


def test_messages_without_ids_belong_to_no_profile_and_duplicates_count_once() -> None:
    rec = scenario_1()
    beacons = [*rec.beacons, dict(rec.beacons[0]), {"type": "track", "event": "Ghost", "messageId": "ghost"}]
    [profile] = build_profiles(beacons)
    assert profile.event_count == len(rec.beacons)


def test_time_falls_back_to_received_at() -> None:
    message = {"type": "page", "anonymousId": "a", "receivedAt": "2024-05-01T10:00:00.000Z"}
    assert event_time(message) is not None and event_time(message).isoformat().startswith("2024-05-01T10:00")
    [profile] = build_profiles([message])
    assert profile.first_seen == profile.last_seen == "2024-05-01T10:00:00.000Z"


def test_time_order_uses_device_clock_then_arrival() -> None:
    late = {"type": "page", "anonymousId": "a", "messageId": "late", "timestamp": "2024-05-02T00:00:00Z",
            "_meta": {"seq": 1}}
    early = {"type": "page", "anonymousId": "a", "messageId": "early", "timestamp": "2024-05-01T00:00:00+00:00",
             "_meta": {"seq": 2}}
    assert [m["messageId"] for m in time_order([late, early])] == ["early", "late"]


def test_profiles_serialise_to_json() -> None:
    profiles = build_profiles(scenario_3().beacons)
    data = json.loads(json.dumps([p.to_dict() for p in profiles]))
    assert data[0]["id"] == USER_ID and data[0]["identified"] is True and len(data[0]["messages"]) > 0
    assert "messages" not in profiles[0].to_dict(messages=False)


def test_mtu_identify_on_both_devices_counts_the_person_once() -> None:
    rec = scenario_3()
    assert monthly_tracked_users(rec.beacons) == {"2024-05": 1}
    assert mtu_without_identify(rec.beacons) == {"2024-05": 2}
    [row] = mtu_report(rec.beacons)
    assert str(row) == "2024-05: MTU 1 (would be 2 without identify)"
    assert row.to_dict() == {"month": "2024-05", "mtu": 1, "without_identify": 2, "saved": 1}


def test_mtu_anonymous_phone_counts_separately() -> None:
    rec = scenario_2()
    assert monthly_tracked_users(rec.beacons) == {"2024-05": 2}
    assert mtu_without_identify(rec.beacons) == {"2024-05": 2}


def test_mtu_single_device_sign_up_is_one() -> None:
    assert monthly_tracked_users(scenario_1().beacons) == {"2024-05": 1}


def test_mtu_counts_per_calendar_month_with_the_graph_over_all_beacons() -> None:
    """The phone is anonymous in April and logs in in May: one person, counted once in each month."""
    from datetime import UTC, datetime

    rec = Recorder(datetime(2024, 4, 29, 12, 0, tzinfo=UTC))
    web, phone = rec.device("web"), rec.device("phone", "mobile")
    web.browse("/")
    phone.browse("/")
    web.sign_up()
    rec.advance(days=3)
    phone.log_in()
    assert monthly_tracked_users(rec.beacons) == {"2024-04": 1, "2024-05": 1}
    assert mtu_without_identify(rec.beacons) == {"2024-04": 2, "2024-05": 1}


def test_mtu_of_nothing_is_empty() -> None:
    assert monthly_tracked_users([]) == {} and mtu_without_identify([]) == {} and mtu_report([]) == []
    assert build_profiles([]) == []
