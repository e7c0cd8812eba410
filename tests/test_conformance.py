"""The conformance suite itself, run against the toy task (registered by hand)."""

from finegrain_automl import hookimpl
from finegrain_automl.plugins import Registry, make_registry
from finegrain_automl.testing import TaskConformance, ToyTask


class _ToyPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


class TestToyConformance(TaskConformance):
    task_name = "toy"

    def make_registry(self) -> Registry:
        return make_registry(plugins=[("toy", _ToyPlugin())], autoload=False)
