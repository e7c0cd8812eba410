"""F1 at IoU >= 0.5 by hand and against brute force; the F1-best score threshold; COCO mAP;
both per class."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fg_automl_detection._metrics import (
    DEFAULT_SCORE_THRESHOLD,
    Detections,
    best_score_threshold,
    detection_f1,
    detection_metrics,
    match_predictions,
    mean_average_precision,
    per_class_average_precision,
    per_class_f1,
)


def _detections(rows: list[tuple[list[float], float, int]]) -> Detections:
    """``rows``: (box, score, label) per prediction."""
    if not rows:
        return Detections.empty()
    return Detections(
        boxes=np.array([box for box, _, _ in rows], dtype=np.float32),
        scores=np.array([score for _, score, _ in rows], dtype=np.float32),
        labels=np.array([label for _, _, label in rows], dtype=np.int64),
    )


def _truth(rows: list[tuple[list[float], int]]) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.array([box for box, _ in rows], dtype=np.float32).reshape(-1, 4)
    return boxes, np.array([label for _, label in rows], dtype=np.int64)


def _hand_example():
    """Four images; ground truth A, B (class 1, image 1) and C (class 2, image 2)."""
    a, b, c = [0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 10]
    predictions = [
        _detections([
            ([0, 0, 10, 10], 0.9, 1),  # on A (IoU 1): TP
            ([1, 0, 11, 10], 0.8, 1),  # duplicate of A (IoU 90/110 = 0.82), A already taken: FP
            ([20, 0, 30, 4], 0.7, 1),  # on B with IoU 40/100 = 0.4 < 0.5: FP; B stays unmatched: FN
        ]),
        _detections([([0, 0, 10, 10], 0.6, 1)]),  # on C but class 1, C is class 2: FP, and C: FN
        _detections([([5, 5, 15, 15], 0.3, 1)]),  # image without ground truth: FP
        _detections([]),  # no ground truth, no prediction: nothing
    ]
    truths = [_truth([(a, 1), (b, 1)]), _truth([(c, 2)]), _truth([]), _truth([])]
    return predictions, [boxes for boxes, _ in truths], [labels for _, labels in truths]


def test_hand_computed_example_at_threshold_zero() -> None:
    # TP 1 (A), FP 4 (duplicate, IoU 0.4, wrong class, empty image), FN 2 (B, C):
    # F1 = 2 / (2 + 4 + 2) = 0.25, precision 1/5, recall 1/3.
    scores = detection_f1(*_hand_example(), score_threshold=0.0)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 4, 2)
    assert scores["f1"] == pytest.approx(0.25)
    assert scores["precision"] == pytest.approx(0.2)
    assert scores["recall"] == pytest.approx(1 / 3)


def test_the_threshold_changes_the_result() -> None:
    # At 0.85 only the 0.9 prediction counts: TP 1, FP 0, FN 2: F1 = 2 / (2 + 0 + 2) = 0.5.
    scores = detection_f1(*_hand_example(), score_threshold=0.85)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 0, 2)
    assert scores["f1"] == pytest.approx(0.5) and scores["precision"] == 1.0
    # At 0.65 also the duplicate and the IoU-0.4 prediction: TP 1, FP 2, FN 2: F1 = 2 / 6.
    scores = detection_f1(*_hand_example(), score_threshold=0.65)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 2, 2)
    assert scores["f1"] == pytest.approx(1 / 3)
    # A score equal to the threshold counts.
    assert detection_f1(*_hand_example(), score_threshold=np.float32(0.9))["tp"] == 1
    # Above every score: TP 0, FP 0, FN 3: F1 0.
    scores = detection_f1(*_hand_example(), score_threshold=0.95)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (0, 0, 3)
    assert scores["f1"] == scores["precision"] == scores["recall"] == 0.0


def test_best_threshold_of_the_hand_example() -> None:
    # Keeping the k best of 0.9, 0.8, 0.7, 0.6, 0.3 gives F1 2/4, 2/5, 2/6, 2/7, 2/8: keep only the 0.9.
    threshold = best_score_threshold(*_hand_example())
    assert threshold == pytest.approx(0.85)
    assert detection_f1(*_hand_example(), score_threshold=threshold)["f1"] == pytest.approx(0.5)


def test_nothing_at_all_gives_f1_zero() -> None:
    empty = ([Detections.empty()] * 2, [np.zeros((0, 4))] * 2, [np.zeros(0, np.int64)] * 2)
    assert detection_f1(*empty, score_threshold=0.5) == {
        "f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 0, "fn": 0
    }
    assert detection_f1([], [], [], score_threshold=0.5)["f1"] == 0.0
    assert best_score_threshold(*empty) == DEFAULT_SCORE_THRESHOLD
    assert math.isnan(mean_average_precision(*empty)["map"])


def test_without_a_true_positive_the_threshold_is_the_default() -> None:
    predictions = [_detections([([0, 0, 10, 10], 0.7, 1)])]
    no_truth = _truth([])
    assert best_score_threshold(predictions, [no_truth[0]], [no_truth[1]]) == DEFAULT_SCORE_THRESHOLD
    far = _truth([([50, 50, 60, 60], 1)])
    assert best_score_threshold(predictions, [far[0]], [far[1]]) == DEFAULT_SCORE_THRESHOLD


def test_a_lower_score_with_a_higher_iou_does_not_steal_the_match() -> None:
    boxes, labels = _truth([([0, 0, 10, 10], 1)])
    predictions = _detections([
        ([0, 0, 10, 10], 0.5, 1),  # IoU 1, but scored lower: FP
        ([0, 0, 10, 6], 0.9, 1),  # IoU 0.6, scored higher: TP
    ])
    matches = match_predictions([predictions], [boxes], [labels])
    assert matches.scores.tolist() == pytest.approx([0.9, 0.5])
    assert matches.is_true_positive.tolist() == [True, False]


def test_each_prediction_takes_the_unmatched_truth_of_highest_iou() -> None:
    # G1 = x 0..10, G2 = x 4..14. The 0.9 prediction (x 1..11) has IoU 9/11 with G1 and 7/13 with G2:
    # it takes G1. The 0.5 one (x 0..10, IoU 1 with G1, 6/14 with G2) finds G1 taken and G2 below 0.5.
    # Greedy gives TP 1, FP 1, FN 1 (F1 0.5), though pairing 0.9 with G2 would have matched both.
    boxes, labels = _truth([([0, 0, 10, 10], 1), ([4, 0, 14, 10], 1)])
    predictions = _detections([([0, 0, 10, 10], 0.5, 1), ([1, 0, 11, 10], 0.9, 1)])
    scores = detection_f1([predictions], [boxes], [labels], score_threshold=0.0)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 1)
    assert scores["f1"] == pytest.approx(0.5)


# ---------------------------------------------------------------- brute force


def _iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _brute_force_f1(predictions, truth_boxes, truth_labels, threshold: float) -> float:
    """Drops the predictions under ``threshold``, then matches the rest from scratch, in plain Python."""
    tp = fp = fn = 0
    for detections, boxes, labels in zip(predictions, truth_boxes, truth_labels):
        kept = [i for i in range(len(detections)) if detections.scores[i] >= threshold]
        kept.sort(key=lambda i: -float(detections.scores[i]))  # stable: equal scores in the order given
        unmatched = set(range(len(boxes)))
        for i in kept:
            candidates = [
                (_iou(detections.boxes[i].tolist(), boxes[j].tolist()), -j)
                for j in sorted(unmatched)
                if labels[j] == detections.labels[i]
            ]
            best = max(candidates, default=(0.0, 0))
            if best[0] >= 0.5:
                tp += 1
                unmatched.remove(-best[1])
            else:
                fp += 1
        fn += len(unmatched)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _random_images(seed: int, n_images: int = 25):
    rng = np.random.default_rng(seed)
    predictions, truth_boxes, truth_labels = [], [], []
    for _ in range(n_images):
        n_truth = int(rng.integers(0, 5))
        corners = rng.uniform(0, 80, size=(n_truth, 2))
        boxes = np.hstack([corners, corners + rng.uniform(5, 20, size=(n_truth, 2))])
        labels = rng.integers(1, 4, size=n_truth)
        # Noisy copies of the truth (some duplicated, some with the wrong class) and random boxes.
        copies = rng.integers(0, n_truth, size=int(rng.integers(0, 2 * n_truth + 1))) if n_truth else []
        copied = boxes[copies] + rng.normal(scale=2.5, size=(len(copies), 4))
        copied[:, 2:] = np.maximum(copied[:, 2:], copied[:, :2] + 1)
        relabelled = rng.random(len(copies)) < 0.15
        copied_labels = np.where(relabelled, rng.integers(1, 4, len(copies)), labels[copies])
        n_random = int(rng.integers(0, 4))
        random_corners = rng.uniform(0, 80, size=(n_random, 2))
        random_boxes = np.hstack([random_corners, random_corners + rng.uniform(5, 20, size=(n_random, 2))])
        all_boxes = np.vstack([copied, random_boxes])
        scores = np.round(rng.random(len(all_boxes)), 1)  # rounded: many equal scores
        all_labels = np.concatenate([copied_labels, rng.integers(1, 4, n_random)]).astype(np.int64)
        predictions.append(Detections(all_boxes, scores, all_labels))
        truth_boxes.append(boxes.astype(np.float32))
        truth_labels.append(labels.astype(np.int64))
    return predictions, truth_boxes, truth_labels


def _candidate_thresholds(predictions) -> np.ndarray:
    scores = np.unique(np.concatenate([detections.scores for detections in predictions]))[::-1]
    return (scores.astype(np.float64) + np.append(scores[1:], 0.0)) / 2


@pytest.mark.parametrize("seed", range(6))
def test_matching_once_equals_rematching_at_every_threshold(seed) -> None:
    data = _random_images(seed)
    for threshold in [*_candidate_thresholds(data[0]), 0.0, 0.55, 1.0]:
        expected = _brute_force_f1(*data, threshold)
        assert detection_f1(*data, score_threshold=threshold)["f1"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_best_threshold_equals_brute_force(seed) -> None:
    data = _random_images(seed)
    candidates = _candidate_thresholds(data[0])
    f1 = np.array([_brute_force_f1(*data, threshold) for threshold in candidates])
    assert f1.max() > 0
    lowest_best = candidates[np.flatnonzero(f1 == f1.max())[-1]]  # candidates descend
    assert best_score_threshold(*data) == pytest.approx(lowest_best, abs=1e-12)


def test_three_hundred_images_of_fifty_predictions_are_scored_consistently() -> None:
    """The size a search scores (timings are in the closing note, not asserted here)."""
    rng = np.random.default_rng(0)
    predictions, truth_boxes, truth_labels = [], [], []
    for _ in range(300):
        corners = rng.uniform(0, 200, size=(10, 2))
        boxes = np.hstack([corners, corners + rng.uniform(10, 50, size=(10, 2))]).astype(np.float32)
        guesses = boxes[rng.integers(0, 10, 50)] + rng.normal(scale=4, size=(50, 4)).astype(np.float32)
        guesses[:, 2:] = np.maximum(guesses[:, 2:], guesses[:, :2] + 1)
        labels = rng.integers(1, 4, 10)
        predictions.append(Detections(guesses, rng.random(50), labels[rng.integers(0, 10, 50)]))
        truth_boxes.append(boxes)
        truth_labels.append(labels)
    threshold = best_score_threshold(predictions, truth_boxes, truth_labels)
    f1 = detection_f1(predictions, truth_boxes, truth_labels, score_threshold=threshold)["f1"]
    assert 0 < f1 < 1
    scores = detection_metrics(predictions, truth_boxes, truth_labels, score_threshold=threshold)
    assert scores["f1"] == f1 and 0 < scores["map"] < scores["map_50"] < 1


# ---------------------------------------------------------------- mAP


def test_perfect_predictions_have_map_one() -> None:
    boxes, labels = _truth([([0, 0, 10, 10], 1), ([20, 20, 40, 30], 2)])
    predictions = [Detections(boxes, np.array([0.9, 0.8]), labels)]
    assert mean_average_precision(predictions, [boxes], [labels]) == {"map_50": 1.0, "map": 1.0}


def test_map_of_a_hand_computed_ranking() -> None:
    # Three truths, four predictions by score: TP (exact), FP (far away), TP, TP.
    # Recall 1/3, 1/3, 2/3, 1; precision 1, 1/2, 2/3, 3/4; COCO's envelope (the best precision at
    # this recall or more): 1, 3/4, 3/4, 3/4. Of the 101 recall points 0, 0.01, ..., 1 the 34 up
    # to 0.33 get 1 and the other 67 get 3/4: AP = (34 + 67 * 0.75) / 101, at every IoU threshold.
    truth = [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]
    boxes, labels = _truth([(box, 1) for box in truth])
    predictions = [_detections([
        (truth[0], 0.9, 1), ([100, 100, 110, 110], 0.8, 1), (truth[1], 0.7, 1), (truth[2], 0.6, 1)
    ])]
    scores = mean_average_precision(predictions, [boxes], [labels])
    expected = (34 + 67 * 0.75) / 101
    assert scores["map_50"] == pytest.approx(expected, abs=1e-4)
    assert scores["map"] == pytest.approx(expected, abs=1e-4)


def test_map_averages_over_iou_thresholds() -> None:
    # IoU 0.62 matches at the thresholds 0.5, 0.55 and 0.6 (AP 1) and not at 0.65..0.95 (AP 0):
    # mAP@0.5 = 1, mAP@[.5:.95] = 3/10.
    boxes, labels = _truth([([0, 0, 10, 10], 1)])
    predictions = [_detections([([0, 0, 10, 6.2], 0.9, 1)])]
    scores = mean_average_precision(predictions, [boxes], [labels])
    assert scores["map_50"] == pytest.approx(1.0)
    assert scores["map"] == pytest.approx(0.3)


def test_detection_metrics_report_f1_at_the_threshold_and_map_of_all_predictions() -> None:
    data = _hand_example()
    scores = detection_metrics(*data, score_threshold=0.85)
    assert set(scores) == {"f1", "precision", "recall", "map_50", "map"}
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["map_50"] == pytest.approx(mean_average_precision(*data)["map_50"])


# ---------------------------------------------------------------- per class


def test_per_class_f1_of_the_hand_example_adds_up_to_the_micro_counts() -> None:
    # Class 1: TP 1 (A), FP 4 (duplicate, IoU 0.4, the class-1 box on C, the empty image), FN 1 (B):
    # F1 = 2 / (2 + 4 + 1). Class 2: no prediction, C missed: TP 0, FP 0, FN 1, F1 0.
    scores = per_class_f1(*_hand_example(), score_threshold=0.0)
    assert sorted(scores) == [1, 2]
    assert (scores[1]["tp"], scores[1]["fp"], scores[1]["fn"]) == (1, 4, 1)
    assert scores[1]["f1"] == pytest.approx(2 / 7)
    assert (scores[2]["tp"], scores[2]["fp"], scores[2]["fn"], scores[2]["f1"]) == (0, 0, 1, 0.0)
    for threshold in (0.0, 0.65, 0.85, 0.95):
        micro = detection_f1(*_hand_example(), score_threshold=threshold)
        by_class = per_class_f1(*_hand_example(), score_threshold=threshold)
        for count in ("tp", "fp", "fn"):
            assert sum(scores[count] for scores in by_class.values()) == micro[count]


def test_per_class_f1_names_a_class_found_above_the_threshold_without_truth() -> None:
    predictions, boxes, labels = _hand_example()
    predictions[3] = _detections([([0, 0, 5, 5], 0.7, 3), ([0, 0, 5, 5], 0.2, 4)])
    scores = per_class_f1(predictions, boxes, labels, score_threshold=0.5)
    assert sorted(scores) == [1, 2, 3]  # class 4's only prediction scores below the threshold
    assert (scores[3]["tp"], scores[3]["fp"], scores[3]["fn"], scores[3]["f1"]) == (0, 1, 0, 0.0)


def test_per_class_ap_of_the_hand_example_and_its_mean_is_map_50() -> None:
    # Class 1 by score: TP, then four FPs; 2 true boxes, so recall stops at 1/2 with precision 1:
    # of COCO's 101 recall points the 51 up to 0.5 get 1, the rest 0. Class 2: nothing found, AP 0.
    # A class found but without truth (3) has no AP, as COCO leaves it out of mAP.
    predictions, boxes, labels = _hand_example()
    predictions[3] = _detections([([0, 0, 5, 5], 0.7, 3)])
    ap = per_class_average_precision(predictions, boxes, labels)
    assert sorted(ap) == [1, 2]
    assert ap[1] == pytest.approx(51 / 101, abs=1e-4) and ap[2] == 0.0
    map_50 = mean_average_precision(predictions, boxes, labels)["map_50"]
    assert np.mean(list(ap.values())) == pytest.approx(map_50)


def test_per_class_scores_without_truth() -> None:
    predictions = [_detections([([0, 0, 10, 10], 0.7, 2)])]
    no_truth = _truth([])
    assert per_class_average_precision(predictions, [no_truth[0]], [no_truth[1]]) == {}
    assert per_class_f1(predictions, [no_truth[0]], [no_truth[1]], score_threshold=0.5) == {
        2: {"f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 1, "fn": 0}
    }
    assert per_class_f1([], [], [], score_threshold=0.5) == {}


# ---------------------------------------------------------------- bad input


def test_detections_convert_and_check_their_arrays() -> None:
    detections = Detections([[0, 0, 1, 1]], [0.5], [1])
    assert detections.boxes.dtype == np.float32 and detections.labels.dtype == np.int64
    assert len(Detections([], [], [])) == 0
    with pytest.raises(ValueError, match=r"\[n, 4\]"):
        Detections([[0, 0, 1]], [0.5], [1])
    with pytest.raises(ValueError, match="x1 <= x2"):
        Detections([[5, 0, 1, 1]], [0.5], [1])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        Detections([[0, 0, 1, 1]], [3.2], [1])
    with pytest.raises(ValueError, match="one label per box"):
        Detections([[0, 0, 1, 1]], [0.5], [1, 2])
    with pytest.raises(ValueError, match="integer"):
        Detections([[0, 0, 1, 1]], [0.5], [1.5])


def test_inputs_must_have_one_entry_per_image() -> None:
    predictions, boxes, labels = _hand_example()
    with pytest.raises(ValueError, match="one entry per image"):
        detection_f1(predictions, boxes[:3], labels, score_threshold=0.5)
    with pytest.raises(ValueError, match=r"truth_labels\[1\]"):
        detection_f1(predictions, boxes, [labels[0], labels[0], labels[2], labels[3]], score_threshold=0.5)
    with pytest.raises(ValueError, match="iou must be"):
        best_score_threshold(predictions, boxes, labels, iou=0.0)
    with pytest.raises(ValueError, match="finite"):
        detection_f1(predictions, boxes, labels, score_threshold=math.nan)
