"""Tracking plans: load a YAML or JSON file and check its shape before any beacon is judged by it.

A plan names the allowed track events, a JSON Schema for each event's ``properties``, and what
every identify must carry::

    events:
      Signed Up:
        properties: {type: object, required: [plan], properties: {plan: {enum: [free, premium]}}}
    identify:
      required_traits: [email]
      traits: {type: object}          # optional JSON Schema for all traits
    allow_unplanned: false            # true: unknown events pass, known ones are still checked

A mistake in the plan must fail at load time with a message that names the file and the spot
(a typo like ``event:`` or an invalid schema), not later as a confusing violation. The
checking itself is :func:`harness.identity.lint.violations`; this module only produces valid plans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from harness.userfiles import NestingError, parse_bounded

Plan = dict[str, Any]

TOP_KEYS = frozenset({"events", "identify", "allow_unplanned", "name", "version", "description"})
EVENT_KEYS = frozenset({"properties", "description"})
IDENTIFY_KEYS = frozenset({"required_traits", "traits", "description"})
EXTENSION_PREFIXES = ("x-", "$")  # your own top-level notes (x-owner: ...), "$schema" for editors


class PlanError(ValueError):
    """A tracking plan that cannot be used: missing, unparsable, or the wrong shape."""


def load_plan(path: str | Path) -> Plan:
    """Read, parse and validate a plan file (``.json`` as JSON, anything else as YAML)."""
    file = Path(path)
    if not file.exists():
        raise PlanError(f"tracking plan file not found: {file}")
    if not file.is_file():
        raise PlanError(f"tracking plan path is not a file: {file}")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read tracking plan {file}: {exc}") from None
    document = _parse_json(text, file) if file.suffix.lower() == ".json" else _parse_yaml(text, file)
    try:
        return validate_plan(document)
    except PlanError as exc:
        raise PlanError(f"{file}: {exc}") from None


def _parse_json(text: str, file: Path) -> Any:
    try:
        return parse_bounded(json.loads, text)
    except NestingError as exc:
        raise PlanError(f"{file}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"{file} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None


def _parse_yaml(text: str, file: Path) -> Any:
    try:
        return parse_bounded(yaml.safe_load, text)
    except NestingError as exc:
        raise PlanError(f"{file}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlanError(f"{file} is not valid YAML{where}: {problem}") from None


def validate_plan(document: Any) -> Plan:
    """Check a parsed plan and return it normalised (``events``, ``identify``, ``allow_unplanned`` present).

    Also used for plans built in code (``beacons.plan = {...}``).
    """
    if document is None:
        raise PlanError("the tracking plan is empty; expected a mapping with 'events' (and optionally 'identify')")
    if not isinstance(document, dict):
        raise PlanError(f"a tracking plan must be a mapping with 'events', got {_kind(document)}")
    _json_compatible(document)
    unknown = sorted(k for k in map(str, document) if k not in TOP_KEYS and not k.startswith(EXTENSION_PREFIXES))
    if unknown:
        raise PlanError(f"unknown top-level key(s) {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(sorted(TOP_KEYS))} (and x-... for your own notes)")
    events = document.get("events") or {}
    if not isinstance(events, dict):
        raise PlanError(f"'events' must map event names to {{properties: <JSON Schema>}}, got {_kind(events)}")
    normalised_events: dict[str, Any] = {}
    for name, spec in events.items():
        if not isinstance(name, str) or not name:
            raise PlanError(f"event name {name!r} must be a non-empty string (quote it in YAML)")
        normalised_events[name] = _event(name, spec)
    identify = document.get("identify") or {}
    if not isinstance(identify, dict):
        raise PlanError(f"'identify' must be a mapping with 'required_traits' and/or 'traits', got {_kind(identify)}")
    unknown = sorted(set(map(str, identify)) - IDENTIFY_KEYS)
    if unknown:
        raise PlanError(f"unknown key(s) under 'identify': {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(sorted(IDENTIFY_KEYS))}")
    required = identify.get("required_traits") or []
    if not isinstance(required, list) or not all(isinstance(t, str) and t for t in required):
        raise PlanError(f"'identify.required_traits' must be a list of trait names, got {required!r}")
    if identify.get("traits") is not None:
        check_schema(identify["traits"], "identify.traits")
    allow = document.get("allow_unplanned", False)
    if not isinstance(allow, bool):
        raise PlanError(f"'allow_unplanned' must be true or false, got {allow!r}")
    plan: Plan = {**document, "events": normalised_events,
                  "identify": {**identify, "required_traits": list(required)}, "allow_unplanned": allow}
    _agrees_with_lint(plan)
    return plan


def _event(name: str, spec: Any) -> dict[str, Any]:
    """One event entry; ``null`` or ``{}`` means "planned, any properties"."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise PlanError(f"event {name!r} must be a mapping like {{properties: <JSON Schema>}}, got {_kind(spec)}")
    unknown = sorted(set(map(str, spec)) - EVENT_KEYS)
    if unknown:
        raise PlanError(f"event {name!r}: unknown key(s) {', '.join(map(repr, unknown))}; "
                        f"put the JSON Schema under 'properties'")
    if spec.get("properties") is not None:
        check_schema(spec["properties"], f"event {name!r} properties")
    return dict(spec)


def check_schema(schema: Any, where: str) -> type[Validator]:
    """The validator class for a plan schema (draft from ``$schema``, default 2020-12).

    The schema itself must be valid for its draft, or nothing it says can be trusted: PlanError
    naming ``where`` and the spot otherwise. :func:`harness.identity.lint.violations` builds its
    validators with this too, so the loader and the checker accept the same schemas.
    """
    if not isinstance(schema, dict | bool):
        raise PlanError(f"{where} must be a JSON Schema (a mapping), got {_kind(schema)}")
    cls: type[Validator] = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        at = "/".join(str(p) for p in exc.absolute_path)
        raise PlanError(f"{where} is not a valid JSON Schema{f' (at {at})' if at else ''}: {exc.message}") from None
    if isinstance(schema, dict) and (problem := _ref_problem(schema)) is not None:
        raise PlanError(f"{where}: {problem}")
    return cls


def _ref_problem(schema: dict[str, Any]) -> str | None:
    """A ``$ref`` the checker could not resolve offline: another document (a URL: a plan is checked without the
    network), or a pointer into this schema that leads nowhere (the lint crashed on it later)."""
    anchors: set[str] = set()
    refs: list[str] = []
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$anchor", "$dynamicAnchor") and isinstance(value, str):
                    anchors.add(value)
                elif key in ("$ref", "$dynamicRef") and isinstance(value, str):
                    refs.append(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    for ref in refs:
        if not ref.startswith("#"):
            return f"$ref {ref[:80]!r} names another document; only references inside the plan (#/$defs/...) are used"
        if ref.startswith("#/") or ref == "#":
            if not _points(schema, ref):
                return f"$ref {ref[:80]!r} points at nothing in this schema"
        elif ref[1:] not in anchors:
            return f"$ref {ref[:80]!r} names no $anchor of this schema"
    return None


def _points(schema: Any, ref: str) -> bool:
    """Whether the JSON pointer of ``#/a/b`` leads somewhere in ``schema``."""
    from urllib.parse import unquote

    node = schema
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _json_compatible(document: Any) -> None:
    """YAML turns unquoted dates and the like into non-JSON values; say where to quote."""
    try:
        json.dumps(document)
    except (TypeError, ValueError) as exc:
        raise PlanError(f"the plan holds a value JSON cannot represent ({exc}); quote dates and times in YAML"
                        ) from None


def _agrees_with_lint(plan: Plan) -> None:
    """The checker must accept what the loader accepts: run it once on no beacons."""
    from harness.identity.lint import violations

    try:
        violations([], plan)
    except ValueError as exc:
        raise PlanError(str(exc)) from None


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number",
            type(None): "nothing"}.get(type(value), type(value).__name__)
