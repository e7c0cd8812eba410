"""Errors that reach the user as one line.

Every error a user can cause (a bad file, a bad space, an unknown task) is an
:class:`FgAutomlError`. The CLI prints its message on one line and exits with
code 2; nothing else is caught, so a real bug still shows its traceback.
Messages state the rule, the value, and a fix.
"""

from __future__ import annotations

__all__ = ["DataError", "FgAutomlError", "PluginError", "UsageError"]


class FgAutomlError(Exception):
    """Base class of the errors a user can cause and fix."""


class UsageError(FgAutomlError, ValueError):
    """A command-line option or argument is invalid."""


class DataError(FgAutomlError, ValueError):
    """A data file or data set cannot be used for the task."""


class PluginError(FgAutomlError):
    """A plugin contributes something invalid (duplicate task, unknown key...)."""
