"""Shared test set-up: quiet, loopback-only Ray; no plugin autoload surprises."""

from __future__ import annotations

import os

# Before anything imports ray: no usage statistics, local instances on 127.0.0.1.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
