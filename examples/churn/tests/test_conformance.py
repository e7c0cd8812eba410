"""The core's conformance suite, run against the `churn` task."""

from finegrain_automl.testing import TaskConformance


class TestChurnConformance(TaskConformance):
    task_name = "churn"
