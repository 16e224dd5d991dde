"""Conformance: which of the seeds' claims (C1-C26) hold for which tracking library, measured.

The suite's real-browser tests carry ``@pytest.mark.claims(...)``. A run for one snippet profile
records, per test, those claims and what happened (the pytest side: ``--conformance-out``); the
matrix is then read off the records, one column per library:

- **holds**: every browser test of the claim passed;
- **differs**: a test is a strict ``xfail`` for this library (``@pytest.mark.differs``), satisfied only by
  the ``MeasuredDifference`` its ``measured()`` check raised; the cell quotes its reason and the measured
  evidence (the message of that check);
- **differs (declared)**: the same, declared by the profile's ``[differs]`` table (``C20 = "reason"``)
  instead of a mark in the test;
- **n/a**: every test of the claim was skipped for this library; the cell quotes why;
- **FAILS**: a test failed outright -- the run, not the library, needs looking at.

``harness conformance --snippet A,B`` runs the suite per profile in a subprocess, adds the sign-up
loss experiment (``harness repro signup-loss``) for each, and writes ``docs/conformance.md``. With
``--conformance-check docs/conformance.md`` a suite run fails when its column no longer matches the
document, so the document cannot silently go stale.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pytest

from harness.identity.claims import CLAIMS
from harness.tools.cli import HarnessError

if TYPE_CHECKING:
    from harness.sites.snippet import SnippetProfile

HOLDS, DIFFERS, NOT_APPLICABLE, FAILS, UNTESTED = "holds", "differs", "n/a", "FAILS", "untested"
DECLARED_LABEL = "differs (declared)"
# ``record_property(INFO_PROPERTY, "...")`` in a claims test: what it observed beyond the claim (e.g. the context
# fields a library sends), shown in the matrix's notes for that library and kept in the record
INFO_PROPERTY = "harness_info"
BROWSER_FIXTURES = frozenset({"new_device", "desktop", "phone", "harness_server"})
EVIDENCE_CHARS = 300


# ---- the pytest side: record what each claims test did ------------------------------------------
def claims_of(item: pytest.Item) -> list[str]:
    return [str(cid) for mark in item.iter_markers("claims") for cid in mark.args if str(cid) in CLAIMS]


def annotate(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[Any]) -> None:
    """On the worker: attach the claims, whether a browser was involved and the evidence to the report.

    ``user_properties`` travel from xdist workers to the controller, where :class:`Recorder` reads them.
    """
    found = claims_of(item)
    if not found:
        return
    from harness.testing.pytest_plugin import declared_differences, item_profile

    browser = bool(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())))
    report.user_properties.append(("claims", found))
    report.user_properties.append(("browser", browser))
    report.user_properties.append(("profile", item_profile(item).name))
    declared = declared_differences(item)
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


# ---- the matrix --------------------------------------------------------------------------------
@dataclass
class Cell:
    status: str
    tests: int = 0
    notes: list[str] = field(default_factory=list)
    declared: bool = False  # differs by the profile's [differs] table, not by a mark in the tests

    def label(self) -> str:
        if self.status == DIFFERS and self.declared:
            return DECLARED_LABEL
        return f"{self.status} ({self.tests})" if self.status == HOLDS else self.status


@dataclass
class Column:
    """One library's outcomes: the records of one suite run."""

    profile: str
    records: list[dict[str, Any]]
    library: str = ""
    loss: dict[str, Any] | None = None

    def cell(self, claim: str) -> Cell:
        mine = [r for r in self.records if claim in r["claims"] and r.get("browser")]
        if not mine:
            return Cell(UNTESTED)
        by = {o: [r for r in mine if r["outcome"] == o] for o in ("failed", "error", "xpassed", "xfailed", "skipped",
                                                                    "passed")}
        broken = by["failed"] + by["error"] + by["xpassed"]
        if broken:
            return Cell(FAILS, len(mine), [f"`{_short(r['test'])}` {r['outcome']}: {r['evidence'] or r['reason']}"
                                           for r in broken])
        info = list(dict.fromkeys(f"`{_short(r['test'])}` reports {i}" for r in mine for i in r.get("info") or ()))
        if by["xfailed"]:
            return Cell(DIFFERS, len(mine), [_xfail_note(r) for r in by["xfailed"]] + info,
                        declared=all(_declared(r) for r in by["xfailed"]))
        if by["passed"]:
            stale = sorted({f"{claim} = {r['declared'][claim]!r}" for r in mine
                            if claim in (r.get("declared") or {})})
            notes = [f"the profile's [differs] declares {', '.join(stale)}, but every test of the claim "
                     "passed: the declaration is stale"] if stale else []
            return Cell(HOLDS, len(by["passed"]), notes + info)
        reasons = sorted({r["reason"] for r in by["skipped"]})
        return Cell(NOT_APPLICABLE, len(mine), reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "library": self.library, "records": self.records, "loss": self.loss}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        return cls(str(data["profile"]), list(data["records"]), str(data.get("library") or ""), data.get("loss"))


def _short(nodeid: str) -> str:
    return re.sub(r"\[chromium(-[^\]]*)?\]$", "", nodeid.split("tests/", 1)[-1])


def _declared(record: dict[str, Any]) -> bool:
    from harness.testing.pytest_plugin import DECLARED

    return f"differs{DECLARED}:" in str(record.get("reason", ""))


def _xfail_note(record: dict[str, Any]) -> str:
    evidence = f" Measured: {record['evidence']}" if record.get("evidence") else ""
    return f"`{_short(record['test'])}`: {record['reason']}.{evidence}".replace("..", ".")


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(columns: Sequence[Column], command: str, when: datetime | None = None) -> str:
    """docs/conformance.md: the claim x library matrix, the notes behind each cell, the loss experiment."""
    when = when or datetime.now(UTC)
    names = [c.profile for c in columns]
    lines = ["# Conformance: which of the seeds' claims hold for which library", "",
             f"Generated by `{command}` on {when:%Y-%m-%d %H:%M} UTC from real-browser runs of the suite, "
             "one per library. `make test` fails when a column no longer matches a run "
             "(`--conformance-check docs/conformance.md`).", "",
             "*holds (n)*: all n browser tests of the claim pass. *differs*: the library behaves otherwise "
             "(a strict xfail that passes only on the test's own measurement; the note quotes it). "
             "*differs (declared)*: the same, declared by the profile's `[differs]` table. *n/a*: the claim "
             "cannot be tested through this library (the note says why).", ""]
    lines.append("| library | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    lines.append("| package | " + " | ".join(_cell_text(c.library or "-") for c in columns) + " |")
    lines += ["", "| id | claim | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    notes: list[str] = []
    for cid, text in CLAIMS.items():
        row = []
        for column in columns:
            cell = column.cell(cid)
            label = cell.label()
            if cell.notes:
                notes.append(f"{len(notes) + 1}. **{cid}, {column.profile}: {cell.status}.** "
                             + " ".join(_cell_text(n) for n in cell.notes))
                label += f" [{len(notes)}]"
            row.append(label)
        lines.append(f"| {cid} | {_cell_text(text)} | " + " | ".join(row) + " |")
    if notes:
        lines += ["", "## Notes", ""] + notes
    lines += ["", "## Missing sign-ups, measured per library", "",
              "`harness repro signup-loss` for each library's default delivery: sign-ups submitted at "
              "DOMContentLoaded (*early*) or once the library is ready (*ready*), then the flow's redirect; the "
              "person stays on the destination for the window. *In time*: every expected call stored by the time "
              "the destination's library was ready; *late*: all stored within the window, some later (a re-send "
              "from the library's saved queue); *lost*: a call never arrived within the window; *errors*: trials "
              "that could not measure (never counted as losses). Loss is over the trials that measured, with its "
              "95 % Wilson interval ([signup-loss.md](signup-loss.md)).", ""]
    for column in columns:
        lines += _loss_table(column)
    return "\n".join(lines).rstrip() + "\n"


def _loss_table(column: Column) -> list[str]:
    """The library's default delivery mode (the repro lists it first): each flow, submitted early and ready."""
    loss = column.loss or {}
    modes = (loss.get("settings") or {}).get("modes") or []
    cells = [c for c in loss.get("cells") or [] if not modes or c.get("mode") == modes[0]]
    if not cells:
        return [f"- **{column.profile}**: not measured in this run", ""]
    summary = ((loss.get("settings") or {}).get("delivery") or {}).get(modes[0], "") if modes else ""
    window = (loss.get("settings") or {}).get("window_s")
    out = [f"**{column.profile}**, default delivery `{modes[0] if modes else '?'}`"
           + (f", window {window:g} s" if isinstance(window, int | float) else "")
           + (f": {_cell_text(summary)}" if summary else ""), "",
           "| flow | submit | trials | in time | late | lost | errors | duplicated | loss (95 % interval) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        ci = c.get("loss_ci")
        interval = f" ({ci[0]:g}–{ci[1]:g} %)" if isinstance(ci, list) and len(ci) == 2 else ""
        out.append(f"| {c.get('flow')} | {c.get('submit')} | {c.get('trials')} | {c.get('delivered')} | "
                   f"{c.get('late', 0)} | {c.get('lost')} | {c.get('errors', 0)} | {c.get('duplicated')} | "
                   f"{c.get('loss_pct')} %{interval} |")
    return out + [""]


def read_matrix(path: Path) -> dict[str, dict[str, str]]:
    """profile -> claim -> status, parsed back from a generated document."""
    header: list[str] | None = None
    found: dict[str, dict[str, str]] = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["id", "claim"]:
            header = cells[2:]
            found = {name: {} for name in header}
        elif header and cells and cells[0] in CLAIMS:
            for name, value in zip(header, cells[2:], strict=False):
                found[name][cells[0]] = value.split(" ", 1)[0]
    return found


def stale_cells(doc: Path, column: Column) -> list[str]:
    """Where a run's column disagrees with the document (statuses only: counts and wording may vary)."""
    if not doc.is_file():
        return [f"{doc} does not exist"]
    known = read_matrix(doc).get(column.profile)
    if known is None:
        return [f"no column for {column.profile}"]
    problems = []
    for cid in CLAIMS:
        now = column.cell(cid).status
        if now == UNTESTED:
            continue  # this run did not include the claim's tests
        if known.get(cid) != now:
            problems.append(f"{cid} {known.get(cid)} -> {now}")
    return problems


# ---- running it ----------------------------------------------------------------------------------
DEFAULT_TESTS = ("tests/e2e", "tests/repro")


def run_profiles(profiles: Sequence[SnippetProfile], tests: Iterable[str], workers: str, root: Path,
                 extra: Sequence[str] = ()) -> tuple[list[Column], int]:
    """Run the suite once for every profile in one pytest session (``--snippet A,B,C``: the workers' browsers
    are shared); each profile's records, in order, and pytest's exit code.

    Every test given runs with each profile, whatever the project's harness_library_neutral says.
    """
    names = [p.name for p in profiles]
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        out = Path(tmp) / "column.json"
        cmd = [sys.executable, "-m", "pytest", *tests, "--snippet", ",".join(_spec(p) for p in profiles),
               "--conformance-out",
               str(out), "-o", "harness_library_neutral=", "-q", "-p", "no:cacheprovider",
               *(["-n", workers] if workers != "0" else []), *extra]
        done = subprocess.run(cmd, cwd=root, env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        files = [out] if len(names) == 1 else [out.with_name(f"column.{name}.json") for name in names]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            tail = "\n".join(done.stdout.splitlines()[-5:])
            raise RuntimeError(f"the suite for {', '.join(names)} wrote no records ({', '.join(missing)}; "
                               f"exit {done.returncode}): {tail}")
        return [Column.from_dict(json.loads(f.read_text())) for f in files], done.returncode


def measure_loss(profile: str, trials: int, root: Path, mode: str | None = None) -> dict[str, Any] | None:
    """The repro's JSON for ``profile`` (only its ``mode``, the default delivery the matrix shows, when given)."""
    cmd = [sys.executable, "-m", "harness", "repro", "signup-loss", "--snippet", profile, "--trials", str(trials),
           "--format", "json", *(["--modes", mode] if mode else [])]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    try:
        return json.loads(done.stdout)
    except ValueError:
        return None


def _spec(profile: SnippetProfile) -> str:
    """How a subprocess started in the project root finds the profile: a bundled one by name, any other by folder."""
    from harness.sites.snippet import SNIPPETS_DIR

    folder = profile.folder
    bundled = folder is None or folder.resolve() == (SNIPPETS_DIR / profile.name).resolve()
    return profile.name if bundled else str(folder.resolve())


def _library(profile: SnippetProfile) -> str:
    """What the profile runs, for the matrix header: its declared package, else its description."""
    version = profile.library_version
    return f"{profile.library} {version}".strip() if version else profile.description


def _saved_library(column: Column) -> str:
    """:func:`_library` for a column read back from --json: its profile by name, if it is still there."""
    from harness.sites.snippet import ProfileError, load_profile

    try:
        return _library(load_profile(column.profile))
    except ProfileError:
        return ""


@click.command("conformance")
@click.option("--snippet", "snippets", default="intilery", show_default=True,
              help="comma-separated snippet profiles (names or folders): one matrix column each")
@click.option("--out", default="docs/conformance.md", show_default=True, type=click.Path(dir_okay=False),
              help="where to write the matrix ('-' prints it)")
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False),
              help="also write every record (test, claims, outcome, reason, evidence) as JSON")
@click.option("--tests", default=",".join(DEFAULT_TESTS), show_default=True,
              help="comma-separated test paths to run per library")
@click.option("--workers", default="auto", show_default=True, help="pytest-xdist workers per run (0: one process)")
@click.option("--loss-trials", default=5, show_default=True, type=click.IntRange(0, 1000),
              help="sign-up loss trials per cell per library (0: skip the loss experiment)")
@click.option("--from-json", "from_json", default=None, type=click.Path(exists=True, dir_okay=False),
              help="render the matrix again from the records an earlier run wrote with --json (runs nothing)")
def conformance(snippets: str, out: str, json_out: str | None, tests: str, workers: str,
                loss_trials: int, from_json: str | None) -> None:
    """Run the library-neutral claims for each library and write the claim x library matrix."""
    from harness.sites.snippet import ROOT, ProfileError, load_profile

    if from_json:
        saved = [Column.from_dict(c) for c in json.loads(Path(from_json).read_text())]
        for column in saved:
            column.library = _saved_library(column)
        text = render(saved, "harness conformance --snippet " + ",".join(c.profile for c in saved))
        _write(text, out)
        return

    names = [s.strip() for s in snippets.split(",") if s.strip()]
    loaded: list[SnippetProfile] = []
    for name in names:
        try:
            loaded.append(load_profile(name))
        except ProfileError as exc:
            raise HarnessError(str(exc)) from None
    click.echo(f"conformance: running the suite for {', '.join(p.name for p in loaded)} (one session) ...", err=True)
    try:
        columns, code = run_profiles(loaded, tests.split(","), workers, ROOT)
    except RuntimeError as exc:
        raise HarnessError(str(exc)) from None
    broken = False
    for profile, column in zip(loaded, columns, strict=True):
        column.library = _library(profile)
        if loss_trials:
            click.echo(f"conformance: measuring sign-up loss for {profile.name} ({loss_trials} trials per cell) "
                       "...", err=True)
            from harness.experiments.shop import modes_of

            column.loss = measure_loss(_spec(profile), loss_trials, ROOT, modes_of(profile)[0])
        statuses = [column.cell(cid).status for cid in CLAIMS]
        broken = broken or FAILS in statuses
        click.echo(f"conformance: {column.profile}: " + ", ".join(
            f"{statuses.count(s)} {s}" for s in (HOLDS, DIFFERS, NOT_APPLICABLE, FAILS, UNTESTED)
            if statuses.count(s)) + f" (pytest exit {code})", err=True)
    command = "harness conformance --snippet " + ",".join(names)
    text = render(columns, command)
    _write(text, out)
    if json_out:
        Path(json_out).write_text(json.dumps([c.to_dict() for c in columns], indent=2))
    if broken:
        raise SystemExit(1)


def _write(text: str, out: str) -> None:
    """The matrix to ``out``, or to stdout for ``-``."""
    if out == "-":
        click.echo(text, nl=False)
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)
    click.echo(f"conformance: wrote {out}", err=True)
