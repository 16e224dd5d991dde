"""The claim x library matrix: one column per library, read off the records of a suite run.

A record is what one claims test did for one library (its claims, whether a browser ran, passed /
xfailed / skipped / failed, the reason and the measured evidence); :class:`Column` turns a library's
records into a status per claim, :func:`render` writes ``docs/conformance.md`` and :func:`stale_cells`
says where a run no longer matches it. The pytest side that makes the records is
:mod:`harness.testing.conformance`; running the suite per library is ``harness conformance``
(:mod:`harness.tools.conformance`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.identity.claims import CLAIMS

HOLDS, DIFFERS, NOT_APPLICABLE, FAILS, UNTESTED = "holds", "differs", "n/a", "FAILS", "untested"
DECLARED_LABEL = "differs (declared)"
DECLARED = " (declared)"  # in an xfail reason: the profile's [differs] table declared it, no test mark
# ``record_property(INFO_PROPERTY, "...")`` in a claims test: what it observed beyond the claim (e.g. the context
# fields a library sends), shown in the matrix's notes for that library and kept in the record
INFO_PROPERTY = "harness_info"


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
            return Cell(FAILS, len(mine), [f"{_code(_short(r['test']))} {_cell_text(r['outcome'])}: "
                                           f"{_cell_text(r['evidence'] or r['reason'])}" for r in broken])
        info = list(dict.fromkeys(f"{_code(_short(r['test']))} reports {_cell_text(i)}"
                                  for r in mine for i in r.get("info") or ()))
        if by["xfailed"]:
            return Cell(DIFFERS, len(mine), [_xfail_note(r) for r in by["xfailed"]] + info,
                        declared=all(_declared(r) for r in by["xfailed"]))
        if by["passed"]:
            stale = sorted({f"{claim} = {_cell_text(repr(r['declared'][claim]))}" for r in mine
                            if claim in (r.get("declared") or {})})
            notes = [f"the profile's [differs] declares {', '.join(stale)}, but every test of the claim "
                     "passed: the declaration is stale"] if stale else []
            return Cell(HOLDS, len(by["passed"]), notes + info)
        reasons = sorted({_cell_text(r["reason"]) for r in by["skipped"]})
        return Cell(NOT_APPLICABLE, len(mine), reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "library": self.library, "records": self.records, "loss": self.loss}

    @classmethod
    def from_dict(cls, data: Any) -> Column:
        """A column as ``to_dict`` wrote it; every field is checked (ValueError, one line), so a hand-edited or
        hostile ``--from-json`` file is a message, never a traceback from the renderer."""
        if not isinstance(data, dict) or not isinstance(data.get("profile"), str) \
                or not isinstance(data.get("records"), list):
            raise ValueError("each column needs a 'profile' string and a 'records' list")
        profile = data["profile"]
        for index, record in enumerate(data["records"]):
            if not _record_ok(record):
                raise ValueError(f"record {index} of {profile[:60]!r} needs 'test' and 'outcome' strings, a "
                                 "'claims' list of strings, and strings for 'reason', 'evidence' and 'info'")
        library, loss = data.get("library"), data.get("loss")
        if not isinstance(library, str | None) or not isinstance(loss, dict | None):
            raise ValueError(f"column {profile[:60]!r}: 'library' must be a string and 'loss' an object")
        return cls(profile, list(data["records"]), library or "", loss)


def _record_ok(record: Any) -> bool:
    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    if not isinstance(record, dict):
        return False
    record.setdefault("reason", "")
    record.setdefault("evidence", "")
    return (isinstance(record.get("test"), str) and isinstance(record.get("outcome"), str)
            and strings(record.get("claims")) and isinstance(record["reason"], str)
            and isinstance(record["evidence"], str) and strings(record.get("info", []))
            and isinstance(record.get("declared", {}), dict))


def read_saved(text: str) -> list[Column]:
    """The columns ``harness conformance --json`` wrote (``--from-json``); ValueError names the first mistake."""
    import json

    from harness.userfiles import parse_bounded

    try:
        data = parse_bounded(json.loads, text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    if not isinstance(data, list) or not data:
        raise ValueError("expected a list of columns, as `harness conformance --json` writes")
    return [Column.from_dict(column) for column in data]


def _short(nodeid: str) -> str:
    return re.sub(r"\[chromium(-[^\]]*)?\]$", "", nodeid.split("tests/", 1)[-1])


def _declared(record: dict[str, Any]) -> bool:
    return f"differs{DECLARED}:" in str(record.get("reason", ""))


def _xfail_note(record: dict[str, Any]) -> str:
    evidence = f" Measured: {_cell_text(record['evidence'])}" if record.get("evidence") else ""
    return f"{_code(_short(record['test']))}: {_cell_text(record['reason'])}.{evidence}".replace("..", ".")


_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#!~&])")


def _cell_text(text: str) -> str:
    """Text for one line of Markdown: every character Markdown or HTML would act on escaped (a profile named
    ``<script>`` or ``# heading``, a pipe that breaks a row), line breaks folded."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).splitlines()))


def _code(text: str) -> str:
    """A code span of ``text`` (a test id, a mode): backticks cannot close it, pipes cannot break the row."""
    return "`" + " ".join(str(text).splitlines()).replace("`", "'").replace("|", "\\|") + "`"


def render(columns: Sequence[Column], command: str, when: datetime | None = None) -> str:
    """docs/conformance.md: the claim x library matrix, the notes behind each cell, the loss experiment."""
    when = when or datetime.now(UTC)
    names = [_cell_text(c.profile) for c in columns]
    lines = ["# Conformance: which of the seeds' claims hold for which library", "",
             f"Generated by {_code(command)} on {when:%Y-%m-%d %H:%M} UTC from real-browser runs of the suite, "
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
                notes.append(f"{len(notes) + 1}. **{cid}, {_cell_text(column.profile)}: {cell.status}.** "
                             + " ".join(cell.notes))  # each note escaped where it was made
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
    loss = column.loss if isinstance(column.loss, dict) else {}
    settings = loss.get("settings") if isinstance(loss.get("settings"), dict) else {}
    modes = settings.get("modes") if isinstance(settings.get("modes"), list) else []
    cells = [c for c in loss.get("cells") or [] if isinstance(c, dict) and (not modes or c.get("mode") == modes[0])] \
        if isinstance(loss.get("cells"), list) else []
    if not cells:
        return [f"- **{_cell_text(column.profile)}**: not measured in this run", ""]
    delivery = settings.get("delivery") if isinstance(settings.get("delivery"), dict) else {}
    summary = str(delivery.get(modes[0], "")) if modes and isinstance(modes[0], str) else ""
    window = settings.get("window_s")
    out = [f"**{_cell_text(column.profile)}**, default delivery {_code(modes[0] if modes else '?')}"
           + (f", window {window:g} s" if isinstance(window, int | float) else "")
           + (f": {_cell_text(summary)}" if summary else ""), "",
           "| flow | submit | trials | in time | late | lost | errors | duplicated | loss (95 % interval) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        ci = c.get("loss_ci")
        interval = f" ({ci[0]:g}–{ci[1]:g} %)" if isinstance(ci, list) and len(ci) == 2 and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in ci) else ""
        row = [c.get(k, d) for k, d in (("flow", None), ("submit", None), ("trials", None), ("delivered", None),
                                         ("late", 0), ("lost", None), ("errors", 0), ("duplicated", None))]
        out.append("| " + " | ".join(_cell_text(str(v)) for v in row)
                   + f" | {_cell_text(str(c.get('loss_pct')))} %{interval} |")
    return out + [""]


def read_matrix(path: Path) -> dict[str, dict[str, str]]:
    """profile -> claim -> status, parsed back from a generated document."""
    header: list[str] | None = None
    found: dict[str, dict[str, str]] = {}
    for line in path.read_text().splitlines():
        # cells split on unescaped pipes, then unescaped (what _cell_text wrote)
        cells = [re.sub(r"\\(.)", r"\1", c).strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
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
