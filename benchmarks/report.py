"""Present results: one rich table on the terminal, and the figures section of docs/benchmarks.md.

The doc keeps its hand-written parts; only the text between the two markers is rewritten, so a
real run replaces the previous run's figures and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import ROOT, Result

DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- bench:start (written by `make bench`; edit outside the markers) -->"
END = "<!-- bench:end -->"


def _met(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def table(results: Sequence[Result]) -> Table:
    t = Table(title="Intilery harness benchmarks", show_lines=False)
    for col in ("benchmark", "figure", "value", "target", "result"):
        t.add_column(col, overflow="fold")
    for r in results:
        first = True
        for label, value in r.figures:
            t.add_row(r.name if first else "", label, value, "", "")
            first = False
        for c in r.checks:
            style = {True: "green", False: "bold red", None: "yellow"}[c.met]
            t.add_row(r.name if first else "", c.label, c.value, c.target, f"[{style}]{_met(c.met)}[/]")
            first = False
        t.add_section()
    return t


def print_results(results: Sequence[Result], console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(results))
    for r in results:
        for note in r.notes:
            console.print(f"[dim]{r.name}:[/] {note}")


def markdown(results: Sequence[Result], machine: dict[str, str], command: str, when: str) -> str:
    """The figures section: machine, date, command, then one table per benchmark."""
    lines = [f"Run on {when} with `{command}`.", "", "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "### Targets", "", "| benchmark | target | measured | result |", "|---|---|---|---|"]
    for r in results:
        for c in r.checks:
            lines.append(f"| {r.name}: {c.label} | {c.target} | {c.value} | **{_met(c.met)}** |")
    for r in results:
        lines += ["", f"### {r.name}", "", "| figure | value |", "|---|---|"]
        lines += [f"| {label} | {value} |" for label, value in r.figures]
        lines += [f"| {c.label} | {c.value} (target {c.target}: {_met(c.met)}) |" for c in r.checks]
        if r.notes:
            lines.append("")
            lines += [f"- {note}" for note in r.notes]
        lines.append(f"\n({r.name} took {r.seconds:.0f} s.)")
    return "\n".join(lines)


def write_doc(section: str, doc: Path = DOC) -> Path:
    """Replace the figures between the markers (or add them at the end of the doc)."""
    block = f"{START}\n{section}\n{END}"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    return doc
