"""The detection task's figures for the run's report, of the final model on the test images.

Always: each class's F1 at IoU 0.5 (the task's matching, at the model's score
threshold) and its COCO AP at IoU 0.5 (all detections), as bars: aggregates
only. Only for the built-in data (not private): the first few test images
that hold a true box or a detection, with the true boxes and the boxes found
(scoring at least the threshold) drawn in two colours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fg_automl_detection._columns import BOXES, IMAGE, LABELS
from fg_automl_detection._detector import detections_of
from fg_automl_detection._drawing import truth_and_found_png
from fg_automl_detection._metrics import (
    IOU_THRESHOLD,
    Detections,
    detection_f1,
    per_class_average_precision,
    per_class_f1,
)
from finegrain_automl import Dataset, FittedModel
from finegrain_automl.figures import Bars, Figure, Image

__all__ = ["MAX_PICTURES", "report_figures"]

#: Test images drawn with their boxes (built-in data only).
MAX_PICTURES = 4


def report_figures(model: FittedModel, data: Dataset, *, private: bool) -> list[Figure]:
    """The figures of ``model`` on the test images ``data`` (see the module's
    docstring): none for no image; no bars without a true box; no picture
    when ``private``."""
    if not len(data):
        return []
    found, threshold = detections_of(model.predict(data.features))
    truth_boxes, truth_labels = list(data.features[BOXES]), list(data.features[LABELS])
    names = list(data.info["categories"])
    figures: list[Figure] = []
    bars = class_scores(found, truth_boxes, truth_labels, names=names, score_threshold=threshold)
    if bars is not None:
        figures.append(bars)
    if not private:
        figures.extend(pictures(data.features, found, names=names, score_threshold=threshold))
    return figures


def class_scores(found: Sequence[Detections], truth_boxes: Sequence[np.ndarray],
                 truth_labels: Sequence[np.ndarray], *, names: Sequence[str],
                 score_threshold: float) -> Bars | None:
    """F1 and AP at IoU 0.5 of each class with a true box; None when there is none."""
    average_precision = per_class_average_precision(found, truth_boxes, truth_labels)
    if not average_precision:
        return None
    counts = per_class_f1(found, truth_boxes, truth_labels, score_threshold=score_threshold)
    shown = sorted(average_precision)
    caption = (f"F1: the detections scoring at least the model's threshold ({score_threshold:.2f}) "
               f"matched greedily by score to the true boxes of their class at IoU >= {IOU_THRESHOLD}, "
               f"as the task's F1. AP: COCO average precision at IoU {IOU_THRESHOLD} of all detections; "
               f"its mean is the test mAP@0.5. {sum(int(c['tp'] + c['fn']) for c in counts.values())} "
               f"true boxes in {len(found)} images.")
    unseen = [label for label in counts if label not in average_precision]
    if unseen:
        false_positives = sum(int(counts[label]["fp"]) for label in unseen)
        caption += (f" Not shown: {_class_list(unseen, names)}, without a true box here, whose "
                    f"{false_positives} detections count as false positives in F1.")
    return Bars(
        title=f"F1 and AP at IoU {IOU_THRESHOLD} per class (test images)",
        labels=[_name(label, names) for label in shown],
        series={"F1": [float(counts[label]["f1"]) for label in shown],
                f"AP@{IOU_THRESHOLD}": [average_precision[label] for label in shown]},
        y_label=f"score at IoU {IOU_THRESHOLD}",
        x_label="class",
        caption=caption,
    )


def pictures(features: pd.DataFrame, found: Sequence[Detections], *, names: Sequence[str],
             score_threshold: float) -> list[Image]:
    """Up to :data:`MAX_PICTURES` of the images with a true box or a detection
    scoring at least ``score_threshold``, in order, with both drawn."""
    drawn: list[Image] = []
    for position, detections in enumerate(found):
        kept = detections.scores >= score_threshold
        truth_boxes, truth_labels = features[BOXES].iloc[position], features[LABELS].iloc[position]
        if not len(truth_labels) and not kept.any():
            continue
        png = truth_and_found_png(
            features[IMAGE].iloc[position],
            truth_boxes=truth_boxes, truth_captions=[_name(label, names) for label in truth_labels],
            found_boxes=detections.boxes[kept],
            found_captions=[f"{_name(label, names)} {score:.2f}" for label, score
                            in zip(detections.labels[kept], detections.scores[kept], strict=True)],
        )
        right = detection_f1([detections], [truth_boxes], [truth_labels],
                             score_threshold=score_threshold)["tp"]
        drawn.append(Image(
            title=(f"Test image {len(drawn) + 1}: {len(truth_labels)} true boxes, {int(kept.sum())} found, "
                   f"{right} of them right"),
            png=png,
            caption=("True boxes in green, with the class under the box; boxes found (score at least "
                     f"{score_threshold:.2f}) in magenta, with class and score in their corner."),
        ))
        if len(drawn) == MAX_PICTURES:
            break
    return drawn


def _name(label: int, names: Sequence[str]) -> str:
    """Label ``label``'s category name (labels count from 1)."""
    return str(names[int(label) - 1])


def _class_list(labels: Sequence[int], names: Sequence[str]) -> str:
    return ", ".join(_name(label, names) for label in labels)
