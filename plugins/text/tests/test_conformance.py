"""The core's conformance suite, run against the `text` task."""

from finegrain_automl.testing import TaskConformance


class TestTextConformance(TaskConformance):
    task_name = "text"
