"""User errors: one class tree, so the CLI can turn every one into a line and exit code 2."""

from __future__ import annotations

from finegrain_automl import DataError, FgAutomlError, PluginError, SpaceError, UsageError
from finegrain_automl.api import NoCompletedTrialError, SearchInterrupted


def test_every_user_error_is_an_fg_automl_error() -> None:
    for error in (DataError, PluginError, UsageError, SpaceError, NoCompletedTrialError, SearchInterrupted):
        assert issubclass(error, FgAutomlError), error
    assert issubclass(UsageError, ValueError) and issubclass(DataError, ValueError)


def test_collect_notes_keeps_data_notes_in_order_and_lets_other_warnings_through() -> None:
    import warnings

    import pytest

    from finegrain_automl import DataNote
    from finegrain_automl.errors import collect_notes

    def read() -> None:
        warnings.warn(DataNote("12 duplicated rows were  removed."), stacklevel=1)
        warnings.warn("unrelated", RuntimeWarning, stacklevel=1)
        warnings.warn(DataNote("3 users are unknown."), stacklevel=1)
        warnings.warn(DataNote("12 duplicated rows were removed."), stacklevel=1)  # said once

    with pytest.warns(RuntimeWarning, match="unrelated"), collect_notes() as notes:
        read()
    assert notes == ["12 duplicated rows were removed.", "3 users are unknown."]
