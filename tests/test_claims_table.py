"""The suite checks itself: every claim C1-C26 has at least one test, and docs/claims.md is current."""

from __future__ import annotations

from claims_table import CLAIMS, DOC, README, proving_tests, readme_with_table, render


def test_every_claim_has_a_test() -> None:
    missing = [cid for cid, tests in proving_tests().items() if not tests]
    assert not missing, f"claims without a test: {missing}"
    assert len(CLAIMS) == 26


def test_claims_document_is_current() -> None:
    assert DOC.read_text() == render(), "docs/claims.md is stale: run `python tests/claims_table.py`"
    text = README.read_text()
    assert readme_with_table(text) == text, "README's claims table is stale: run `python tests/claims_table.py`"
