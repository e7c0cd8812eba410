"""The command line: help, plugins, space show, and every bad input of a search.

Bad input must give one line naming the problem and the fix, exit code 2, no
traceback, and must not touch what earlier runs saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from finegrain_automl import hookimpl
from finegrain_automl.cli import app
from finegrain_automl.options import DataOption
from finegrain_automl.plugins import make_registry
from finegrain_automl.testing import ToyTask, make_toy_data

runner = CliRunner()


class _ToyPlugin:
    @hookimpl
    def fg_automl_tasks(self):
        return [ToyTask()]


@pytest.fixture(autouse=True)
def toy_registry(monkeypatch: pytest.MonkeyPatch):
    """The CLI sees the toy task only: core behaviour, tested without any installed plugin."""
    from finegrain_automl import cli

    registry = make_registry(plugins=[("toy", _ToyPlugin())], autoload=False)
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    return registry


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """An output folder that already holds an earlier run, which must survive."""
    earlier = tmp_path / "runs" / "toy-earlier"
    earlier.mkdir(parents=True)
    (earlier / "leaderboard.csv").write_text("rank,trial_id\n1,abc\n")
    return tmp_path / "runs"


def _search(output: Path, *args: str):
    return runner.invoke(app, ["search", "--output", str(output), "--no-dashboard", *args])


def _assert_clean_failure(result, output: Path, *fragments: str) -> None:
    message = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, f"expected one line, got: {result.output!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert sorted(p.name for p in output.iterdir()) == ["toy-earlier"]
    assert (output / "toy-earlier" / "leaderboard.csv").read_text() == "rank,trial_id\n1,abc\n"


def _toy_csv(path: Path) -> Path:
    make_toy_data(n_rows=60, seed=0).to_csv(path, index=False)
    return path


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("search", "predict", "plugins", "space"):
        assert command in result.output
    search_help = runner.invoke(app, ["search", "--help"])
    for option in ("--trials", "--time-budget", "--folds", "--repeats", "--seed", "--cpus-per-trial", "--gpus-per-trial",
                   "--concurrency", "--space", "--data", "--target", "--output", "--address", "--json"):
        assert option in search_help.output


def test_unknown_task(output: Path) -> None:
    _assert_clean_failure(_search(output, "--task", "tyo"), output, "Unknown task 'tyo'", "toy")


def test_missing_data_file(output: Path, tmp_path: Path) -> None:
    result = _search(output, "--task", "toy", "--data", str(tmp_path / "nope.csv"))
    _assert_clean_failure(result, output, "nope.csv", "does not exist")


def test_bad_option_value(output: Path) -> None:
    _assert_clean_failure(_search(output, "--task", "toy", "--folds", "1"), output, "--folds")
    _assert_clean_failure(
        _search(output, "--task", "toy", "--repeats", "0"), output, "--repeats must be at least 1", "--repeats 1"
    )
    _assert_clean_failure(_search(output, "--task", "toy", "--select", "top"), output, "--select 'top'", "one-se, best")
    _assert_clean_failure(
        _search(output, "--task", "toy", "--ensemble", "-1"), output, "--ensemble cannot be negative", "Use 0"
    )
    _assert_clean_failure(
        _search(output, "--task", "toy", "--searcher", "bayes"), output, "--searcher 'bayes' is not a searcher",
        "cmaes, gp, random, tpe",
    )
    _assert_clean_failure(
        _search(output, "--task", "toy", "--scheduler", "pbt"), output, "--scheduler 'pbt' is not a scheduler",
        "asha, fifo, hyperband, median",
    )


def test_drop_or_target_without_data(output: Path) -> None:
    _assert_clean_failure(_search(output, "--task", "toy", "--drop", "a"), output, "--drop", "--data")
    _assert_clean_failure(_search(output, "--task", "toy", "--target", "x"), output, "--target", "--data")


def test_ray_client_address_is_rejected_with_the_alternative(output: Path) -> None:
    result = _search(output, "--task", "toy", "--address", "ray://head:10001")
    _assert_clean_failure(result, output, "ray://", "host:port")


def test_output_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "runs.txt"
    target.write_text("keep me")
    result = runner.invoke(app, ["search", "--task", "toy", "--output", str(target), "--no-dashboard"])
    assert result.exit_code == 2 and "is a file" in result.output and "Traceback" not in result.output
    assert target.read_text() == "keep me"


def test_more_gpus_than_the_machine_has(output: Path) -> None:
    import torch

    too_many = str(torch.cuda.device_count() + 1)
    result = _search(output, "--task", "toy", "--gpus-per-trial", too_many, "--trials", "1")
    _assert_clean_failure(result, output, f"--gpus-per-trial {too_many}", "GPU")


def test_predict_on_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    data = _toy_csv(tmp_path / "tx.csv")
    result = runner.invoke(app, ["predict", "--run", str(tmp_path), "--data", str(data)])
    assert result.exit_code == 2 and "not a run directory" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("where", "fragments"),
    [
        ("folder", ("is a folder", "predictions.csv")),
        ("under_a_file", ("which is a file",)),
        ("the_input", ("is the --data file", "overwrite the input")),
    ],
)
def test_predict_output_that_would_fail_or_overwrite_the_input(tmp_path: Path, where: str, fragments) -> None:
    """Checked before anything is read: a clear error, and the input file is untouched."""
    data = _toy_csv(tmp_path / "tx.csv")
    before = data.read_bytes()
    (tmp_path / "out").mkdir()
    target = {"folder": tmp_path / "out", "under_a_file": data / "p.csv", "the_input": data}[where]
    result = runner.invoke(app, ["predict", "--run", str(tmp_path), "--data", str(data), "--output", str(target)])
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert all(fragment in message for fragment in fragments), message
    assert data.read_bytes() == before


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    completed = subprocess.run(
        [sys.executable, "-m", "finegrain_automl", "search", "--task", "nope", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().startswith("Error: Unknown task 'nope'")
    assert list(tmp_path.iterdir()) == []


def test_live_view_renders_counts_best_and_budget() -> None:
    from rich.console import Console

    from finegrain_automl.cli import _render_progress
    from finegrain_automl.search import SearchProgress, TrialRecord

    progress = SearchProgress(total=20, folds=5, time_budget_s=180)
    progress.phase = "searching"
    progress.running |= {"a", "b"}
    progress.completed, progress.pruned, progress.failed = 3, 4, 1
    progress.best = TrialRecord(trial_id="x", config={"model": "resmlp", "lr": 0.001234}, status="completed",
                                cv_f1=0.6543, cv_f1_std=0.0321)
    progress.dashboard_url = "http://127.0.0.1:8265"
    progress.dashboard_sign_in = "the token in /home/u/.ray/auth_token"
    console = Console(width=120, record=True)
    console.print(_render_progress(progress))
    text = console.export_text()
    assert "3 completed, 2 running, 4 pruned, 1 failed (of 20)" in text
    assert "0.6543 ± 0.0321" in text and "lr=0.00123" in text
    assert "search budget: 180 s left" in text and "http://127.0.0.1:8265" in text
    assert "Sign in with" in text and "the token in /home/u/.ray/auth_token" in text


@pytest.mark.parametrize("width", [100, 150, 220])
def test_final_summary_keeps_every_score_readable_and_marks_the_refit_trial(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from finegrain_automl import cli

    def row(rank: int, model: str, mean: float, trial: str) -> dict:
        config = {"model": model, "lr": 0.003, "batch_size": 32, "epochs": 30, "weight_decay": 0.01,
                  f"model.{model}.hidden": 64, f"model.{model}.dropout": 0.25, "imbalance": "focal",
                  "imbalance.focal.gamma": 1.69}
        return {"rank": rank, "trial_id": trial, "model": model, "cv_f1_mean": mean, "cv_f1_std": 0.0179,
                "cv_metrics": {"cv_auroc": 0.9915, "cv_brier": 0.0247}, "config": config}

    leaderboard = [row(1, "resmlp", 0.9614, "aaaa1111"), row(2, "linear", 0.9600, "bbbb2222")]
    summary = {
        "task": "disease_risk", "leaderboard_metrics": ["auroc", "brier"], "leaderboard": leaderboard,
        "trials": {"completed": 2, "pruned": 0, "failed": 0}, "elapsed_s": 12.0, "run_dir": "fg-runs/x",
        "best": {**leaderboard[1], "test_f1": 0.97, "test_metrics": {"f1": 0.97, "auroc": 0.99},
                 "selection": {"explanation": "rank 2: the simplest model family (linear) within one standard error"}},
        "final": {"kind": "single", "test_f1": 0.97, "test_metrics": {"f1": 0.97, "auroc": 0.99}},
    }
    console = Console(width=width, record=True)
    monkeypatch.setattr(cli, "out", console)
    cli._print_summary(summary)
    text = console.export_text()
    for cell in ("resmlp", "0.9614", "0.9600", "0.0179", "0.9915", "0.0247", "aaaa1111", "* 2"):
        assert cell in text, (width, cell)
    assert "rank 2: the simplest model family (linear)" in text


def test_final_summary_shows_a_refit_trial_ranked_below_the_top_ten(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from finegrain_automl import cli

    rows = [
        {"rank": rank, "trial_id": f"t{rank:02d}", "model": "linear" if rank == 14 else "resmlp",
         "cv_f1_mean": 0.97 - rank / 1000, "cv_f1_std": 0.02, "cv_metrics": {}, "config": {"model": "resmlp"}}
        for rank in (*range(1, 11), 14)
    ]
    summary = {
        "task": "disease_risk", "leaderboard_metrics": [], "leaderboard": rows, "elapsed_s": 1.0,
        "trials": {"completed": 20, "pruned": 0, "failed": 0}, "run_dir": "fg-runs/x",
        "best": {**rows[-1], "test_f1": 0.97, "test_metrics": {"f1": 0.97}, "selection": {"explanation": "rank 14"}},
        "final": {"kind": "single", "test_f1": 0.97, "test_metrics": {"f1": 0.97}},
    }
    console = Console(width=100, record=True)
    monkeypatch.setattr(cli, "out", console)
    cli._print_summary(summary)
    lines = console.export_text().splitlines()
    ten = next(i for i, line in enumerate(lines) if " 10 " in line and "t10" in line)
    assert "..." in lines[ten + 1] and "* 14" in lines[ten + 2] and "linear" in lines[ten + 2]


def test_final_summary_shows_the_ensemble_beside_its_members(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from finegrain_automl import cli

    rows = [
        {"rank": rank, "trial_id": f"t{rank}", "model": model, "cv_f1_mean": 0.8 - rank / 100, "cv_f1_std": 0.02,
         "cv_metrics": {}, "config": {"model": model}}
        for rank, model in ((1, "tabm"), (2, "resmlp"))
    ]
    members = [{"trial_id": "t1", "rank": 1, "model": "tabm", "weight": 0.6, "oof_f1": 0.791, "test_f1": 0.772},
               {"trial_id": "t2", "rank": 2, "model": "resmlp", "weight": 0.4, "oof_f1": 0.781, "test_f1": 0.751}]
    summary = {
        "task": "fraud", "leaderboard_metrics": [], "leaderboard": rows, "elapsed_s": 1.0,
        "trials": {"completed": 2, "pruned": 0, "failed": 0}, "run_dir": "fg-runs/x",
        "best": {**rows[0], "selection": {"explanation": "rank 1"}},
        "ensemble": {"members": members, "oof_f1": 0.803, "test_f1": 0.789, "test_metrics": {"f1": 0.789}},
        "final": {"kind": "ensemble", "test_f1": 0.789, "test_metrics": {"f1": 0.789, "auroc": 0.97}},
    }
    console = Console(width=120, record=True)
    monkeypatch.setattr(cli, "out", console)
    cli._print_summary(summary)
    text = console.export_text()
    for cell in ("ensemble", "0.803", "0.789", "0.60", "0.791", "0.772", "0.40", "0.751", "t2"):
        assert cell in text, cell
    assert "Test F1 of the refit ensemble (the saved model): 0.7890" in text
    # The winner line names the best single trial, not the saved model.
    assert "Best single model (* above; the saved model is the ensemble below): tabm" in text
    summary["ensemble_check"] = {"kept": True, "members": 2, "ensemble_f1": 0.7163, "single_f1": 0.7013, "folds": 5}
    console = Console(width=200, record=True)
    monkeypatch.setattr(cli, "out", console)
    cli._print_summary(summary)
    assert ("Ensemble kept: F1 0.7163 against 0.7013 for the best single trial, on out-of-fold rows neither "
            "was chosen on (5-part check).") in console.export_text()


def test_final_summary_says_why_the_ensemble_was_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from finegrain_automl import cli

    row = {"rank": 1, "trial_id": "t1", "model": "resmlp", "cv_f1_mean": 0.97, "cv_f1_std": 0.01,
           "cv_metrics": {}, "config": {"model": "resmlp"}}
    summary = {
        "task": "disease_risk", "leaderboard_metrics": [], "leaderboard": [row], "elapsed_s": 1.0,
        "trials": {"completed": 3, "pruned": 0, "failed": 0}, "run_dir": "fg-runs/x",
        "best": {**row, "selection": {"explanation": "rank 1"}},
        "ensemble_check": {"kept": False, "members": 3, "ensemble_f1": 0.9676, "single_f1": 0.9706, "folds": 5},
        "final": {"kind": "single", "test_f1": 0.96, "test_metrics": {"f1": 0.96}},
    }
    console = Console(width=200, record=True)
    monkeypatch.setattr(cli, "out", console)
    cli._print_summary(summary)
    text = console.export_text()
    assert "Winner (* above): resmlp" in text
    assert ("Ensemble not kept: F1 0.9676 against 0.9706 for the best single trial, on out-of-fold rows neither "
            "was chosen on (5-part check); the winner is refit alone (--no-ensemble-check keeps it).") in text
    assert "Test F1 of the refit winner: 0.9600" in text
    summary["ensemble_check"] = {"kept": False, "members": 1, "ensemble_f1": None, "single_f1": None, "folds": None}
    console = Console(width=200, record=True)
    monkeypatch.setattr(cli, "out", console)
    cli._print_summary(summary)
    assert "Ensemble not kept: greedy selection chose 1 trial; the winner is refit alone." in console.export_text()


def test_space_show_prints_the_space_and_the_starting_points() -> None:
    result = runner.invoke(app, ["space", "show", "toy"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for key in ("model", "model.mlp.hidden", "lr", "epochs", "Starting points", "model=mlp"):
        assert key in result.output, key


@pytest.mark.parametrize(
    ("space", "fragments"),
    [
        ("colour: {choice: [red, blue]}\n", ["colour", "does not use this key"]),
        ("lr: {loguniform: [1.0e-2, 1.0e-4]}\n", ["lr", "low <= high"]),
        ("model: {choice: [mlp, bogus]}\n", ["model", "branch choice"]),
    ],
)
def test_invalid_space(output: Path, tmp_path: Path, space: str, fragments: list[str]) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(("" if space.startswith("model") else "model: {choice: {mlp: null}}\n") + space)
    _assert_clean_failure(_search(output, "--task", "toy", "--space", str(path)), output, "space.yaml", *fragments)


class _DrawingToyTask(ToyTask):
    """The toy task with a format of its own (JSON lines) and a predict-only --draw DIR."""

    name = "toy_draw"
    prediction_format = "JSON lines"
    data_options = (
        *ToyTask.data_options,
        DataOption(name="draw", help="Folder for a drawing of the predictions.", predict=True, search=False),
    )

    def write_predictions(self, table, stream) -> None:
        table.to_json(stream, orient="records", lines=True)

    def after_predict(self, predictions, *, data, options) -> list[str]:
        if "draw" not in options:
            return []
        folder = Path(options["draw"])
        folder.mkdir(parents=True, exist_ok=True)
        positive = predictions.index[predictions["label"] == 1].tolist()
        (folder / "positives.txt").write_text(" ".join(map(str, positive)))
        return [f"Drew {len(positive)} positive rows of {len(data)} (sep {options['sep']!r}) to {folder}"]


@pytest.fixture
def drawing_registry(monkeypatch: pytest.MonkeyPatch):
    """The CLI sees the toy task and the drawing one."""
    from finegrain_automl import cli

    class Plugin:
        @hookimpl
        def fg_automl_tasks(self):
            return [ToyTask(), _DrawingToyTask()]

    registry = make_registry(plugins=[("toy", Plugin())], autoload=False)
    monkeypatch.setattr(cli, "_registry", lambda: registry)
    return registry


def test_predict_writes_the_tasks_format_and_what_its_predict_only_option_asks_for(
    drawing_registry, toy_run, tmp_path: Path
) -> None:
    run_dir = toy_run("toy_draw", options={"sep": ";"})  # the recorded separator is reused
    rows = make_toy_data(n_rows=12, seed=4).drop(columns=["label"])
    rows.to_csv(tmp_path / "new.csv", sep=";", index=False)
    output, drawn = tmp_path / "out" / "predictions.jsonl", tmp_path / "drawn"
    result = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(tmp_path / "new.csv"),
                                 "--output", str(output), "--draw", str(drawn)])
    assert result.exit_code == 0, result.output
    table = pd.read_json(output, orient="records", lines=True)
    assert list(table.columns) == ["row", "label", "probability"] and len(table) == 12
    assert (table["label"] == (rows["a"] >= 0).astype(int)).all()
    positive = [i for i, a in enumerate(rows["a"]) if a >= 0]
    assert 0 < len(positive) < 12 and (drawn / "positives.txt").read_text() == " ".join(map(str, positive))
    assert result.stderr.splitlines() == [
        f"Wrote 12 rows of predictions (JSON lines) to {output}",
        f"Drew {len(positive)} positive rows of 12 (sep ';') to {drawn}",
    ]
    assert result.stdout == ""

    # Without --output the predictions go to stdout in the same format; without --draw nothing is drawn.
    result = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(tmp_path / "new.csv")])
    assert result.exit_code == 0, result.output
    assert result.stdout == output.read_text() and result.stderr == ""


def test_search_refuses_a_predict_only_option_in_one_line(
    drawing_registry, output: Path, tmp_path: Path
) -> None:
    message = "--draw of task 'toy_draw' applies to fg-automl predict only; remove it from fg-automl search."
    result = _search(output, "--task", "toy_draw", "--draw", str(tmp_path / "d"))  # the built-in data
    _assert_clean_failure(result, output, message)
    data = _toy_csv(tmp_path / "tx.csv")
    result = _search(output, "--task", "toy_draw", "--data", str(data), "--draw", str(tmp_path / "d"),
                     "--trials", "1", "--max-epochs", "1")
    _assert_clean_failure(result, output, message)
    assert not (tmp_path / "d").exists()


def test_plugins_marks_a_predict_only_option(drawing_registry) -> None:
    result = runner.invoke(app, ["plugins", "--task", "toy_draw"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    (draw,) = [line for line in result.output.splitlines() if "--draw TEXT" in line]
    (sep,) = [line for line in result.output.splitlines() if "--sep TEXT" in line]
    assert draw.split("│")[4].strip() == "only" and sep.split("│")[4].strip() == "yes"


def test_search_leaves_folds_to_the_task_unless_given(output: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finegrain_automl import api
    from finegrain_automl.errors import UsageError

    seen = []

    def prepare_search(registry, *, settings, **kwargs):
        seen.append((settings.folds, settings.repeats))
        raise UsageError("stop before anything runs")

    monkeypatch.setattr(api, "prepare_search", prepare_search)
    _assert_clean_failure(_search(output, "--task", "toy"), output, "stop before anything runs")
    _assert_clean_failure(_search(output, "--task", "toy", "--folds", "3", "--repeats", "2"), output, "stop")
    assert seen == [(None, None), (3, 2)]


def test_search_takes_the_tasks_time_budget_unless_given(output: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finegrain_automl import api
    from finegrain_automl.errors import UsageError

    seen = []

    def prepare_search(registry, *, settings, **kwargs):
        seen.append(settings.time_budget_s)
        raise UsageError("stop before anything runs")

    monkeypatch.setattr(api, "prepare_search", prepare_search)
    monkeypatch.setattr(ToyTask, "time_budget_s", 99.0)
    for args in ([], ["--time-budget", "50"], ["--time-budget", "0"]):
        _assert_clean_failure(_search(output, "--task", "toy", *args), output, "stop before anything runs")
    assert seen == [99.0, 50.0, None]  # the task's, the user's, no limit


def test_an_address_nothing_answers_fails_at_once_in_one_line(output: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:  # a loopback port, closed again
        port = probe.getsockname()[1]
    result = _search(output, "--task", "toy", "--address", f"127.0.0.1:{port}", "--trials", "1")
    _assert_clean_failure(result, output, f"Nothing answers at --address 127.0.0.1:{port}")


from finegrain_automl.testing import TOY_CLI as _TOY_CLI  # noqa: E402


@pytest.mark.ray
def test_sigterm_ends_a_search_as_ctrl_c_does_and_exits_143(tmp_path: Path) -> None:
    """A real search process: SIGTERM (what timeout, docker stop and Slurm send)
    once a trial has completed ranks what finished, writes the run and exits 143."""
    import signal
    import time

    import optuna

    output = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-c", _TOY_CLI, "search", "--task", "toy", "--trials", "500", "--time-budget", "300",
         "--no-dashboard", "--ensemble", "0", "--output", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 180
    completed = 0
    while time.monotonic() < deadline and completed == 0 and process.poll() is None:
        time.sleep(2)
        for study_file in output.glob("*/study.journal"):
            try:
                from finegrain_automl.search._study import open_study

                study = open_study(study_file.parent)
                completed = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
            except Exception:  # noqa: BLE001 - the study is being created
                completed = 0
    assert completed >= 1 and process.poll() is None, "no trial completed in 180 s"
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, stderr[-2000:]
    assert "Terminated (SIGTERM):" in stderr and "Traceback" not in stderr and "*** " not in stderr, stderr[-2000:]
    (run_dir,) = output.iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["interrupted"] is True and record["trials"]["completed"] >= 1
    assert len(pd.read_csv(run_dir / "leaderboard.csv")) >= 1


def test_dashboard_of_a_folder_that_is_no_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dashboard", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Run directory" in result.output and "does not exist" in result.output


def test_dashboard_serves_the_run_it_is_given_until_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    import optuna

    from finegrain_automl.search._study import STUDY_NAME, storage

    (tmp_path / "run.json").write_text("{}")
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage(tmp_path), direction="maximize")
    study.enqueue_trial({"x": 1.0})
    study.optimize(lambda trial: trial.suggest_float("x", 0, 2), n_trials=1)
    answers: list[bytes] = []

    def serve(run_dir, *, host, port, on_ready):
        from finegrain_automl import dashboard

        with dashboard.start(run_dir, host=host, port=0) as server:
            on_ready(server)
            origin = server.url.split("/dashboard")[0]
            answers.append(urllib.request.urlopen(f"{origin}/api/studies", timeout=30).read())
        raise KeyboardInterrupt  # as Ctrl-C ends it

    monkeypatch.setattr("finegrain_automl.dashboard.serve", serve)
    result = runner.invoke(app, ["dashboard", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Trials view of" in result.output and "(Ctrl-C to stop)" in result.output and "Stopped." in result.output
    (summary,) = json.loads(answers[0])["study_summaries"]
    assert summary["study_name"] == "search"
