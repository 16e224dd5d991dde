"""``python -m benchmarks`` (``make bench``): run the benchmarks, print one table, update the doc.

Options: ``--only ingest,latency,weight,repro,suite`` to run some; ``--quick`` for a short smoke run
(smaller counts, no whole-suite runs; the doc is not written unless ``--write`` is given);
``--no-write`` to leave docs/benchmarks.md alone.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console

from benchmarks import Result, ingest, latency, load_average, repro, suite, weight
from benchmarks.machine import describe
from benchmarks.report import markdown, print_results, write_doc

NAMES = ("ingest", "latency", "weight", "repro", "suite")


def plan(quick: bool) -> dict[str, Callable[[], Result]]:
    if quick:
        return {
            "ingest": lambda: ingest.run(singles=2000, batches=20, rounds=1),
            "latency": lambda: latency.run(calls=100),
            "weight": lambda: weight.run(rounds=3),
            "repro": lambda: repro.run(trials=20),
            "suite": lambda: suite.run(full=False, xdist=False, device_n=8),
        }
    return {"ingest": ingest.run, "latency": latency.run, "weight": weight.run, "repro": repro.run,
            "suite": suite.run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma-separated subset of {', '.join(NAMES)}")
    parser.add_argument("--quick", action="store_true", help="small counts, no whole-suite runs (a smoke test)")
    parser.add_argument("--write", dest="write", action="store_true", default=None, help="write docs/benchmarks.md")
    parser.add_argument("--no-write", dest="write", action="store_false", help="leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    write = (not args.quick) if args.write is None else args.write

    console = Console(width=max(Console().width, 140))
    machine = describe()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    given = sys.argv[1:] if argv is None else argv
    command = f"python -m benchmarks {shlex.join(given)}".strip() if given else "make bench (python -m benchmarks)"
    console.print(f"[bold]benchmarks[/] {', '.join(chosen)} on {machine['cores (nproc)']} cores "
                  f"({machine['CPU']}), load {machine['load average at start (1/5/15 min)']}")
    results: list[Result] = []
    failed = False
    runs = plan(args.quick)
    for name in chosen:
        console.print(f"[dim]{time.strftime('%H:%M:%S')} running {name} ...[/]")
        try:
            results.append(runs[name]())
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed = True
            broken = Result(name)
            broken.notes.append(f"benchmark crashed: {exc!r}")
            broken.check("ran", "crashed", "runs", False)
            results.append(broken)
            traceback.print_exc()
    machine["load average at end (1/5/15 min)"] = load_average()
    print_results(results, console)
    if write:
        path = write_doc(markdown(results, machine, command, when))
        console.print(f"figures written to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
