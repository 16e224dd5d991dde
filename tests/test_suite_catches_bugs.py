"""The suite tests itself: against a deliberately broken library it must fail, and say why.

`fixtures/snippets/broken-reset` wraps reset() so the anonymousId cookie is written back. The
reset tests must fail against it with messages that name what was expected and what was captured.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_broken_reset_library_fails_the_reset_claims(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "harness/suite/test_reset.py", "--snippet", "broken-reset", "-q",
         "-p", "no:cacheprovider", "-p", "no:randomly", f"--output={tmp_path / 'out'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, f"the suite should fail against broken-reset; rc={result.returncode}\n{out[-3000:]}"
    assert "survived reset" in out, "the failure names the cookie that survived reset"
    assert "captured beacons" in out, "the failure report lists what the collector captured"
    assert "2 failed" in out, out[-2000:]
