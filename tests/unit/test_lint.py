"""Lint: every rule fires on the bad case and stays silent on the good case."""

from __future__ import annotations

import json
import uuid

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

from harness.identity.lint import (
    RULES,
    Finding,
    check_missing_ids,
    check_server_anonymous_id,
    check_signups,
    check_traits_as_properties,
    check_two_anonymous_ids,
    check_user_changed,
    check_user_ids,
    classify_user_id,
    has_errors,
    lint,
    violations,
)


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


# --- the seeds' good scenarios are clean ---------------------------------------------------

@pytest.mark.claims("C8")
@pytest.mark.parametrize("build", [scenario_1, scenario_2, scenario_3, reset_scenario])
def test_the_seeds_scenarios_produce_no_findings(build) -> None:
    assert lint(build().beacons) == []


@pytest.mark.claims("C8")
def test_scenario_3_has_no_errors() -> None:
    findings = lint(scenario_3().beacons)
    assert not has_errors(findings)


def test_every_rule_is_registered_and_documented() -> None:
    assert len(RULES) == 7
    for rule in RULES:
        assert rule.__doc__ and ("Seed" in rule.__doc__ or "seed" in rule.__doc__), rule.__name__


# --- 1. userId best practice (C24) ---------------------------------------------------------

GOOD_IDS = ["97980cfea0067", "507f191e810c19729de860ea", str(uuid.UUID(int=0x1234)),
            "0221c769-2e4c-4556-8ae8-83b929a1ad18",
            "user_123", "12091906-01011992", "ABC-123-XYZ", "customer42", "cus_NffrFeUfNVHib", "deadbeef01", "42",
            "u_8f3a"]
BAD_IDS = {"peter@initech.example": "email", "peter@localhost": "email", "Peter.Gibbons@Initech.COM": "email",
           "pgibbons": "username",
           "peter.gibbons": "username", "jane_kim": "username", "PeterGibbons": "username", "jdoe1987": "username",
           "peter_92": "username", "Peter Gibbons": "name", "undefined": "placeholder", "null": "placeholder",
           "[object Object]": "placeholder"}


@pytest.mark.parametrize("uid", GOOD_IDS)
def test_static_ids_are_not_flagged(uid: str) -> None:
    assert classify_user_id(uid) is None


@pytest.mark.parametrize(("uid", "kind"), BAD_IDS.items())
def test_emails_usernames_and_placeholders_are_flagged(uid: str, kind: str) -> None:
    assert classify_user_id(uid) == kind


@pytest.mark.claims("C24")
def test_email_user_id_is_an_error() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.browse("/")
    web.sign_up("peter@initech.example")
    [finding] = check_user_ids(rec.beacons)
    assert (finding.rule, finding.severity, finding.claim) == ("userid-email-or-username", "error", "C24")
    assert "peter@initech.example" in finding.message and "email address" in finding.message
    assert finding.message_ids == [m["messageId"] for m in rec.beacons if m["userId"] == "peter@initech.example"]
    assert has_errors(lint(rec.beacons))


@pytest.mark.claims("C24")
def test_username_user_id_is_an_error_and_database_id_is_not() -> None:
    rec = Recorder()
    rec.device("a").sign_up("pgibbons")
    rec.device("b").sign_up("user_123")
    rec.device("c").sign_up(USER_ID)
    assert [(f.rule, "pgibbons" in f.message) for f in check_user_ids(rec.beacons)] == [
        ("userid-email-or-username", True)]


def test_placeholder_user_id_has_its_own_rule() -> None:
    rec = Recorder()
    rec.device("web").sign_up("undefined")
    assert rules(check_user_ids(rec.beacons)) == ["userid-placeholder"]


# --- 2. identify with a different user (C14) -----------------------------------------------

@pytest.mark.claims("C14")
def test_identify_with_a_different_user_changes_the_anonymous_id_and_is_flagged() -> None:
    rec = different_user_scenario()
    [finding] = check_user_changed(rec.beacons)
    assert (finding.rule, finding.severity, finding.claim) == ("anonymousid-changed-by-identify", "warning", "C14")
    assert "'97980cfea0067'" in finding.message and "'a41f0e9c55d21'" in finding.message
    samir_identify = next(m for m in rec.beacons if m["type"] == "identify" and m["userId"] == "a41f0e9c55d21")
    assert finding.message_ids[-1] == samir_identify["messageId"]


@pytest.mark.claims("C14")
def test_user_changed_under_the_same_anonymous_id_is_flagged() -> None:
    rec = different_user_scenario(new_anonymous_id_on_user_change=False)
    assert rules(check_user_changed(rec.beacons)) == ["userid-changed-on-device"]


@pytest.mark.claims("C14")
def test_user_changed_is_seen_without_device_ids_too() -> None:
    rec = different_user_scenario(new_anonymous_id_on_user_change=False)
    for message in rec.beacons:
        message.pop("_meta")
    assert rules(check_user_changed(rec.beacons)) == ["userid-changed-on-device"]


def test_logout_reset_then_another_user_is_silent() -> None:
    assert check_user_changed(different_user_scenario(reset_between=True).beacons) == []
    assert lint(different_user_scenario(reset_between=True).beacons) == []


def test_same_user_identifying_again_is_silent() -> None:
    rec = scenario_1()
    rec.devices["web"].identify(USER_ID, {"plan": "free"})  # profile change: same userId
    assert check_user_changed(rec.beacons) == []


# --- 3. two anonymousIds on one device (C13) -----------------------------------------------

@pytest.mark.claims("C13")
def test_call_before_set_anonymous_id_gives_two_anonymous_ids() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.page("/")  # the snippet's page() ran first: an auto-generated id
    earlier = web.anonymous_id
    web.set_anonymous_id("ABC-123-XYZ")
    web.track("Email Clicked", {"callToAction": "Signup"})
    [finding] = check_two_anonymous_ids(rec.beacons)
    assert (finding.rule, finding.severity, finding.claim) == ("two-anonymous-ids-one-device", "warning", "C13")
    assert f"earlier {earlier} then later ABC-123-XYZ" in finding.message
    assert finding.message_ids == [rec.beacons[0]["messageId"], rec.beacons[1]["messageId"]]


def test_set_anonymous_id_before_any_call_is_silent() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.set_anonymous_id("ABC-123-XYZ")
    web.browse("/", "/cart")
    assert check_two_anonymous_ids(rec.beacons) == []


def test_reset_after_logout_and_identify_change_are_not_two_anonymous_ids() -> None:
    assert check_two_anonymous_ids(reset_scenario().beacons) == []
    assert check_two_anonymous_ids(different_user_scenario().beacons) == []


def test_host_only_cookie_across_subdomains_is_named() -> None:
    rec = Recorder()
    web = rec.device("web", host="www.shop.test")
    web.page("/")
    web.host, web.anonymous_id = "app.shop.test", None  # host-only id cookie: app. starts over
    web.page("/account")
    [finding] = check_two_anonymous_ids(rec.beacons)
    assert "www.shop.test -> app.shop.test" in finding.message and "parent domain" in finding.fix


# --- 4. server-minted anonymousId (C15) ----------------------------------------------------

def offer_page(visited_before: bool) -> Recorder:
    """The sample site's /offer anti-pattern: the server mints an id and the page sets it."""
    rec = Recorder()
    web = rec.device("web")
    if visited_before:
        web.browse("/")
    server_anon = "5f1c2a9e-7d44-4c1b-9a77-3f8e2b6d1c00"
    rec.server("track", None, server_anon, event="Offer Viewed", properties={"offer": "spring"})
    if visited_before:
        web.page("/offer")  # the snippet's page() still carries the browser's own id
    web.set_anonymous_id(server_anon)
    web.track("Offer Clicked")
    return rec


@pytest.mark.claims("C15")
def test_server_anonymous_id_overwriting_the_browser_is_an_error() -> None:
    rec = offer_page(visited_before=True)
    [finding] = check_server_anonymous_id(rec.beacons)
    assert (finding.rule, finding.severity, finding.claim) == ("server-anonymous-id-overwrote-browser", "error", "C15")
    assert finding.message_ids[0] == "py-1" and finding.message_ids[-1] == rec.beacons[-1]["messageId"]
    assert rules(lint(rec.beacons)) == ["server-anonymous-id-overwrote-browser"]  # not also C13


def test_server_anonymous_id_on_a_fresh_browser_overwrites_nothing() -> None:
    assert check_server_anonymous_id(offer_page(visited_before=False).beacons) == []


def test_server_side_sign_up_reusing_the_browser_id_is_silent() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.browse("/", "/signup?flow=server-side")
    rec.server("identify", USER_ID, web.anonymous_id, traits={"email": "peter@initech.example"})
    rec.server("track", USER_ID, web.anonymous_id, event="Signed Up", properties={"plan": "premium"})
    web.page("/welcome?flow=server-side")
    assert lint(rec.beacons) == []


# --- 5. missing sign-ups (C23) -------------------------------------------------------------

@pytest.mark.claims("C23")
def test_signed_up_track_without_identify_is_an_error() -> None:
    rec = Recorder()
    rec.device("web").sign_up(lose_identify=True)
    [finding] = check_signups(rec.beacons)
    assert (finding.rule, finding.severity, finding.claim) == ("signup-track-without-identify", "error", "C23")
    assert finding.message_ids == [rec.beacons[-1]["messageId"]]


@pytest.mark.claims("C23")
def test_sign_up_identify_without_track_is_an_error() -> None:
    rec = Recorder()
    rec.device("web").sign_up(lose_track=True)
    assert rules(check_signups(rec.beacons)) == ["signup-identify-without-track"]


@pytest.mark.claims("C23")
def test_js_redirect_losing_both_calls_is_an_error() -> None:
    """The seeds' bug: identify + track, then location.href at once; the next page carries the userId."""
    rec = Recorder()
    web = rec.device("web")
    web.page("/signup?flow=js-redirect")
    web.identify(USER_ID, {"email": "peter@initech.example"}, lost=True)
    web.track("Signed Up", {"plan": "premium"}, lost=True)
    web.page("/?signed_up=1")
    [finding] = check_signups(rec.beacons)
    assert finding.rule == "signup-calls-lost" and "/signup" in finding.message
    assert finding.message_ids == [m["messageId"] for m in rec.beacons]


def test_signed_up_without_any_user_id_is_an_error() -> None:
    rec = Recorder()
    rec.device("web").track("Signed Up", {"plan": "premium"})
    [finding] = check_signups(rec.beacons)
    assert finding.rule == "signup-track-without-identify" and "no userId" in finding.message


def test_login_identify_without_signed_up_is_not_a_sign_up() -> None:
    rec = Recorder()
    rec.device("phone", "mobile").log_in()
    assert check_signups(rec.beacons) == []


def test_complete_sign_up_is_silent() -> None:
    assert check_signups(scenario_1().beacons) == []


# --- 6. traits sent as event properties ----------------------------------------------------

def test_traits_as_track_properties_is_a_warning() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.identify(USER_ID, {"name": "Peter Gibbons"})
    web.track("Signed Up", {"userId": USER_ID, "name": "Peter Gibbons", "email": "", "plan": "premium"})
    [finding] = check_traits_as_properties(rec.beacons)
    assert (finding.rule, finding.severity) == ("traits-as-properties", "warning")
    assert "email, name, plan, userId" in finding.message
    assert not has_errors([finding])


def test_event_properties_without_user_id_are_silent() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.identify(USER_ID, {"name": "Peter Gibbons", "plan": "premium"})
    web.track("Signed Up", {"plan": "premium"})
    web.track("Product Viewed", {"name": "Red Stapler"})
    assert check_traits_as_properties(rec.beacons) == []


# --- 7. messages with neither id -----------------------------------------------------------

def test_message_with_neither_id_is_an_error() -> None:
    rec = scenario_1()
    rec.beacons.append({"type": "track", "event": "Ghost", "messageId": "ghost-1", "userId": None,
                        "anonymousId": ""})
    rec.server("track", event="Order Shipped")
    findings = check_missing_ids(rec.beacons)
    assert [(f.rule, f.claim, f.message_ids) for f in findings] == [
        ("missing-ids", "C1", ["ghost-1"]), ("missing-ids", "C16", ["py-1"])]
    assert check_missing_ids(scenario_1().beacons) == []


# --- 8. tracking plan ----------------------------------------------------------------------

PLAN = {
    "events": {
        "Signed Up": {"properties": {"type": "object", "required": ["plan"], "additionalProperties": False,
                                     "properties": {"plan": {"enum": ["free", "premium"]}}}},
        "Product Viewed": {},
    },
    "identify": {"required_traits": ["email"]},
    "allow_unplanned": False,
}


def test_plan_violations_name_event_field_and_rule() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.identify(USER_ID, {"name": "Peter Gibbons"})  # no email
    web.track("Signed Up", {"plan": "gold", "coupon": "X"})
    web.track("Signed Up", {})
    web.track("Product Viewed", {"anything": 1})
    web.track("Checkout Started")
    found = [(v.event, v.field, v.rule) for v in violations(rec.beacons, PLAN)]
    assert found == [
        ("identify", "traits.email", "required-trait"),
        ("Signed Up", "properties", "additionalProperties"),
        ("Signed Up", "properties.plan", "enum"),
        ("Signed Up", "properties.plan", "required"),
        ("Checkout Started", "event", "unplanned-event"),
    ]
    first = violations(rec.beacons, PLAN)[0].to_dict()
    assert first["messageId"] == rec.beacons[0]["messageId"] and "email" in first["message"]


def test_plan_findings_only_with_a_plan() -> None:
    rec = Recorder()
    rec.device("web").track("Checkout Started")
    assert "tracking-plan" not in rules(lint(rec.beacons))
    [finding] = [f for f in lint(rec.beacons, PLAN) if f.rule == "tracking-plan"]
    assert finding.severity == "error" and "Checkout Started" in finding.message


def test_allow_unplanned_and_a_clean_sign_up_pass_the_plan() -> None:
    rec = scenario_3()
    rec.devices["web"].track("Something New")
    assert violations(rec.beacons, {**PLAN, "allow_unplanned": True}) == []


def test_a_broken_plan_schema_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        violations([], {"events": {"Signed Up": {"properties": {"type": "no-such-type"}}}})


# --- the whole lint ------------------------------------------------------------------------

def test_findings_are_sorted_errors_first_and_serialise() -> None:
    rec = Recorder()
    web = rec.device("web")
    web.page("/")
    web.set_anonymous_id("ABC-123-XYZ")  # warning (C13)
    web.sign_up("peter@initech.example")  # error (C24)
    findings = lint(rec.beacons)
    assert [f.severity for f in findings] == ["error", "warning"]
    data = json.loads(json.dumps([f.to_dict() for f in findings]))
    assert set(data[0]) == {"rule", "severity", "claim", "message", "fix", "message_ids"}
    assert all("\n" not in f.message and "\n" not in f.fix for f in findings)


def test_has_errors() -> None:
    warning = Finding("x", "warning", "C13", "m", "f", [])
    assert not has_errors([warning]) and has_errors([warning, Finding("y", "error", "C24", "m", "f", [])])
