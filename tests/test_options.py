"""Task-declared data options: parsing, checking against the declaration, the CLI and predict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finegrain_automl import cli
from finegrain_automl.api import DataOptions, prepare_search
from finegrain_automl.errors import UsageError
from finegrain_automl.hookspecs import hookimpl
from finegrain_automl.options import DataOption, parse_option_tokens, resolve_options
from finegrain_automl.plugins import make_registry
from finegrain_automl.search import SearchSettings
from finegrain_automl.testing import ToyTask, make_toy_data

runner = CliRunner()
DECLARED = (
    DataOption(name="user_column", help="User ids.", required=True),
    DataOption(name="min_rating", type=float, default=3.5, help="Ratings below are dropped.", predict=True),
    DataOption(name="k", type=int, default=10),
    DataOption(name="implicit", type=bool, default=False),
)


def _resolve(given, **kwargs):
    kwargs = {"task_name": "rec", "command": "search", "with_data": True} | kwargs
    return resolve_options(DECLARED, given, **kwargs)


def test_tokens_in_every_spelling() -> None:
    tokens = ["--user-column", "uid", "--min-rating=4", "--implicit", "--no-shuffle", "--k", "-5"]
    assert parse_option_tokens(tokens) == {
        "user_column": "uid", "min_rating": "4", "implicit": True, "shuffle": False, "k": "-5"
    }
    assert parse_option_tokens(["--flag"]) == {"flag": True}  # a flag at the end
    with pytest.raises(UsageError, match="Unexpected argument 'stray'"):
        parse_option_tokens(["stray"])
    with pytest.raises(UsageError, match="--k is given twice"):
        parse_option_tokens(["--k", "1", "--k=2"])


def test_values_are_typed_and_defaults_filled_in() -> None:
    assert _resolve({"user_column": "uid", "min_rating": "4", "implicit": "yes"}) == {
        "user_column": "uid", "min_rating": 4.0, "k": 10, "implicit": True
    }
    assert _resolve({"user_column": "uid", "implicit": False})["implicit"] is False


@pytest.mark.parametrize(
    ("given", "fragments"),
    [
        ({"user_column": "u", "k": "ten"}, ["--k of task 'rec' takes a whole number, but got 'ten'", "--k INTEGER"]),
        ({"user_column": "u", "min_rating": "high"}, ["takes a number", "--min-rating NUMBER"]),
        ({"user_column": "u", "implicit": "maybe"}, ["takes a flag", "--implicit/--no-implicit"]),
        ({"user_column": True}, ["--user-column of task 'rec' needs a value", "--user-column TEXT"]),
        ({}, ["Task 'rec' needs --user-column TEXT with --data (User ids.)"]),
        ({"user_column": "u", "min_ratng": "4"}, ["--min-ratng is not an option of fg-automl search for task 'rec'",
                                                 "Did you mean --min-rating?", "accepts --user-column TEXT, "
                                                 "--min-rating NUMBER, --k INTEGER, --implicit/--no-implicit"]),
    ],
)
def test_bad_options_name_the_problem_and_what_is_accepted(given, fragments) -> None:
    with pytest.raises(UsageError) as error:
        _resolve(given)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_without_data_only_builtin_options_apply_and_none_is_required() -> None:
    assert _resolve({}, with_data=False) == {"min_rating": 3.5, "k": 10, "implicit": False}
    with pytest.raises(UsageError, match="--k only applies with --data FILE"):
        _resolve({"k": "5"}, with_data=False)
    builtin = (*DECLARED[:2], DataOption(name="k", type=int, default=10, builtin=True))
    assert resolve_options(builtin, {"k": "5"}, task_name="rec", command="search", with_data=False) == {
        "min_rating": 3.5, "k": 5
    }
    with pytest.raises(UsageError, match="--min-rating only applies with --data FILE"):
        resolve_options(builtin, {"k": "5", "min_rating": "4"}, task_name="rec", command="search", with_data=False)


def test_builtin_options_reach_load_default_and_the_record(registry) -> None:
    prepared = prepare_search(registry, task_name="toy", settings=SearchSettings(folds=2),
                              data=DataOptions(options={"max_rows": "120"}))
    assert len(prepared.data) == 120
    assert prepared.data_options == {"sep": ",", "max_rows": 120}


def test_predict_reuses_recorded_values_and_takes_only_predict_options() -> None:
    recorded = {"user_column": "uid", "min_rating": 4.0, "k": 20, "implicit": True}
    kwargs = {"command": "predict", "recorded": recorded}
    assert _resolve({}, **kwargs) == recorded
    assert _resolve({"min_rating": "2"}, **kwargs)["min_rating"] == 2.0
    with pytest.raises(UsageError, match="--k is not an option of fg-automl predict.*accepts --min-rating NUMBER;"):
        _resolve({"k": "5"}, **kwargs)


def test_suggests_the_command_own_options_for_a_typo() -> None:
    with pytest.raises(UsageError, match="Did you mean --trials?"):
        _resolve({"trails": "3"}, other_options=["trials", "folds"])


def test_a_declaration_must_be_well_formed() -> None:
    with pytest.raises(ValueError, match="lower-case Python identifier"):
        DataOption(name="User-Column")
    with pytest.raises(ValueError, match="use one of str, int, float, bool"):
        DataOption(name="when", type=list)
    with pytest.raises(ValueError, match="'draw' applies to neither search nor predict"):
        DataOption(name="draw", search=False)
    with pytest.raises(ValueError, match="'draw' is required with --data of search but search=False"):
        DataOption(name="draw", predict=True, search=False, required=True)
    assert not DataOption(name="draw", predict=True, search=False).search  # predict alone is well formed


PREDICT_ONLY = (*DECLARED, DataOption(name="draw", type=int, default=3, predict=True, search=False))


@pytest.mark.parametrize("with_data", [True, False])
def test_search_refuses_a_predict_only_option_in_one_sentence(with_data: bool) -> None:
    given = {"user_column": "uid", "draw": "5"} if with_data else {"draw": "5"}
    with pytest.raises(UsageError) as error:
        resolve_options(PREDICT_ONLY, given, task_name="rec", command="search", with_data=with_data)
    assert str(error.value) == ("--draw of task 'rec' applies to fg-automl predict only; remove it from "
                                "fg-automl search.")


def test_search_never_fills_a_predict_only_default_and_predict_parses_it() -> None:
    searched = resolve_options(PREDICT_ONLY, {"user_column": "uid"}, task_name="rec", command="search",
                               with_data=True)
    assert "draw" not in searched and searched["user_column"] == "uid"
    assert resolve_options(PREDICT_ONLY, {}, task_name="rec", command="search", with_data=False) == {
        "min_rating": 3.5, "k": 10, "implicit": False
    }
    kwargs = {"task_name": "rec", "command": "predict", "with_data": True, "recorded": searched}
    assert resolve_options(PREDICT_ONLY, {"draw": "7"}, **kwargs)["draw"] == 7  # typed
    assert resolve_options(PREDICT_ONLY, {}, **kwargs)["draw"] == 3  # the declared default
    with pytest.raises(UsageError, match="--draw of task 'rec' takes a whole number"):
        resolve_options(PREDICT_ONLY, {"draw": "many"}, **kwargs)


class _ToyPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):
    registry = make_registry(plugins=[("toy", _ToyPlugin())], autoload=False)
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    return registry


def test_prepare_search_passes_typed_options_to_the_task_and_records_them(registry, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    make_toy_data(n_rows=120, seed=1).to_csv(path, sep=";", index=False)
    settings = SearchSettings(trials=1, folds=2, repeats=1, dashboard=False)
    prepared = prepare_search(registry, task_name="toy", settings=settings,
                              data=DataOptions(path=path, options={"sep": ";", "max_rows": "100"}))
    assert prepared.data_options == {"sep": ";", "max_rows": 100}
    assert len(prepared.data) == 100 and list(prepared.data.features.columns) == ["a", "b"]  # split on ";"


def test_cli_checks_task_options_before_anything_runs(registry, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    make_toy_data(n_rows=50, seed=1).to_csv(path, index=False)
    for args, fragment in [
        (["--data", str(path), "--max-rows", "many"], "--max-rows of task 'toy' takes a whole number"),
        (["--data", str(path), "--colour", "red"], "--colour is not an option of fg-automl search for task 'toy'"),
        (["--sep", ";"], "--sep only applies with --data FILE"),
    ]:
        result = runner.invoke(cli.app, ["search", "--task", "toy", "--output", str(tmp_path / "runs"), *args])
        message = " ".join(result.output.split())
        assert result.exit_code == 2 and "Traceback" not in result.output and fragment in message, result.output
    assert not (tmp_path / "runs").exists()


def test_plugins_describes_a_task(registry) -> None:
    result = runner.invoke(cli.app, ["plugins", "--task", "toy"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for fragment in ("Ranked by: F1 of class 1", "--sep TEXT", "Field separator of --data.", "--max-rows INTEGER",
                     "those marked in 'built-in' also without it",
                     "linear", "mlp", "One hidden layer."):
        assert fragment in result.output, fragment


def test_the_cli_names_no_task_and_no_task_option() -> None:
    """Every task's options reach the CLI through its declaration only."""
    source = Path(cli.__file__).read_text()
    registry = make_registry()  # the installed plugins
    assert any(registry.task(name).data_options for name in registry.tasks)  # e.g. text's --text-column
    for name in registry.tasks:
        task = registry.task(name)
        assert f'"{name}"' not in source and f"'{name}'" not in source, name
        for option in task.data_options:  # as a whole flag, or as a quoted name (a one-letter --k is in every text)
            assert not re.search(rf"(?<![\w-]){re.escape(option.flag)}(?![\w-])", source), option.flag
            assert f'"{option.name}"' not in source and f"'{option.name}'" not in source, option.name
