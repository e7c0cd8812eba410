"""Preparing a search: everything is checked before Ray starts, and nothing is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from finegrain_automl.api import DataOptions, check_output, make_payload, prepare_search, write_predictions
from finegrain_automl.errors import UsageError
from finegrain_automl.hookspecs import hookimpl
from finegrain_automl.plugins import make_registry
from finegrain_automl.search import SearchSettings
from finegrain_automl.testing import ToyTask, make_toy_data


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


class _NotingToyTask(ToyTask):
    """The toy task with a reader note and one user per row pair: a spread split."""

    def load_default(self, *, seed, options=None):
        import warnings

        import numpy as np

        from finegrain_automl import DataNote

        data = super().load_default(seed=seed)
        warnings.warn(DataNote("2 duplicated rows were removed."), stacklevel=2)
        groups = np.arange(len(data)) // 10  # groups of ten rows ...
        groups[:3] = 1000  # ... and one of three, too few to spread over a test split and 5 folds
        return dataclasses.replace(data, groups=groups, info={**data.info, "group_column": "user"})

    def split_strategy(self, data):
        from finegrain_automl.cv import SplitStrategy

        return SplitStrategy(kind="spread", small_groups="train")


def test_reader_notes_and_train_only_groups_are_noted_and_recorded() -> None:
    class Plugin:
        @hookimpl
        def fg_automl_tasks(self):
            return [_NotingToyTask()]

    registry = make_registry(plugins=[("toy", Plugin())], autoload=False)
    prepared = prepare_search(registry, task_name="toy", settings=SearchSettings(folds=5), data=DataOptions())
    assert prepared.notes == (
        "2 duplicated rows were removed.",
        "1 user value with fewer than 6 rows (3 rows) is only trained on, never scored.",
    )
    assert len(prepared.splits.train_only) == 3


def test_the_default_prediction_table_is_row_label_probability() -> None:
    import pandas as pd

    predictions = pd.DataFrame({"label": [1, 0], "prediction": [1, 0], "probability": [0.9, 0.2]})
    table = ToyTask().prediction_table(predictions)
    assert list(table.columns) == ["row", "label", "probability"] and list(table["row"]) == [0, 1]


def test_write_predictions_writes_the_table_as_csv_and_says_where(
    registry, toy_run, tmp_path: Path, capsys
) -> None:
    import numpy as np
    import pandas as pd

    run_dir = toy_run("toy")
    rows = make_toy_data(n_rows=25, seed=9).drop(columns=["label"])
    rows.to_csv(tmp_path / "new.csv", index=False)
    output = tmp_path / "out" / "predictions.csv"  # its folder is made
    lines = write_predictions(registry, run_dir=run_dir, data_path=tmp_path / "new.csv", output=output)
    assert lines == [f"Wrote 25 rows of predictions (CSV) to {output}"]
    table = pd.read_csv(output)
    assert list(table.columns) == ["row", "label", "probability"] and list(table["row"]) == list(range(25))
    np.testing.assert_allclose(table["probability"], 1 / (1 + np.exp(-rows["a"])), rtol=1e-5)
    assert (table["label"] == (rows["a"] >= 0).astype(int)).all()
    assert capsys.readouterr().out == ""  # nothing on stdout when there is a file

    assert write_predictions(registry, run_dir=run_dir, data_path=tmp_path / "new.csv", output=None) == []
    assert capsys.readouterr().out == output.read_text()  # the same CSV, on stdout
