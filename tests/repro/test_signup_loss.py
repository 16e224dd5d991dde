"""The loss experiment, small, for the selected library (``--snippet``): a redirect right after the calls
can lose the sign-up; the welcome page, and every delivery mode the profile declares unload-safe, lose none.

Real Chromium, real collector. Each test runs a few trials of a few cells through the same code as
``harness repro signup-loss`` on a server of its own (the experiment sets latency faults) that embeds
the selected profile. What is asserted is the seeds' claims, never one library's exact cells. Windows
are short where the test is not about the window (a lost trial waits its window out); RudderStack
re-sends ~10 s after the next page loads, so it keeps the default.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from harness.experiments.experiment import DEFAULT_WINDOW_S, Trial, write_evidence
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
)

TRIALS = 2
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.long(2)  # a few real trials per cell: seconds per profile


def window_for(profile: SnippetProfile) -> float:
    return DEFAULT_WINDOW_S if profile.name == "rudderstack" else 5.0


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
    return run_cells(cells, trials=TRIALS, parallel=6, server=server, window_s=window_for(profile))


@pytest.mark.claims("C23")
def test_redirect_right_after_the_calls_can_lose_sign_ups(small_run: LossReport, profile: SnippetProfile) -> None:
    """js-redirect: some submit moment / delivery mode of this library loses the sign-up (measured, reported)."""
    redirects = [c for c in small_run.cells if c.flow == "js-redirect"]
    for cell in redirects:
        assert cell.errors == 0, [t.error for t in cell.details]
        assert cell.delivered + cell.late + cell.lost == cell.trials
        assert cell.loss_ci is not None and cell.loss_ci[0] <= cell.loss_pct <= cell.loss_ci[1]
    lossy = [c for c in redirects if c.lost]
    print("\n".join(f"{profile.library} {c.mode}/{c.submit}: {c.lost}/{c.trials} lost — {c.why}" for c in redirects))
    assert lossy, f"no js-redirect cell lost a sign-up with {profile.library}: {[c.to_dict() for c in redirects]}"
    for cell in lossy:
        for t in cell.details:
            if t.outcome == "lost":
                assert None in t.arrival_ms.values(), t


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
        assert (cell.delivered + cell.late, cell.lost) == (TRIALS, 0), cell.to_dict()
        assert cell.stored_twice == 0, "re-sent messages must be stored once"


@pytest.mark.claims("C23")
@pytest.mark.library("intilery", reason="static/intilery.js's persist outbox and its re-sends")
def test_persist_duplicates_are_counted_but_stored_once(server: HarnessServer) -> None:
    """Acks that never reach the page (reply latency + a 503 to retry) make re-sends: counted, stored once."""
    before = server.store.stats()
    report = run_signup_loss(modes=["persist"], flows=["js-redirect"], submits=["ready"],
                             latencies=[DEFAULT_LATENCY_MS], trials=2, server=server,
                             faults={"status": 503, "count": 1}, window_s=5)
    cell = report.cells[0]
    assert cell.errors == 0, [t.error for t in cell.details]
    assert (cell.delivered + cell.late, cell.lost) == (2, 0)
    assert cell.duplicated >= 1, "the next page re-sent what the collector had already stored"
    after = server.store.stats()
    assert after["duplicates"] - before["duplicates"] == cell.duplicated
    for trial in cell.details:
        assert (trial.stored_identify, trial.stored_signed_up) == (1, 1), trial
        assert set(trial.transports) <= {"fetch-keepalive", "beacon"}, "observed in the browser"
    assert cell.stored_twice == 0


class OwnLog:
    """An ``on_context`` hook: sees every trial's context before its first page and keeps its own route log.

    Collector requests from the sign-up page are aborted (the network died as the person left); on
    any other page they reach the collector only after HOLD_S (a slow network on the re-send).
    """

    HOLD_S = 1.2

    def __init__(self) -> None:
        self.trials: list[Trial] = []
        self.pages_at_hook: list[int] = []
        self.log: dict[str, list[tuple[str, str]]] = {}  # trial id -> (page path, what happened)

    async def __call__(self, context: Any, trial: Trial) -> None:
        self.trials.append(trial)
        self.pages_at_hook.append(len(context.pages))
        mine = self.log.setdefault(trial.id, [])

        async def route(route: Any) -> None:
            page = urlsplit(route.request.frame.url).path
            if page == "/signup":
                mine.append((page, "aborted"))
                await route.abort()
                return
            await asyncio.sleep(self.HOLD_S)
            mine.append((page, "passed"))
            await route.fallback()

        await context.route(lambda url: urlsplit(url).path.startswith("/v1/"), route)


@pytest.mark.claims("C23")
@pytest.mark.library("intilery", reason="static/intilery.js's persist outbox: the next page re-sends it")
def test_a_re_send_from_storage_on_the_next_page_is_late_not_lost(server: HarnessServer, tmp_path: Path) -> None:
    """persist keeps the sign-up in its outbox; the sign-up page's requests die, the next page re-sends them after
    its library is ready: late (with its delay), not lost. The stub's queue of an early xhr submit: lost."""
    hook = OwnLog()
    report = run_cells([CellSpec("persist", "js-redirect", "ready", 0), CellSpec("xhr", "js-redirect", "early", 0)],
                       trials=2, parallel=4, server=server, window_s=4, on_context=hook)
    late, lost = report.cells
    assert [t.outcome for t in late.details] == ["late", "late"], [t.to_dict() for t in late.details]
    assert late.late == 2 and late.lost == 0 and late.late_delay_ms_p50 is not None
    assert late.late_delay_ms_p50 >= OwnLog.HOLD_S * 1000 - 400, late.to_dict()
    assert [t.outcome for t in lost.details] == ["lost", "lost"], [t.to_dict() for t in lost.details]
    assert lost.loss_ci == [34.2, 100.0]
    # the hook saw every trial, before its first page, with a stable id, an e-mail and the expected user id
    ran = [t for c in report.cells for t in c.details]
    assert sorted(t.id for t in hook.trials) == sorted(t.id for t in ran) and len(set(t.id for t in ran)) == 4
    assert hook.pages_at_hook == [0, 0, 0, 0]
    assert all(t.email and t.user_id for t in hook.trials)
    for trial in late.details:  # its own log: the sign-up page's sends died, the next page's passed
        assert ("/signup", "aborted") in hook.log[trial.id] and ("/", "passed") in hook.log[trial.id]
    written = write_evidence(tmp_path, report)
    assert len(written) == 4
    doc = json.loads(next(p for p in written if "persist" in str(p)).read_text())
    assert any(r["ended"] == "failed" and r["page"].endswith(f"uid={doc['trial']['user_id']}&delivery=persist")
               for r in doc["requests"]), doc["requests"]
    assert "intilery_outbox" in doc["local_storage"] and doc["cookies"]


def test_trials_auto_stops_when_the_interval_is_narrow_or_at_the_cap(server: HarnessServer) -> None:
    """--trials auto runs batches of `parallel` until the interval is narrow enough, or the cap."""
    spec = [CellSpec(modes_of(server.profile)[0], "server-side", "ready", 0)]
    narrow = run_cells(spec, trials=None, parallel=3, server=server, window_s=3, ci_width=60, cap=30)
    assert narrow.cells[0].trials == 3 and narrow.cells[0].lost == 0, narrow.cells[0].to_dict()  # [0, 56.1]
    capped = run_cells(spec, trials=None, parallel=3, server=server, window_s=3, ci_width=1, cap=6)
    assert capped.cells[0].trials == 6, capped.cells[0].to_dict()
    assert capped.settings["trials"] == "auto" and capped.settings["auto"]["cap"] == 6


def test_cli_json_is_one_document_on_stdout(profile: SnippetProfile, tmp_path: Path) -> None:
    """``--format json``: stdout parses as one JSON document (the progress bar went to stderr); --snippet honoured;
    each cell carries in time / late / lost / errors, the interval and per-trial outcomes; --report writes HTML."""
    page = tmp_path / "report.html"
    result = CliRunner().invoke(repro, ["signup-loss", "--snippet", str(profile.folder), "--trials", "1",
                                        "--modes", modes_of(profile)[0], "--flows", "server-side", "--submit",
                                        "ready", "--latency-ms", "0", "--window", "3", "--format", "json",
                                        "--report", str(page), "--parallel", "auto"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["settings"]["trials"] == 1 and doc["settings"]["latency_ms"] == [0]
    assert doc["settings"]["library"]["name"] == profile.library and doc["settings"]["window_s"] == 3
    (cell,) = doc["cells"]
    assert (cell["flow"], cell["delivered"], cell["late"], cell["lost"], cell["errors"]) == ("server-side", 1, 0, 0, 0)
    assert cell["loss_ci"] == [0.0, 79.3] and cell["error_reasons"] == {}
    assert cell["transports"] == {"server": 2}
    (one,) = cell["trial_outcomes"]
    assert one["outcome"] == "in_time" and set(one["arrival_ms"]) == {"identify", "track:Signed Up"}
    assert "<svg" in page.read_text()


def test_cli_rejects_unknown_names() -> None:
    result = CliRunner().invoke(repro, ["signup-loss", "--modes", "carrier-pigeon"])
    assert result.exit_code == 2 and "carrier-pigeon" in result.output
    result = CliRunner().invoke(repro, ["signup-loss", "--snippet", "no-such-library"])
    assert result.exit_code == 2 and "no-such-library" in result.output
    result = CliRunner().invoke(repro, ["signup-loss", "--trials", "lots"])
    assert result.exit_code == 2 and "--trials" in result.output


def test_parsing(profile: SnippetProfile) -> None:
    modes = modes_of(profile)
    assert parse_list("all", modes, "mode") == modes
    assert parse_list(f"{modes[0]}, {modes[0]}", modes, "mode") == [modes[0]]
    assert parse_list("welcome-page", FLOWS, "flow") == ["welcome-page"]
    with pytest.raises(ValueError, match="fax"):
        parse_list("fax", FLOWS, "flow")
    assert parse_latencies("0,300") == [0, 300] and parse_latencies(300) == [300]
    with pytest.raises(ValueError):
        parse_latencies("-1")


def _no_library_site() -> Any:
    import importlib.util

    path = ROOT / "fixtures" / "sites" / "no_library" / "app.py"
    spec = importlib.util.spec_from_file_location("repro_test_no_library_site", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.NoLibrarySite()


def test_a_run_that_is_all_errors_exits_1_with_one_line() -> None:
    """A site whose library never loads: every trial is an error (never a loss) and the CLI exits 1."""
    with _no_library_site() as site:
        result = CliRunner().invoke(repro, ["signup-loss", "--site-url", site.url, "--site-map",
                                            str(ROOT / "fixtures" / "sites" / "no_library" / "sitemap.toml"),
                                            "--trials", "2", "--submit", "early", "--latency-ms", "0",
                                            "--window", "1", "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    (cell,) = doc["cells"]
    assert (cell["errors"], cell["lost"], cell["loss_ci"]) == (2, 0, None), cell
    assert "all 2 trials were errors" in cell["why"]
    lines = [line for line in result.stderr.splitlines() if line.startswith("harness:")]
    assert len(lines) == 1 and "every trial was an error" in lines[0], result.stderr
