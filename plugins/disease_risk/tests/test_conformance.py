"""The core's conformance suite, run against the `disease_risk` task."""

from finegrain_automl.testing import TaskConformance


class TestDiseaseRiskConformance(TaskConformance):
    task_name = "disease_risk"
