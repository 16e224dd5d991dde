"""The loss experiment, small: a redirect loses sign-ups; the welcome page and persist lose none.

Real Chromium, real collector. Each test runs a few trials of a few cells through the same code
as ``harness repro signup-loss`` on a server of its own (the experiment sets latency faults).
"""

from __future__ import annotations

import json
from collections.abc import Generator

import pytest
from click.testing import CliRunner

from harness.repro import (
    DEFAULT_LATENCY_MS,
    CellSpec,
    LossReport,
    explain,
    parse_latencies,
    parse_list,
    repro,
    run_cells,
    run_signup_loss,
    settle_ms,
)
from harness.server import HarnessServer
from harness.site import DELIVERY_MODES, FLOWS

TRIALS = 2


@pytest.fixture(scope="module")
def server() -> Generator[HarnessServer, None, None]:
    """A server of our own: the experiment sets collector and script latency per cell."""
    srv = HarnessServer(port=0, db=":memory:").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def small_run(server: HarnessServer) -> LossReport:
    """batch (the lossy cell) and persist at both submit moments on js-redirect, and the welcome page."""
    cells = [CellSpec(mode, "js-redirect", submit, DEFAULT_LATENCY_MS)
             for mode in ("batch", "persist") for submit in ("early", "ready")]
    cells += [CellSpec(mode, "welcome-page", "ready", DEFAULT_LATENCY_MS) for mode in ("batch", "persist")]
    return run_cells(cells, trials=TRIALS, parallel=6, server=server)


@pytest.mark.claims("C23")
def test_redirect_right_after_the_calls_loses_sign_ups(small_run: LossReport) -> None:
    """js-redirect + batch: the flush timer never fires before the page leaves (either submit moment)."""
    for submit in ("early", "ready"):
        cell = small_run.cell("batch", "js-redirect", submit)
        assert cell.errors == 0, [t.error for t in cell.details]
        assert cell.lost >= 1, cell.to_dict()
        assert cell.late == 0, "a 'lost' trial arrived after all: the settle window is too short"


@pytest.mark.claims("C23")
def test_welcome_page_and_persist_lose_none(small_run: LossReport) -> None:
    """The seeds' fix (welcome page) and the persist outbox + stub queue: every sign-up arrives."""
    safe = [c for c in small_run.cells if c.flow == "welcome-page" or c.mode == "persist"]
    assert len(safe) == 4
    for cell in safe:
        assert cell.errors == 0, [t.error for t in cell.details]
        assert (cell.delivered, cell.lost) == (TRIALS, 0), cell.to_dict()
        assert cell.stored_twice == 0, "re-sent messages must be stored once"
    early = small_run.cell("persist", "js-redirect", "early")
    assert early.library_at_submit == 0, "early submits must beat the slow library (else this proves nothing)"
    assert early.transports, "persist re-sends from the next page"


@pytest.mark.claims("C23")
def test_persist_duplicates_are_counted_but_stored_once(server: HarnessServer) -> None:
    """Acks that never reach the page (reply latency + a 503 to retry) make re-sends: counted, stored once."""
    before = server.store.stats()
    report = run_signup_loss(modes=["persist"], flows=["js-redirect"], submits=["ready"],
                             latencies=[DEFAULT_LATENCY_MS], trials=2, server=server,
                             faults={"status": 503, "count": 1})
    cell = report.cells[0]
    assert cell.errors == 0, [t.error for t in cell.details]
    assert (cell.delivered, cell.lost) == (2, 0)
    assert cell.duplicated >= 1, "the next page re-sent what the collector had already stored"
    after = server.store.stats()
    assert after["duplicates"] - before["duplicates"] == cell.duplicated
    for trial in cell.details:
        assert (trial.stored_identify, trial.stored_signed_up) == (1, 1), trial
        assert set(trial.transports) == {"fetch-keepalive"}
    assert cell.stored_twice == 0


def test_cli_json_is_one_document_on_stdout() -> None:
    """``--format json``: stdout parses as one JSON document; the progress bar went to stderr."""
    result = CliRunner().invoke(repro, ["signup-loss", "--trials", "1", "--modes", "keepalive", "--flows",
                                        "server-side", "--submit", "ready", "--latency-ms", "0",
                                        "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["settings"]["trials"] == 1 and doc["settings"]["latency_ms"] == [0]
    (cell,) = doc["cells"]
    assert (cell["mode"], cell["flow"], cell["delivered"], cell["lost"]) == ("keepalive", "server-side", 1, 0)
    assert cell["transports"] == {"server": 2}


def test_cli_rejects_unknown_names() -> None:
    result = CliRunner().invoke(repro, ["signup-loss", "--modes", "carrier-pigeon"])
    assert result.exit_code == 2 and "carrier-pigeon" in result.output


def test_parsing_and_windows() -> None:
    assert parse_list("all", DELIVERY_MODES, "mode") == list(DELIVERY_MODES)
    assert parse_list("xhr, batch,xhr", DELIVERY_MODES, "mode") == ["xhr", "batch"]
    assert parse_list("welcome-page", FLOWS, "flow") == ["welcome-page"]
    with pytest.raises(ValueError, match="fax"):
        parse_list("fax", FLOWS, "flow")
    assert parse_latencies("0,300") == [0, 300] and parse_latencies(300) == [300]
    with pytest.raises(ValueError):
        parse_latencies("-1")
    assert settle_ms("batch") > settle_ms("persist") > 0
    assert "stub" in explain("xhr", "js-redirect", "early", True)
    assert "welcome page" in explain("batch", "welcome-page", "ready", False)
