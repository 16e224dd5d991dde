"""``@pytest.mark.differs(library, reason=..., issue=...)``: a measured difference is a strict xfail for that
library only, satisfied only by the MeasuredDifference that ``measured()`` raises where the test measures it;
anything else (a WaitTimeout, another AssertionError, a bug) or a pass still turns the run red."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = '''
import pytest

from harness.collecting.store import WaitTimeout
from harness.testing import measured

@pytest.mark.differs("rudderstack", reason="keeps the id", issue="https://example.invalid/doc")
def test_claim():
    measured(False, "measured: the id stayed abc")

@pytest.mark.differs("rudderstack", reason="keeps the id")
def test_wait_timeout():
    raise WaitTimeout("waited 5.0s for 1 beacon(s) with type='page'; found 0")

@pytest.mark.differs("rudderstack", reason="keeps the id")
def test_unrelated_assertion():
    assert 1 == 2, "not the measurement the mark names"

@pytest.mark.differs("rudderstack", reason="said to differ")
def test_conforms_after_all():
    pass

@pytest.mark.differs("rudderstack", reason="said to differ")
def test_broken():
    raise TypeError("a bug in the test, not a difference")

@pytest.mark.differs("analytics-next", reason="another library's difference")
def test_marked_for_another_library():
    pass

@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.differs("rudderstack", reason="only case 2"))])
def test_one_case(n):
    measured(n == 1, f"measured: {n}")
'''


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rxXf", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_claims.py").write_text(TESTS)
    return tmp_path


def test_a_strict_xfail_for_the_marked_library(project: Path) -> None:
    result = run(project, "--snippet", "rudderstack")
    out = result.stdout
    assert "XFAIL test_claims.py::test_claim - rudderstack differs: keeps the id (upstream: " \
           "https://example.invalid/doc)" in out, out
    assert "XFAIL test_claims.py::test_one_case[2] - rudderstack differs: only case 2" in out, out
    assert "FAILED test_claims.py::test_conforms_after_all" in out and "XPASS(strict)" in out, out
    assert "FAILED test_claims.py::test_broken - TypeError" in out, out
    assert "FAILED test_claims.py::test_wait_timeout - harness.collecting.store.WaitTim" in out, out
    assert "FAILED test_claims.py::test_unrelated_assertion - AssertionError" in out, out
    assert "3 passed" not in out and "4 failed, 2 passed, 2 xfailed" in out, out


def test_an_ordinary_test_for_every_other_library(project: Path) -> None:
    out = run(project, "--snippet", "intilery").stdout
    assert "FAILED test_claims.py::test_claim - harness.testing.matchers.MeasuredDiff" in out, out
    assert "FAILED test_claims.py::test_one_case[2]" in out and "xfail" not in out.lower(), out
    assert "5 failed, 3 passed" in out, out


def test_a_mark_without_a_reason_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text('import pytest\n\n@pytest.mark.differs("rudderstack")\ndef test_x():\n'
                                        '    pass\n')
    result = run(tmp_path, "--snippet", "rudderstack")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "needs library names and a reason=" in result.stdout + result.stderr


def test_raises_other_than_a_measured_difference_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text('import pytest\n\n@pytest.mark.differs("rudderstack", reason="r", '
                                        'raises=AssertionError)\ndef test_x():\n    pass\n')
    result = run(tmp_path, "--snippet", "rudderstack")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "accepts only a MeasuredDifference" in result.stdout + result.stderr
