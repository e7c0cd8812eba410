"""Search settings resolved before Ray starts: repeated folds and ASHA's first rung."""

from __future__ import annotations

import pytest

from finegrain_automl.api import DataOptions, prepare_search
from finegrain_automl.errors import UsageError
from finegrain_automl.plugins import make_registry
from finegrain_automl.search import SearchSettings, first_rung
from finegrain_automl.testing import ToyTask


class _ToyPlugin:
    from finegrain_automl import hookimpl

    @hookimpl
    def fg_automl_tasks(self) -> list:
        return [ToyTask()]


@pytest.fixture
def registry():
    return make_registry(plugins=[("toy", _ToyPlugin())], autoload=False)


def test_total_folds_and_first_rung() -> None:
    assert SearchSettings(folds=5).total_folds == 5  # repeats not resolved yet: one pass
    assert SearchSettings(folds=5, repeats=3).total_folds == 15
    assert first_rung(SearchSettings(folds=5, repeats=1)) == 3  # ASHA may stop after half the folds
    assert first_rung(SearchSettings(folds=2, repeats=1)) == 1
    assert first_rung(SearchSettings(folds=4, repeats=3)) == 4  # ... or after one whole pass


def test_repeats_default_from_the_data_size(registry) -> None:
    # The toy data have 200 rows (160 development rows): small, so three passes.
    prepared = prepare_search(registry, task_name="toy", settings=SearchSettings(folds=4), data=DataOptions())
    assert prepared.settings.repeats == 3
    assert len(prepared.splits.folds) == 12 and prepared.splits.repeats == 3


class _FewFoldsToyTask(ToyTask):
    """The toy task with costly fits: it asks for 3 folds and one pass unless told otherwise."""

    name = "toy_few_folds"

    def split_strategy(self, data):
        from finegrain_automl.cv import SplitStrategy

        return SplitStrategy(folds=3, repeats=1)


@pytest.fixture
def few_folds_registry():
    from finegrain_automl import hookimpl

    class Plugin:
        @hookimpl
        def fg_automl_tasks(self) -> list:
            return [_FewFoldsToyTask()]

    return make_registry(plugins=[("few", Plugin())], autoload=False)


def test_folds_are_left_to_be_resolved_when_the_search_is_prepared(registry) -> None:
    assert SearchSettings().folds is None and SearchSettings().repeats is None
    assert SearchSettings().total_folds == 5  # the default folds, one pass, until prepared
    prepared = prepare_search(registry, task_name="toy", settings=SearchSettings(), data=DataOptions())
    # The default folds; 160 development rows: three passes.
    assert (prepared.settings.folds, prepared.settings.repeats) == (5, 3)
    assert len(prepared.splits.folds) == 15 and prepared.settings.total_folds == 15


def test_the_tasks_folds_and_repeats_are_defaults_the_settings_override(few_folds_registry) -> None:
    prepared = prepare_search(few_folds_registry, task_name="toy_few_folds", settings=SearchSettings(),
                              data=DataOptions())
    assert (prepared.settings.folds, prepared.settings.repeats) == (3, 1)
    assert len(prepared.splits.folds) == 3 and prepared.settings.to_dict()["folds"] == 3
    given = prepare_search(few_folds_registry, task_name="toy_few_folds",
                           settings=SearchSettings(folds=2, repeats=2), data=DataOptions())
    assert (given.settings.folds, given.settings.repeats, len(given.splits.folds)) == (2, 2, 4)
    only_folds = prepare_search(few_folds_registry, task_name="toy_few_folds",
                                settings=SearchSettings(folds=4), data=DataOptions())
    assert (only_folds.settings.folds, only_folds.settings.repeats) == (4, 1)  # the task's repeats stay


def test_explicit_repeats_are_kept(registry) -> None:
    prepared = prepare_search(
        registry, task_name="toy", settings=SearchSettings(folds=4, repeats=1), data=DataOptions()
    )
    assert prepared.settings.repeats == 1 and len(prepared.splits.folds) == 4


def test_repeats_below_one_is_a_usage_error(registry) -> None:
    with pytest.raises(UsageError, match="--repeats must be at least 1, got 0"):
        prepare_search(registry, task_name="toy", settings=SearchSettings(repeats=0), data=DataOptions())


def test_the_tasks_starting_points_are_prepared_in_space_order(registry) -> None:
    prepared = prepare_search(
        registry, task_name="toy", settings=SearchSettings(trials=1, repeats=1), data=DataOptions()
    )
    assert prepared.starting_points == ({"lr": 0.05, "model": "mlp", "model.mlp.hidden": 8},)


def test_searchers_and_schedulers_are_one_module_each_and_seeded() -> None:
    import optuna

    from finegrain_automl.search import schedulers, searchers

    assert list(searchers.available()) == ["cmaes", "gp", "random", "tpe"]
    assert list(schedulers.available()) == ["asha", "fifo", "hyperband", "median"]
    kinds = {name: type(module.make_sampler(seed=3, trials=20, concurrency=2)).__name__
             for name, module in searchers.available().items()}
    assert kinds == {"cmaes": "CmaEsSampler", "gp": "GPSampler", "random": "RandomSampler", "tpe": "TPESampler"}
    for module in searchers.available().values():  # the same seed draws the same first points
        draws = []
        for _ in range(2):
            study = optuna.create_study(sampler=module.make_sampler(seed=3, trials=20, concurrency=1))
            study.optimize(lambda t: t.suggest_float("x", 0, 1) + (t.suggest_categorical("c", ["a", "b"]) == "a"),
                           n_trials=4)
            draws.append([t.params for t in study.trials])
        assert draws[0] == draws[1], module.NAME
    made = {name: type(module.make_scheduler(folds=5, first_rung=3)).__name__
            for name, module in schedulers.available().items()}
    assert made == {"asha": "AsyncHyperBandScheduler", "fifo": "FIFOScheduler",
                    "hyperband": "HyperBandScheduler", "median": "MedianStoppingRule"}


def test_no_early_stopping_means_the_fifo_scheduler() -> None:
    assert SearchSettings().effective_scheduler == "asha"
    assert SearchSettings(scheduler="median").effective_scheduler == "median"
    assert SearchSettings(scheduler="median", early_stopping=False).effective_scheduler == "fifo"
