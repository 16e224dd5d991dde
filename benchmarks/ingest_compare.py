"""Issue 20: ingest over HTTP, before vs after, side by side in one run.

Three subprocesses -- bare aiohttp (:mod:`benchmarks.bare_app`), ``harness serve`` from another source
tree (``--before DIR``, e.g. ``git archive <commit> harness static | tar -x -C DIR``) and from this one --
driven in alternating rounds by the :mod:`benchmarks.ingest` load generator, so machine noise hits all
three alike. Prints msgs/s and server CPU per message for singles and batches of 100, per round.
``python -m benchmarks.ingest_compare --before DIR [--rounds 3] [--singles 3000] [--batches 60]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from benchmarks import PYTHON, median
from benchmarks.ingest import Server, batch_requests, drive, single_requests


def run(before: str, rounds: int, singles: int, batches: int, concurrency: int = 32) -> dict[str, object]:
    out: dict[str, object] = {"load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        servers = {
            "bare": Server([PYTHON, "-m", "benchmarks.bare_app"], settle_path="/"),
            "before": Server([PYTHON, "-m", "harness", "serve", "--db", str(Path(tmp) / "before.sqlite")], cwd=before),
            "after": Server([PYTHON, "-m", "harness", "serve", "--db", str(Path(tmp) / "after.sqlite")]),
        }
        rows: dict[str, list[tuple[float, float | None]]] = {}
        try:
            for server in servers.values():
                drive(server.base, single_requests(200), concurrency)
            for _ in range(rounds):
                loads = (("single", single_requests(singles), 1), ("batch100", batch_requests(batches), 100))
                for kind, reqs, per in loads:
                    for name, server in servers.items():
                        cpu0 = server.cpu_seconds()
                        load = drive(server.base, reqs, concurrency)
                        server.settle()  # the identity graph's deferred catch-up: counted, not hidden
                        cpu1 = server.cpu_seconds()
                        n = load.ok * per
                        cpu = 1e6 * (cpu1 - cpu0) / n if cpu0 is not None and cpu1 is not None and n else None
                        rows.setdefault(f"{kind}/{name}", []).append((load.rate * per, cpu))
                        if load.errors:
                            print(f"{kind}/{name}: {load.errors} errors")
            for name in ("before", "after"):
                out[f"stats/{name}"] = servers[name].get_json("/api/stats")
        finally:
            for server in servers.values():
                server.stop()
    out["load_average_end"] = os.getloadavg()
    out["rounds"] = rows
    for key, values in rows.items():
        rates = [r for r, _ in values]
        cpus = [c for _, c in values if c is not None]
        print(f"{key:16} {median(rates):9,.0f} msgs/s ({min(rates):,.0f}-{max(rates):,.0f})   "
              f"server CPU {median(cpus):7.1f} µs/msg ({min(cpus):.1f}-{max(cpus):.1f})")
    for kind in ("single", "batch100"):
        for name in ("before", "after"):
            ratios = [h / b for (h, _), (b, _) in zip(rows[f"{kind}/{name}"], rows[f"{kind}/bare"], strict=True)]
            print(f"{kind}/{name} vs bare: median {median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--singles", type=int, default=3000)
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    result = run(args.before, args.rounds, args.singles, args.batches)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
