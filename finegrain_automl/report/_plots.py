"""Drawing: the search's plots from its Optuna study, and the task's figures
(:mod:`finegrain_automl.figures`), each as a PNG embedded in the page.

matplotlib draws offline (the Agg back end, its own bundled font), so the
report needs nothing from the network. Optuna's visualisation module draws
the parameter importances and the parallel coordinates; the history is drawn
here because Optuna's leaves pruned and failed trials out.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from finegrain_automl.figures import Bars, Curve, Figure, Image, Matrix

__all__ = ["draw_figure", "fold_scores", "history", "importances", "parallel_coordinates", "png_data_uri"]

#: Parameters the importance plot shows (the most important ones).
MOST_PARAMS = 12
#: The width of every plot, in inches (at :data:`DPI`).
WIDTH, DPI = 7.5, 110
_FAILED, _PRUNED, _COMPLETE = "#c0392b", "#95a5a6", "#1f77b4"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def _style() -> Iterator[Any]:
    """pyplot in matplotlib's default style (Optuna's plots switch it to ggplot for good)."""
    plt = _pyplot()
    with plt.style.context("default"):
        yield plt


def png_data_uri(figure: Any) -> str:
    """``figure`` (matplotlib) as a ``data:image/png;base64,...`` URI; closes it."""
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _running_mean(trial: Any) -> float | None:
    scores = trial.user_attrs.get("fold_f1") or []
    return float(sum(scores) / len(scores)) if scores else None


def history(trials: Sequence[Any]) -> Any:
    """CV F1 of each trial in the order the trials started: completed ones
    filled, pruned ones hollow at their running mean when stopped, failed ones
    as crosses on the x axis; the best completed score so far as a step line."""
    with _style() as plt:
        return _history(plt, trials)


def _history(plt: Any, trials: Sequence[Any]) -> Any:
    figure, axes = plt.subplots(figsize=(WIDTH, 3.6))
    ordered = sorted(trials, key=lambda t: (t.datetime_start is None, t.datetime_start or 0, t.number))
    best, steps = -math.inf, []
    for position, trial in enumerate(ordered, start=1):
        state = trial.state.name
        if state == "COMPLETE" and trial.value is not None:
            axes.scatter(position, trial.value, color=_COMPLETE, s=28, zorder=3,
                         label="completed" if "completed" not in _labels(axes) else None)
            best = max(best, trial.value)
        elif state == "PRUNED":
            mean = _running_mean(trial)
            if mean is not None:
                axes.scatter(position, mean, facecolors="none", edgecolors=_PRUNED, s=28, zorder=2,
                             label="pruned (mean of the folds run)" if "pruned (mean of the folds run)"
                             not in _labels(axes) else None)
        elif state == "FAIL":
            axes.scatter(position, 0.0, marker="x", color=_FAILED, s=36, zorder=3, clip_on=False,
                         label="failed" if "failed" not in _labels(axes) else None)
        steps.append(best if best > -math.inf else math.nan)
    if any(not math.isnan(value) for value in steps):
        axes.step(range(1, len(steps) + 1), steps, where="post", color="#2c3e50", linewidth=1.2, label="best so far")
    axes.set_xlabel("trial (in the order it started)")
    axes.set_ylabel("CV F1")
    axes.set_ylim(bottom=0.0)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower right", fontsize=8)
    return figure


def _labels(axes: Any) -> list[str]:
    return axes.get_legend_handles_labels()[1]


def importances(study: Any) -> tuple[Any, list[str]] | None:
    """Optuna's parameter-importance plot (fANOVA over the completed trials'
    shared parameters; the :data:`MOST_PARAMS` most important) and every
    parameter from most to least important; None
    when the completed trials are too few or share no varying parameter."""
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ranked = list(optuna.importance.get_param_importances(study))
            if not ranked:
                return None
            axes = optuna_plots.plot_param_importances(study, params=ranked[:MOST_PARAMS])
    except (ValueError, RuntimeError, ZeroDivisionError):  # fewer than two trials, nothing varying
        return None
    figure = axes.figure
    figure.set_size_inches(WIDTH, max(2.4, 0.35 * min(len(ranked), MOST_PARAMS) + 1.2))
    return figure, ranked


def parallel_coordinates(study: Any, params: Sequence[str]) -> Any | None:
    """Optuna's parallel-coordinate plot of the completed trials over
    ``params`` (the most important ones); None when it cannot be drawn."""
    from optuna.visualization import matplotlib as optuna_plots

    if len(params) < 2:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = optuna_plots.plot_parallel_coordinate(study, params=list(params))
    except (ValueError, RuntimeError):
        return None
    figure = axes.figure
    figure.set_size_inches(WIDTH + 1.5, 4.0)
    return figure


def fold_scores(rows: Sequence[Mapping[str, Any]], scores: Mapping[str, Sequence[float]]) -> Any | None:
    """Each fold's F1 of the leaderboard's top trials (dots) and their mean (a bar)."""
    shown = [row for row in rows if scores.get(row["trial_id"])]
    if not shown:
        return None
    with _style() as plt:
        return _fold_scores(plt, shown, scores)


def _fold_scores(plt: Any, shown: Sequence[Mapping[str, Any]], scores: Mapping[str, Sequence[float]]) -> Any:
    figure, axes = plt.subplots(figsize=(WIDTH, 0.35 * len(shown) + 1.2))
    for position, row in enumerate(reversed(shown)):
        values = list(scores[row["trial_id"]])
        axes.scatter(values, [position] * len(values), color=_COMPLETE, s=18, alpha=0.8, zorder=3)
        mean = sum(values) / len(values)
        axes.plot([mean, mean], [position - 0.3, position + 0.3], color="#2c3e50", linewidth=2)
    axes.set_yticks(range(len(shown)))
    axes.set_yticklabels([f"#{row['rank']} {row['model']} ({row['trial_id']})" for row in reversed(shown)],
                         fontsize=8)
    axes.set_xlabel("F1 of each fold (dots) and their mean (bar)")
    axes.grid(axis="x", alpha=0.3)
    return figure


def draw_figure(figure: Figure) -> str:
    """A task's figure as a PNG data URI."""
    if isinstance(figure, Image):
        return "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
    with _style() as plt:
        return png_data_uri(_draw(plt, figure))


def _draw(plt: Any, figure: Figure) -> Any:
    """A matplotlib figure of a task's :class:`Curve`, :class:`Matrix` or :class:`Bars`."""
    if isinstance(figure, Curve):
        drawn, axes = plt.subplots(figsize=(5.2, 4.2))
        for name, (x, y) in figure.series.items():
            axes.plot(list(x), list(y), label=name, linewidth=1.6)
        for name, (x, y) in figure.points.items():
            axes.scatter([x], [y], color=_FAILED, zorder=4)
            axes.annotate(name, (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8)
        if figure.diagonal:
            axes.plot([0, 1], [0, 1], linestyle="--", color="#7f8c8d", linewidth=1, label="ideal")
        if figure.limits is not None:
            axes.set_xlim(*figure.limits)
            axes.set_ylim(*figure.limits)
        axes.set_xlabel(figure.x_label)
        axes.set_ylabel(figure.y_label)
        axes.grid(alpha=0.3)
        if len(figure.series) > 1 or figure.diagonal:
            axes.legend(fontsize=8)
    elif isinstance(figure, Matrix):
        import numpy as np

        values = np.asarray(figure.values, dtype=float)
        size = max(3.6, 0.5 * max(values.shape) + 2.0)
        drawn, axes = plt.subplots(figsize=(size + 0.8, size))
        shown = axes.imshow(values, cmap="Blues")
        drawn.colorbar(shown, ax=axes, fraction=0.046)
        axes.set_xticks(range(values.shape[1]), [str(v) for v in figure.column_labels], rotation=45, ha="right")
        axes.set_yticks(range(values.shape[0]), [str(v) for v in figure.row_labels])
        axes.set_xlabel(figure.column_title)
        axes.set_ylabel(figure.row_title)
        if values.size <= 400:
            high = values.max() if values.size else 0
            for (i, j), value in np.ndenumerate(values):
                axes.text(j, i, f"{value:g}", ha="center", va="center", fontsize=8,
                          color="white" if high and value > high / 2 else "black")
    elif isinstance(figure, Bars):
        import numpy as np

        drawn, axes = plt.subplots(figsize=(min(14.0, max(4.5, 0.5 * len(figure.labels) + 2.5)), 3.6))
        width = 0.8 / max(1, len(figure.series))
        positions = np.arange(len(figure.labels))
        for index, (name, values) in enumerate(figure.series.items()):
            axes.bar(positions + index * width - 0.4 + width / 2, list(values), width=width, label=name)
        axes.set_xticks(positions, [str(label) for label in figure.labels], rotation=30, ha="right")
        axes.set_ylabel(figure.y_label)
        axes.set_xlabel(figure.x_label)
        if figure.limits is not None:
            axes.set_ylim(*figure.limits)
        axes.grid(axis="y", alpha=0.3)
        if len(figure.series) > 1:
            axes.legend(fontsize=8)
    else:
        raise TypeError(f"not a report figure: {figure!r}")
    axes.set_title(figure.title, fontsize=10)
    return drawn
