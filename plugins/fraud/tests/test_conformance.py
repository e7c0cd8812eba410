"""The core's conformance suite, run against the `fraud` task."""

from finegrain_automl.testing import TaskConformance


class TestFraudConformance(TaskConformance):
    task_name = "fraud"
