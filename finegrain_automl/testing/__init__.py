"""Helpers for plugin authors and the project's own tests.

:class:`ToyTask` is the smallest complete task: copy it to start a plugin.
:class:`TaskConformance` is the suite a plugin's tests subclass to check it
against the core's contract.
"""

from finegrain_automl.testing._toy import TOY_CLI, ToyTask, make_toy_data
from finegrain_automl.testing.conformance import TaskConformance

__all__ = ["TOY_CLI", "TaskConformance", "ToyTask", "make_toy_data"]
