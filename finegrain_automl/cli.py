"""The ``fg-automl`` command line: search, dashboard, report, export, predict, plugins, space, new-plugin."""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from finegrain_automl.errors import FgAutomlError
from finegrain_automl.hookspecs import API_VERSION

app = typer.Typer(
    name="fg-automl",
    help="Neural architecture and hyperparameter search for fine-grained prediction tasks, "
    "ranked by k-fold cross-validated F1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
space_app = typer.Typer(help="Inspect search spaces.", no_args_is_help=True)
app.add_typer(space_app, name="space")

out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(func: F) -> F:
    """Turns user errors into one red line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from finegrain_automl.api import SearchInterrupted

        try:
            return func(*args, **kwargs)
        except SearchInterrupted as exc:
            err.print(f"[yellow]{exc}[/]", highlight=False, soft_wrap=True)
            raise typer.Exit(143 if exc.terminated else 130) from None
        except FgAutomlError as exc:
            message = " ".join(str(exc).split())
            err.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:  # outside the trials (the refit): nothing more is written
            from finegrain_automl.search import SearchTerminated

            terminated = isinstance(exc, SearchTerminated)
            err.print(f"[yellow]{'Terminated (SIGTERM)' if terminated else 'Interrupted'}.[/] Results written "
                      "so far are kept in the run directory.")
            raise typer.Exit(143 if terminated else 130) from None

    return wrapper  # type: ignore[return-value]


def _registry() -> Any:
    from finegrain_automl.plugins import make_registry

    return make_registry()


#: Lets a command take the options its task declares (``Task.data_options``):
#: what typer does not know lands in ``ctx.args`` and is checked against the task.
_TASK_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _task_options(ctx: typer.Context) -> tuple[dict[str, Any], list[str]]:
    """The raw task options of ``ctx`` and the command's own option names (for did-you-mean)."""
    from finegrain_automl.options import parse_option_tokens

    own = [param.name for param in ctx.command.params if param.name]
    return parse_option_tokens(ctx.args), own


@app.command(context_settings=_TASK_OPTIONS)
@_user_errors
def search(
    ctx: typer.Context,
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Task to search (see `fg-automl plugins`).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Your data file (CSV, Parquet or JSONL; see the task's README); default: built-in data.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Label column of --data; default: the task's usual name (see its README).")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option(help="Column of --data to ignore (repeatable).")] = None,
    space: Annotated[Path | None, typer.Option(help="YAML search space replacing the task's default.")] = None,
    trials: Annotated[int, typer.Option(help="Number of configurations to try (the time budget may stop earlier).")] = 40,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Seconds for the trials (Ray start-up and the refit come on top); 0: no limit; "
                     "default: 240, or the task's own (see its README)."),
    ] = None,
    folds: Annotated[
        int | None, typer.Option(help="Cross-validation folds; default: 5, or the task's own (see its README).")
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option(help="Passes of the folds, each shuffled anew; default: the task's own, else 3 below 750 "
                     "development rows, 2 below 1,500, else 1."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits, sampler and training (0 or more).")] = 0,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs each trial reserves.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs each trial reserves (fractions allowed).")] = 0.0,
    concurrency: Annotated[int | None, typer.Option(help="Trials at once; default: as many as resources allow.")] = None,
    max_epochs: Annotated[int | None, typer.Option(help="Cap on training epochs (quick runs).")] = None,
    early_stopping: Annotated[
        bool, typer.Option(help="Let the scheduler stop trials that trail their peers (off: --scheduler fifo).")
    ] = True,
    searcher: Annotated[
        str, typer.Option(help="Optuna sampler: tpe, random, cmaes or gp (seeded).")
    ] = "tpe",
    scheduler: Annotated[
        str, typer.Option(help="Ray Tune scheduler on folds: asha, hyperband, median or fifo (no early stopping).")
    ] = "asha",
    select: Annotated[
        str,
        typer.Option(
            help="Which trial is refit: one-se, the simplest model family within one standard error of the best "
            "CV F1; or best, rank 1."
        ),
    ] = "one-se",
    ensemble: Annotated[
        int,
        typer.Option(
            help="The final model is a greedy ensemble of up to this many best trials, chosen on their "
            "out-of-fold predictions (each member refit); 0: refit one trial (--select)."
        ),
    ] = 5,
    ensemble_check: Annotated[
        bool,
        typer.Option(
            help="Keep the ensemble only if it beats the best single trial on out-of-fold rows it was not "
            "chosen on (a 5-part nested check); otherwise refit one trial (--select)."
        ),
    ] = True,
    address: Annotated[
        str | None, typer.Option(help="Join an existing Ray cluster: head host:port (e.g. 10.0.0.5:6379) or auto.")
    ] = None,
    dashboard: Annotated[bool, typer.Option(help="Start the Ray dashboard (local Ray only).")] = True,
    output: Annotated[Path, typer.Option(help="Folder that receives the run directory.")] = Path("fg-runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary instead of tables.")] = False,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the search of this run directory (stopped by Ctrl-C, SIGTERM or a crash) with "
                     "its own settings; only --address, --concurrency and --dashboard may change."),
    ] = None,
) -> None:
    """Search architectures and hyperparameters; refit and save the winner.

    A task may take options of its own for --data; `fg-automl plugins --task
    TASK` lists them.
    """
    from finegrain_automl.api import DataOptions, prepare_search, run_prepared_search
    from finegrain_automl.search import SearchSettings

    registry = _registry()
    if resume is not None:
        _resume(ctx, registry, resume, task=task, as_json=as_json)
        return
    if task is None:
        from finegrain_automl.errors import UsageError

        raise UsageError("Missing option --task: give the task to search, e.g. --task fraud (`fg-automl plugins` "
                         "lists them), or --resume RUN_DIR to continue a search.")
    if time_budget is None:
        time_budget = registry.task(task).time_budget_s
    settings = SearchSettings(
        trials=trials,
        time_budget_s=time_budget or None,
        folds=folds,
        repeats=repeats,
        seed=seed,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        concurrency=concurrency,
        address=address,
        dashboard=dashboard,
        max_epochs=max_epochs,
        early_stopping=early_stopping,
        searcher=searcher,
        scheduler=scheduler,
        select=select,
        ensemble=ensemble,
        ensemble_check=ensemble_check,
    )
    task_options, own_options = _task_options(ctx)
    with err.status("Loading data and checking the space..."):
        prepared = prepare_search(
            registry,
            task_name=task,
            settings=settings,
            data=DataOptions(
                path=data,
                target=target,
                drop_columns=tuple(drop or ()),
                options=task_options,
            ),
            space_path=space,
            other_options=own_options,
        )
    for note in prepared.notes:
        err.print(f"[yellow]Note:[/] {note}", highlight=False, soft_wrap=True)
    summary = run_prepared_search(prepared, registry, output=output, view=_live_view).to_dict()
    _print_run(summary, as_json=as_json)


#: ``search`` options that name the data and the space: ``--resume`` reads them from the run.
_RUN_DATA_OPTIONS = ("data", "target", "drop", "space", "output")


def _resume(ctx: typer.Context, registry: Any, run_dir: Path, *, task: str | None, as_json: bool) -> None:
    """``search --resume RUN_DIR``: the options given again are checked against the run."""
    from finegrain_automl.api import prepare_resumed_search, resume_search
    from finegrain_automl.errors import UsageError

    # By name: typer may carry its own copy of click, whose enum is another class.
    given = [name for name in ctx.params if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
             and name not in ("resume", "task", "as_json")]
    for name in given:
        if name in _RUN_DATA_OPTIONS:
            raise UsageError(f"--{name} is read from the run with --resume; drop --{name}.")
    if ctx.args:
        raise UsageError(f"{ctx.args[0]} is read from the run with --resume (task options are recorded); drop it.")
    changes = {("time_budget_s" if name == "time_budget" else name): ctx.params[name] for name in given}
    if "time_budget_s" in changes:
        changes["time_budget_s"] = changes["time_budget_s"] or None
    with err.status("Reading the run, loading its data and checking its splits..."):
        prepared = prepare_resumed_search(registry, run_dir=run_dir, changes=changes)
    if task is not None and task != prepared.task.name:
        raise UsageError(f"--task {task} conflicts with the run being resumed (task {prepared.task.name}); "
                         "drop --task.")
    summary = resume_search(prepared, registry, run_dir=run_dir.expanduser().resolve(), view=_live_view).to_dict()
    _print_run(summary, as_json=as_json)


def _print_run(summary: dict[str, Any], *, as_json: bool) -> None:
    if as_json:  # the run record, as run.json holds it
        from finegrain_automl.results import jsonable

        print(json.dumps(jsonable(summary)))
        return
    _print_summary(summary)


@contextmanager
def _live_view(progress: Any) -> Any:
    """A live panel on a terminal; elsewhere (logs, CI) a status line every 30 s."""
    if err.is_terminal:
        with Live(get_renderable=lambda: _render_progress(progress), console=err, refresh_per_second=2,
                  transient=True):
            yield
        return
    stop = threading.Event()

    def report() -> None:
        if not stop.wait(5):  # errors at start-up stay one line
            err.print(f"Data: {progress.data_description}", highlight=False, soft_wrap=True)
        while not stop.wait(30):
            best = f"{progress.best.cv_f1:.4f}" if progress.best else "-"
            err.print(
                f"[{time.monotonic() - progress.launched:.0f} s] {progress.phase}: {progress.completed} completed, "
                f"{len(progress.running)} running, {progress.pruned} pruned, {progress.failed} failed; "
                f"best CV F1 {best}",
                highlight=False,
                soft_wrap=True,
            )

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def _render_progress(progress: Any) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    if progress.remaining is None:
        budget = "no time budget"
    elif progress.phase == "searching":
        budget = f"search budget: {progress.remaining:.0f} s left"
    else:
        budget = f"search budget: {progress.time_budget_s:.0f} s"
    table.add_row("Data", progress.data_description)
    table.add_row("Phase", progress.phase)
    table.add_row("Elapsed", f"{time.monotonic() - progress.launched:.0f} s ({budget})")
    table.add_row(
        "Trials",
        f"{progress.completed} completed, {len(progress.running)} running, "
        f"{progress.pruned} pruned, {progress.failed} failed (of {progress.total})",
    )
    best = progress.best
    if best is not None:
        table.add_row("Best CV F1", f"{best.cv_f1:.4f} ± {best.cv_f1_std or 0:.4f}  ({best.config.get('model')})")
        table.add_row("Best config", _short_config(best.config))
    else:
        table.add_row("Best CV F1", "-")
    if progress.dashboard_url:
        table.add_row("Ray dashboard", progress.dashboard_url)
        if progress.dashboard_sign_in:
            table.add_row("Sign in with", progress.dashboard_sign_in)
    return Panel(table, title="fg-automl search", expand=False)


def _short_config(config: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(config.items()):
        if isinstance(value, float):
            value = f"{value:.3g}"
        parts.append(f"{key.split('.')[-1] if key.count('.') >= 2 else key}={value}")
    return ", ".join(parts)


def _print_summary(summary: dict[str, Any]) -> None:
    extra = summary.get("leaderboard_metrics", [])
    wide = out.width >= 140  # room for each configuration beside its scores
    # Wide: the configuration column takes the room the scores leave (ratio), never theirs.
    table = Table(title=f"Leaderboard: {summary['task']} (top 10 by mean CV F1)", expand=wide)
    for column in ("rank", "model", "CV F1", "± std", *(f"CV {name}" for name in extra), "trial"):
        table.add_column(column, justify="left" if column in ("model", "trial") else "right")
    if wide:
        table.add_column("config (all of it in leaderboard.csv)", overflow="ellipsis", no_wrap=True, ratio=1)
    chosen = summary["best"]["trial_id"]
    rows = summary["leaderboard"]  # the top 10, then the refit trial if it ranks lower
    for previous, row in zip([None, *rows], rows):
        if previous is not None and row["rank"] > previous["rank"] + 1:
            table.add_row("...")
        config = _short_config({k: v for k, v in row["config"].items() if k != "model"})
        table.add_row(
            f"{'* ' if row['trial_id'] == chosen else ''}{row['rank']}",
            str(row["model"]),
            f"{row['cv_f1_mean']:.4f}",
            f"{row['cv_f1_std']:.4f}",
            *(f"{row['cv_metrics'].get(f'cv_{name}', float('nan')):.4f}" for name in extra),
            row["trial_id"],
            *([config] if wide else []),
        )
    out.print(table)
    best, trials = summary["best"], summary["trials"]
    out.print(
        f"Trials: {trials['completed']} completed, {trials['pruned']} pruned, {trials['failed']} failed "
        f"in {summary['elapsed_s']:.0f} s."
    )
    winner = ("Best single model (* above; the saved model is the ensemble below)" if summary.get("ensemble")
              else "Winner (* above)")
    out.print(
        f"{winner}: [bold]{best['config']['model']}[/], CV F1 {best['cv_f1_mean']:.4f} "
        f"± {best['cv_f1_std']:.4f}; {best['selection']['explanation']}.",
        soft_wrap=True,
    )
    out.print(f"Winner's configuration: {_short_config(best['config'])}", soft_wrap=True)
    final = summary["final"]
    others = ", ".join(f"{k} {v:.4f}" for k, v in final["test_metrics"].items() if k != "f1")
    if summary.get("ensemble"):
        _print_ensemble(summary["ensemble"])
    if summary.get("ensemble_check"):
        from finegrain_automl.results import ensemble_check_line

        out.print(ensemble_check_line(summary["ensemble_check"]), soft_wrap=True)
    if summary.get("ensemble"):
        out.print(f"Test F1 of the refit ensemble (the saved model): [bold green]{final['test_f1']:.4f}[/] ({others})")
    else:
        out.print(f"Test F1 of the refit winner: [bold green]{final['test_f1']:.4f}[/] ({others})")
    out.print(f"Run directory: {summary['run_dir']}", soft_wrap=True)
    out.print(f"Apply it: fg-automl predict --run {summary['run_dir']} --data FILE", soft_wrap=True)


def _print_ensemble(ensemble: dict[str, Any]) -> None:
    """The ensemble beside its members, all scored the same way: F1 on the
    out-of-fold predictions with a threshold chosen on them, then on the test rows."""
    table = Table(title="Ensemble (greedy selection on out-of-fold predictions) and its members")
    for column in ("", "rank", "model", "weight", "out-of-fold F1", "test F1", "trial"):
        table.add_column(column, justify="left" if column in ("", "model", "trial") else "right")
    table.add_row("ensemble", "", "", "1.00", f"{ensemble['oof_f1']:.4f}", f"{ensemble['test_f1']:.4f}", "",
                  style="bold")
    for member in ensemble["members"]:
        table.add_row("member", str(member["rank"]), str(member["model"]), f"{member['weight']:.2f}",
                      f"{member['oof_f1']:.4f}", f"{member['test_f1']:.4f}", member["trial_id"])
    out.print(table)


@app.command()
@_user_errors
def dashboard(
    run_dir: Annotated[
        Path, typer.Argument(help="Run directory of a search (fg-runs/<task>-<time>), running or finished.")
    ],
    host: Annotated[
        str,
        typer.Option(help="Address to listen on: 127.0.0.1, this machine only (the view has no sign-in); "
                     "0.0.0.0, every network."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0: any free one.")] = 8080,
) -> None:
    """Serve optuna-dashboard over a run's study: every trial with its configuration, fold scores, state and
    CV F1, with Optuna's history and parameter-importance plots.

    It follows a running search live, and shows a finished one. Read-only: nothing in the run changes.
    """
    from finegrain_automl.dashboard import DashboardServer, serve

    def ready(server: DashboardServer) -> None:
        if not server.loopback:
            err.print(f"[yellow]Note:[/] listening on {host}: whoever reaches this machine can read the trials "
                      "(there is no sign-in).", highlight=False, soft_wrap=True)
        err.print(f"Trials view of {server.run_dir}: [bold]{server.url}[/] (Ctrl-C to stop)", highlight=False,
                  soft_wrap=True)

    try:
        serve(run_dir, host=host, port=port, on_ready=ready)
    except KeyboardInterrupt:  # how it is stopped, not an interrupted search (exit 130)
        err.print("Stopped.")


@app.command()
@_user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory of a search (fg-runs/<task>-<time>).")],
) -> None:
    """Draw a run's report.html again: settings, leaderboard, the search's plots, the winner's test figures.

    Works for a finished, interrupted or resumed run; reads only the run directory (no data, no Ray), and opens
    from the file system without a network.
    """
    from finegrain_automl.report import write_html_report
    from finegrain_automl.results import RUN_FILE

    if not (run_dir / RUN_FILE).is_file():
        from finegrain_automl.errors import UsageError

        raise UsageError(f"{run_dir} is not a run directory (no {RUN_FILE}). Pass a folder under fg-runs/.")
    with err.status("Drawing the report..."):
        path = write_html_report(run_dir)
    out.print(f"Wrote {path}", highlight=False, soft_wrap=True)


@app.command()
@_user_errors
def export(
    run: Annotated[Path, typer.Option("--run", help="Run directory of a finished search.")],
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",  # noqa: A002
    quantize: Annotated[
        str | None, typer.Option(help="Also write weights quantised to int8 (onnxruntime's dynamic quantisation).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Folder to write; default: RUN/onnx.")] = None,
    check: Annotated[
        bool, typer.Option(help="Compare the export with the torch model on the run's test rows (needs its data).")
    ] = True,
) -> None:
    """Export a run's final model (the winner or the ensemble) to ONNX, with a loader that needs only
    onnxruntime, numpy and pandas.

    Writes the networks (member-N.onnx, and member-N.int8.onnx with --quantize int8), pipeline.json (classes,
    decision rule, preprocessing statistics, ensemble weights), the task's preprocessing module and
    fg_automl_onnx.py (`OnnxModel(folder).predict(frame)`).
    """
    from finegrain_automl.errors import UsageError
    from finegrain_automl.export import check_onnx, export_onnx

    if format != "onnx":
        raise UsageError(f"--format must be onnx, got {format!r}.")
    registry = _registry()
    with err.status("Exporting...") as status:
        result = export_onnx(run, output=output, quantize=quantize, registry=registry,
                             progress=lambda message: status.update(message))
    out.print(f"Wrote {result.directory}: " + ", ".join(p.name for p in result.files), highlight=False,
              soft_wrap=True)
    sizes = f"model.pt {result.model_pt_bytes / 1e6:.2f} MB, ONNX {result.onnx_bytes / 1e6:.2f} MB"
    if result.int8_bytes is not None:
        sizes += f", int8 {result.int8_bytes / 1e6:.2f} MB (model.pt / int8 = {result.model_pt_bytes / max(result.int8_bytes, 1):.1f})"
    out.print(f"Sizes: {sizes}", highlight=False)
    if check:
        with err.status("Checking the export against the torch model on the test rows..."):
            found = check_onnx(run, result.directory, registry=registry)
        classifier = found.compared == "probabilities"

        def versus(name: str, difference: float, mismatches: int | None) -> str:
            if classifier:
                return f"{name} max |probability difference| {difference:.1e}, {mismatches} labels differ"
            largest = (f" (largest difference of a number in rows of the same form {difference:.1e})"
                       if mismatches and mismatches < found.rows and difference != float("inf") else "")
            return f"{name} predictions differ in {mismatches} of {found.rows} rows{largest}"

        line = (f"Checked on {found.rows} test rows against torch: {versus('ONNX', found.onnx_max_diff, found.onnx_label_mismatches)}"
                + (f"; {versus('int8', found.int8_max_diff, found.int8_label_mismatches)}"
                   if found.int8_max_diff is not None else "")
                + f". Test F1: torch {found.torch_f1:.4f}, ONNX {found.onnx_f1:.4f}"
                + (f", int8 {found.int8_f1:.4f}" if found.int8_f1 is not None else ""))
        out.print(line, highlight=False, soft_wrap=True)
    out.print(f"Use it: from fg_automl_onnx import OnnxModel; OnnxModel({str(result.directory)!r}).predict(frame) "
              f"(run from {result.directory}, or put it on sys.path)", highlight=False, soft_wrap=True, markup=False)


@app.command(context_settings=_TASK_OPTIONS)
@_user_errors
def predict(
    ctx: typer.Context,
    run: Annotated[Path, typer.Option("--run", help="Run directory written by `fg-automl search`.")],
    data: Annotated[
        Path, typer.Option("--data", help="The rows to predict: a CSV or Parquet file, or what the task's README says.")
    ],
    output: Annotated[
        Path | None, typer.Option(help="Where to write predictions (CSV, or the task's format); default: stdout.")
    ] = None,
) -> None:
    """Apply a run's refit model to new data and write its predictions.

    Classification tasks write CSV: row (position in the file), label and
    probability; other tasks write what their README says (a recommender: the
    top-K items of each user of the file; a detector: COCO results JSON). The
    task's data options recorded with the run are reused; those the task lets
    predict take may be given again, and some apply to predict alone
    (`fg-automl plugins --task TASK` lists them).
    """
    from finegrain_automl.api import write_predictions
    from finegrain_automl.errors import collect_notes

    if output is not None:
        _check_output_file(output, data=data)
    stdout = sys.stdout  # the real one: the status display redirects sys.stdout to the terminal while it runs
    with err.status("Predicting..."), collect_notes() as notes:
        options, own = _task_options(ctx)
        written = write_predictions(_registry(), run_dir=run, data_path=data, output=output, options=options,
                                    other_options=own, stdout=stdout)
    for note in notes:
        err.print(f"[yellow]Note:[/] {note}", highlight=False, soft_wrap=True)
    for line in written:
        err.print(line, highlight=False, soft_wrap=True)


def _check_output_file(output: Path, *, data: Path) -> None:
    """Raises a :class:`UsageError` unless ``output`` can receive the predictions
    without losing anything: not a folder, under no file, not the input itself."""
    from finegrain_automl.errors import UsageError

    if output.is_dir():
        raise UsageError(f"--output {output} is a folder. Give a file path, e.g. --output {output / 'predictions.csv'}.")
    parent = next((p for p in output.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"--output {output} lies under {parent}, which is a file. Give a path in a folder.")
    if output.exists() and data.exists() and output.resolve() == data.resolve():
        raise UsageError(f"--output {output} is the --data file; writing there would overwrite the input. "
                         "Give another path.")


@app.command()
@_user_errors
def plugins(
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Describe this task: its metric, data options and model families.")
    ] = None,
) -> None:
    """List installed plugins, their versions, tasks and load errors."""
    registry = _registry()
    if task is not None:
        _describe_task(registry, task)
        return
    table = Table(title=f"fg-automl plugins (this core: plugin API {API_VERSION})")
    for column in ("plugin", "distribution", "version", "api", "provides", "status"):
        table.add_column(column, overflow="fold")
    for info in registry.plugins.values():
        status = "[red]" + "; ".join(info.errors) + "[/]" if info.errors else "[green]ok[/]"
        observes = [hook.removeprefix("fg_automl_") for hook in info.hooks if hook in _OBSERVER_HOOKS]
        provides = [*(f"task {name}" for name in info.tasks), *(f"family {name}" for name in info.families),
                    *([f"observes {', '.join(observes)}"] if observes else [])]
        table.add_row(info.name, info.distribution or "-", info.version or "-", info.api or "-",
                      ", ".join(provides) or "-", status)
    out.print(table)
    for info in registry.plugins.values():
        out.print(f"{info.name} loaded from {info.location or '(not imported)'}", soft_wrap=True, highlight=False)
    if not registry.plugins:
        out.print("No plugins installed. Install one, e.g. `pip install -e plugins/fraud`.")


#: The hooks that observe a search (shown as what an observer plugin provides).
_OBSERVER_HOOKS = ("fg_automl_search_start", "fg_automl_trial_result", "fg_automl_search_end")


def _describe_task(registry: Any, name: str) -> None:
    """What a user needs to run a task: metric, data options, model families."""
    task = registry.task(name)
    out.print(f"[bold]{task.name}[/]: {task.description}", soft_wrap=True)
    out.print(f"Ranked by: {task.metric}" + (f"; the leaderboard also shows {', '.join(task.leaderboard_metrics)}"
                                            if task.leaderboard_metrics else ""), soft_wrap=True)
    builtin = any(option.builtin for option in task.data_options)
    options = Table(title=f"Data options of {task.name} (with --data FILE"
                    + ("; those marked in 'built-in' also without it)" if builtin else ")"))
    for column in ("option", "default", "help", "predict", *(("built-in",) if builtin else ())):
        options.add_column(column, overflow="fold")
    for option in task.data_options:
        options.add_row(option.usage(), "required" if option.required else str(option.default or "-"),
                        option.help, ("only" if not option.search else "yes") if option.predict else "no",
                        *(("yes" if option.builtin else "no",) if builtin else ()))
    if task.data_options:
        out.print(options)
    else:
        out.print("Data options: none beyond --target and --drop.")
    families = Table(title=f"Model families of {task.name}")
    for column in ("family", "complexity", "description"):
        families.add_column(column, overflow="fold")
    for family in sorted(registry.families[task.name].values(), key=lambda f: (f.complexity, f.name)):
        families.add_row(family.name, str(family.complexity), family.description)
    out.print(families)


@app.command("new-plugin")
@_user_errors
def new_plugin(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help="Task name: a lowercase Python identifier (churn, churn_risk) that no "
                       "installed plugin uses; the package is fg-automl-NAME, its module fg_automl_NAME."),
    ],
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Existing folder that receives fg-automl-NAME; default: the current one."),
    ] = Path("."),
) -> None:
    """Write a task plugin package, fg-automl-NAME, that installs, tests and searches as written.

    Its task classifies rows of numbers (a 0/1 target, ranked by F1 of class
    1) with two model families (linear, mlp); it comes with a default space,
    seeded built-in data, a README and tests that run the conformance suite.
    An existing folder is never overwritten.
    """
    import shlex

    from finegrain_automl import scaffold

    names = scaffold.plugin_names(name)
    with err.status("Checking the names installed plugins use..."):
        scaffold.check_unclaimed(names, claimed=scaffold.claimed_names(_registry()))
    written = scaffold.write_plugin(names, directory=directory)
    lines = [f"Wrote {names.distribution} (task {names.name!r}, module {names.module}) in {written.path}:",
             *(f"  {path}" for path in written.files), "Next:", f"  cd {shlex.quote(str(written.path))}",
             "  pip install -e '.[test]'", f"  fg-automl plugins --task {names.name}", "  pytest",
             f"  fg-automl search --task {names.name}"]
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


@space_app.command("show")
@_user_errors
def space_show(
    task: Annotated[str, typer.Argument(help="Task whose space to show.")],
    space: Annotated[Path | None, typer.Option(help="Show and check this YAML file instead of the default.")] = None,
) -> None:
    """Print a task's search space (checked against the task)."""
    from finegrain_automl.space import load_space
    from finegrain_automl.task import check_space, check_space_values, starting_points

    registry = _registry()
    task_obj = registry.task(task)
    loaded = load_space(space) if space is not None else registry.default_space(task)
    check_space(loaded, task=task_obj, families=registry.families[task])
    check_space_values(loaded, task=task_obj, families=registry.families[task])
    table = Table(title=f"Search space of {task} ({loaded.source})")
    table.add_column("key")
    table.add_column("distribution")
    for key, description in loaded.rows():
        table.add_row(key, description)
    out.print(table)
    points = starting_points(loaded, task=task_obj)
    if points:
        tried = Table(title="Starting points (tried first; the sampler fills in the rest)")
        tried.add_column("#", justify="right")
        tried.add_column("configuration")
        for number, point in enumerate(points, start=1):
            tried.add_row(str(number), ", ".join(f"{k}={v}" for k, v in point.items()))
        out.print(tried)


def main() -> None:
    """Console-script entry point."""
    app()
