"""Shared helpers for the conformance suite: only public analytics.js API and profile declarations."""

from __future__ import annotations

import pytest

from harness.sites.snippet import SnippetProfile
from harness.testing.pytest_plugin import session_profiles


@pytest.fixture
def desktop(new_device):
    """One person's desktop browser."""
    return new_device("desktop", name="desktop")


@pytest.fixture
def phone(new_device):
    """The same person's phone (Playwright iPhone emulation)."""
    return new_device("mobile", name="phone")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``unload_safe_mode``: each delivery mode a profile of the session declares unload-safe (none: one skip).

    With several --snippet profiles the modes are those of any of them; the fixture skips, saying why, a
    mode the test's own profile does not declare.
    """
    if "unload_safe_mode" not in metafunc.fixturenames:
        return
    profiles = session_profiles(metafunc.config)
    modes = list(dict.fromkeys(m.name for p in profiles for m in p.delivery if m.unload_safe))
    metafunc.parametrize("unload_safe_mode", modes or [""], indirect=True)


@pytest.fixture
def unload_safe_mode(request: pytest.FixtureRequest, harness_profile: SnippetProfile) -> str:
    """A delivery mode this test's profile declares unload-safe; a skip naming the profile when it does not."""
    mode: str = request.param
    declared = [m.name for m in harness_profile.delivery if m.unload_safe]
    if not declared:
        pytest.skip(f"profile {harness_profile.name} declares no unload-safe delivery mode "
                    "([delivery.modes.X] unload_safe); tests/repro and docs/signup-loss.md measure the loss of "
                    "each of its modes instead")
    if mode not in declared:
        pytest.skip(f"profile {harness_profile.name} does not declare delivery mode {mode!r} unload-safe")
    return mode
