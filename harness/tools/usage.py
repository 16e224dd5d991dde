"""Checks of what a person typed, shared by the CLI and the pytest plugin: each problem is one line.

The CLI prints ``harness: <problem>`` and exits non-zero; the pytest plugin raises
``pytest.UsageError`` once, at configure time, instead of an error per test. Nothing here
writes to a file it did not create, and a file that belongs to something else is refused
rather than repurposed.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"


class UsageProblem(ValueError):
    """A mistake in an option or argument; ``str()`` is one line that says what and how to fix it."""


def one_line(text: object) -> str:
    """Any message (a multi-line library error) folded onto one line."""
    return " ".join(str(text).split())


def check_store_path(path: str, *, create_dirs: bool = False, what: str = "--db") -> str:
    """A store file the harness may open for writing; returns it, or raises :class:`UsageProblem`.

    ``:memory:`` passes. Otherwise the folder must exist (``create_dirs`` makes it, as the
    default ``.harness/`` is made) and the file must be absent, empty, or a readable harness
    store: not a folder, not another program's SQLite database, not a corrupt file.
    """
    if path == ":memory:":
        return path
    if not path.strip():
        raise UsageProblem(f"{what} needs a file path (or :memory:)")
    file = Path(path).expanduser()
    folder = file.parent
    if not folder.is_dir():
        blocker = next((p for p in [folder, *folder.parents] if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise UsageProblem(f"{what} {path}: {blocker} is a file, not a folder")
        if not create_dirs:
            raise UsageProblem(f"{what} {path}: the folder {folder} does not exist (create it first)")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageProblem(f"{what} {path}: cannot create the folder {folder}: {exc.strerror or exc}") from None
    if not file.exists():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageProblem(f"{what} {path}: cannot create a file in {folder} (permission denied)")
        return path
    check_store_file(file, what=what)
    return path


def check_store_file(file: Path, *, what: str = "--db", writable: bool = True) -> None:
    """An existing file that is empty or a harness store, readable (and writable); UsageProblem otherwise."""
    shown = f"{what} {file}" if what else str(file)
    if file.is_dir():
        raise UsageProblem(f"{shown} is a folder, not a file")
    mode = os.R_OK | (os.W_OK if writable else 0)
    if not os.access(file, mode):
        raise UsageProblem(f"{shown}: permission denied ({'read and write' if writable else 'read'} needed)")
    try:
        with file.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise UsageProblem(f"{shown}: cannot read it: {exc.strerror or exc}") from None
    if not header:
        return  # an empty file: SQLite makes it a store
    if header != SQLITE_HEADER:
        raise UsageProblem(f"{shown} is not a SQLite database (corrupt, or some other file); "
                           "move it away or pick another path")
    try:
        probe = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "beacons" in tables:
                probe.execute("SELECT COUNT(*) FROM beacons").fetchone()
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise UsageProblem(f"{shown} is a damaged SQLite database ({one_line(exc)}); "
                           "move it away or pick another path") from None
    if tables and "beacons" not in tables:
        raise UsageProblem(f"{shown} is a SQLite database but not a harness store (no beacons table); "
                           "the harness will not write into it")


def parse_int(value: object, what: str, low: int | None = None, high: int | None = None) -> int:
    """``"300"`` -> 300; anything else is a UsageProblem naming the option and the range."""
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        raise UsageProblem(f"{what} must be a whole number, got {text!r}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        span = f"between {low} and {high}" if low is not None and high is not None else (
            f"at least {low}" if low is not None else f"at most {high}")
        raise UsageProblem(f"{what} must be {span}, got {number}")
    return number
