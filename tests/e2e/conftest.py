"""Shared helpers for the conformance suite: only public analytics.js API and profile declarations."""

from __future__ import annotations

import pytest

from harness.testing.pytest_plugin import selected_profile


@pytest.fixture
def desktop(new_device):
    """One person's desktop browser."""
    return new_device("desktop", name="desktop")


@pytest.fixture
def phone(new_device):
    """The same person's phone (Playwright iPhone emulation)."""
    return new_device("mobile", name="phone")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``unload_safe_mode``: each delivery mode the selected profile declares unload-safe (none: one skip)."""
    if "unload_safe_mode" not in metafunc.fixturenames:
        return
    profile = selected_profile(metafunc.config)
    modes = [m.name for m in profile.delivery if m.unload_safe]
    params = modes or [pytest.param("", marks=pytest.mark.skip(
        reason=f"profile {profile.name} declares no unload-safe delivery mode ([delivery.modes.X] unload_safe); "
               "tests/repro and docs/signup-loss.md measure the loss of each of its modes instead"))]
    metafunc.parametrize("unload_safe_mode", params)
