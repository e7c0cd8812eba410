"""The core's conformance suite for the tasks this plugin extends, with its family installed.

Each suite fits every family of the task's default space, which now holds
``gated_grn``, and checks its predictions, metrics and saved state.
"""

from __future__ import annotations

from typing import Any

from fg_automl_fraud_gated import FAMILY_NAME, TASKS

from finegrain_automl.plugins import Registry
from finegrain_automl.testing import TaskConformance

#: The entry-point name of this plugin (pyproject.toml).
PLUGIN = "fraud_gated"


class _WithGated(TaskConformance):
    def test_the_plugin_loads_and_adds_its_family(self, registry: Registry) -> None:
        info = registry.plugins[PLUGIN]
        assert info.errors == [] and info.api == "1.0"
        assert sorted(info.families) == sorted(f"{task}:{FAMILY_NAME}" for task in TASKS)

    def test_the_default_space_searches_the_family(self, registry: Registry) -> None:
        assert FAMILY_NAME in registry.default_space(self.task_name).branches("model")

    def test_the_family_was_fitted_by_the_suite(self, fitted: dict[str, Any]) -> None:
        model, _ = fitted[FAMILY_NAME]
        assert model.family_name == FAMILY_NAME


class TestFraudWithGated(_WithGated):
    task_name = "fraud"


class TestDiseaseRiskWithGated(_WithGated):
    task_name = "disease_risk"
