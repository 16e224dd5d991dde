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
loss experiment (``harness repro signup-loss``) for each, and writes ``conformance.md`` in the current folder
(``--out``; this repository keeps its own as ``docs/conformance.md``). With
``--conformance-check docs/conformance.md`` a suite run fails when its column no longer matches the
document, so the document cannot silently go stale.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from harness.identity.claims import CLAIMS
from harness.identity.matrix import (  # noqa: F401  (the 0.2 names: harness.tools.conformance.Column, ...)
    DECLARED_LABEL,
    DIFFERS,
    FAILS,
    HOLDS,
    INFO_PROPERTY,
    NOT_APPLICABLE,
    UNTESTED,
    Cell,
    Column,
    read_matrix,
    read_saved,
    render,
    stale_cells,
)
from harness.testing.conformance import Recorder, annotate, claims_of, evidence  # noqa: F401  (0.2 names)
from harness.tools.cli import HarnessError

if TYPE_CHECKING:
    from harness.sites.snippet import SnippetProfile


# ---- running it ----------------------------------------------------------------------------------
DEFAULT_TESTS = ("harness.suite",)  # the shipped claim suite; a checkout adds tests/repro (docs/conformance.md)
DEFAULT_OUT = "conformance.md"  # in the current folder: never a project's docs unless --out says so
NO_TESTS_COLLECTED = 5  # pytest's exit code


def run_profiles(profiles: Sequence[SnippetProfile], tests: Iterable[str], workers: str, root: Path,
                 extra: Sequence[str] = ()) -> tuple[list[Column], int]:
    """Run the suite once for every profile in one pytest session (``--snippet A,B,C``: the workers' browsers
    are shared); each profile's records, in order, and pytest's exit code.

    Every test given runs with each profile, whatever the project's harness_library_neutral says. Tests are
    module names (``harness.suite``) or paths (pytest ``--pyargs`` takes both), run with ``root`` as the folder.
    """
    names = [p.name for p in profiles]
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        out = Path(tmp) / "column.json"
        cmd = [sys.executable, "-m", "pytest", "--pyargs", *tests, "--snippet", ",".join(_spec(p) for p in profiles),
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
@click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(dir_okay=False),
              help="where to write the matrix ('-' prints it)")
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False),
              help="also write every record (test, claims, outcome, reason, evidence) as JSON")
@click.option("--tests", default=",".join(DEFAULT_TESTS), show_default=True,
              help="comma-separated test modules (harness.suite) or paths to run per library")
@click.option("--workers", default="auto", show_default=True,
              help="pytest-xdist workers per run (0: one process; auto without pytest-xdist installed: one process)")
@click.option("--loss-trials", default=5, show_default=True, type=click.IntRange(0, 1000),
              help="sign-up loss trials per cell per library (0: skip the loss experiment)")
@click.option("--from-json", "from_json", default=None, type=click.Path(exists=True, dir_okay=False),
              help="render the matrix again from the records an earlier run wrote with --json (runs nothing)")
def conformance(snippets: str, out: str, json_out: str | None, tests: str, workers: str,
                loss_trials: int, from_json: str | None) -> None:
    """Run the library-neutral claims for each library and write the claim x library matrix."""
    from harness.sites.snippet import ProfileError, load_profile

    if from_json:
        try:  # a hand-edited or hostile file: one harness: line, not a traceback
            saved = read_saved(Path(from_json).read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise HarnessError(f"--from-json {from_json}: {exc}") from None
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
        if workers == "auto" and importlib.util.find_spec("xdist") is None:
            workers = "0"  # pytest-xdist is a test extra, not a dependency: a plain install runs in one process
        columns, code = run_profiles(loaded, [t.strip() for t in tests.split(",") if t.strip()], workers,
                                     Path.cwd())
    except RuntimeError as exc:
        raise HarnessError(str(exc)) from None
    if code == NO_TESTS_COLLECTED or all(column.cell(cid).status == UNTESTED for column in columns
                                          for cid in CLAIMS):
        raise HarnessError(f"no test ran (--tests {tests}, pytest exit {code}): nothing written")
    broken = False
    for profile, column in zip(loaded, columns, strict=True):
        column.library = _library(profile)
        if loss_trials:
            click.echo(f"conformance: measuring sign-up loss for {profile.name} ({loss_trials} trials per cell) "
                       "...", err=True)
            from harness.experiments.shop import modes_of

            column.loss = measure_loss(_spec(profile), loss_trials, Path.cwd(), modes_of(profile)[0])
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
    click.echo(f"conformance: wrote {Path(out).resolve()}", err=True)
