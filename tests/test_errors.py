"""User errors: one class tree, so the CLI can turn every one into a line and exit code 2."""

from __future__ import annotations

from finegrain_automl import DataError, FgAutomlError, PluginError, SpaceError, UsageError
from finegrain_automl.api import NoCompletedTrialError, SearchInterrupted


def test_every_user_error_is_an_fg_automl_error() -> None:
    for error in (DataError, PluginError, UsageError, SpaceError, NoCompletedTrialError, SearchInterrupted):
        assert issubclass(error, FgAutomlError), error
    assert issubclass(UsageError, ValueError) and issubclass(DataError, ValueError)
