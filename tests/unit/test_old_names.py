"""Code written against the 0.1 flat layout keeps importing: ``harness.matchers`` is ``harness.testing.matchers``."""

from __future__ import annotations

import importlib

import pytest

# every module of 0.1's flat harness/ that moved into a folder (app, browser, keys and server stayed)
OLD_LAYOUT = {
    "collector": "collecting", "beacon": "collecting", "faults": "collecting", "store": "collecting",
    "stream": "collecting", "site": "sites", "snippet": "sites", "serverlib": "sites", "profile": "identity",
    "graph": "identity", "lint": "identity", "plan": "identity", "api": "inspection", "inspector": "inspection",
    "guard": "inspection", "pytest_plugin": "testing", "capture": "testing", "device": "testing",
    "matchers": "testing", "snapshot": "testing", "cli": "tools", "views": "tools", "demo": "tools", "repro": "tools",
}


@pytest.mark.parametrize(("name", "folder"), sorted(OLD_LAYOUT.items()))
def test_an_old_module_name_is_the_moved_module(name: str, folder: str) -> None:
    old = importlib.import_module(f"harness.{name}")
    assert old is importlib.import_module(f"harness.{folder}.{name}")
    assert old.__spec__ is not None and old.__spec__.name == f"harness.{folder}.{name}"


def test_a_name_that_never_was_a_harness_module_is_not_made_up() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("harness.transport")  # new in 0.2: only harness.collecting.transport
