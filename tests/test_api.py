"""Preparing a search: everything is checked before Ray starts, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from finegrain_automl.api import DataOptions, check_output, make_payload, prepare_search
from finegrain_automl.errors import UsageError
from finegrain_automl.hookspecs import hookimpl
from finegrain_automl.plugins import make_registry
from finegrain_automl.search import SearchSettings
from finegrain_automl.testing import ToyTask


class _ToyPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


@pytest.fixture(scope="module")
def registry():
    return make_registry(plugins=[("toy", _ToyPlugin())], autoload=False)


def test_a_prepared_search_holds_splits_space_points_and_the_resolved_repeats(registry) -> None:
    prepared = prepare_search(registry, task_name="toy", settings=SearchSettings(folds=3, repeats=None),
                              data=DataOptions())
    assert prepared.settings.repeats == 3  # small data: three passes of the folds
    assert len(prepared.splits.folds) == 9 and prepared.split == "stratified by the target"
    assert prepared.starting_points == ({"lr": 0.05, "model": "mlp", "model.mlp.hidden": 8},)
    assert prepared.data_options == {"sep": ","}  # the declared default; max_rows has none
    payload = make_payload(prepared)
    assert payload.folds == prepared.splits.folds and payload.seed == 0 and payload.task is prepared.task


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (SearchSettings(trials=0), "--trials must be at least 1"),
        (SearchSettings(ensemble=-2), "--ensemble cannot be negative"),
        (SearchSettings(searcher="hill-climbing"), "--searcher 'hill-climbing' is not a searcher"),
        (SearchSettings(scheduler="pbt"), "--scheduler 'pbt' is not a scheduler"),
        (SearchSettings(select="worst"), "--select 'worst' is not a selection rule"),
    ],
)
def test_bad_settings_are_usage_errors(registry, settings, fragment) -> None:
    with pytest.raises(UsageError, match=fragment):
        prepare_search(registry, task_name="toy", settings=settings, data=DataOptions())


def test_target_and_drop_need_a_data_file(registry) -> None:
    with pytest.raises(UsageError, match="--target only applies with --data FILE"):
        prepare_search(registry, task_name="toy", settings=SearchSettings(), data=DataOptions(target="y"))


def test_check_output(tmp_path: Path) -> None:
    assert check_output(tmp_path / "new" / "runs") == (tmp_path / "new" / "runs").resolve()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file; give a folder"):
        check_output(tmp_path / "file")
