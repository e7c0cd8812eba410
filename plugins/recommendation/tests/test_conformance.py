"""The core's conformance suite, run against the `recommendation` task."""

from finegrain_automl.testing import TaskConformance


class TestRecommendationConformance(TaskConformance):
    task_name = "recommendation"
    sample_rows = 1500  # whole users: about 60 of the built-in data's users
