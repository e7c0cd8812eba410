"""The pictures a task contributes to a run's report, as data.

A task describes how good its winner is on the test split with a few
figures (:meth:`finegrain_automl.Task.report_figures`): a precision-recall
curve, a confusion matrix, per-class F1, hit rate by user activity, a few
test images with boxes. It returns them as the plain records of this module,
never as plots: the run directory keeps them as JSON (``figures.json``), so
``fg-automl report`` draws the report again at any time without the data,
and the core alone decides how they look (:mod:`finegrain_automl.report`).

Every record but :class:`Image` holds aggregates only (counts, rates,
curves): a report shows no raw row of the user's data. A task returns
images only where :meth:`~finegrain_automl.Task.report_figures` is told
that the data are not private (the built-in data set).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = ["Bars", "Curve", "Figure", "Image", "Matrix", "figure_from_dict", "figures_from_json", "figures_to_json"]


@dataclass(frozen=True, kw_only=True)
class Curve:
    """Lines through points, e.g. a precision-recall or a calibration curve.

    Attributes:
        title: The figure's title.
        x_label, y_label: The axes' labels.
        series: Each line's name and its ``(x, y)`` values.
        points: Points to mark and label, e.g. ``{"threshold 0.42": (0.81, 0.77)}``.
        diagonal: Draw the ``y = x`` line (a calibration curve's ideal).
        limits: ``(low, high)`` of both axes; None: from the data.
        caption: One or two sentences under the figure.
    """

    kind: ClassVar[str] = "curve"
    title: str
    x_label: str
    y_label: str
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]]
    points: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    diagonal: bool = False
    limits: tuple[float, float] | None = (0.0, 1.0)
    caption: str = ""


@dataclass(frozen=True, kw_only=True)
class Matrix:
    """A table of counts drawn as a heat map, e.g. a confusion matrix.

    Attributes:
        values: ``values[i][j]``: the count in row ``i`` and column ``j``.
        row_labels, column_labels: The rows' and columns' names.
        row_title, column_title: What the rows and the columns are ("true class").
    """

    kind: ClassVar[str] = "matrix"
    title: str
    values: Sequence[Sequence[float]]
    row_labels: Sequence[str]
    column_labels: Sequence[str]
    row_title: str = ""
    column_title: str = ""
    caption: str = ""


@dataclass(frozen=True, kw_only=True)
class Bars:
    """Bars by category, one group per label, e.g. per-class F1.

    Attributes:
        labels: The categories along the x axis.
        series: Each bar series' name and its value per label.
        y_label: The value's name.
        limits: ``(low, high)`` of the value axis, e.g. ``(0, 1)`` for rates;
            None: from the data.
    """

    kind: ClassVar[str] = "bars"
    title: str
    labels: Sequence[str]
    series: Mapping[str, Sequence[float]]
    y_label: str = ""
    x_label: str = ""
    limits: tuple[float, float] | None = None
    caption: str = ""


@dataclass(frozen=True, kw_only=True)
class Image:
    """A picture the task drew itself (PNG), e.g. a test image with its boxes.

    Only for data that are not private (see the module's docstring).
    """

    kind: ClassVar[str] = "image"
    title: str
    png: bytes
    caption: str = ""


Figure = Curve | Matrix | Bars | Image
_KINDS: dict[str, type] = {cls.kind: cls for cls in (Curve, Matrix, Bars, Image)}


def _to_dict(figure: Figure) -> dict[str, Any]:
    data = asdict(figure)
    if isinstance(figure, Image):
        data["png"] = base64.b64encode(figure.png).decode("ascii")
    return {"kind": figure.kind, **data}


def figure_from_dict(data: Mapping[str, Any]) -> Figure:
    """The figure a :func:`figures_to_json` entry describes.

    Raises:
        ValueError: An unknown ``kind``.
    """
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"figure kind must be one of {sorted(_KINDS)}, got {kind!r}")
    if kind == "image":
        fields["png"] = base64.b64decode(fields["png"])
    for name in ("series", "points"):
        if name in fields:
            fields[name] = {key: tuple(value) if kind != "bars" else list(value) for key, value in fields[name].items()}
    if fields.get("limits") is not None:
        fields["limits"] = tuple(fields["limits"])
    return _KINDS[kind](**fields)


def figures_to_json(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    """JSON-serialisable form of ``figures`` (numbers as plain floats)."""
    return [_plain(_to_dict(figure)) for figure in figures]


def figures_from_json(data: Sequence[Mapping[str, Any]]) -> list[Figure]:
    """The figures :func:`figures_to_json` wrote."""
    return [figure_from_dict(entry) for entry in data]


def _plain(value: Any) -> Any:
    """Tuples as lists, numpy numbers as Python numbers, recursively."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Sequence) or hasattr(value, "tolist"):
        listed = value.tolist() if hasattr(value, "tolist") else value
        return [_plain(item) for item in listed] if isinstance(listed, list | tuple) else listed
    if hasattr(value, "item"):
        return value.item()
    return value
