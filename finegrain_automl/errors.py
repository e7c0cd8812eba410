"""Errors that reach the user as one line.

Every error a user can cause (a bad file, a bad space, an unknown task) is an
:class:`FgAutomlError`. The CLI prints its message on one line and exits with
code 2; nothing else is caught, so a real bug still shows its traceback.
Messages state the rule, the value, and a fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DataError", "DataNote", "FgAutomlError", "PluginError", "UsageError", "collect_notes"]


class FgAutomlError(Exception):
    """Base class of the errors a user can cause and fix."""


class UsageError(FgAutomlError, ValueError):
    """A command-line option or argument is invalid."""


class DataError(FgAutomlError, ValueError):
    """A data file or data set cannot be used for the task."""


class PluginError(FgAutomlError):
    """A plugin contributes something invalid (duplicate task, unknown key...)."""


class DataNote(UserWarning):
    """Something a reader or a model changed in the user's data and the user
    should know, without it being an error (duplicated rows removed, users the
    model does not know given a fallback). Raise it with
    ``warnings.warn(DataNote("12 duplicated interactions were removed."))``;
    the CLI prints each note on one line and ``search`` records them in
    ``run.json`` (``data.notes``)."""


@contextmanager
def collect_notes() -> Iterator[list[str]]:
    """Collects the :class:`DataNote` messages raised inside the block, in
    order, without duplicates; other warnings pass through unchanged."""
    notes: list[str] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataNote)
            yield notes
    finally:
        for warning in caught:  # after the block: re-raised warnings must not be recorded again
            if issubclass(warning.category, DataNote):
                message = " ".join(str(warning.message).split())
                if message not in notes:
                    notes.append(message)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
