"""Scoring detections: F1 at IoU >= 0.5 with greedy matching by score, and COCO mAP.

F1, the task's ranking metric. Per image and per class, the predictions whose
score is ``>=`` the score threshold are taken in descending order of score
(equal scores: in the order given); each is matched to the still unmatched
ground-truth box of its class with the highest IoU, if that IoU is ``>=``
``iou`` (0.5). A matched prediction is a true positive (TP), an unmatched one
a false positive (FP), a ground-truth box left unmatched a false negative
(FN). The counts are summed over all images and classes (micro average):

    F1 = 2 TP / (2 TP + FP + FN),  precision = TP / (TP + FP),  recall = TP / (TP + FN)

An image without ground truth makes each of its predictions an FP; an image
without ground truth and without predictions adds nothing. Each ratio is 0
when its denominator is 0, so F1 is 0 when there is nothing at all (no
ground truth, no prediction).

Because the matching is greedy in score order, a prediction's fate depends
only on the predictions scored above it. Raising the threshold therefore
removes the lowest-scored predictions and leaves the matches of the others
as they were: one matching of all predictions (:func:`match_predictions`)
gives the counts at every threshold as cumulative sums. That is how
:func:`best_score_threshold` finds the F1-best threshold on the training
folds with one sort and one matching.

mAP@0.5 and mAP@[.5:.95] are COCO's, computed by torchmetrics'
``MeanAveragePrecision`` with the ``faster_coco_eval`` backend on all
predictions (no score threshold, as COCO does; COCO keeps the 100 best of
each image). COCO averages over the classes that have ground truth, so the
false positives of a class without any ground truth do not lower mAP; with
no ground truth at all, mAP is undefined (NaN).

Per class (the report's bars): :func:`per_class_f1` scores each class's
predictions against that class's ground truth with the same matching (a
prediction only ever matches a box of its own class, so the classes' counts
add up to the micro-averaged ones), and :func:`per_class_average_precision`
gives each class's COCO AP at IoU 0.5, whose mean over the classes with
ground truth is mAP@0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torchvision.ops import box_iou

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "IOU_THRESHOLD",
    "Detections",
    "Matches",
    "best_score_threshold",
    "detection_f1",
    "detection_metrics",
    "match_predictions",
    "mean_average_precision",
    "per_class_average_precision",
    "per_class_f1",
]

#: A prediction matches a ground-truth box from this IoU on.
IOU_THRESHOLD = 0.5
#: Score threshold returned when the predictions cannot choose one (no prediction is a TP).
DEFAULT_SCORE_THRESHOLD = 0.5


def _boxes_array(boxes: object, what: str) -> np.ndarray:
    array = np.asarray(boxes, dtype=np.float32)
    if array.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{what} must be an array [n, 4] of x1, y1, x2, y2, but got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must be finite, but some coordinates are NaN or infinite.")
    if (array[:, 2] < array[:, 0]).any() or (array[:, 3] < array[:, 1]).any():
        raise ValueError(
            f"{what} must be x1, y1, x2, y2 with x1 <= x2 and y1 <= y2, but some boxes are inverted "
            "(x, y, width, height boxes? convert them with torchvision.ops.box_convert)."
        )
    return array


def _labels_array(labels: object, n: int, what: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.size == 0 and n == 0:
        return np.zeros(0, dtype=np.int64)
    if array.shape != (n,):
        raise ValueError(f"{what} must be an array [{n}], one label per box, but got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must hold integer class labels, but got dtype {array.dtype}.")
    return array.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Detections:
    """One image's predictions.

    Attributes:
        boxes: float32 ``[n, 4]``, ``x1, y1, x2, y2`` in pixels.
        scores: float32 ``[n]``, confidences in ``[0, 1]``.
        labels: int64 ``[n]``, class labels (``1..C``).

    The constructor converts array-likes (CPU tensors too) to these dtypes
    and raises ``ValueError`` on wrong shapes, inverted boxes or scores
    outside ``[0, 1]``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        boxes = _boxes_array(self.boxes, "Detections.boxes")
        n = len(boxes)
        scores = np.asarray(self.scores, dtype=np.float32)
        if scores.size == 0 and n == 0:
            scores = np.zeros(0, dtype=np.float32)
        if scores.shape != (n,):
            raise ValueError(
                f"Detections.scores must be an array [{n}], one score per box, but got shape {scores.shape}."
            )
        if not ((scores >= 0) & (scores <= 1)).all():
            raise ValueError(
                "Detections.scores must be confidences in [0, 1] (apply a sigmoid or softmax to logits), "
                f"but got values from {scores.min()} to {scores.max()}."
            )
        labels = _labels_array(self.labels, n, "Detections.labels")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels)

    @classmethod
    def empty(cls) -> Detections:
        """An image without predictions."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.scores)


class Matches(NamedTuple):
    """All predictions of a set of images after greedy matching, by descending score."""

    #: float32 ``[n]``, descending (equal scores: by image, then in the order given).
    scores: np.ndarray
    #: bool ``[n]``, whether each prediction is a true positive.
    is_true_positive: np.ndarray
    #: Ground-truth boxes over all images (TP + FN at any threshold).
    n_truth: int


def _check_iou(iou: float) -> None:
    if not 0 < iou <= 1:
        raise ValueError(f"iou must be in (0, 1], but got {iou=}.")


def _check_images(
    predictions: Sequence[Detections], truth_boxes: Sequence[object], truth_labels: Sequence[object]
) -> None:
    if not len(predictions) == len(truth_boxes) == len(truth_labels):
        raise ValueError(
            "predictions, truth_boxes and truth_labels must hold one entry per image, but got "
            f"{len(predictions)}, {len(truth_boxes)} and {len(truth_labels)}."
        )
    for index, detections in enumerate(predictions):
        if not isinstance(detections, Detections):
            raise TypeError(
                f"predictions[{index}] must be a Detections, but got {type(detections).__name__}."
            )


def _truth_image(boxes: object, labels: object, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Image ``index``'s ground truth as checked arrays: boxes ``[m, 4]`` and labels ``[m]``."""
    gt_boxes = _boxes_array(boxes, f"truth_boxes[{index}]")
    return gt_boxes, _labels_array(labels, len(gt_boxes), f"truth_labels[{index}]")


def _match_image(
    boxes: np.ndarray, labels: np.ndarray, truth_boxes: np.ndarray, truth_labels: np.ndarray, iou: float
) -> np.ndarray:
    """Whether each prediction (given by descending score) is a TP of the image's ground truth."""
    is_tp = np.zeros(len(boxes), dtype=bool)
    if len(boxes) == 0 or len(truth_boxes) == 0:
        return is_tp
    overlap = box_iou(torch.from_numpy(boxes).double(), torch.from_numpy(truth_boxes).double()).numpy()
    # -1 marks pairs that can never match: another class, too little overlap (NaN for empty boxes).
    overlap[~(overlap >= iou) | (labels[:, None] != truth_labels[None, :])] = -1.0
    for row in np.flatnonzero((overlap >= iou).any(axis=1)):
        column = int(overlap[row].argmax())
        if overlap[row, column] >= iou:
            is_tp[row] = True
            overlap[:, column] = -1.0
    return is_tp


def match_predictions(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
    *,
    iou: float = IOU_THRESHOLD,
) -> Matches:
    """Matches all predictions (no score threshold) greedily by score, image by image.

    Args:
        predictions: One :class:`Detections` per image.
        truth_boxes: One float array ``[m, 4]`` (``x1, y1, x2, y2``) per image.
        truth_labels: One int array ``[m]`` per image.
        iou: A prediction matches a ground-truth box of its class from this IoU on.

    Returns:
        The predictions of all images by descending score, whether each is a
        TP, and the number of ground-truth boxes. The predictions with score
        ``>= t`` are a prefix of this order and their matches are those they
        would get if they were matched alone, so the counts at threshold ``t``
        are sums over that prefix.
    """
    _check_iou(iou)
    _check_images(predictions, truth_boxes, truth_labels)
    scores, is_tp, n_truth = [], [], 0
    for index, (detections, boxes, labels) in enumerate(zip(predictions, truth_boxes, truth_labels)):
        gt_boxes, gt_labels = _truth_image(boxes, labels, index)
        n_truth += len(gt_boxes)
        order = np.argsort(-detections.scores, kind="stable")
        scores.append(detections.scores[order])
        boxes_by_score, labels_by_score = detections.boxes[order], detections.labels[order]
        is_tp.append(_match_image(boxes_by_score, labels_by_score, gt_boxes, gt_labels, iou))
    all_scores = np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)
    all_tp = np.concatenate(is_tp) if is_tp else np.zeros(0, dtype=bool)
    order = np.argsort(-all_scores, kind="stable")
    return Matches(all_scores[order], all_tp[order], n_truth)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _scores_at(matches: Matches, score_threshold: float) -> dict[str, float]:
    if not math.isfinite(score_threshold):
        raise ValueError(f"score_threshold must be a finite number, but got {score_threshold=}.")
    kept = matches.scores >= score_threshold
    tp = int(matches.is_true_positive[kept].sum())
    fp = int(kept.sum()) - tp
    fn = matches.n_truth - tp
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def detection_f1(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
    *,
    score_threshold: float,
    iou: float = IOU_THRESHOLD,
) -> dict[str, float]:
    """F1 at IoU >= ``iou`` of the predictions with score ``>= score_threshold``.

    Arguments as for :func:`match_predictions`.

    Returns:
        ``f1``, ``precision`` and ``recall`` (each 0 when its denominator is
        0), and the counts ``tp``, ``fp`` and ``fn`` (ints), micro-averaged
        over classes and images.
    """
    matches = match_predictions(predictions, truth_boxes, truth_labels, iou=iou)
    return _scores_at(matches, score_threshold)


def best_score_threshold(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
    *,
    iou: float = IOU_THRESHOLD,
) -> float:
    """Returns the score threshold with the best :func:`detection_f1`.

    Meant for the training folds' predictions, like a tabular decision
    threshold. Each candidate lies midway between two neighbouring distinct
    scores (the lowest one at half the lowest score), so that it generalises
    to new predictions rather than sitting on an observed score. Among
    candidates with the same best F1 the lowest is returned (at equal F1,
    more recall). Returns :data:`DEFAULT_SCORE_THRESHOLD` when no prediction
    is a TP (no prediction, no ground truth, or no match): then every
    threshold gives F1 0 and the predictions cannot choose one.

    Arguments as for :func:`match_predictions`.
    """
    scores, is_tp, n_truth = match_predictions(predictions, truth_boxes, truth_labels, iou=iou)
    if not is_tp.any():
        return DEFAULT_SCORE_THRESHOLD
    true_positives = np.cumsum(is_tp)
    kept = np.arange(1, len(scores) + 1)
    f1 = 2 * true_positives / (kept + n_truth)  # 2 TP + FP + FN = (TP + FP) + (TP + FN)
    # A threshold keeps all predictions of equal score or none: cut only after a run's last one.
    last_of_value = np.append(scores[1:] != scores[:-1], True)
    f1 = np.where(last_of_value, f1, -1.0)
    thresholds = (scores.astype(np.float64) + np.append(scores[1:], 0.0)) / 2
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(thresholds[best[-1]])


def _coco_map(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
    *,
    per_class_at: float | None = None,
) -> dict[str, torch.Tensor] | None:
    """torchmetrics' COCO evaluation of all predictions (at IoU ``per_class_at``
    only, per class, when given); None when there is no ground-truth box at all."""
    _check_images(predictions, truth_boxes, truth_labels)
    targets = []
    for index, (boxes, labels) in enumerate(zip(truth_boxes, truth_labels)):
        gt_boxes, gt_labels = _truth_image(boxes, labels, index)
        targets.append({"boxes": torch.from_numpy(gt_boxes), "labels": torch.from_numpy(gt_labels)})
    if sum(len(target["labels"]) for target in targets) == 0:
        return None
    from torchmetrics.detection import MeanAveragePrecision

    per_class = {} if per_class_at is None else {"iou_thresholds": [per_class_at], "class_metrics": True}
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="faster_coco_eval", **per_class)
    preds = [
        {
            "boxes": torch.from_numpy(detections.boxes),
            "scores": torch.from_numpy(detections.scores),
            "labels": torch.from_numpy(detections.labels),
        }
        for detections in predictions
    ]
    metric.update(preds, targets)
    return metric.compute()


def mean_average_precision(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
) -> dict[str, float]:
    """COCO mAP of all predictions (no score threshold).

    Arguments as for :func:`match_predictions`.

    Returns:
        ``map_50`` (mAP at IoU 0.5) and ``map`` (mAP averaged over IoU 0.5,
        0.55, ..., 0.95), both NaN when there is no ground-truth box at all.
    """
    result = _coco_map(predictions, truth_boxes, truth_labels)
    if result is None:
        return {"map_50": math.nan, "map": math.nan}
    return {"map_50": float(result["map_50"]), "map": float(result["map"])}


def per_class_average_precision(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
) -> dict[int, float]:
    """COCO AP at IoU 0.5 of all predictions (no score threshold), per class.

    Arguments as for :func:`match_predictions`.

    Returns:
        Each label with a ground-truth box and its AP; their mean is
        ``map_50`` of :func:`mean_average_precision`. Empty when there is no
        ground-truth box at all.
    """
    result = _coco_map(predictions, truth_boxes, truth_labels, per_class_at=IOU_THRESHOLD)
    if result is None:
        return {}
    present = {int(label) for labels in truth_labels for label in np.asarray(labels).reshape(-1)}
    classes, scores = result["classes"].reshape(-1).tolist(), result["map_per_class"].reshape(-1).tolist()
    return {int(label): float(ap) for label, ap in zip(classes, scores, strict=True) if int(label) in present}


def _of_class(detections: Detections, label: int) -> Detections:
    chosen = detections.labels == label
    return Detections(detections.boxes[chosen], detections.scores[chosen], detections.labels[chosen])


def per_class_f1(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
    *,
    score_threshold: float,
    iou: float = IOU_THRESHOLD,
) -> dict[int, dict[str, float]]:
    """:func:`detection_f1` of each class alone: its predictions scoring
    ``>= score_threshold`` against its ground-truth boxes.

    Arguments as for :func:`detection_f1`.

    Returns:
        Each label with a ground-truth box or a kept prediction, by label, and
        its scores and counts; the counts add up to :func:`detection_f1`'s.
    """
    _check_images(predictions, truth_boxes, truth_labels)
    truth = [_truth_image(boxes, labels, index)
             for index, (boxes, labels) in enumerate(zip(truth_boxes, truth_labels))]
    kept = [detections.labels[detections.scores >= score_threshold] for detections in predictions]
    present = sorted({int(label) for labels in kept + [labels for _, labels in truth] for label in labels})
    scores = {}
    for label in present:
        scores[label] = detection_f1(
            [_of_class(detections, label) for detections in predictions],
            [boxes[labels == label] for boxes, labels in truth],
            [labels[labels == label] for _, labels in truth],
            score_threshold=score_threshold, iou=iou,
        )
    return scores


def detection_metrics(
    predictions: Sequence[Detections],
    truth_boxes: Sequence[np.ndarray],
    truth_labels: Sequence[np.ndarray],
    *,
    score_threshold: float,
) -> dict[str, float]:
    """The task's scores: F1, precision and recall at IoU >= 0.5 of the
    predictions with score ``>= score_threshold`` (:func:`detection_f1`), and
    ``map_50`` and ``map`` of all predictions (:func:`mean_average_precision`).
    """
    counts = detection_f1(predictions, truth_boxes, truth_labels, score_threshold=score_threshold)
    return {
        "f1": counts["f1"],
        "precision": counts["precision"],
        "recall": counts["recall"],
        **mean_average_precision(predictions, truth_boxes, truth_labels),
    }
