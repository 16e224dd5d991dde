"""``harness repro``: the click group, and ``signup-loss`` on the sample shop or on ``--site-url``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from harness.experiments.experiment import (
    AUTO_CAP,
    DEFAULT_CI_WIDTH,
    DEFAULT_WINDOW_S,
    LossReport,
    auto_parallel,
    parse_count,
    print_report,
    render_html,
    write_evidence,
)
from harness.experiments.shop import (
    DEFAULT_LATENCY_MS,
    DEFAULT_TRIALS,
    SUBMITS,
    modes_of,
    parse_latencies,
    parse_list,
    plan_cells,
    run_signup_loss,
)
from harness.sites.site import FLOWS
from harness.sites.snippet import load_profile


@click.group()
def repro() -> None:
    """Reproduce the seeds' identity bugs and measure them."""


def _counts(trials: str, parallel: str | None) -> tuple[int | None, int | None]:
    """``--trials N|auto`` (None = auto) and ``--parallel N|auto`` (None = the driver's default)."""
    try:
        count = parse_count(trials, "--trials")
        lanes = None if parallel is None else (parse_count(parallel, "--parallel", 1, 32) or auto_parallel())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return count, lanes


@repro.command("signup-loss")
@click.option("--trials", default=str(DEFAULT_TRIALS), show_default=True, metavar="N|auto",
              help="sign-ups per cell (each a new browser context, a new person), or 'auto': batches until the "
                   "cell's 95 % loss interval is at most --ci-width points wide or --max-trials ran")
@click.option("--window", "window", default=DEFAULT_WINDOW_S, show_default=True, type=click.FloatRange(0.5, 600),
              help="seconds a trial follows the person on the destination page, from reaching it; a call not "
                   "stored by then is lost")
@click.option("--event", default=None,
              help="the sign-up's track event [default: Signed Up]; a site map's [signup] expect takes precedence")
@click.option("--snippet", default=None, envvar="HARNESS_SNIPPET",
              help="snippet profile name or folder: which library signs people up (default: intilery on the shop; "
                   "with --site-url the site map's [site] library, else analytics-next, as the pytest plugin does)")
@click.option("--modes", default="all", show_default=True,
              help="comma-separated delivery modes the profile declares (intilery: persist, xhr, batch, beacon, "
                   "keepalive, fetchlater; analytics-next: standard, keepalive, batching; rudderstack: xhr, beacon, "
                   "batching)")
@click.option("--flows", default="all", show_default=True, help=f"comma-separated flows: {', '.join(FLOWS)}")
@click.option("--latency-ms", "latency", default=str(DEFAULT_LATENCY_MS), show_default=True,
              help="delay on collector replies and on the library script (ms); a comma list runs each")
@click.option("--submit", "submit", default="early,ready", show_default=True,
              help="when the person submits: early (DOMContentLoaded, library may still be loading), ready")
@click.option("--parallel", default=None, metavar="N|auto",
              help="browser contexts at once, or 'auto' (from the cores) [default: min(trials, 10); 4 on a site]")
@click.option("--ci-width", default=DEFAULT_CI_WIDTH, show_default=True, type=click.FloatRange(1, 100),
              help="--trials auto: stop a cell once its loss interval is this many percentage points wide")
@click.option("--max-trials", default=AUTO_CAP, show_default=True, type=click.IntRange(1, 10_000),
              help="--trials auto: never more trials than this per cell")
@click.option("--evidence", default=None, type=click.Path(file_okay=False),
              help="write one JSON file per lost or late trial: the vendor requests and the library's storage")
@click.option("--report", "html_report", default=None, type=click.Path(dir_okay=False),
              help="write an HTML page: each cell's delivery over time with its 95 % interval")
@click.option("--headed", is_flag=True, help="show the browser: watch the sign-ups get lost")
@click.option("--site-url", default=None, envvar="HARNESS_SITE_URL",
              help="measure on this site instead of the sample shop (its vendor traffic is intercepted)")
@click.option("--site-map", default=None, type=click.Path(dir_okay=False),
              help="the site's TOML site map (its [signup] form); needed with --site-url")
@click.option("--site-allow", "site_allow", multiple=True,
              help="with --site-url: a first-party host passed through untouched (as the map's allow)")
@click.option("--capture-host", "capture_hosts", multiple=True, help="with --site-url: also capture this host")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def signup_loss(trials: str, window: float, event: str | None, snippet: str | None, modes: str, flows: str,
                latency: str, submit: str, parallel: str | None, ci_width: float, max_trials: int,
                evidence: str | None, html_report: str | None, headed: bool, site_url: str | None,
                site_map: str | None, site_allow: tuple[str, ...], capture_hosts: tuple[str, ...], fmt: str) -> None:
    """Real-browser sign-ups per delivery mode and flow: in time / late / lost / errors per cell, with intervals."""
    from harness.sites.snippet import ProfileError

    count, lanes = _counts(trials, parallel)
    if site_url or site_map:
        report = _site_signup_loss(count, lanes, window, event, snippet, latency, submit, headed, site_url, site_map,
                                   site_allow, capture_hosts, fmt, ci_width, max_trials)
    else:
        try:
            profile = load_profile(snippet or "intilery")
        except ProfileError as exc:
            raise click.BadParameter(str(exc), param_hint="--snippet") from None
        try:
            mode_list = parse_list(modes, modes_of(profile), "mode")
            flow_list = parse_list(flows, FLOWS, "flow")
            submit_list = parse_list(submit, SUBMITS, "submit moment")
            latencies = parse_latencies(latency)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        cells = plan_cells(mode_list, flow_list, submit_list, latencies)

        def run(step: Callable[..., None]) -> LossReport:
            return run_signup_loss(mode_list, flow_list, submit_list, latencies, count, lanes,
                                   progress=lambda spec, done, of: step(f"{spec.mode}/{spec.flow}/{spec.submit}@"
                                                                        f"{spec.latency_ms}ms {done}/{of}"),
                                   headless=not headed, snippet=profile, window_s=window, event=event,
                                   ci_width=ci_width, cap=max_trials)

        report = _with_progress("shop", len(cells) * (count or max_trials), fmt, run)
    _finish(report, fmt, evidence, html_report)


def _with_progress(label: str, total: int, fmt: str, run: Callable[[Callable[..., None]], LossReport]) -> LossReport:
    """Run with a progress bar on stderr (gone afterwards with --format json)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.browser import BrowserNotFound

    with Progress(TextColumn("[bold]signup-loss[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=fmt == "json") as bar:
        task = bar.add_task(label, total=total)
        try:
            return run(lambda text: bar.update(task, advance=1, description=text))
        except BrowserNotFound as exc:
            raise click.ClickException(str(exc)) from None


def _finish(report: LossReport, fmt: str, evidence: str | None, html_report: str | None) -> None:
    """Print, write the evidence and the picture, and exit 1 when nothing could be measured."""
    print_report(report, fmt)
    if evidence:
        written = write_evidence(evidence, report)
        click.echo(f"evidence: {len(written)} file(s) in {evidence}", err=True)
    if html_report:
        Path(html_report).write_text(render_html(report))
        click.echo(f"report: {html_report}", err=True)
    if report.all_errors:
        reasons: dict[str, int] = {}
        for cell in report.cells:
            for reason, n in cell.error_reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        top = max(reasons, key=lambda r: reasons[r]) if reasons else "unknown"
        total = sum(c.trials for c in report.cells)
        click.echo(f"harness: every trial was an error ({total} of {total}), nothing measured: {top}", err=True)
        sys.exit(1)


def _site_signup_loss(trials: int | None, parallel: int | None, window: float, event: str | None,
                      snippet: str | None, latency: str, submit: str, headed: bool, site_url: str | None,
                      site_map: str | None, site_allow: Sequence[str], capture_hosts: Sequence[str], fmt: str,
                      ci_width: float, cap: int) -> LossReport:
    """``--site-url``: the experiment on the user's own site (:mod:`harness.experiments.site`)."""
    from harness.experiments.site import run_site_signup_loss
    from harness.sites.sitemap import SiteMapError, load_site_map
    from harness.sites.snippet import ProfileError

    if not site_map:
        raise click.BadParameter("a site map with a [signup] section is needed to sign up on your site",
                                 param_hint="--site-map")
    try:
        site = load_site_map(site_map).with_url(site_url)
    except SiteMapError as exc:
        raise click.BadParameter(str(exc), param_hint="--site-map") from None
    if site_allow:
        site = site.with_allow(tuple(site_allow))
    if not site.url or site.signup is None:
        raise click.BadParameter(f"{site_map}: needs a [site] url (or --site-url) and a [signup] section",
                                 param_hint="--site-map")
    try:
        library = load_profile(snippet or site.library or "analytics-next")
        submits = parse_list(submit, SUBMITS, "submit moment")
        latencies = parse_latencies(latency)
    except ProfileError as exc:
        raise click.BadParameter(str(exc), param_hint="--snippet") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None

    def run(step: Callable[..., None]) -> LossReport:
        return run_site_signup_loss(site, library, submits, latencies, trials, parallel, not headed, event,
                                    capture_hosts, lambda what, done, of: step(f"{site.name} {what} {done}/{of}"),
                                    window_s=window, ci_width=ci_width, cap=cap)

    return _with_progress(site.name, len(submits) * len(latencies) * (trials or cap), fmt, run)
