"""Tracking-plan files: the example plan loads; every kind of broken plan fails at load time, clearly."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from assertions_support import ROOT, SHOP_PLAN

from harness.identity.plan import PlanError, load_plan, validate_plan


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_example_plan_covers_every_event_the_site_sends() -> None:
    plan = load_plan(SHOP_PLAN)
    assert set(plan["events"]) == {"Product Added", "Signed Up", "Order Completed", "Offer Viewed", "Offer Clicked"}
    assert plan["identify"]["required_traits"] == ["email"]
    assert plan["allow_unplanned"] is False


def test_extension_keys_are_allowed(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "plan.yaml", "x-owner: growth team\nevents: {Signed Up: null}\n"))
    assert plan["x-owner"] == "growth team" and plan["events"] == {"Signed Up": {}}


def test_json_plan_loads(tmp_path: Path) -> None:
    doc = {"events": {"Signed Up": {"properties": {"type": "object", "required": ["plan"]}}}}
    plan = load_plan(write(tmp_path, "plan.json", json.dumps(doc)))
    assert plan["events"]["Signed Up"]["properties"]["required"] == ["plan"]
    assert plan["identify"] == {"required_traits": []}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tracking plan file not found: .*nope\.yaml"):
        load_plan(tmp_path / "nope.yaml")


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "plan.yaml", """\
        events:
          Signed Up:
            properties: {type: object
        """)
    with pytest.raises(ValueError, match=r"not valid YAML \(line \d+, column \d+\)"):
        load_plan(path)


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"not valid JSON \(line 1, column \d+\)"):
        load_plan(write(tmp_path, "plan.json", '{"events": {'))


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the tracking plan is empty"),
    ("- Signed Up\n", "must be a mapping with 'events', got a list"),
    ("event:\n  Signed Up: {}\n", "unknown top-level key(s) 'event'"),
    ("events: [Signed Up]\n", "'events' must map event names"),
    ("events:\n  Signed Up: premium\n", "event 'Signed Up' must be a mapping"),
    ("events:\n  Signed Up:\n    type: object\n", "event 'Signed Up': unknown key(s) 'type'"),
    ("events:\n  123: {}\n", "event name 123 must be a non-empty string"),
    ("identify:\n  required_traits: email\n", "'identify.required_traits' must be a list"),
    ("identify:\n  required: [email]\n", "unknown key(s) under 'identify': 'required'"),
    ("allow_unplanned: maybe\n", "'allow_unplanned' must be true or false"),
    ("events:\n  Signed Up:\n    properties: {type: object}\n    description: 2024-01-01\n",
     "quote dates and times in YAML"),
])
def test_wrong_shape(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "plan.yaml", text)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value), "the message names the file"


@pytest.mark.parametrize(("schema", "expected"), [
    ("{type: strin}", "event 'Signed Up' properties is not a valid JSON Schema"),
    ("{type: object, required: plan}", "is not a valid JSON Schema (at required)"),
    ("{properties: {plan: {minLength: -1}}}", "(at properties/plan/minLength)"),
    ("[plan]", "must be a JSON Schema (a mapping), got a list"),
])
def test_invalid_json_schema(tmp_path: Path, schema: str, expected: str) -> None:
    path = write(tmp_path, "plan.yaml", f"events:\n  Signed Up:\n    properties: {schema}\n")
    with pytest.raises(ValueError) as caught:
        load_plan(path)
    assert expected in str(caught.value)


def test_invalid_identify_traits_schema() -> None:
    with pytest.raises(PlanError, match=r"identify\.traits is not a valid JSON Schema"):
        validate_plan({"identify": {"traits": {"type": "objekt"}}})


def test_plan_set_in_code_is_validated(beacons) -> None:
    """``beacons.plan = ...`` takes a dict or a path and checks it like a file."""
    beacons.plan = str(SHOP_PLAN)
    assert "Signed Up" in beacons.plan["events"]
    with pytest.raises(PlanError, match="unknown top-level key"):
        beacons.plan = {"evnts": {}}


def test_tracking_plan_option_reaches_the_fixture(tmp_path: Path) -> None:
    """``pytest --tracking-plan PATH`` loads the plan into the server config and the beacons fixture."""
    test_file = write(tmp_path, "test_plan_option.py", """\
        def test_plan(harness_server, beacons):
            assert "Signed Up" in harness_server.config.tracking_plan["events"]
            assert beacons.plan == harness_server.config.tracking_plan
        """)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--tracking-plan", str(SHOP_PLAN), str(test_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
