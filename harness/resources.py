"""Where the harness's data lives: the sample site's static files, the bundled snippet profiles, example plans.

In a checkout (and an editable install) they are the repository's top-level ``static/`` and
``fixtures/`` folders. A wheel carries copies under ``harness/_data/`` (``setup.py`` copies them
at build time, see ``DATA_DIRS`` there), and those win when present. Nothing here is ever
written to: snapshots and stores live with the user's project.
"""

from __future__ import annotations

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
NPM_MODULES = _find("npm", "profiles-npm/node_modules")  # real libraries from the npm registry (make setup)


def installed_from_wheel() -> bool:
    """True when the data comes from an installed wheel rather than a checkout."""
    return STATIC_DIR.is_relative_to(BUNDLED_DIR)
