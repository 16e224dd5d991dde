"""Profile keys that live in one record (PostHog's ``ph_<token>_posthog``): ``name#field?other=value``."""

from __future__ import annotations

from harness.sites.snippet import load_profile

RECORD = {"distinct_id": "u-1", "$device_id": "d-1", "$user_state": "identified",
          "$stored_person_properties": {"name": "Peter"}}


def test_a_field_of_a_record_under_a_token_named_entry() -> None:
    profile = load_profile("posthog")
    entries = {"hx_device": "x", "ph_phc_AbC_posthog": RECORD}
    assert profile.lookup("anonymous_id", entries) == "d-1"
    assert profile.lookup("user_id", entries) == "u-1"
    assert profile.lookup("user_traits", entries) == {"name": "Peter"}
    assert profile.owns("anonymous_id", "ph_phc_AbC_posthog") and not profile.owns("anonymous_id", "ph_x")
    assert profile.storage_name("user_id") == "ph_*_posthog"


def test_the_condition_hides_an_anonymous_distinct_id() -> None:
    profile = load_profile("posthog")
    anonymous = {**RECORD, "distinct_id": "d-2", "$user_state": "anonymous"}
    assert profile.lookup("user_id", {"ph_t_posthog": anonymous}) is None
    assert profile.lookup("anonymous_id", {"ph_t_posthog": anonymous}) == "d-1"


def test_no_record_or_not_an_object_gives_none() -> None:
    profile = load_profile("posthog")
    assert profile.lookup("anonymous_id", {}) is None
    assert profile.lookup("anonymous_id", {"ph_t_posthog": "not json"}) is None


def test_plain_keys_are_unchanged() -> None:
    profile = load_profile("analytics-next")
    assert profile.lookup("anonymous_id", {"ajs_anonymous_id": "a-1"}) == "a-1"
    assert profile.storage_name("anonymous_id") == "ajs_anonymous_id"
    assert profile.owns("anonymous_id", "ajs_anonymous_id") and not profile.owns("anonymous_id", "ajs_user_id")
