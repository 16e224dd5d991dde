"""The loss experiment, small, for the selected library (``--snippet``): a redirect right after the calls
can lose the sign-up; the welcome page, and every delivery mode the profile declares unload-safe, lose none.

Real Chromium, real collector. Each test runs a few trials of a few cells through the same code as
``harness repro signup-loss`` on a server of its own (the experiment sets latency faults) that embeds
the selected profile. What is asserted is the seeds' claims, never one library's exact cells.
"""

from __future__ import annotations

import json
from collections.abc import Generator

import pytest
from click.testing import CliRunner

from harness.server import HarnessServer
from harness.sites.site import FLOWS
from harness.sites.snippet import SnippetProfile
from harness.tools.repro import (
    DEFAULT_LATENCY_MS,
    CellSpec,
    LossReport,
    modes_of,
    parse_latencies,
    parse_list,
    repro,
    run_cells,
    run_signup_loss,
    settle_ms,
)

TRIALS = 2
pytestmark = pytest.mark.long(2)  # a few real trials per cell: seconds per profile


@pytest.fixture(scope="module")
def profile(harness_profile: SnippetProfile) -> SnippetProfile:
    return harness_profile


@pytest.fixture(scope="module")
def server(profile: SnippetProfile) -> Generator[HarnessServer, None, None]:
    """A server of our own (the experiment sets collector and library-file latency per cell), same profile."""
    srv = HarnessServer(port=0, db=":memory:", snippet=profile).start()
    yield srv
    srv.stop()


def lossy_candidates(profile: SnippetProfile) -> list[str]:
    """The default mode and every mode the profile does not claim is unload-safe."""
    modes = modes_of(profile)
    return [m for m in modes if m == modes[0] or not (profile.mode(m) and profile.mode(m).unload_safe)]


def unload_safe(profile: SnippetProfile) -> list[str]:
    return [m.name for m in profile.delivery if m.unload_safe]


@pytest.fixture(scope="module")
def small_run(server: HarnessServer, profile: SnippetProfile) -> LossReport:
    """js-redirect at both submit moments for the lossy candidates, the welcome page, and the unload-safe modes."""
    default = modes_of(profile)[0]
    cells = [CellSpec(mode, "js-redirect", submit, DEFAULT_LATENCY_MS)
             for mode in lossy_candidates(profile) for submit in ("early", "ready")]
    cells.append(CellSpec(default, "welcome-page", "ready", DEFAULT_LATENCY_MS))
    cells += [CellSpec(mode, "js-redirect", "ready", DEFAULT_LATENCY_MS)
              for mode in unload_safe(profile) if mode not in lossy_candidates(profile)]
    return run_cells(cells, trials=TRIALS, parallel=6, server=server)


@pytest.mark.claims("C23")
def test_redirect_right_after_the_calls_can_lose_sign_ups(small_run: LossReport, profile: SnippetProfile) -> None:
    """js-redirect: some submit moment / delivery mode of this library loses the sign-up (measured, reported)."""
    redirects = [c for c in small_run.cells if c.flow == "js-redirect"]
    for cell in redirects:
        assert cell.errors == 0, [t.error for t in cell.details]
    lossy = [c for c in redirects if c.lost]
    print("\n".join(f"{profile.library} {c.mode}/{c.submit}: {c.lost}/{c.trials} lost — {c.why}" for c in redirects))
    assert lossy, f"no js-redirect cell lost a sign-up with {profile.library}: {[c.to_dict() for c in redirects]}"
    for cell in lossy:
        assert cell.late == 0 or cell.late < cell.lost, "every 'lost' trial arrived after all: the window is too short"


@pytest.mark.claims("C23")
def test_early_submits_beat_the_library(small_run: LossReport) -> None:
    """The early cells prove something only if the person really submitted before the library had loaded."""
    for cell in (c for c in small_run.cells if c.submit == "early"):
        assert cell.library_at_submit == 0, cell.to_dict()


@pytest.mark.claims("C23")
def test_welcome_page_and_unload_safe_modes_lose_none(small_run: LossReport, profile: SnippetProfile) -> None:
    """The seeds' fix (welcome page) and each mode the profile declares unload-safe: every sign-up arrives, once."""
    safe = [c for c in small_run.cells if c.flow == "welcome-page"
            or (c.mode in unload_safe(profile) and c.submit == "ready")]
    assert safe, "the welcome page cell always runs"
    for cell in safe:
        assert cell.errors == 0, [t.error for t in cell.details]
        assert (cell.delivered, cell.lost) == (TRIALS, 0), cell.to_dict()
        assert cell.stored_twice == 0, "re-sent messages must be stored once"


@pytest.mark.claims("C23")
@pytest.mark.library("intilery", reason="static/intilery.js's persist outbox and its re-sends")
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
        assert set(trial.transports) <= {"fetch-keepalive", "beacon"}, "observed in the browser"
    assert cell.stored_twice == 0


def test_cli_json_is_one_document_on_stdout(profile: SnippetProfile) -> None:
    """``--format json``: stdout parses as one JSON document (the progress bar went to stderr); --snippet honoured."""
    result = CliRunner().invoke(repro, ["signup-loss", "--snippet", str(profile.folder), "--trials", "1",
                                        "--modes", modes_of(profile)[0], "--flows", "server-side", "--submit",
                                        "ready", "--latency-ms", "0", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["settings"]["trials"] == 1 and doc["settings"]["latency_ms"] == [0]
    assert doc["settings"]["library"]["name"] == profile.library
    (cell,) = doc["cells"]
    assert (cell["flow"], cell["delivered"], cell["lost"]) == ("server-side", 1, 0)
    assert cell["transports"] == {"server": 2}


def test_cli_rejects_unknown_names() -> None:
    result = CliRunner().invoke(repro, ["signup-loss", "--modes", "carrier-pigeon"])
    assert result.exit_code == 2 and "carrier-pigeon" in result.output
    result = CliRunner().invoke(repro, ["signup-loss", "--snippet", "no-such-library"])
    assert result.exit_code == 2 and "no-such-library" in result.output


def test_parsing_and_windows(profile: SnippetProfile) -> None:
    modes = modes_of(profile)
    assert parse_list("all", modes, "mode") == modes
    assert parse_list(f"{modes[0]}, {modes[0]}", modes, "mode") == [modes[0]]
    assert parse_list("welcome-page", FLOWS, "flow") == ["welcome-page"]
    with pytest.raises(ValueError, match="fax"):
        parse_list("fax", FLOWS, "flow")
    assert parse_latencies("0,300") == [0, 300] and parse_latencies(300) == [300]
    with pytest.raises(ValueError):
        parse_latencies("-1")
    assert settle_ms(1000) > settle_ms(0) > 0
