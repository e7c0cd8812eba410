"""Quiet, loopback-only Ray for these tests, and a clear stop when the plugin is not installed.

The search test checks the plugin as a user gets it (found through its entry
point), so it must be installed in the Python environment that runs the tests.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, distribution

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

DISTRIBUTION = "fg-automl-trial-log"


def pytest_configure(config: pytest.Config) -> None:
    try:
        distribution(DISTRIBUTION)
    except PackageNotFoundError:
        raise pytest.UsageError(
            f"These tests need the {DISTRIBUTION} plugin installed, but the environment of {sys.executable} "
            "does not have it; run `pip install -e examples/trial-log` there first."
        ) from None
