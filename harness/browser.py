"""Find a Chromium to drive, in one place, and the flags that keep it quiet on a closed network.

Order: ``$HARNESS_CHROMIUM`` (if set it must exist), Playwright's managed Chromium, then a
system Chromium -- for headless runs the system's headless shell first (Debian's
``chromium-headless-shell``: what Playwright itself runs headless; about a third of full
Chromium's CPU on this project's sign-up trials). Every caller (pytest plugin, repro, demo,
benchmarks) goes through :func:`launch_args` so the same browser and flags are used everywhere.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Without the background-networking flags Chromium keeps trying to reach Google's hosts.
QUIET_FLAGS: list[str] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Headless only: the old-headless build without the browser UI (Playwright's default for headless).
HEADLESS_SHELL_CANDIDATES: tuple[str, ...] = (
    "/usr/bin/chromium-headless-shell",
    "chromium-headless-shell",
)

SYSTEM_CANDIDATES: tuple[str, ...] = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)

INSTALL_HINT = (
    "install one: `playwright install chromium`, or on Debian/Ubuntu as root `apt-get install -y chromium "
    "chromium-headless-shell` (in a checkout `make setup` does this), or set HARNESS_CHROMIUM=/path/to/chrome"
)


class BrowserNotFound(RuntimeError):
    """No usable Chromium: the message names the problem and the fix in one line."""


def _managed_chromium() -> str | None:
    """Playwright's own downloaded Chromium, if `playwright install chromium` ever ran."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a hard dependency
        return None
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH", Path.home() / ".cache" / "ms-playwright"))
    if not root.is_dir() or not any(root.glob("chromium*")):
        return None  # skip starting a driver when nothing was ever installed
    try:
        with sync_playwright() as pw:
            path = pw.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).exists() else None


def _which(candidate: str) -> str | None:
    if "/" not in candidate:
        return shutil.which(candidate)
    return candidate if Path(candidate).is_file() and os.access(candidate, os.X_OK) else None


def find_chromium(headless: bool = True) -> str | None:
    """Return an executable path; ``headless`` allows a headless shell, which cannot open a window."""
    override = os.environ.get("HARNESS_CHROMIUM")
    if override:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return override
        raise BrowserNotFound(f"HARNESS_CHROMIUM={override} is not an executable file; {INSTALL_HINT}")
    managed = _managed_chromium()
    if managed:
        return managed
    for candidate in (*(HEADLESS_SHELL_CANDIDATES if headless else ()), *SYSTEM_CANDIDATES):
        found = _which(candidate)
        if found:
            return found
    raise BrowserNotFound(f"no Chromium found; {INSTALL_HINT}")


def launch_args(headless: bool = True, extra_args: list[str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``BrowserType.launch`` using the found browser and the quiet flags."""
    args: dict[str, Any] = {
        "executable_path": find_chromium(headless),
        "args": [*QUIET_FLAGS, *(extra_args or [])],
        "headless": headless,
    }
    return args


def resolver_rules(maps: Iterable[str] = (), sealed_to: Iterable[str] | None = None) -> str:
    """One ``--host-resolver-rules`` flag (Chromium reads only one): ``maps`` (``"*.shop.test 127.0.0.1"``),
    and with ``sealed_to`` every other host name resolves nowhere (``~NOTFOUND``) but those hosts and
    loopback. The seal is what stops a request Playwright's routes never see (a sendBeacon made as the page
    is left) from reaching a vendor's real host: it fails at the name, on this machine."""
    rules = [f"MAP {rule}" for rule in maps]
    if sealed_to is not None:
        rules.append("MAP * ~NOTFOUND")
        keep = ["localhost", "127.0.0.1", "[::1]", *sealed_to]
        rules += [f"EXCLUDE {host}" for host in dict.fromkeys(h for h in keep if h)]
    return "--host-resolver-rules=" + ", ".join(rules)


def seal_hosts(*urls_or_hosts: str) -> list[str]:
    """Host names (patterns allowed, ports dropped) from URLs or ``allow`` entries, for :func:`resolver_rules`."""
    hosts = []
    for item in urls_or_hosts:
        host = urlsplit(item).hostname if "://" in item else item.rsplit(":", 1)[0] if item.count(":") == 1 else item
        if host:
            hosts.append(host)
    return hosts


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.browser`: print the browser that will be used; exit 1 with the fix if none."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        path = find_chromium(headless="--headed" not in argv)
    except BrowserNotFound as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 1
    if "--quiet" not in argv:
        print(f"chromium: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
