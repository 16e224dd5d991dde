"""Intilery identity harness: prove in a real browser how a tracking snippet manages identity.

The package follows the data, one folder per step: :mod:`harness.sites` (what the browser loads: the
sample shop, snippet profiles, site maps, interception) -> :mod:`harness.collecting` (the collector
and the store) -> :mod:`harness.identity` (profiles, MTU, lint, plans) -> :mod:`harness.inspection`
(the API and the live inspector), :mod:`harness.tools` (the CLI) and :mod:`harness.testing` (the
pytest plugin, devices, ``beacons``). The server that ties them together is :mod:`harness.app` and
:mod:`harness.server`; :mod:`harness.timebase` is its clock and :mod:`harness.browser` finds Chromium.

Modules of the 0.1 flat layout keep importing under their old names (``harness.matchers`` is
:mod:`harness.testing.matchers`), so code written against it keeps working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__version__ = "0.2.0"

_MOVED = {  # every module of the 0.1 flat layout that moved, and its folder now
    **dict.fromkeys(["collector", "beacon", "faults", "store", "stream"], "collecting"),
    **dict.fromkeys(["site", "snippet", "serverlib"], "sites"),
    **dict.fromkeys(["profile", "graph", "lint", "plan"], "identity"),
    **dict.fromkeys(["api", "inspector", "guard"], "inspection"),
    **dict.fromkeys(["pytest_plugin", "capture", "device", "matchers", "snapshot"], "testing"),
    **dict.fromkeys(["cli", "views", "demo", "repro"], "tools"),
}


class _FlatNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import harness.matchers`` (the 0.1 name) gives the module now at ``harness.testing.matchers``."""

    def __init__(self) -> None:
        self._real_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        head, _, name = fullname.rpartition(".")
        if head == __name__ and name in _MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        name = spec.name.rpartition(".")[2]
        module = importlib.import_module(f"{__name__}.{_MOVED[name]}.{name}")
        self._real_specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Already executed under its new name; keep the spec it has there (the import system replaced it)."""
        module.__spec__ = self._real_specs.get(module.__name__, module.__spec__)


sys.meta_path.append(_FlatNames())
