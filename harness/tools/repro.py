"""``harness repro``: the old home of the missing-sign-ups experiment, kept as an alias.

The code lives in :mod:`harness.experiments` (core in ``experiment``, the sample shop in ``shop``, a
foreign site in ``site``, the click group in ``cli``); these names stay importable from here (and
from 0.1's ``harness.repro``) so code and the CLI's command table written against them keep working.
"""

from __future__ import annotations

from harness.experiments.cli import repro, signup_loss
from harness.experiments.experiment import (
    AUTO_CAP,
    DEFAULT_CI_WIDTH,
    DEFAULT_WINDOW_S,
    IN_TIME_GRACE_MS,
    OUTCOMES,
    SIGNED_UP,
    Cell,
    Expected,
    LossReport,
    Trial,
    classify,
    expected_calls,
    print_report,
    render_html,
    render_reasons,
    render_table,
    tally,
    wilson,
    write_evidence,
)
from harness.experiments.shop import (
    DEFAULT_LATENCY_MS,
    DEFAULT_MODE,
    DEFAULT_PARALLEL,
    DEFAULT_TRIALS,
    FLOW_FACTS,
    SUBMITS,
    USER_SCRIPT,
    CellSpec,
    OnContext,
    Progress,
    explain,
    is_library_file,
    modes_of,
    parse_latencies,
    parse_list,
    plan_cells,
    run_cells,
    run_cells_async,
    run_signup_loss,
    run_trial,
    user_script,
)

__all__ = [
    "AUTO_CAP", "DEFAULT_CI_WIDTH", "DEFAULT_LATENCY_MS", "DEFAULT_MODE", "DEFAULT_PARALLEL", "DEFAULT_TRIALS",
    "DEFAULT_WINDOW_S", "FLOW_FACTS", "IN_TIME_GRACE_MS", "OUTCOMES", "SIGNED_UP", "SUBMITS", "USER_SCRIPT", "Cell",
    "CellSpec", "Expected", "LossReport", "OnContext", "Progress", "Trial", "classify", "expected_calls", "explain",
    "is_library_file", "modes_of", "parse_latencies", "parse_list", "plan_cells", "print_report", "render_html",
    "render_reasons", "render_table", "repro", "run_cells", "run_cells_async", "run_signup_loss", "run_trial",
    "signup_loss", "tally", "user_script", "wilson", "write_evidence",
]
