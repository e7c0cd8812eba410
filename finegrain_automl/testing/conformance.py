"""A conformance suite that task-plugin authors run against their plugin.

Subclass :class:`TaskConformance` in your plugin's tests and name your task;
pytest then checks what every task must do for the core to search it::

    from finegrain_automl.testing import TaskConformance

    class TestChurnConformance(TaskConformance):
        task_name = "churn"

The checks use your task's own built-in data (a small stratified sample) and
default space, with one training epoch, so they take seconds.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
import pytest

from finegrain_automl.cv import make_splits
from finegrain_automl.data import Dataset
from finegrain_automl.plugins import Registry, make_registry
from finegrain_automl.task import MODEL_KEY, FitContext, Task, check_space, check_space_values

__all__ = ["TaskConformance"]


class TaskConformance:
    """Checks one task plugin against the core's contract.

    Class attributes:
        task_name: The task to check.
        sample_rows: Rows of the built-in data the fits use.
    """

    task_name: ClassVar[str]
    sample_rows: ClassVar[int] = 300

    def make_registry(self) -> Registry:
        """The registry holding the task; override to register plugins by hand."""
        return make_registry()

    @pytest.fixture(scope="class")
    def registry(self) -> Registry:
        return self.make_registry()

    @pytest.fixture(scope="class")
    def task(self, registry: Registry) -> Task:
        return registry.task(self.task_name)

    @pytest.fixture(scope="class")
    def sample(self, task: Task) -> Dataset:
        """About :attr:`sample_rows` rows of the built-in data: stratified by
        the target for a classifier; whole groups for a ``spread`` split (a
        recommender's users keep all their rows)."""
        from sklearn.model_selection import train_test_split

        data = task.load_default(seed=0)
        if len(data) <= self.sample_rows:
            return data
        if task.split_strategy(data).kind == "spread":
            values, first = np.unique(data.groups, return_index=True)
            shuffled = np.random.default_rng(0).permutation(values[np.argsort(first)])
            counts = dict(zip(*np.unique(data.groups, return_counts=True), strict=True))
            sizes = np.cumsum([counts[value] for value in shuffled])
            chosen = shuffled[: int(np.searchsorted(sizes, self.sample_rows)) + 1]
            return data.take(np.flatnonzero(np.isin(data.groups, chosen)))
        stratify = data.target if task.stratified else None
        rows, _ = train_test_split(
            np.arange(len(data)), train_size=self.sample_rows, stratify=stratify, random_state=0
        )
        return data.take(np.sort(rows))

    def test_plugin_loads_without_errors(self, registry: Registry) -> None:
        owner = next(p for p in registry.plugins.values() if self.task_name in p.tasks)
        assert owner.errors == [], owner.errors

    def test_default_space_is_valid_for_the_task(self, registry: Registry, task: Task) -> None:
        families = registry.families[self.task_name]
        space = registry.default_space(self.task_name)  # with families other plugins added
        check_space(space, task=task, families=families)
        check_space_values(space, task=task, families=families)
        assert set(space.branches(MODEL_KEY)) <= set(families)

    def test_starting_points_fit_the_default_space_unchanged(self, task: Task) -> None:
        # A key the default space drops (a typo, a value out of range) would be sampled silently instead.
        space = task.default_space()
        for point in task.starting_points():
            dropped = {k: v for k, v in point.items() if k not in space.starting_point(point)}
            assert not dropped, f"starting point {point} has keys the default space cannot sample: {dropped}"

    def test_built_in_data_suits_the_split_strategy(self, task: Task, sample: Dataset) -> None:
        """A classifier's data have a target of two classes or more; a grouped
        or spread split's data have groups."""
        assert len(sample) > 0
        if task.stratified:
            assert sample.target is not None and len(sample) == len(sample.target)
            assert len(np.unique(sample.target)) >= 2
        if task.split_strategy(sample).kind != "rows":
            assert sample.groups is not None and len(sample.groups) == len(sample)

    @pytest.fixture(scope="class")
    def fitted(self, registry: Registry, task: Task, sample: Dataset) -> dict[str, Any]:
        """One fit per model family of the default space, on 80 % of the sample."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        families = registry.families[self.task_name]
        space = registry.default_space(self.task_name)
        strategy = task.split_strategy(sample)
        if strategy.kind == "spread":  # every user on both sides, as the search splits them
            train_rows, valid_rows = make_splits(sample, n_folds=5, seed=0, strategy=strategy).folds[0]
        else:  # 80 % of the rows (a stratified split could lack rare positives in so small a sample)
            order = np.random.default_rng(0).permutation(len(sample))
            train_rows, valid_rows = order[: int(0.8 * len(sample))], order[int(0.8 * len(sample)) :]
        train, valid = sample.take(train_rows), sample.take(valid_rows)
        fitted = {}
        for name in space.branches(MODEL_KEY):
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
            study.enqueue_trial({MODEL_KEY: name})
            config = space.sample(study.ask())
            prefix = f"{MODEL_KEY}.{name}."
            params = {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}
            model = task.fit(
                config=config,
                family=families[name],
                family_params=params,
                train=train,
                context=FitContext(seed=0, max_epochs_cap=1),
            )
            fitted[name] = (model, valid)
        return fitted

    def test_every_family_fits_and_predicts(self, fitted: dict[str, Any]) -> None:
        for name, (model, valid) in fitted.items():
            predictions = model.predict(valid.features)
            assert len(predictions) > 0, name
            if model.classes:  # a classifier: one row per input row, a label and its probability
                assert len(predictions) == len(valid), name
                assert {"label", "probability"} <= set(predictions.columns), name
                assert predictions["probability"].between(0, 1).all(), name

    def test_prediction_table_is_what_predict_writes(self, task: Task, fitted: dict[str, Any]) -> None:
        for name, (model, valid) in fitted.items():
            table = task.prediction_table(model.predict(valid.features))
            assert len(table.columns) > 0 and table.columns.is_unique, name
            if model.classes:  # one row per input row; other tasks may find nothing (an untrained detector)
                assert len(table) == len(valid), name
            stream = io.StringIO()
            task.write_predictions(table, stream)
            assert stream.getvalue().strip(), f"{name}: write_predictions wrote nothing"

    def test_metrics_hold_an_f1_between_0_and_1(self, task: Task, fitted: dict[str, Any]) -> None:
        for name, (model, valid) in fitted.items():
            metrics = task.evaluate(model, valid)
            assert 0.0 <= metrics["f1"] <= 1.0, name
            for metric in task.leaderboard_metrics:
                assert metric in metrics, f"{name}: leaderboard metric {metric!r} missing from metrics()"

    def test_saved_state_loads_with_weights_only_and_predicts_the_same(
        self, registry: Registry, task: Task, fitted: dict[str, Any]
    ) -> None:
        import pandas as pd
        import torch

        for name, (model, valid) in fitted.items():
            buffer = io.BytesIO()
            torch.save(model.to_state(), buffer)
            buffer.seek(0)
            state = torch.load(buffer, weights_only=True)
            restored = task.load_model(state, families=registry.families[self.task_name])
            before, after = model.predict(valid.features), restored.predict(valid.features)
            pd.testing.assert_frame_equal(after, before, check_exact=False, rtol=1e-5, atol=1e-6, obj=name)
            assert task.evaluate(restored, valid) == pytest.approx(task.evaluate(model, valid), abs=1e-6, nan_ok=True), name
