"""Helpers for plugin authors and the project's own tests.

:class:`ToyTask` is the smallest complete task: copy it to start a plugin.
"""

from finegrain_automl.testing._toy import ToyTask, make_toy_data

__all__ = ["ToyTask", "make_toy_data"]
