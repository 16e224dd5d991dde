"""Shared helpers for the conformance suite: only public analytics.js API and profile key names."""

from __future__ import annotations

import pytest


@pytest.fixture
def desktop(new_device):
    """One person's desktop browser."""
    return new_device("desktop", name="desktop")


@pytest.fixture
def phone(new_device):
    """The same person's phone (Playwright iPhone emulation)."""
    return new_device("mobile", name="phone")
