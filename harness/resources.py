"""Where the harness's data lives: the sample site's static files, the bundled snippet profiles, example plans.

In a checkout (and an editable install) they are the repository's top-level ``static/`` and
``fixtures/`` folders. A wheel carries copies under ``harness/_data/`` (``setup.py`` copies them
at build time, see ``DATA_DIRS`` there), and those win when present. Nothing here is ever
written to: snapshots and stores live with the user's project.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DIR = PACKAGE_DIR / "_data"  # present in an installed wheel only
CHECKOUT_DIR = PACKAGE_DIR.parent


def _find(bundled: str, checkout: str) -> Path:
    packaged = BUNDLED_DIR / bundled
    return packaged if packaged.is_dir() else CHECKOUT_DIR / checkout


STATIC_DIR = _find("static", "static")  # intilery.js, the inspector's script and styles, site.css
SNIPPETS_DIR = _find("snippets", "fixtures/snippets")  # the bundled snippet profiles
SITEMAPS_DIR = _find("sitemaps", "fixtures/sitemaps")  # the sample shop's site map
NPM_LOCK_DIR = _find("npm-lock", "profiles-npm")  # package.json + package-lock.json pinning the real libraries
CHECKOUT_MODULES = CHECKOUT_DIR / "profiles-npm" / "node_modules"  # a checkout's own `npm ci`, if any
LOCK_MARK = ".harness-lock-sha256"  # in an installed node_modules: the sha256 of the lockfile it came from
LIBRARIES_ENV = "HARNESS_LIBRARIES"  # where `harness install` puts the real libraries (default: the XDG data folder)


def installed_from_wheel() -> bool:
    """True when the data comes from an installed wheel rather than a checkout."""
    return STATIC_DIR.is_relative_to(BUNDLED_DIR)


def lock_sha256() -> str:
    """The sha256 of the shipped lockfile: installed libraries are kept per lockfile, so an upgrade never mixes."""
    return hashlib.sha256((NPM_LOCK_DIR / "package-lock.json").read_bytes()).hexdigest()


def libraries_home() -> Path:
    """The per-user folder shared by every project (like Playwright's browser cache): ``$HARNESS_LIBRARIES``, else
    ``$XDG_DATA_HOME/intilery-harness/npm`` (``~/.local/share/...``)."""
    if os.environ.get(LIBRARIES_ENV):
        return Path(os.environ[LIBRARIES_ENV]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "intilery-harness" / "npm"


def installed_modules() -> Path:
    """The node_modules ``harness install`` fills for this lockfile (it may not exist yet)."""
    return libraries_home() / lock_sha256()[:16] / "node_modules"


def npm_modules() -> Path:
    """Where the profiles' ``npm:`` sources are read: a checkout's ``profiles-npm/node_modules`` when it was
    installed from the current lockfile (its ``LOCK_MARK``), else the per-user folder of ``harness install`` once
    that is complete (a stale checkout copy would hide packages added since), else the checkout's copy if any.
    Read at every call, so an install made after import is seen."""
    if installed_from_wheel() or not CHECKOUT_MODULES.is_dir():
        return installed_modules()
    sha = lock_sha256()
    for modules in (CHECKOUT_MODULES, installed_modules()):
        try:
            if (modules / LOCK_MARK).read_text().strip() == sha:
                return modules
        except OSError:
            pass
    return CHECKOUT_MODULES


NPM_MODULES = npm_modules()  # the 0.2 name, fixed at import; use npm_modules()
