"""The ``harness`` command line: serve, look at beacons/profiles/lint, reproduce, demo."""

from __future__ import annotations

import sys
from typing import Any

import click

from harness import __version__


class HarnessError(click.ClickException):
    """A user-facing failure: printed as one line, non-zero exit, never a traceback."""

    def show(self, file: Any = None) -> None:
        click.echo(f"harness: {self.format_message()}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Prove, in a real headless Chromium, how a tracking snippet manages identity."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--db", default=".harness/beacons.sqlite", show_default=True,
              help="SQLite file for captured beacons (':memory:' keeps nothing on disk)")
@click.option("--write-key", default=None, help="require this write key (401 otherwise)")
@click.option("--snippet", default="intilery", show_default=True, help="snippet profile name or folder")
@click.option("--tracking-plan", default=None, type=click.Path(dir_okay=False), help="tracking plan YAML/JSON")
@click.option("--api-token", default=None, help="require this token for /api/ and /inspector")
@click.option("--trust-forwarded", is_flag=True, help="take the client IP from X-Forwarded-For")
def serve(host: str, port: int, db: str, write_key: str | None, snippet: str, tracking_plan: str | None,
          api_token: str | None, trust_forwarded: bool) -> None:
    """Site + collector + inspection API + inspector in one process (Ctrl-C stops)."""
    from harness.keys import Config
    from harness.server import HarnessServer, is_loopback
    from harness.snippet import ProfileError, load_profile

    try:
        profile = load_profile(snippet)
    except ProfileError as exc:
        raise HarnessError(str(exc)) from None
    plan = None
    if tracking_plan:
        from harness.plan import load_plan

        try:
            plan = load_plan(tracking_plan)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"tracking plan: {exc}") from None
    if not is_loopback(host):
        click.echo(f"warning: binding {host} exposes the harness beyond this machine"
                   + ("" if api_token else "; consider --api-token"), err=True)
    config = Config(write_key=write_key, api_token=api_token, trust_forwarded=trust_forwarded, tracking_plan=plan)
    server = HarnessServer(host=host, port=port, db=db, config=config, snippet=profile)

    def ready(s: HarnessServer) -> None:
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{s.port}"
        click.echo(f"harness {__version__} serving (snippet: {profile.name}, db: {db})")
        click.echo(f"  site       {base}/")
        click.echo(f"  collector  {base}/v1/")
        click.echo(f"  inspector  {base}/inspector")
        click.echo(f"  api        {base}/api/beacons")
        click.echo("Ctrl-C to stop.")
        sys.stdout.flush()

    try:
        server.run_forever(on_ready=ready)
    except OSError as exc:
        raise HarnessError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo("stopped.")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0
