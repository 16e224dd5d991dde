"""The ``beacons`` fixture's object: a test's view of the store, with waits and assertions.

Waits block on the store's condition variable (no polling). The expressive assertions say what
should have been sent in one line and explain a miss: :meth:`Beacons.expect`,
:meth:`Beacons.expect_none`, :meth:`Beacons.expect_sequence` (deep partial specs, see
:mod:`harness.testing.matchers`), :meth:`Beacons.assert_no_violations` (tracking plan) and
:meth:`Beacons.match_snapshot` (golden payloads, see :mod:`harness.testing.snapshot`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from harness.collecting.store import BeaconStore, Record, WaitTimeout, describe
from harness.testing import matchers


class Beacons:
    """What the browser sent during one test. Waits block on the store's condition variable."""

    def __init__(self, store: BeaconStore, plan: dict[str, Any] | str | Path | None = None) -> None:
        self.store = store
        self.plan = plan  # type: ignore[assignment]  # the setter loads paths
        self.snapshot_update = False  # set from --snapshot-update by the plugin
        self.pump: Callable[[float], bool] | None = None  # site mode: hands the thread to Playwright (intercept)
        self.snapshot_dir: Path | None = None  # the plugin sets it; None: harness.testing.snapshot.default_dir()
        self.test_name = ""
        self.test_id = ""  # the plugin sets it: the test's node id (who wrote a snapshot)
        self.rerun = ""  # the plugin sets it: the command that re-records this test's snapshots
        self.snapshot_claims: Path | None = None  # --snapshot-update: the run's shared record of who wrote what
        self.artifact_dir: Path | None = None  # the plugin sets it: where beacons.json goes when the test fails

    @property
    def plan(self) -> dict[str, Any] | None:
        """The tracking plan (from --tracking-plan); assign a dict or a YAML/JSON path to change it."""
        return self._plan

    @plan.setter
    def plan(self, value: dict[str, Any] | str | Path | None) -> None:
        from harness.identity.plan import load_plan, validate_plan

        if value is None:
            self._plan: dict[str, Any] | None = None
        elif isinstance(value, str | Path):
            self._plan = load_plan(value)
        else:
            self._plan = validate_plan(value)

    def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """The store's condition-variable wait; with interception, the thread is handed to Playwright meanwhile.

        Intercepted beacons are delivered by route handlers, which Playwright's sync API runs only inside
        a Playwright call: ``pump`` (set by the plugin in site mode) waits for the browser's next finished
        request, then the store is looked at again.
        """
        __tracebackhide__ = True
        if self.pump is None:
            return self.store.wait_until(predicate, timeout)
        deadline = time.monotonic() + timeout
        while True:
            if self.store.wait_until(predicate, 0):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not self.pump(remaining):
                return self.store.wait_until(predicate, remaining)  # no browser left: nothing to pump

    def wait_for(self, type: str | None = None, event: str | None = None, count: int = 1,
                 timeout: float = 5.0, **filters: Any) -> list[Record]:
        """Wait until ``count`` beacons have this type/event and these exact field values; return them."""
        __tracebackhide__ = True
        matchers.check_keywords("wait_for", filters, {"a wait": "timeout", "a count": "count", "the start": "since"},
                                escape=False)
        if self.pump is None:
            try:
                return self.store.wait_for(type, event, count, timeout, **filters)
            except WaitTimeout as exc:  # raised again here: the report shows no store source
                raise WaitTimeout(str(exc)) from None
        started = time.monotonic()  # the wait is the pump loop's: its story says how long that took
        self._wait_until(lambda: len(self.store.query(type, event, **filters)) >= count, timeout)
        try:
            return self.store.wait_for(type, event, count, 0, **filters)  # the matches, or the timeout's story
        except WaitTimeout as exc:
            waited = f"waited {time.monotonic() - started:.1f}s"
            raise WaitTimeout(re.sub(r"^waited [0-9.]+s", waited, str(exc), count=1)) from None

    def one(self, type: str | None = None, event: str | None = None, timeout: float = 5.0,
            **filters: Any) -> Record:
        """Wait for a matching beacon and return the first one."""
        __tracebackhide__ = True
        matchers.check_keywords("one", filters, {"a wait": "timeout", "the start": "since"}, escape=False)
        return self.wait_for(type, event, 1, timeout, **filters)[0]

    def all(self, type: str | None = None, event: str | None = None, **filters: Any) -> list[Record]:
        __tracebackhide__ = True
        matchers.check_keywords("all", filters, {"the start": "since"}, escape=False)
        return self.store.query(type, event, **filters)

    def bad(self) -> list[Record]:
        return self.store.bad()

    def stats(self) -> dict[str, int]:
        return self.store.stats()

    def clear(self) -> None:
        self.store.clear()

    def profiles(self) -> list[Any]:
        from harness.identity.profile import build_profiles

        return build_profiles(self.all())

    def mtu(self) -> dict[str, int]:
        from harness.identity.profile import monthly_tracked_users

        return monthly_tracked_users(self.all())

    def lint(self) -> list[Any]:
        from harness.identity.lint import lint

        return lint(self.all(), self.plan)

    def summary(self) -> str:
        """One line per captured beacon, for failure reports."""
        return "\n".join(describe(r) for r in self.all()) or "(no beacons captured)"

    def dump(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"beacons": self.all(), "bad": self.bad(), "stats": self.stats()}, indent=2))
        return path

    # ---- expressive assertions ------------------------------------------------------------------
    def mark(self) -> int:
        """The arrival number of the latest beacon: pass it as ``since=`` to look only at later ones."""
        latest = self.store.query(limit=1)
        return int(latest[-1]["_meta"]["seq"]) if latest else 0

    def expect(self, type: str | None = None, event: str | None = None, count: int = 1, timeout: float = 5.0,
               fields: Mapping[str, Any] | None = None, **partial: Any) -> list[Record]:
        """Wait until at least ``count`` messages match; return every match (arrival order).

        ``partial`` is a deep partial spec (nested dicts, regexes, predicates, ``a__b`` keys,
        ``transport=``) over the message fields; any other keyword is a TypeError (``within=``
        names ``timeout=``). ``fields`` holds top-level fields outside the analytics.js set. On
        timeout, AssertionError lists the closest captured messages and the fields that differed.
        """
        __tracebackhide__ = True  # a failure reads as the test's line, not the harness's source
        matchers.check_keywords("expect", partial, {"a wait": "timeout", "a count": "count"})
        spec = matchers.build_spec(type, event, {**partial, **(fields or {})})
        found: list[Record] = []

        def enough() -> bool:
            found[:] = matchers.select(self.all(), spec)
            return len(found) >= count

        if self._wait_until(enough, timeout) or enough():
            return list(found)
        captured = self.all()
        head = (f"expected {count} message(s) matching {matchers.describe_spec(spec)} within {timeout:g}s; "
                f"found {len(found)} among {len(captured)} captured.")
        if found:
            head += "\nMatching:\n" + "\n".join(f"  {describe(r)}" for r in found)
        raise AssertionError(f"{head}\nClosest captured messages:\n{matchers.explain_near_misses(captured, spec)}")

    def expect_none(self, type: str | None = None, event: str | None = None, within: float = 1.0,
                    since: int | Literal["now"] | None = None, fields: Mapping[str, Any] | None = None,
                    **partial: Any) -> None:
        """Nothing matching is captured within ``within`` seconds (fails as soon as one arrives).

        By default messages captured earlier in the test count too (a call that already got
        through is not "none"); ``since="now"`` or ``since=beacons.mark()`` looks only at later ones.
        Keywords as in :meth:`expect` (``timeout=`` here is a TypeError naming ``within=``).
        """
        __tracebackhide__ = True
        matchers.check_keywords("expect_none", partial, {"a wait": "within", "the start": "since"})
        spec = matchers.build_spec(type, event, {**partial, **(fields or {})})
        after = self.mark() if since == "now" else (since or None)
        hits: list[Record] = []

        def arrived() -> bool:
            hits[:] = matchers.select(self.store.query(since=after), spec)
            return bool(hits)

        if self._wait_until(arrived, within):
            scope = f" after #{after}" if after else ""
            raise AssertionError(
                f"expected no message matching {matchers.describe_spec(spec)}{scope} within {within:g}s; "
                f"got {len(hits)}:\n" + "\n".join(f"  {describe(r)}" for r in hits))

    def expect_sequence(self, steps: Sequence[Mapping[str, Any]], timeout: float = 5.0) -> list[Record]:
        """Messages matching each step, in this order (others may come in between); returns one per step.

        Each step is a spec dict: ``{"type": "identify", "userId": "u1"}``, ``{"event": "Signed Up"}``.
        A miss names the step not found and the message after which it was looked for.
        """
        __tracebackhide__ = True
        specs = [matchers.build_spec(partial=step) for step in steps]
        matched: list[Record] = []
        failed: list[int] = [0]

        def complete() -> bool:
            records, position = self.all(), 0
            matched.clear()
            for index, spec in enumerate(specs):
                hit = next((j for j in range(position, len(records)) if matchers.matches(records[j], spec)), None)
                if hit is None:
                    failed[0] = index
                    return False
                matched.append(records[hit])
                position = hit + 1
            return True

        if self._wait_until(complete, timeout) or complete():
            return list(matched)
        raise AssertionError(self._sequence_miss(specs, matched, failed[0], timeout))

    def _sequence_miss(self, specs: list[dict[str, Any]], matched: list[Record], step: int, timeout: float) -> str:
        captured = self.all()
        last = matched[-1] if matched else None
        last_seq = last["_meta"]["seq"] if last else 0  # the store numbers every record
        later = [r for r in captured if r["_meta"]["seq"] > last_seq]
        earlier = [r for r in captured if r["_meta"]["seq"] <= last_seq and matchers.matches(r, specs[step])]
        where = f"after step {step}'s match {describe(last)}" if last else "at all"
        lines = [f"sequence of {len(specs)} step(s) not seen within {timeout:g}s: step {step + 1} "
                 f"({matchers.describe_spec(specs[step])}) was not found {where}."]
        for index, (spec, record) in enumerate(zip(specs, matched, strict=False)):
            lines.append(f"  step {index + 1} ({matchers.describe_spec(spec)}) -> {describe(record)}")
        lines.append(f"  step {step + 1} ({matchers.describe_spec(specs[step])}) -> not found among the "
                     f"{len(later)} message(s) after #{last_seq}")
        if earlier:
            lines.append(f"  (step {step + 1} does match {', '.join(describe(r) for r in earlier[:3])}, "
                         "which arrived before: wrong order?)")
        if later:
            lines.append(f"Closest messages after #{last_seq}:\n{matchers.explain_near_misses(later, specs[step])}")
        return "\n".join(lines)

    # ---- tracking plan ------------------------------------------------------------------------
    def violations(self) -> list[Any]:
        """Tracking-plan violations (harness.identity.lint.Violation) among the captured messages."""
        __tracebackhide__ = True
        from harness.identity.lint import violations

        if self.plan is None:
            raise ValueError("no tracking plan: run pytest with --tracking-plan PATH or set beacons.plan")
        return violations(self.all(), self.plan)

    def assert_no_violations(self) -> None:
        """Fail, listing each violation (message, field, rule), when any captured message breaks the plan."""
        __tracebackhide__ = True
        found = self.violations()
        if not found:
            return
        by_id = {r.get("messageId"): r for r in self.all()}
        lines = []
        for v in found:
            record = by_id.get(v.message_id)
            who = describe(record) if record else v.message_id
            lines.append(f"  {v.event!r} {v.field} [{v.rule}]: {v.message}\n      in {who}")
        raise AssertionError(f"{len(found)} tracking-plan violation(s):\n" + "\n".join(lines))

    # ---- golden payloads ----------------------------------------------------------------------
    def match_snapshot(self, name: str, mask: Iterable[str] = (), fields: Mapping[str, Any] | None = None,
                       **filters: Any) -> Path:
        """Compare the captured messages (arrival order; ``filters`` as in :meth:`expect`) with
        ``<snapshot dir>/<name>.json``; ``--snapshot-update`` rewrites it. Returns the file path.
        The folder is ``<library>/`` under ``__snapshots__/`` beside the test file, or the
        ``harness_snapshot_dir`` ini value (relative to the rootdir), or ``$HARNESS_SNAPSHOT_DIR``:
        always the user's project.

        ``mask`` names more volatile fields (``["properties.order_id"]``); they are numbered so
        equal values must stay equal.
        """
        __tracebackhide__ = True
        from harness.testing import snapshot

        matchers.check_keywords("match_snapshot", filters, {"extra masks": "mask"})
        spec = matchers.build_spec(partial={**filters, **(fields or {})})
        selected = matchers.select(self.all(), spec)
        return snapshot.check(name, selected, directory=self.snapshot_dir, update=self.snapshot_update,
                              extra=mask, selection=matchers.describe_spec(spec), test_name=self.test_name,
                              rerun=self.rerun, test_id=self.test_id, claims=self.snapshot_claims)

    def __len__(self) -> int:
        return len(self.all())
