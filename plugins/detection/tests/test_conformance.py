"""The core's conformance suite, run against the `detection` task."""

from finegrain_automl.testing import TaskConformance


class TestDetectionConformance(TaskConformance):
    task_name = "detection"
    sample_rows = 60  # images of the built-in data: one epoch of each family on 48 of them
