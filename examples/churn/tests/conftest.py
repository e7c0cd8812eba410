"""Quiet, loopback-only Ray for the churn plugin's tests; the plugin must be installed."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

import pytest

# Before anything imports ray: no usage statistics, local instances on 127.0.0.1.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def pytest_configure(config: pytest.Config) -> None:
    """Stops at once when the package is not installed: the core finds tasks
    through installed entry points, so a source checkout alone is not enough."""
    try:
        version("fg-automl-churn")
    except PackageNotFoundError:
        raise pytest.UsageError(
            "these tests need the fg-automl-churn distribution installed (the core finds the churn task "
            "through its entry point), but this environment has none; run `pip install -e examples/churn` "
            "first, then `pytest` from examples/churn."
        ) from None
