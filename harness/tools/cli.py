"""The ``harness`` command line: serve, look at beacons/profiles/lint, reproduce, demo.

The read commands (``beacons``, ``profiles``, ``lint``) take their data from a running server's
inspection API (``--server``, the default) or straight from a SQLite store file (``--db``), and
show it as rich tables for people or JSON for machines. Every user mistake or unreachable
source is one ``harness: ...`` line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import gc
import importlib
import json
import re
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from http.client import HTTPException
from pathlib import Path
from typing import Any, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import Request, urlopen

import click

from harness import __version__
from harness.tools.usage import UsageProblem, check_store_path, one_line

DEFAULT_SERVER = "http://127.0.0.1:8000"
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
HTTP_TIMEOUT = 15.0  # a harness answers in milliseconds; this only bounds a wedged server
STREAM_TIMEOUT = 35.0  # the stream pings every 10 s; silence this long means it is gone
FOLLOW_BACKLOG = 10  # like tail -f: the last few, then new ones as they arrive
POLL_SECONDS = 0.5  # --db --follow re-reads the file this often
API_PAGE = 10_000  # beacons per /api/beacons request (the server's MAX_PAGE)
# Lazily imported subcommands: a module another part of the project provides, or not yet.
LAZY_COMMANDS = {
    "repro": ("harness.experiments.cli", "repro",
              "Reproduce lost sign-ups per delivery mode and flow: in time / late / lost (real browser)."),
    "demo": ("harness.tools.demo", "demo", "Walk the seeds' scenarios #1-#3 and a short sign-up-loss run."),
    "browse": ("harness.tools.browse", "browse",
               "Open your own site in Chromium; its vendor traffic goes to a running harness's collector."),
    "install": ("harness.tools.install", "install_command",
                "Fetch the pinned real libraries (analytics-next, rudderstack) into a per-user folder, once."),
    "check": ("harness.tools.check", "check",
              "Run the shipped identity claim suite against your site (--site-url, --site-map) or a profile."),
    "conformance": ("harness.tools.conformance", "conformance",
                    "Run the claims per library and write the claim x library matrix (conformance.md)."),
}

Record = dict[str, Any]


class HarnessError(click.ClickException):
    """A user-facing failure: printed as one line, non-zero exit, never a traceback."""

    def show(self, file: Any = None) -> None:
        click.echo(f"harness: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    """A group whose ``repro``/``demo`` are imported only when used, so a missing module breaks nothing else."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attr, summary = LAZY_COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # a real bug inside the module: let it show
            return _unavailable(cmd_name, summary, f"{module_name} is not installed in this build")
        command = getattr(module, attr, None)
        if not isinstance(command, click.Command):
            return _unavailable(cmd_name, summary, f"{module_name} has no click command named {attr!r}")
        return command


def _unavailable(name: str, summary: str, why: str) -> click.Command:
    """A stand-in that explains, in one line, why a lazily loaded command cannot run."""

    def run() -> None:
        raise HarnessError(f"`harness {name}` is unavailable: {why}")

    return click.Command(name, callback=run, help=f"{summary} (unavailable: {why})", short_help=summary,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--start-time", default=None, envvar="HARNESS_START_TIME",
              help="ISO-8601 instant the collector's clock (receivedAt, server-side calls) starts at "
                   "(env HARNESS_START_TIME; default: the real now)")
@click.option("--trust-forwarded", is_flag=True, help="take the client IP from X-Forwarded-For")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="also answer requests for this Host name (repeatable; '.example.test' allows a domain, "
                   "'*' any name). IPs, localhost, *.shop.test and --host always pass [env HARNESS_ALLOWED_HOSTS]")
def serve(host: str, port: int, db: str, write_key: str | None, snippet: str, tracking_plan: str | None,
          api_token: str | None, start_time: str | None, trust_forwarded: bool,
          allowed_hosts: tuple[str, ...]) -> None:
    """Site + collector + inspection API + inspector in one process (Ctrl-C stops)."""
    from harness import timebase
    from harness.keys import Config
    from harness.server import HarnessServer, is_loopback
    from harness.sites.snippet import ProfileError, load_profile

    try:
        profile = load_profile(snippet)
    except ProfileError as exc:
        raise HarnessError(str(exc)) from None
    if start_time:
        try:
            timebase.pin(timebase.parse_instant(start_time))
        except timebase.BadInstant as exc:
            raise HarnessError(str(exc)) from None
    plan = None
    if tracking_plan:
        from harness.identity.plan import load_plan

        try:
            plan = load_plan(tracking_plan)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"tracking plan: {exc}") from None
    if not is_loopback(host):
        click.echo(f"warning: binding {host} exposes the harness beyond this machine"
                   + ("" if api_token else "; consider --api-token"), err=True)
        click.echo("note: the inspector and API answer Host names that are IPs, localhost, *.shop.test or "
                   "--host; add others with --allowed-host NAME", err=True)
    from harness.collecting.store import StoreInUse

    default_db = click.get_current_context().get_parameter_source("db") == click.core.ParameterSource.DEFAULT
    try:
        check_store_path(db, create_dirs=default_db)  # only the default .harness/ folder is made for you
    except UsageProblem as exc:
        raise HarnessError(str(exc)) from None
    config = Config(write_key=write_key, api_token=api_token, trust_forwarded=trust_forwarded, tracking_plan=plan,
                    allowed_hosts=list(allowed_hosts))
    try:
        server = HarnessServer(host=host, port=port, db=db, config=config, snippet=profile)
    except StoreInUse as exc:
        raise HarnessError(str(exc)) from None
    except sqlite3.Error as exc:
        raise HarnessError(f"--db {db}: cannot use it as a store ({one_line(exc)}); move it away or pick another path"
                           ) from None
    except OSError as exc:
        raise HarnessError(f"--db {db}: {exc.strerror or one_line(exc)}") from None

    def ready(s: HarnessServer) -> None:
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{s.port}"
        token = f"?token={quote(api_token, safe='')}" if api_token else ""  # the inspector keeps it in a cookie
        click.echo(f"harness {__version__} serving (snippet: {profile.name}, db: {db})")
        click.echo(f"  site       {base}/")
        click.echo(f"  collector  {base}/v1/")
        click.echo(f"  inspector  {base}/inspector{token}")
        click.echo(f"  api        {base}/api/beacons" + ("  (send X-Harness-Token)" if api_token else ""))
        if profile.routes or any(asset.path for asset in profile.assets):  # the profile acts as a CDN
            click.echo(f"  cdn        {base}/snippet-assets/  ({profile.library} files and documents)")
        click.echo("Ctrl-C to stop.")
        sys.stdout.flush()

    # Analysis (lint, profile pages) runs on worker threads; with the default 5 ms switch interval the
    # event loop could wait that long for the GIL each time it wakes. 1 ms keeps collector answers prompt.
    sys.setswitchinterval(0.001)
    # The garbage collector, in this process only (never in a test process): the startup heap (modules,
    # templates, the profile) is frozen out of full collections, and the young generation is collected
    # every 50,000 allocations instead of 700, so a batch's short-lived dicts are mostly freed by reference
    # counting before a collection ever walks them (docs/benchmarks.md, issue 20's third part).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        server.run_forever(on_ready=ready)
    except OSError as exc:
        raise HarnessError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo("stopped.")


# ---- where the read commands get their data ------------------------------------------------------
class Source(Protocol):
    """A running server (HTTP) or a store file (SQLite): the same answers as the inspection API."""

    label: str

    def beacons(self, filters: dict[str, str], limit: int | None) -> tuple[list[Record], int]: ...
    def bad(self) -> list[Record]: ...
    def profiles(self) -> dict[str, Any]: ...
    def lint(self) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Any]: ...
    def reset(self) -> dict[str, Any]: ...
    def follow(self, filters: dict[str, str], backlog: int,
               on_ready: Callable[[], None]) -> Iterator[Record]: ...


def check_server_url(url: str) -> str:
    """``http://host:port[/prefix]`` -> normalised base URL; anything else is a one-line error."""
    hint = "expected something like http://127.0.0.1:8000"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise HarnessError(f"bad --server URL {url!r}: {exc}; {hint}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HarnessError(f"bad --server URL {url!r}: {hint}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise HarnessError(f"bad --server URL {url!r}: no query, fragment or credentials (use --api-token); {hint}")
    if any(ch.isspace() or not ch.isprintable() for ch in url.strip()):
        raise HarnessError(f"bad --server URL {url!r}: {hint}")
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if ":" in (parts.hostname or "") and not netloc.startswith("["):
        netloc = f"[{parts.hostname}]" + (f":{port}" if port is not None else "")
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _api_reason(exc: HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason if isinstance(exc.reason, str) else "error"
    if isinstance(body, dict):
        return str(body.get("reason") or body.get("error") or exc.reason)
    return str(exc.reason)


class ServerSource:
    """The inspection API of a running ``harness serve`` (standard library HTTP only)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.base = check_server_url(url)
        self.label = self.base
        self.token = token

    def _request(self, path: str, params: dict[str, Any] | None = None, accept: str = "application/json",
                 method: str = "GET") -> Request:
        query = f"?{urlencode(params)}" if params else ""
        headers = {"Accept": accept, "User-Agent": f"harness-cli/{__version__}"}
        if self.token:
            headers["X-Harness-Token"] = self.token
        return Request(f"{self.base}{path}{query}", headers=headers, method=method)

    def _open(self, request: Request, timeout: float) -> Any:
        """urlopen with every failure turned into one HarnessError line."""
        try:
            return urlopen(request, timeout=timeout)  # noqa: S310 - the URL's scheme is checked above
        except HTTPError as exc:
            if exc.code == 401:
                raise HarnessError(f"{self.base} needs an API token: pass --api-token or set HARNESS_API_TOKEN"
                                   ) from None
            if exc.code == 404:
                raise HarnessError(f"{self.base} has no {request.selector.split('?')[0]}: "
                                   "is it a harness server? (start one with `harness serve`)") from None
            raise HarnessError(f"{self.base} answered {exc.code} for {request.selector}: {_api_reason(exc)}"
                               ) from None
        except URLError as exc:
            raise self._unreachable(exc.reason) from None
        except TimeoutError:
            raise HarnessError(f"{self.base} did not answer within {timeout:.0f}s") from None
        except (HTTPException, OSError, ValueError) as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, reason: Any) -> HarnessError:
        if isinstance(reason, ConnectionRefusedError):
            return HarnessError(f"cannot reach {self.base} — is `harness serve` running?")
        if isinstance(reason, socket.gaierror):
            return HarnessError(f"cannot reach {self.base}: unknown host — is the --server URL right?")
        if isinstance(reason, TimeoutError):
            return HarnessError(f"cannot reach {self.base}: timed out — is `harness serve` running?")
        detail = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return HarnessError(f"cannot reach {self.base} ({detail}) — is `harness serve` running?")

    def get(self, path: str, params: dict[str, Any] | None = None, method: str = "GET") -> Any:
        request = self._request(path, params, method=method)
        with self._open(request, HTTP_TIMEOUT) as response:
            try:
                body = response.read()
            except (OSError, HTTPException) as exc:
                raise self._unreachable(exc) from None
        try:
            return json.loads(body)
        except ValueError:
            raise HarnessError(f"{self.base}{path} did not answer JSON: is it a harness server?") from None

    def _field(self, doc: Any, key: str, path: str) -> Any:
        if not isinstance(doc, dict) or key not in doc:
            raise HarnessError(f"{self.base}{path} answered without {key!r}: is it a harness server?")
        return doc[key]

    def beacons(self, filters: dict[str, str], limit: int | None) -> tuple[list[Record], int]:
        """The last ``limit`` matching beacons (all when None), a page of at most API_PAGE at a time."""
        found: list[Record] = []
        total: int | None = None
        before: int | None = None
        while True:
            want = API_PAGE if limit is None else min(API_PAGE, limit - len(found))
            params: dict[str, Any] = {**filters, "limit": want, **({"before": before} if before else {})}
            doc = self.get("/api/beacons", params)
            page = list(self._field(doc, "beacons", "/api/beacons"))
            if total is None:
                total = int(doc.get("total", len(page)))
            found[:0] = page
            oldest = _seq(page[0]) if page else 0
            if len(page) < want or (limit is not None and len(found) >= limit) or not oldest \
                    or (before is not None and oldest >= before):  # a server without paging: one page
                return found, total
            before = oldest

    def bad(self) -> list[Record]:
        return list(self._field(self.get("/api/bad"), "bad", "/api/bad"))

    def profiles(self) -> dict[str, Any]:
        doc = self.get("/api/profiles")
        self._field(doc, "profiles", "/api/profiles")
        return doc

    def lint(self) -> dict[str, Any]:
        doc = self.get("/api/lint")
        self._field(doc, "findings", "/api/lint")
        return doc

    def stats(self) -> dict[str, Any]:
        doc = self.get("/api/stats")
        self._field(doc, "stored", "/api/stats")
        return doc

    def reset(self) -> dict[str, Any]:
        """DELETE /api/beacons; returns the stats from just before."""
        before = self.stats()
        self.get("/api/beacons", method="DELETE")
        return before

    def follow(self, filters: dict[str, str], backlog: int, on_ready: Callable[[], None]) -> Iterator[Record]:
        """Subscribe to /api/stream first, then read the backlog: nothing falls in between."""
        from harness.collecting.store import matches

        response = self._open(self._request("/api/stream", accept="text/event-stream"), STREAM_TIMEOUT)
        with response:
            events = sse_events(response)
            try:
                kind, _ = next(events)
            except StopIteration:
                raise HarnessError(f"{self.base}/api/stream closed at once: is it a harness server?") from None
            if kind != "hello":
                raise HarnessError(f"{self.base}/api/stream did not greet: is it a harness server?")
            found, _ = self.beacons(filters, backlog)
            last = max((_seq(r) for r in found), default=0)
            on_ready()
            yield from found
            try:
                for kind, data in events:
                    if kind != "beacon":
                        continue
                    try:
                        record = json.loads(data)
                    except ValueError:
                        continue
                    if isinstance(record, dict) and _seq(record) > last and matches(record, **filters):
                        yield record
            except TimeoutError:
                raise HarnessError(f"the stream from {self.base} went silent (server stopped?)") from None
            except (OSError, HTTPException):
                pass
        raise HarnessError(f"lost the stream from {self.base} (server stopped?)")


def sse_events(response: Any) -> Iterator[tuple[str, str]]:
    """Server-Sent Events parser over a file-like HTTP response: yields (event, data)."""
    event, data = "message", []
    for raw in response:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)


def _seq(record: Record) -> int:
    meta = record.get("_meta")
    try:
        return int(meta.get("seq", 0)) if isinstance(meta, dict) else 0
    except (TypeError, ValueError):
        return 0


class DbSource:
    """A store file written by ``harness serve --db`` or the pytest plugin, read directly."""

    def __init__(self, path: str, plan: dict[str, Any] | None = None) -> None:
        from harness.collecting.store import open_readonly

        try:
            self.store = open_readonly(path)
        except (FileNotFoundError, ValueError) as exc:
            raise HarnessError(str(exc)) from None
        except sqlite3.Error as exc:
            raise HarnessError(f"cannot open {path}: {exc}") from None
        self.path = path
        self.label = path
        self.plan = plan

    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    def reset(self) -> dict[str, Any]:
        """Empty the file (beacons, rejected submissions, counters); returns the stats from just before.

        Cleared as its writer, so a server that has the file open keeps it: behind that server's back its
        memory window, counters and identity graph would no longer match the file.
        """
        from harness.collecting.store import BeaconStore, StoreInUse

        try:
            writer = BeaconStore(self.path)
        except StoreInUse:
            raise HarnessError(f"{self.path} is open in a running harness server: clear it there with "
                               "`harness reset --server URL`") from None
        except sqlite3.Error as exc:
            raise HarnessError(f"cannot clear {self.path}: {one_line(exc)}") from None
        try:
            before = writer.stats()
            writer.clear()
        except sqlite3.Error as exc:
            raise HarnessError(f"cannot clear {self.path}: {one_line(exc)}") from None
        finally:
            writer.close()
        return before

    def beacons(self, filters: dict[str, str], limit: int | None) -> tuple[list[Record], int]:
        return self.store.page(limit=limit, **filters)

    def bad(self) -> list[Record]:
        return self.store.bad()

    def profiles(self) -> dict[str, Any]:
        from harness.identity import graph

        limit = graph.PROFILES_PAGE
        return self.store.profiles_page(limit, 0, "first", graph.messages_per_profile(limit, graph.MESSAGES_SHOWN))

    def lint(self) -> dict[str, Any]:
        from harness.identity.lint import has_errors, lint
        from harness.inspection.api import ANALYSIS_WINDOW, _scoped

        records, stored = self.store.recent(ANALYSIS_WINDOW)
        findings = lint(records, self.plan)
        return _scoped({"findings": [f.to_dict() for f in findings], "errors": has_errors(findings)},
                       len(records), stored)

    def follow(self, filters: dict[str, str], backlog: int, on_ready: Callable[[], None]) -> Iterator[Record]:
        """Tail the file: the last few, then every row another process commits (polled)."""
        from harness.collecting.store import matches

        found, _ = self.beacons(filters, backlog)
        db = sqlite3.connect(f"file:{quote(str(Path(self.path).resolve()))}?mode=ro", uri=True)
        try:
            last = max((_seq(r) for r in found), default=0)  # the backlog's newest: poll for rows after it
            if not found:
                last = db.execute("SELECT coalesce(max(seq), 0) FROM beacons").fetchone()[0]
            on_ready()
            yield from found
            while True:
                try:
                    rows = db.execute("SELECT seq, body FROM beacons WHERE seq > ? ORDER BY seq", (last,)).fetchall()
                except sqlite3.Error as exc:
                    raise HarnessError(f"cannot read {self.path}: {exc}") from None
                for seq, body in rows:
                    last = seq
                    try:
                        record = json.loads(body)
                    except ValueError:
                        continue
                    record.setdefault("_meta", {})["seq"] = seq
                    if matches(record, **filters):
                        yield record
                time.sleep(POLL_SECONDS)
        finally:
            db.close()


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--server / --db / --api-token, shared by beacons, profiles and lint."""
    func = click.option("--api-token", "api_token", envvar="HARNESS_API_TOKEN", default=None, metavar="TOKEN",
                        help="token of a server started with --api-token [env HARNESS_API_TOKEN]")(func)
    func = click.option("--db", default=None, metavar="PATH",
                        help="read a SQLite store file directly instead of a server")(func)
    func = click.option("--server", default=DEFAULT_SERVER, show_default=True, envvar="HARNESS_SERVER",
                        metavar="URL", help="a running `harness serve` [env HARNESS_SERVER]")(func)
    return func


def open_source(server: str, db: str | None, api_token: str | None, plan: dict[str, Any] | None = None) -> Source:
    ctx = click.get_current_context()
    if db is not None:
        if ctx.get_parameter_source("server") == click.core.ParameterSource.COMMANDLINE:
            raise HarnessError("use --server or --db, not both")
        if not db.strip():
            raise HarnessError("--db needs a file path")
        return DbSource(db, plan)
    return ServerSource(server, api_token)


def _non_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("needs a non-empty value", ctx=ctx, param=param)
    return value


WIDE_OPTION = click.option("--wide", is_flag=True,
                           help="every column at full width (default: fit the terminal, or 80 columns when piped, "
                                "dropping low-value columns first; ids are never split)")
WIDE_COLUMNS = 1_000_000  # --wide: rich never squeezes, lines are as long as their content


def _console(wide: bool = False) -> Any:
    from rich.console import Console

    if wide:
        return Console(highlight=False, emoji=False, markup=False, width=WIDE_COLUMNS)
    return Console(highlight=False, emoji=False, markup=False)


def _fit(console: Any, wide: bool) -> int | None:
    """The width tables fit into: the terminal's (``COLUMNS``, 80 when piped), or None with --wide."""
    return None if wide else int(console.width)


# Characters a terminal acts on or hides, escaped as \\uXXXX in JSON output (the value is unchanged):
# DEL and the C1 controls (0x9b is CSI, as ESC [ is), lone surrogates (not UTF-8), the line and
# paragraph separators, and the bidi controls that make text read differently from what it is.
# JSON's own escaping already covers the C0 controls.
_TERMINAL_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _terminal_safe(text: str) -> str:
    """JSON text with the characters above escaped; they can only occur inside JSON strings."""
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _emit_json(doc: Any) -> None:
    click.echo(_terminal_safe(json.dumps(doc, indent=2, ensure_ascii=False)))


def _jsonl(record: Record) -> str:
    return _terminal_safe(json.dumps(record, ensure_ascii=False, separators=(",", ":")))


# ---- harness beacons ------------------------------------------------------------------------------
@cli.command()
@source_options
@click.option("--type", "type_", type=click.Choice(MESSAGE_TYPES, case_sensitive=False), default=None,
              help="only this message type")
@click.option("--event", default=None, callback=_non_empty, help="only track calls with this event name")
@click.option("--user-id", default=None, callback=_non_empty, help="only messages with this userId")
@click.option("--anonymous-id", default=None, callback=_non_empty, help="only messages with this anonymousId")
@click.option("--bad", is_flag=True, help="list rejected submissions and their reasons instead")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="only the N most recent (with --follow: the backlog printed first, default 10)")
@click.option("--format", "fmt", type=click.Choice(("table", "json", "jsonl")), default="table", show_default=True)
@click.option("--follow", "-f", is_flag=True, help="keep printing new beacons as they arrive (Ctrl-C stops)")
@WIDE_OPTION
def beacons(server: str, db: str | None, api_token: str | None, type_: str | None, event: str | None,
            user_id: str | None, anonymous_id: str | None, bad: bool, limit: int | None, fmt: str,
            follow: bool, wide: bool) -> None:
    """Inspect captured beacons (or, with --bad, rejected submissions)."""
    filters = {k: v for k, v in {"type": type_.lower() if type_ else None, "event": event, "userId": user_id,
                                 "anonymousId": anonymous_id}.items() if v is not None}
    if bad and (filters or follow):
        raise HarnessError("--bad lists rejected submissions: it takes no --type/--event/--user-id/"
                           "--anonymous-id filter and cannot --follow")
    if follow and fmt == "json":
        raise HarnessError("--follow prints a stream: use --format jsonl (or table)")
    source = open_source(server, db, api_token)
    if follow:
        _follow(source, filters, limit or FOLLOW_BACKLOG, fmt)
        return
    from harness.tools import views

    if bad:
        entries = source.bad()
        total = len(entries)
        _print_list("bad", entries[-limit:] if limit else entries, total, fmt, wide, views.bad_table,
                    "No rejected submissions.")
        return
    found, total = source.beacons(filters, limit)
    _print_list("beacons", found, total, fmt, wide, views.beacons_table,
                "No beacons match." if filters else f"No beacons captured yet in {source.label}.")


def _print_list(name: str, rows: list[Record], total: int, fmt: str, wide: bool,
                table: Callable[..., Any], empty: str) -> None:
    """One list as ``{name: rows, total}`` JSON, JSON lines, or a table (``empty`` when there is nothing)."""
    if fmt == "json":
        _emit_json({name: rows, "total": total})
    elif fmt == "jsonl":
        for row in rows:
            click.echo(_jsonl(row))
    elif rows:
        console = _console(wide)
        console.print(table(rows, total, width=_fit(console, wide)))
    else:
        click.echo(empty)


def _follow(source: Source, filters: dict[str, str], backlog: int, fmt: str) -> None:
    """Print the backlog, then each new beacon the moment it is stored, until Ctrl-C."""
    from harness.tools import views

    console = _console()

    def ready() -> None:
        click.echo(f"following {source.label} (Ctrl-C to stop)", err=True)
        if fmt == "table":
            console.print(views.beacon_line_header(), soft_wrap=True)
            sys.stdout.flush()

    try:
        for record in source.follow(filters, backlog, ready):
            if fmt == "jsonl":
                click.echo(_jsonl(record))
            else:
                console.print(views.beacon_line(record), soft_wrap=True)
            sys.stdout.flush()
    except KeyboardInterrupt:
        click.echo("", err=True)


# ---- harness profiles -----------------------------------------------------------------------------
@cli.command()
@source_options
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@click.option("--timeline", is_flag=True, help="also print each profile's messages, one column per device")
@WIDE_OPTION
def profiles(server: str, db: str | None, api_token: str | None, fmt: str, timeline: bool, wide: bool) -> None:
    """Identity profiles (anonymous + identified activity merged) and Monthly Tracked Users."""
    doc = open_source(server, db, api_token).profiles()
    if fmt == "json":
        _emit_json(doc)
        return
    from harness.tools import views

    console = _console(wide)
    found = doc.get("profiles") or []
    if found:
        console.print(views.profiles_table(found, width=_fit(console, wide)))
        total = doc.get("total")
        if isinstance(total, int) and total > len(found):
            click.echo(f"(the first {len(found)} of {total} profiles; --format json has them page by page "
                       "from /api/profiles?offset=N)")
    else:
        click.echo("No profiles: no beacons captured yet.")
    if timeline:
        for profile in found:
            console.print(views.timeline_table(profile))
    console.print(views.mtu_lines(doc.get("mtu") or {}, doc.get("mtu_without_identify")))


# ---- harness lint ---------------------------------------------------------------------------------
@cli.command()
@source_options
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@click.option("--tracking-plan", default=None, metavar="PATH",
              help="with --db: also check this tracking plan (a server applies its own)")
@WIDE_OPTION
@click.pass_context
def lint(ctx: click.Context, server: str, db: str | None, api_token: str | None, fmt: str,
         tracking_plan: str | None, wide: bool) -> None:
    """Best-practice findings over the captured beacons; exit status 1 when any is an error."""
    plan = None
    if tracking_plan:
        if db is None:
            raise HarnessError("--tracking-plan applies to --db; a server checks the plan it was started with")
        from harness.identity.plan import load_plan

        try:
            plan = load_plan(tracking_plan)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"tracking plan: {exc}") from None
    doc = open_source(server, db, api_token, plan).lint()
    findings = doc.get("findings") or []
    errors = bool(doc.get("errors", any(f.get("severity") == "error" for f in findings)))
    if fmt == "json":
        _emit_json(doc)
    else:
        from harness.tools import views

        console = _console(wide)
        console.print(views.lint_view(findings, width=_fit(console, wide)))
    ctx.exit(1 if errors else 0)


# ---- harness reset ---------------------------------------------------------------------------------
@cli.command()
@source_options
def reset(server: str, db: str | None, api_token: str | None) -> None:
    """Empty the store: beacons, rejected submissions and counters (DELETE /api/beacons).

    With --server (the default) a running `harness serve` clears itself; with --db PATH the file is
    cleared directly (use that only for a store no server has open).
    """
    source = open_source(server, db, api_token)
    before = source.reset()
    stored, bad = int(before.get("stored") or 0), int(before.get("bad") or 0)
    click.echo(f"cleared {stored} beacon{'' if stored == 1 else 's'} and {bad} rejected "
               f"submission{'' if bad == 1 else 's'} from {source.label}")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: errors are one ``harness: ...`` line, never a traceback."""
    try:
        return _run(argv)
    except BrokenPipeError:
        _quiet_stdout()  # `harness beacons | head`: the reader left, which is fine
        return 0


def _run(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "harness"
        click.echo(f"harness: {exc.format_message()} (see `{command} --help`)", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except sqlite3.DatabaseError as exc:  # a damaged store file (--db): the store logged what to do, once
        from harness.collecting.store import StoreDamaged

        if not isinstance(exc, StoreDamaged):
            click.echo(f"harness: store error: {exc}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays silent."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
