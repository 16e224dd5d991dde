"""The published loss figures survive a count made without harness code.

docs/conformance.md and docs/signup-loss.md publish, per library, how many sign-ups a redirect loses.
Here the same trials are counted twice: by the repro (what its collector stored, per trial) and by this
test's own Playwright route log. The log sits on every request to the collector's paths: it forwards
the request itself (``route.fetch``), notes the reply, and decodes the body with ``json.loads`` to find
the trial's identify and "Signed Up". A sign-up is delivered, by the log, when both reached the server
with a 2xx answer while the trial ran. The two counts must agree trial by trial.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
from collections.abc import Generator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from harness.experiments.experiment import DEFAULT_WINDOW_S, Trial
from harness.server import HarnessServer
from harness.sites.snippet import SnippetProfile
from harness.tools.repro import DEFAULT_LATENCY_MS, CellSpec, modes_of, run_cells

TRIALS = 4
# the tracking API's paths (RudderStack's beacon one too, PostHog's capture paths at the harness's /posthog/)
COLLECTOR_PATHS = ("/v1/", "/beacon/v1/", "/posthog/e/", "/posthog/i/v0/e/", "/posthog/batch/")


def messages(body: bytes | None) -> list[dict[str, Any]]:
    """Every message a request body carries: one message, a ``batch`` of them, or (PostHog) an array of events,
    gzip or ``data=<base64>`` encoded; a PostHog event is read as analytics.js's type, event and userId."""
    raw = body or b""
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:5] == b"data=":
            raw = base64.b64decode(unquote(raw[5:].decode()))
        data = json.loads(raw or b"null")
    except ValueError:
        return []
    if isinstance(data, dict) and isinstance(data.get("batch"), list):
        items = data["batch"]
    else:
        items = data if isinstance(data, list) else [data]
    return [_plain(m) for m in items if isinstance(m, dict)]


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    """A PostHog event (``event`` + ``properties``, no ``type``) as the fields this log compares."""
    if "type" in message or not isinstance(message.get("properties"), dict):
        return message
    props = message["properties"]
    kind = "identify" if message.get("event") in ("$identify", "$set") else "track"
    return {"type": kind, "event": message.get("event"),
            "userId": props.get("distinct_id") if props.get("$is_identified") or kind == "identify" else None}


class RouteLog:
    """An ``on_context`` hook: this test's own record of what reached the server, per trial."""

    def __init__(self) -> None:
        self.trials: dict[str, Trial] = {}
        self.arrived: dict[str, list[dict[str, Any]]] = {}  # trial id -> messages the server answered 2xx

    async def __call__(self, context: Any, trial: Trial) -> None:
        self.trials[trial.id] = trial
        mine = self.arrived.setdefault(trial.id, [])

        async def forward(route: Any) -> None:
            try:
                reply = await route.fetch()
            except Exception:  # the request never reached the server
                with contextlib.suppress(Exception):
                    await route.abort()
                return
            if 200 <= reply.status < 300:
                mine.extend(messages(route.request.post_data_buffer))
            with contextlib.suppress(Exception):  # the page may be gone; the server has it
                await route.fulfill(response=reply)

        await context.route(lambda url: urlsplit(url).path.startswith(COLLECTOR_PATHS), forward)

    def delivered(self, trial_id: str) -> bool:
        user_id = self.trials[trial_id].user_id
        got = self.arrived.get(trial_id, [])
        identify = any(m.get("type") == "identify" and m.get("userId") == user_id for m in got)
        signed_up = any(m.get("type") == "track" and m.get("event") == "Signed Up" and m.get("userId") == user_id
                        for m in got)
        return identify and signed_up


@pytest.fixture(scope="module")
def server(harness_profile: SnippetProfile) -> Generator[HarnessServer, None, None]:
    srv = HarnessServer(port=0, db=":memory:", snippet=harness_profile).start()
    yield srv
    srv.stop()


@pytest.mark.long(25)
@pytest.mark.claims("C23")
def test_the_repros_loss_count_agrees_with_the_tests_own_route_log(server: HarnessServer,
                                                                   harness_profile: SnippetProfile) -> None:
    """The library's default delivery, js-redirect, submitted early and ready (the published rows that lose)."""
    mode = modes_of(harness_profile)[0]
    window = DEFAULT_WINDOW_S if harness_profile.name == "rudderstack" else 5.0  # RudderStack re-sends at ~10 s
    log = RouteLog()
    report = run_cells([CellSpec(mode, "js-redirect", submit, DEFAULT_LATENCY_MS) for submit in ("early", "ready")],
                       trials=TRIALS, parallel=2 * TRIALS, server=server, window_s=window, on_context=log)
    rows = [(cell.submit, trial.id, trial.outcome, log.delivered(trial.id))
            for cell in report.cells for trial in cell.details]
    print("\n" + "\n".join(f"{harness_profile.library} {row}" for row in rows))
    assert len(rows) == 2 * TRIALS and set(log.trials) == {row[1] for row in rows}, "the log saw every trial"
    assert all(outcome != "error" for _, _, outcome, _ in rows), rows
    assert all((outcome in ("in_time", "late")) == mine for _, _, outcome, mine in rows), rows
    for cell in report.cells:  # and the published figure is the count of those trials
        assert cell.lost == sum(1 for trial in cell.details if not log.delivered(trial.id)), cell.to_dict()
