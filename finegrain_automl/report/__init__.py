"""``report.html``: one self-contained page on what a search did and how good its winner is.

Written at the end of every search (also one stopped with Ctrl-C, or
resumed) and by ``fg-automl report RUN_DIR``, from the run directory alone:
``run.json``, ``leaderboard.json``, the Optuna study and ``figures.json``
(the task's pictures of its winner on the test split,
:mod:`finegrain_automl.figures`). Every plot is a PNG inside the page and the
styles are inline: no script, font or image comes from the network, and it
opens from the file system. It shows aggregates only, never a row of the
user's data (a task's images only for data that are not private).
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finegrain_automl.figures import Figure, Image, figures_from_json, figures_to_json

__all__ = ["FIGURES_FILE", "REPORT_FILE", "SECTIONS", "read_figures", "write_figures", "write_html_report"]

REPORT_FILE = "report.html"
FIGURES_FILE = "figures.json"
#: The page's sections, by id, in order (a test checks that each one rendered).
SECTIONS = ("settings", "leaderboard", "history", "importances", "parallel", "folds", "winner")
#: Leaderboard rows shown, and trials whose per-fold scores are drawn.
TOP_ROWS, TOP_FOLDS = 15, 10
#: Parameters on the parallel-coordinate plot (the most important ones).
PARALLEL_PARAMS = 6


def write_figures(run_dir: Path, figures: Sequence[Figure]) -> None:
    """Saves the task's figures of its winner (``figures.json``)."""
    from finegrain_automl.results import write_json

    write_json(run_dir / FIGURES_FILE, figures_to_json(figures))


def read_figures(run_dir: Path) -> list[Figure]:
    """The task's figures saved with the run; none if it saved none."""
    path = run_dir / FIGURES_FILE
    return figures_from_json(json.loads(path.read_text())) if path.exists() else []


def write_html_report(run_dir: Path) -> Path:
    """Draws ``report.html`` from what the run directory holds; returns its path."""
    from finegrain_automl.results import RUN_FILE, write_text

    summary = json.loads((run_dir / RUN_FILE).read_text())
    leaderboard = run_dir / "leaderboard.json"
    rows = json.loads(leaderboard.read_text()) if leaderboard.exists() else summary.get("leaderboard", [])
    study = _study(run_dir)
    trials = list(study.trials) if study is not None else []
    body = [
        _settings(summary),
        _leaderboard(summary, rows),
        *_search_plots(study, trials, rows),
        _winner(summary, read_figures(run_dir)),
    ]
    page = _PAGE.format(title=html.escape(f"fg-automl search: {summary['task']}"), css=_CSS,
                        header=_header(summary, trials), body="\n".join(body))
    path = run_dir / REPORT_FILE
    write_text(path, page)
    return path


def _study(run_dir: Path) -> Any:
    from finegrain_automl.search._study import open_study

    try:
        return open_study(run_dir)
    except Exception:  # noqa: BLE001 - a run stopped before its study existed: report without it
        return None


def _e(value: Any) -> str:
    return html.escape(str(value))


def _section(key: str, title: str, *content: str) -> str:
    return f'<section id="{key}"><h2>{_e(title)}</h2>\n' + "\n".join(content) + "\n</section>"


def _plot(uri: str, alt: str) -> str:
    return f'<img class="plot" src="{uri}" alt="{_e(alt)}">'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[Any]]) -> str:
    """A table of ``rows`` (cells already HTML) under ``header`` (plain text; None: no header row)."""
    head = "<thead><tr>" + "".join(f"<th>{_e(cell)}</th>" for cell in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and value == value else "-"


def _header(summary: Mapping[str, Any], trials: Sequence[Any]) -> str:
    counts = summary.get("trials", {})
    state = ("interrupted (Ctrl-C or SIGTERM); the trials that ended are ranked" if summary.get("interrupted")
             else "finished")
    resumed = f", resumed {summary['resumed']} time(s)" if summary.get("resumed") else ""
    return (f"<h1>fg-automl search: {_e(summary['task'])}</h1><p class=\"sub\">{_e(summary['run_dir'])} &middot; "
            f"{_e(state)}{_e(resumed)} &middot; {counts.get('completed', 0)} completed, "
            f"{counts.get('pruned', 0)} pruned, {counts.get('failed', 0)} failed trials in "
            f"{summary.get('elapsed_s', 0):.0f} s &middot; drawn {_e(time.strftime('%Y-%m-%d %H:%M'))}</p>")


def _settings(summary: Mapping[str, Any]) -> str:
    from finegrain_automl.cv import describe_cv

    settings, data = summary["settings"], summary["data"]
    rows = [
        ("data", _e(data.get("source", "-"))),
        ("rows", f"{data.get('rows', '-')} ({data.get('test_rows', '-')} held out for the final test)"),
        ("split", _e(data.get("split") or "by rows")),
        ("protocol", _e(f"F1 by {describe_cv(settings.get('folds'), settings.get('repeats'))}, seed "
                        f"{settings.get('seed')}")),
        ("searcher / scheduler", _e(f"{settings.get('searcher', 'tpe')} / "
                                    f"{settings.get('scheduler', 'asha') if settings.get('early_stopping', True) else 'fifo'}")),
        ("trials / time budget", _e(f"{settings.get('trials')} / "
                                    f"{settings.get('time_budget_s') or 'none'} s of trials")),
        ("resources per trial", _e(f"{settings.get('cpus_per_trial')} CPU, {settings.get('gpus_per_trial')} GPU")),
        ("selection / ensemble", _e(f"--select {settings.get('select')}, --ensemble {settings.get('ensemble')}")),
    ]
    if data.get("train_only_rows"):
        rows.append(("only trained on", _e(f"{data['train_only_rows']} rows")))
    rows += [("note", _e(note)) for note in data.get("notes", [])]
    rows += [("error", _e(error)) for error in summary.get("errors", [])]
    versions = ", ".join(f"{name} {version}" for name, version in sorted(summary.get("versions", {}).items()))
    rows.append(("versions", _e(versions or "-")))
    return _section("settings", "Settings and data", _table(None, rows))


def _leaderboard(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return _section("leaderboard", "Leaderboard", _note("No trial completed every fold."))
    extra = sorted({key for row in rows for key in row.get("cv_metrics", {})})
    winner = (summary.get("best") or {}).get("trial_id")
    table = _table(
        ("rank", "model", "CV F1", "std", *extra, "folds", "s", "trial", "configuration"),
        [(f"{row['rank']}{' (refit)' if row['trial_id'] == winner else ''}", _e(row["model"]),
          _number(row["cv_f1_mean"]), _number(row["cv_f1_std"]),
          *(_number(row.get("cv_metrics", {}).get(key)) for key in extra), row.get("folds", "-"),
          _number(row.get("seconds"), 0), _e(row["trial_id"]),
          f"<code>{_e(_configuration(row))}</code>")
         for row in rows[:TOP_ROWS]],
    )
    more = _note(f"{len(rows) - TOP_ROWS} more rows in leaderboard.csv.") if len(rows) > TOP_ROWS else ""
    return _section("leaderboard", "Leaderboard (completed trials, best mean CV F1 first)", table, more)


def _configuration(row: Mapping[str, Any]) -> str:
    """A trial's configuration on one line, its family's keys without the ``model.<family>.`` prefix."""
    prefix = f"model.{row['model']}."
    return ", ".join(f"{key.removeprefix(prefix)}={value}" for key, value in row["config"].items() if key != "model")


def _search_plots(study: Any, trials: Sequence[Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    from finegrain_automl.report import _plots

    if study is None or not trials:
        missing = _note("The run has no study to draw from.")
        return [_section("history", "Optimisation history", missing),
                _section("importances", "Parameter importances", missing),
                _section("parallel", "Parallel coordinates", missing),
                _section("folds", "Per-fold scores of the top trials", missing)]
    history = _section(
        "history", "Optimisation history",
        _plot(_plots.png_data_uri(_plots.history(trials)), "CV F1 of each trial"),
        _note("Completed trials are filled; a pruned trial (stopped by the scheduler or the time budget) is "
              "hollow, at the mean of the folds it ran; a failed trial is a cross on the x axis."),
    )
    drawn = _plots.importances(study)
    if drawn is None:
        importances = _section("importances", "Parameter importances",
                               _note("Too few completed trials with varying parameters to estimate importances."))
        ranked: list[str] = []
    else:
        figure, ranked = drawn
        importances = _section(
            "importances", "Parameter importances",
            _plot(_plots.png_data_uri(figure), "parameter importances"),
            _note("fANOVA importance of the parameters every completed trial shares, for CV F1 (Optuna)."),
        )
    parallel_figure = _plots.parallel_coordinates(study, ranked[:PARALLEL_PARAMS])
    parallel = _section(
        "parallel", "Parallel coordinates",
        _plot(_plots.png_data_uri(parallel_figure), "parallel coordinates") if parallel_figure is not None
        else _note("Fewer than two shared parameters to draw."),
        _note("Each line is a completed trial over its most important parameters, coloured by CV F1 (Optuna)."),
    )
    scores = {t.user_attrs.get("tune_trial_id"): t.user_attrs.get("fold_f1") or [] for t in trials}
    folds_figure = _plots.fold_scores(rows[:TOP_FOLDS], scores)
    folds = _section(
        "folds", "Per-fold scores of the top trials",
        _plot(_plots.png_data_uri(folds_figure), "per-fold F1") if folds_figure is not None
        else _note("No completed trial to draw."),
    )
    return [history, importances, parallel, folds]


def _winner(summary: Mapping[str, Any], figures: Sequence[Figure]) -> str:
    from finegrain_automl.report import _plots

    best, ensemble, final = summary.get("best"), summary.get("ensemble"), summary.get("final")
    if not best:
        text = ("The search was interrupted before a model was refit." if summary.get("interrupted")
                else "No trial completed every fold; nothing was refit.")
        return _section("winner", "The winner on the test split", _note(text))
    parts = [f"<p>Model <b>{_e(best['config'].get('model'))}</b> (trial {_e(best['trial_id'])}), CV F1 "
             f"{_number(best['cv_f1_mean'])} &plusmn; {_number(best['cv_f1_std'])}; chosen by "
             f"<code>--select {_e(best['selection']['rule'])}</code>: {_e(best['selection']['explanation'])}</p>"]
    metrics = (ensemble or {}).get("test_metrics") or best.get("test_metrics") or {}
    if ensemble:
        parts.append(_table(("", "rank", "model", "weight", "out-of-fold F1", "test F1"),
                            [("<b>ensemble</b>", "", "", "1.00", _number(ensemble["oof_f1"]),
                              _number(ensemble["test_f1"]))]
                            + [("member", member["rank"], _e(member["model"]), _number(member["weight"], 2),
                                _number(member["oof_f1"]), _number(member["test_f1"]))
                               for member in ensemble["members"]]))
    if metrics:
        what = "ensemble" if ensemble else "winner"
        parts.append(f"<p>Test metrics of the refit {what} (refit on every development row, scored once on "
                     f"{summary['data'].get('test_rows', '?')} held-out rows):</p>")
        parts.append(_table(tuple(metrics), [tuple(_number(value) for value in metrics.values())]))
    if final:
        parts.append(_note(f"Saved as {final.get('path', 'model.pt')}."))
    parts.append(f"<pre>{_e(json.dumps(best['config'], indent=2, default=str))}</pre>")
    parts += [f'<figure>{_plot(_plots.draw_figure(figure), figure.title)}<figcaption>'
              # A drawn plot carries its title; a task's own image does not.
              f"{f'<b>{_e(figure.title)}</b>. ' if isinstance(figure, Image) else ''}{_e(figure.caption)}"
              "</figcaption></figure>" for figure in figures]
    return _section("winner", "The winner on the test split", *parts)


_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 16px 28px; color: #1d2630; }
h1 { font-size: 22px; margin-bottom: 2px; } h2 { font-size: 17px; border-bottom: 1px solid #dde3e8;
     padding-bottom: 4px; margin-top: 28px; }
.sub { color: #5a6b7b; margin-top: 0; } .note { color: #5a6b7b; font-size: 12.5px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 12.5px; }
th, td { border: 1px solid #dde3e8; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f6f8; } code, pre { font-size: 12px; } pre { background: #f6f8fa; padding: 8px; }
td code { display: inline-block; max-width: 460px; overflow-wrap: anywhere; }
img.plot { max-width: 100%; display: block; margin: 6px 0; }
figure { display: inline-block; margin: 8px 12px 8px 0; vertical-align: top; max-width: 48%; }
figcaption { color: #5a6b7b; font-size: 12px; max-width: 460px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body>
{header}
{body}
</body></html>
"""
