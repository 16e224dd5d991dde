"""Build-time copy of the repository's data folders into the wheel (everything else is in pyproject.toml).

The repository keeps its layout (top-level ``static/`` and ``fixtures/``); a wheel needs them inside
the package. ``build_py`` copies each folder of ``DATA_DIRS`` to ``harness/_data/<name>/`` in the
build tree, and :mod:`harness.resources` prefers that copy when it exists. Editable installs skip
the copy and read the checkout's folders directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# checkout folder -> name under harness/_data/ (also listed in MANIFEST.in for the sdist)
DATA_DIRS = {
    "static": "static",
    "fixtures/snippets": "snippets",
    "fixtures/plans": "plans",
    "fixtures/sitemaps": "sitemaps",
}
# The pin of the real libraries, not the libraries: `harness install` fetches exactly these into a per-user folder
# (node_modules is never copied: a wheel must not depend on what happened to be installed where it was built).
NPM_LOCK = ("profiles-npm/package.json", "profiles-npm/package-lock.json")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store", "node_modules")


class BuildPyWithData(build_py):
    """build_py, plus the data folders copied into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders
        target = Path(self.build_lib) / "harness" / "_data"
        (target / "npm-lock").mkdir(parents=True, exist_ok=True)
        for source in NPM_LOCK:
            shutil.copyfile(HERE / source, target / "npm-lock" / Path(source).name)
        for source, name in DATA_DIRS.items():
            src = HERE / source
            if not src.is_dir():
                raise SystemExit(f"setup.py: {src} is missing; cannot build a wheel without it")
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithData})
