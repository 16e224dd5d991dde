"""The site driver (``--site-url``) on the Acme fixture site: unique people, the hook, --event, --trials auto."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.experiments.experiment import Trial
from harness.experiments.site import run_site_signup_loss
from harness.sites.sitemap import load_site_map
from harness.sites.snippet import load_profile

ROOT = Path(__file__).resolve().parents[2]
SITE_MAP = ROOT / "fixtures" / "foreign_site" / "sitemap.toml"
pytestmark = pytest.mark.long(4)


def acme() -> Any:
    spec = importlib.util.spec_from_file_location("repro_test_acme_site", SITE_MAP.parent / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ForeignSite()


def test_site_trials_are_unique_people_seen_by_the_hook_and_auto_stops_at_the_cap() -> None:
    """--event names the expected track (the map has no expect); each trial a new person; the hook sees each
    context before its first page; --trials auto with an unreachable width stops at the cap."""
    seen: list[tuple[Trial, int]] = []

    def hook(context: Any, trial: Trial) -> None:
        seen.append((trial, len(context.pages)))

    with acme() as site:
        mapped = load_site_map(SITE_MAP).with_url(site.url)
        report = run_site_signup_loss(mapped, load_profile("analytics-next"), submits=["ready"], trials=None,
                                      parallel=2, event="Account Created", window_s=3, on_context=hook,
                                      ci_width=1, cap=2, run_id="t25")
    (cell,) = report.cells
    assert cell.trials == 2 and len(seen) == 2, cell.to_dict()
    assert [pages for _, pages in seen] == [0, 0]
    assert sorted(t.email for t, _ in seen) == ["harness+t25-1@example.test", "harness+t25-2@example.test"]
    assert sorted(t.id for t in cell.details) == sorted(t.id for t, _ in seen)
    for trial in cell.details:  # Acme sends "Signed Up", never "Account Created": lost, never an error
        assert trial.expected == ["identify", "track:Account Created"]
        assert trial.outcome == "lost" and trial.arrival_ms["track:Account Created"] is None, trial.to_dict()
        assert trial.ready_ms is not None
    assert report.settings["expected"] == [{"type": "identify"}, {"type": "track", "event": "Account Created"}]
    assert report.settings["trials"] == "auto" and report.settings["auto"]["cap"] == 2
