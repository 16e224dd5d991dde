"""The experiment's rules without a browser: the Wilson interval, in time / late / lost / error, the
``--trials auto`` stop, the counts of a cell, the HTML picture and the evidence files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.experiments.experiment import (
    Cell,
    Expected,
    LossReport,
    Trial,
    classify,
    delivery_curve,
    expected_calls,
    needs_more,
    parse_count,
    render_html,
    tally,
    wilson,
    write_evidence,
)
from harness.experiments.site import expected_for
from harness.sites.sitemap import Form, SiteMap


@pytest.mark.parametrize(("k", "n", "interval"), [
    (0, 10, [0.0, 27.8]), (5, 10, [23.7, 76.3]), (10, 10, [72.2, 100.0]), (1, 20, [0.9, 23.6]),
    (0, 1, [0.0, 79.3]), (50, 100, [40.4, 59.6]),
])
def test_wilson_interval_matches_known_values(k: int, n: int, interval: list[float]) -> None:
    assert wilson(k, n) == interval


def test_wilson_has_no_interval_without_a_counted_trial() -> None:
    assert wilson(0, 0) is None


def trial(arrivals: dict[str, float | None], ready: float | None, error: str | None = None) -> Trial:
    return Trial(id="t", user_id="u", expected=list(arrivals), arrival_ms=dict(arrivals), ready_ms=ready, error=error)


def test_outcome_in_time_late_lost_error() -> None:
    assert classify(trial({"identify": -5.0, "track:Signed Up": -2.0}, 300.0)) == "in_time"
    assert classify(trial({"identify": 400.0, "track:Signed Up": 420.0}, 300.0), grace_ms=250) == "in_time"
    late = trial({"identify": 400.0, "track:Signed Up": 1300.0}, 300.0)
    assert classify(late, grace_ms=250) == "late" and late.delay_ms == 1000.0
    assert classify(trial({"identify": 400.0, "track:Signed Up": None}, 300.0)) == "lost"
    assert classify(trial({"identify": 1.0, "track:Signed Up": 2.0}, None, error="Timeout")) == "error"


def test_no_library_on_the_destination_is_an_error_never_a_loss() -> None:
    missing = trial({"identify": None, "track:Signed Up": None}, None)
    assert classify(missing) == "error" and "destination" in (missing.error or "")
    before = trial({"identify": -300.0, "track:Signed Up": -10.0}, None)  # arrived before we got there
    assert classify(before) == "in_time"


def test_a_cell_counts_outcomes_delays_reasons_and_its_interval() -> None:
    trials = [trial({"identify": 0.0}, 100.0), trial({"identify": 2100.0}, 100.0), trial({"identify": 1100.0}, 100.0),
              trial({"identify": None}, 100.0), trial({"identify": None}, None, error="the destination never came")]
    for t in trials:
        classify(t, grace_ms=250)
    cell = tally(Cell("m", "f", "s", 0), trials)
    assert (cell.trials, cell.delivered, cell.late, cell.lost, cell.errors) == (5, 1, 2, 1, 1)
    assert (cell.late_delay_ms_p50, cell.late_delay_ms_max) == (1500.0, 2000.0)
    assert cell.error_reasons == {"the destination never came": 1}
    assert cell.loss_ci == wilson(1, 4) and cell.loss_pct == 25.0
    doc = cell.to_dict()
    assert [t["outcome"] for t in doc["trial_outcomes"]] == ["in_time", "late", "late", "lost", "error"]
    assert doc["trial_outcomes"][1]["arrival_ms"] == {"identify": 2100.0}
    assert "details" not in doc and cell.settle_ms == doc["window_ms"]


def test_an_all_errors_cell_says_so_and_the_run_is_all_errors() -> None:
    from harness.experiments.experiment import outcome_text

    trials = [trial({"identify": None}, None, error="no library on the sign-up page at a ready submit")
              for _ in range(3)]
    for t in trials:
        classify(t)
    cell = tally(Cell("m", "f", "ready", 0), trials)
    assert cell.loss_ci is None and cell.lost == 0
    assert outcome_text(cell).startswith("all 3 trials were errors, nothing measured")
    assert LossReport({}, [cell]).all_errors
    ok = tally(Cell("m", "f", "early", 0), [trial({"identify": None}, 5.0)])
    classify(ok.details[0])
    assert not LossReport({}, [cell, tally(ok, ok.details)]).all_errors


def test_trials_auto_stops_when_narrow_at_the_cap_or_when_nothing_was_measured() -> None:
    def cell(lost: int, delivered: int, errors: int = 0) -> Cell:
        c = Cell("m", "f", "s", 0)
        c.trials, c.lost, c.delivered, c.errors = lost + delivered + errors, lost, delivered, errors
        return c

    assert needs_more(cell(0, 10), target_width=20, cap=200)  # [0, 27.8]: 27.8 wide
    assert not needs_more(cell(0, 20), target_width=20, cap=200)  # [0, 16.1]
    assert needs_more(cell(10, 10), target_width=20, cap=200)
    assert not needs_more(cell(10, 10), target_width=20, cap=20)  # the cap
    assert not needs_more(cell(0, 0, errors=5), target_width=20, cap=200)  # a batch of errors measures nothing
    assert parse_count("auto", "--trials") is None and parse_count("7", "--trials") == 7
    with pytest.raises(ValueError, match="--trials"):
        parse_count("many", "--trials")


def test_expected_calls_from_the_site_map_before_the_event_option() -> None:
    assert [c.label for c in expected_calls()] == ["identify", "track:Signed Up"]
    assert [c.label for c in expected_calls((), "Account Created")] == ["identify", "track:Account Created"]
    site = SiteMap("x", "http://x", signup=Form(url="/join", expect=({"type": "identify"},
                                                                    {"type": "track", "event": "Joined"})))
    assert [c.label for c in expected_for(site, "Ignored")] == ["identify", "track:Joined"]
    plain = SiteMap("x", "http://x", signup=Form(url="/join"))
    assert [c.label for c in expected_for(plain, "Account Created")] == ["identify", "track:Account Created"]
    assert Expected("track", "Joined").matches({"type": "track", "event": "Joined"})
    assert not Expected("track", "Joined").matches({"type": "track", "event": "Signed Up"})


def _report() -> LossReport:
    trials = [trial({"identify": -1.0}, 50.0), trial({"identify": 900.0}, 100.0), trial({"identify": None}, 80.0)]
    for n, t in enumerate(trials):
        t.id = f"run-{n}"
        t.evidence = {"requests": [{"url": "http://x/v1/i", "ended": "failed", "error_text": "net::ERR_ABORTED"}],
                      "local_storage": {"queue": "[]"}}
        classify(t)
    cell = tally(Cell("persist", "js-redirect", "ready", 300, window_ms=4000), trials)
    cell.why = "a <why> line"
    return LossReport({"window_s": 4.0, "library": {"name": "lib", "version": "1"}, "latency_ms": [300]}, [cell])


def test_the_delivery_curve_steps_at_each_arrival() -> None:
    (cell,) = _report().cells
    assert delivery_curve(cell, 4000) == [(0.0, 1, 3), (900.0, 2, 3)]


def test_the_html_report_is_self_contained_svg() -> None:
    page = render_html(_report())
    assert page.count("<svg") == 1 and "<polyline class='curve'" in page and "<polygon class='band'" in page
    assert "a &lt;why&gt; line" in page
    assert not re.search(r"(src|href)=", page) and "<script" not in page and "@import" not in page
    assert all(url == "http://www.w3.org/2000/svg" for url in re.findall(r"https?://[^'\" ]+", page))


def test_evidence_is_one_file_per_lost_or_late_trial(tmp_path: Path) -> None:
    written = write_evidence(tmp_path, _report())
    assert sorted(p.name for p in written) == ["run-1.json", "run-2.json"]  # late, lost; not the in-time one
    doc = json.loads(written[0].read_text())
    assert doc["trial"]["outcome"] == "late" and doc["requests"][0]["ended"] == "failed"
    assert doc["local_storage"] == {"queue": "[]"} and doc["cell"]["flow"] == "js-redirect"
