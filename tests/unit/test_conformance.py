"""The conformance matrix: how outcomes become cells, and that a stale document is caught."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from harness.identity.claims import CLAIMS
from harness.tools.conformance import (
    DIFFERS,
    FAILS,
    HOLDS,
    NOT_APPLICABLE,
    UNTESTED,
    Column,
    read_matrix,
    render,
    stale_cells,
)

ROOT = Path(__file__).resolve().parents[2]


def record(claim: str, outcome: str, reason: str = "", evidence: str = "", browser: bool = True,
           test: str = "harness/suite/test_x.py::test_y[chromium]") -> dict:
    return {"test": test, "claims": [claim], "browser": browser, "outcome": outcome, "reason": reason,
            "evidence": evidence}


def test_cells_follow_the_outcomes_of_the_claims_browser_tests() -> None:
    column = Column("lib", [
        record("C1", "passed"), record("C1", "passed", test="t2"),
        record("C2", "passed"), record("C2", "xfailed", "keeps the cookie a session", "expires=-1"),
        record("C3", "skipped", "needs our delivery= option"),
        record("C4", "passed"), record("C4", "failed", evidence="boom"),
        record("C5", "passed", browser=False),
    ])
    assert column.cell("C1").status == HOLDS and column.cell("C1").tests == 2
    differs = column.cell("C2")
    assert differs.status == DIFFERS and "keeps the cookie a session" in differs.notes[0]
    assert "Measured: expires=-1" in differs.notes[0]
    assert column.cell("C3").status == NOT_APPLICABLE and column.cell("C3").notes == ["needs our delivery= option"]
    assert column.cell("C4").status == FAILS
    assert column.cell("C5").status == UNTESTED, "analysis-only tests say nothing about a library"


def test_the_rendered_matrix_reads_back_and_a_changed_status_is_stale(tmp_path: Path) -> None:
    ours = Column("ours", [record(cid, "passed") for cid in CLAIMS])
    theirs = Column("theirs", [record(cid, "passed") for cid in CLAIMS if cid != "C9"]
                    + [record("C9", "xfailed", "reset keeps the id", "cookie survived")])
    doc = tmp_path / "conformance.md"
    doc.write_text(render([ours, theirs], "harness conformance --snippet ours,theirs"))
    matrix = read_matrix(doc)
    assert matrix["ours"]["C9"] == HOLDS and matrix["theirs"]["C9"] == DIFFERS
    assert stale_cells(doc, theirs) == []
    fixed = Column("theirs", [record(cid, "passed") for cid in CLAIMS])
    assert stale_cells(doc, fixed) == ["C9 differs -> holds"]
    assert stale_cells(doc, Column("other", [record("C1", "passed")])) == ["no column for other"]
    assert "reset keeps the id" in doc.read_text() and "cookie survived" in doc.read_text()


def test_a_real_run_records_the_broken_librarys_failure_against_its_claim(tmp_path: Path) -> None:
    """The recorder in a real browser run: the deliberately broken reset() shows up under C9."""
    out = tmp_path / "column.json"
    done = subprocess.run([sys.executable, "-m", "pytest", "harness/suite/test_reset.py", "--snippet", "broken-reset",
                           "--conformance-out", str(out), "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:]
    column = Column.from_dict(json.loads(out.read_text()))
    cell = column.cell("C9")
    assert cell.status == FAILS and "survived reset" in " ".join(cell.notes), cell


def test_the_command_runs_every_library_in_one_session(tmp_path: Path) -> None:
    """``harness conformance --snippet A,B``: one pytest session, one column per library, each its own outcome."""
    doc = tmp_path / "matrix.md"
    done = subprocess.run([sys.executable, "-m", "harness", "conformance", "--snippet", "intilery,broken-reset",
                           "--tests", "harness.suite.test_reset", "--loss-trials", "0", "--workers", "0",
                           "--out", str(doc)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]  # broken-reset fails C9: the matrix says FAILS
    assert "running the suite for intilery, broken-reset (one session)" in done.stderr
    matrix = read_matrix(doc)
    assert matrix["intilery"]["C9"] == HOLDS and matrix["broken-reset"]["C9"] == FAILS, matrix


def test_a_profile_given_as_a_folder_runs_from_anywhere(tmp_path: Path) -> None:
    """``--snippet ./my-profile`` (the option says "names or folders"): the suite, started in the project root,
    finds the folder, and the column carries the profile's own name."""
    mine = _my_profile(tmp_path)
    doc = tmp_path / "matrix.md"
    done = subprocess.run([sys.executable, "-m", "harness", "conformance", "--snippet", f"./{mine.name}",
                           "--tests", "harness.suite.test_reset", "--loss-trials", "0", "--workers", "0",
                           "--out", str(doc)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]  # its reset() is broken: C9 FAILS
    matrix = read_matrix(doc)
    assert matrix["my-reset"]["C9"] == FAILS, matrix
    assert "intilery" in doc.read_text(), "the header names the library the folder declares"


def test_the_loss_run_gets_a_spec_that_works_from_the_project_root(tmp_path: Path, monkeypatch) -> None:
    """What the suite and ``harness repro`` (both started in the project root) are given: a bundled profile by
    name, any other by its absolute folder."""
    from harness.sites.snippet import load_profile
    from harness.tools.conformance import _spec

    mine = _my_profile(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = _spec(load_profile(f"./{mine.name}"))
    assert spec == str(mine.resolve())
    monkeypatch.chdir(ROOT)
    assert load_profile(spec).name == "my-reset"
    assert _spec(load_profile("intilery")) == "intilery"


def _my_profile(tmp_path: Path) -> Path:
    """A copy of the bundled broken-reset profile under another name, outside the project."""
    mine = tmp_path / "my-profile"
    shutil.copytree(ROOT / "fixtures" / "snippets" / "broken-reset", mine)
    toml = mine / "profile.toml"
    toml.write_text(toml.read_text().replace('name = "broken-reset"', 'name = "my-reset"', 1))
    return mine


DECLARED_TESTS = '''
import pytest

from harness.collecting.store import WaitTimeout
from harness.testing import measured


@pytest.mark.claims("C9")
def test_measured(harness_server):
    measured(False, "the id stayed abc after reset")


@pytest.mark.claims("C9")
def test_holds_elsewhere(harness_server):
    pass


@pytest.mark.claims("C10")
def test_declared_but_a_timeout(harness_server):
    raise WaitTimeout("waited 5.0s for 1 beacon(s); found 0")


@pytest.mark.claims("C1")
def test_not_declared(harness_server):
    measured(False, "a difference nobody declared")
'''


def test_a_profiles_differs_table_declares_a_known_difference(tmp_path: Path) -> None:
    """``[differs] C9 = "reason"`` in a folder profile: the claim's tests xfail on their measurement for that
    library without a mark; any other failure still fails; the matrix shows *differs (declared)*."""
    import os

    mine = _my_profile(tmp_path)
    toml = mine / "profile.toml"
    toml.write_text(toml.read_text() + '\n[differs]\nC9 = "reset keeps the anonymousId"\n'
                                       'C10 = "never returns null, saves nothing"\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_declared.py").write_text(DECLARED_TESTS)
    out = tmp_path / "column.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rxXf", "-p", "no:cacheprovider", "-p",
                           "no:randomly", "--snippet", str(mine), "--conformance-out", str(out)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    text = done.stdout
    assert "XFAIL test_declared.py::test_measured - intilery differs (declared): C9 reset keeps the anonymousId" \
        in text, text[-3000:]
    assert "FAILED test_declared.py::test_declared_but_a_timeout" in text, "a WaitTimeout is no measurement"
    assert "FAILED test_declared.py::test_not_declared" in text, "only the declared claims"
    assert "2 failed, 1 passed, 1 xfailed" in text, text[-3000:]
    column = Column.from_dict(json.loads(out.read_text()))
    cell = column.cell("C9")
    assert cell.status == DIFFERS and cell.label() == "differs (declared)", cell
    assert "Measured: the id stayed abc after reset" in " ".join(cell.notes), cell.notes
    assert column.cell("C10").status == FAILS and column.cell("C1").status == FAILS
    doc = tmp_path / "matrix.md"
    doc.write_text(render([column], "harness conformance --snippet my-reset"))
    assert "| differs (declared) [" in doc.read_text()
    assert read_matrix(doc)["my-reset"]["C9"] == DIFFERS and stale_cells(doc, column) == []


def test_a_declared_difference_every_test_passes_is_called_stale() -> None:
    passed = record("C9", "passed")
    passed["declared"] = {"C9": "reset keeps the id"}
    cell = Column("lib", [passed]).cell("C9")
    assert cell.status == HOLDS and "the declaration is stale" in cell.notes[0], cell
