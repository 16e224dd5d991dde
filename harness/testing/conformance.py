"""The pytest side of the conformance matrix: record what each claims test did, per library.

``--conformance-out PATH`` writes each library's records (one column, :mod:`harness.identity.matrix`);
``--conformance-check docs/conformance.md`` fails the run when a column no longer matches the document.
The pytest plugin hands each report here with the test's profile and its declared differences, so
this module never reaches back into the plugin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.identity.claims import CLAIMS
from harness.identity.matrix import INFO_PROPERTY, Column, stale_cells

BROWSER_FIXTURES = frozenset({"new_device", "desktop", "phone", "harness_server"})
EVIDENCE_CHARS = 300


def claims_of(item: pytest.Item) -> list[str]:
    return [str(cid) for mark in item.iter_markers("claims") for cid in mark.args if str(cid) in CLAIMS]


def annotate(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[Any], profile: str,
             declared: dict[str, str]) -> None:
    """On the worker: attach the claims, whether a browser was involved and the evidence to the report.

    ``user_properties`` travel from xdist workers to the controller, where :class:`Recorder` reads them.
    """
    found = claims_of(item)
    if not found:
        return
    browser = bool(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())))
    report.user_properties.append(("claims", found))
    report.user_properties.append(("browser", browser))
    report.user_properties.append(("profile", profile))
    if declared:
        report.user_properties.append(("declared", declared))
    if call.excinfo is not None and report.when == "call":
        error = call.excinfo.value
        # a declared difference is an xfail raised from the MeasuredDifference: the measurement is the evidence
        measured = error.__cause__ if isinstance(error, pytest.xfail.Exception) and error.__cause__ else error
        report.user_properties.append(("evidence", evidence(measured)))


def evidence(error: BaseException) -> str:
    """The test's own message about what it measured, without pytest's assertion introspection."""
    lines: list[str] = []
    for line in str(error).splitlines():
        if line.startswith("assert ") and lines:
            break
        lines.append(line.strip())
    text = " ".join(" ".join(lines).split())
    return text if len(text) <= EVIDENCE_CHARS else text[:EVIDENCE_CHARS - 1] + "…"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


@dataclass
class Recorder:
    """Collects one record per claims test and profile (on the controller); writes or checks each column at the end.

    ``out`` with several profiles: one file per profile, ``column.NAME.json`` beside ``column.json``.
    """

    profiles: list[str]
    out: Path | None = None
    check: Path | None = None
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # profile -> nodeid -> record

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "claims" not in props:
            return
        mine = self.records.setdefault(str(props.get("profile") or self.profiles[0]), {})
        record = mine.setdefault(report.nodeid, {
            "test": report.nodeid, "claims": props["claims"], "browser": props.get("browser", False),
            "outcome": "passed", "reason": "", "evidence": ""})
        if props.get("declared"):
            record["declared"] = dict(props["declared"])
        for name, value in report.user_properties:
            if name == INFO_PROPERTY:
                record.setdefault("info", [])
                if value not in record["info"]:
                    record["info"].append(value)
        xfail = getattr(report, "wasxfail", None)
        if report.skipped and xfail is not None:
            record.update(outcome="xfailed", reason=str(xfail).removeprefix("reason: "),
                          evidence=props.get("evidence", ""))
        elif report.skipped:
            record.update(outcome="skipped", reason=_skip_reason(report))
        elif report.failed:
            record.update(outcome="failed" if report.when == "call" else "error",
                          evidence=props.get("evidence", "") or str(report.longrepr)[-EVIDENCE_CHARS:])
        elif report.passed and xfail is not None and report.when == "call":
            record.update(outcome="xpassed", reason=str(xfail))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for profile in self.profiles:
            column = Column(profile, list(self.records.get(profile, {}).values()))
            if self.out is not None:
                out = self.out if len(self.profiles) == 1 else self.out.with_name(
                    f"{self.out.stem}.{profile}{self.out.suffix}")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(column.to_dict(), indent=2))
            if self.check is not None and column.records:
                self._check(session, column)

    def _check(self, session: pytest.Session, column: Column) -> None:
        assert self.check is not None
        problems = stale_cells(self.check, column)
        if problems:
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            text = (f"{self.check} is stale for {column.profile}: {'; '.join(problems)} "
                    f"(regenerate it with `harness conformance`)")
            if reporter is not None:
                reporter.write_line(f"conformance: {text}", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
