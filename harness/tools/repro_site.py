"""The old home of the foreign-site driver of the missing-sign-ups experiment, kept as an alias.

The code lives in :mod:`harness.experiments.site`.
"""

from __future__ import annotations

from harness.experiments.site import (
    DEFAULT_PARALLEL,
    FLOW,
    MODE,
    SiteWatch,
    expected_for,
    run_site_signup_loss,
    run_site_trial,
)

__all__ = ["DEFAULT_PARALLEL", "FLOW", "MODE", "SiteWatch", "expected_for", "run_site_signup_loss", "run_site_trial"]
