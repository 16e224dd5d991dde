"""``harness install [NAME ...]``: the real tracking libraries the bundled profiles embed, for wheel users.

Playwright's way with browsers: the package ships a pinned manifest (``profiles-npm/package-lock.json``, with
npm's integrity hashes) and this command fetches exactly those packages, once, into a per-user folder every
project shares (``$HARNESS_LIBRARIES``, else ``$XDG_DATA_HOME/intilery-harness/npm``), one subfolder per
lockfile sha256. ``npm ci`` refuses a tarball whose hash differs from the lockfile's; the folder is filled under a
temporary name and renamed when complete, so a half-done or concurrent install is never read. Present: a no-op.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import click

from harness import resources
from harness.tools.cli import HarnessError

_NPM_SPEC = re.compile(r"""["']npm:/*((?:@[^/"'\s]+/)?[^/"'\s]+)""")
NPM_CI = ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
NPM_TIMEOUT = 600  # seconds; npm's own cache makes a repeat install take a few seconds


def packages_of(name: str) -> list[str]:
    """The npm packages a bundled profile's ``npm:`` sources name (none for a self-contained profile)."""
    toml = resources.SNIPPETS_DIR / name / "profile.toml"
    if not toml.is_file():
        bundled = sorted(p.parent.name for p in resources.SNIPPETS_DIR.glob("*/profile.toml"))
        raise HarnessError(f"no bundled profile {name!r} (bundled: {', '.join(bundled)})")
    return list(dict.fromkeys(_NPM_SPEC.findall(toml.read_text())))


def pinned_versions() -> dict[str, str]:
    """package -> version, as the shipped lockfile pins it."""
    lock = json.loads((resources.NPM_LOCK_DIR / "package-lock.json").read_text())
    return {key.removeprefix("node_modules/"): str(entry.get("version", ""))
            for key, entry in lock.get("packages", {}).items() if key.startswith("node_modules/")}


def missing(modules: Path, packages: list[str], pinned: dict[str, str]) -> list[str]:
    """The packages not installed in ``modules`` at their pinned version."""
    out = []
    for package in packages:
        try:
            version = json.loads((modules / package / "package.json").read_text()).get("version")
        except (OSError, ValueError):
            version = None
        if version != pinned.get(package):
            out.append(package)
    return out


def _complete(modules: Path, sha: str) -> bool:
    """Whether ``modules`` was installed, to the end, from the lockfile with this sha256."""
    try:
        return (modules / resources.LOCK_MARK).read_text().strip() == sha
    except OSError:
        return False


def install(packages: list[str]) -> tuple[Path, bool]:
    """Make the pinned packages available; (the node_modules they are in, whether anything was fetched)."""
    sha, pinned = resources.lock_sha256(), pinned_versions()
    current = resources.npm_modules()
    checkout = current != resources.installed_modules()  # a checkout's own profiles-npm/node_modules: used first
    if (checkout or _complete(current, sha)) and not missing(current, packages, pinned):
        return current, False
    npm = shutil.which("npm")
    if npm is None:
        raise HarnessError("npm is not on PATH: install Node.js (with npm), then run `harness install` again")
    target = resources.installed_modules().parent
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(resources.NPM_LOCK_DIR / name, work / name)
        try:
            done = subprocess.run([npm, *NPM_CI], cwd=work, capture_output=True, text=True, timeout=NPM_TIMEOUT,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"npm ci took longer than {NPM_TIMEOUT} s (is the npm registry reachable?)") from None
        if done.returncode != 0:
            last = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()][-1:] or ["no output"]
            raise HarnessError(f"npm ci failed (exit {done.returncode}): {last[0].strip()}")
        left = missing(work / "node_modules", packages, pinned)
        if left:
            raise HarnessError(f"npm ci did not install {', '.join(left)} at the pinned version")
        (work / "node_modules" / resources.LOCK_MARK).write_text(sha + "\n")
        if target.exists():  # an earlier, incomplete or foreign folder: replace it
            shutil.rmtree(target)
        try:
            work.rename(target)
        except OSError:
            if not _complete(target / "node_modules", sha):  # not another install finishing first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / "node_modules", True


@click.command("install")
@click.argument("names", nargs=-1)
def install_command(names: tuple[str, ...]) -> None:
    """Fetch the real libraries the bundled profiles embed (NAME: analytics-next, rudderstack; none: all).

    Exactly the packages pinned by the shipped lockfile, integrity-checked by npm ci, into a per-user folder
    shared by every project ($HARNESS_LIBRARIES, else $XDG_DATA_HOME/intilery-harness/npm). Needs npm on PATH.
    A no-op when they are already there.
    """
    chosen = list(names) or sorted(p.parent.name for p in resources.SNIPPETS_DIR.glob("*/profile.toml"))
    wanted = {name: packages_of(name) for name in chosen}
    packages = list(dict.fromkeys(p for ps in wanted.values() for p in ps))
    if not packages:
        click.echo(f"harness install: {', '.join(chosen)} ship(s) with the package: nothing to install")
        return
    modules, fetched = install(packages)
    pinned = pinned_versions()
    what = ", ".join(f"{p} {pinned.get(p, '?')}" for p in packages)
    for name, ps in wanted.items():
        if not ps and names:
            click.echo(f"harness install: {name} ships with the package: nothing to install")
    if fetched:
        click.echo(f"harness install: installed {what} in {modules} (npm ci, integrity-checked against the lockfile "
                   f"sha256 {resources.lock_sha256()[:16]})")
    else:
        click.echo(f"harness install: {what} already installed in {modules}")
