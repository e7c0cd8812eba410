"""The detection task's report figures: per-class F1 and AP at IoU 0.5 on the test
images, consistent with the task's own metrics; test images with their true
boxes and the boxes found, only for data that are not private; nothing raised
for degenerate test images; figures that survive JSON and draw."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fg_automl_detection import DETECTION_FAMILIES, DetectionTask
from fg_automl_detection._columns import BOXES, IMAGE, LABELS
from fg_automl_detection._data import load_builtin
from fg_automl_detection._detector import DetectorModel, fit_detector
from fg_automl_detection._drawing import FOUND_COLOUR, TRUTH_COLOUR, truth_and_found_png
from fg_automl_detection._metrics import Detections
from fg_automl_detection._report import MAX_PICTURES, class_scores
from PIL import Image as PILImage

from finegrain_automl import Dataset, FitContext, FittedModel
from finegrain_automl.figures import Bars, Image, figures_from_json, figures_to_json
from finegrain_automl.report._plots import draw_figure

NAMES = ["digit_0", "digit_2", "digit_3", "digit_4", "digit_6"]


@pytest.fixture(scope="module")
def images() -> Dataset:
    return load_builtin(seed=1).take(np.arange(48))


@pytest.fixture(scope="module")
def model(images: Dataset) -> DetectorModel:
    """SSD, tiny, one epoch on 32 images: poor, but a real fitted model and its threshold."""
    return fit_detector(config={"image_size": 64, "batch_size": 4, "epochs": 1},
                        family=DETECTION_FAMILIES["ssd"], family_params={"width": 8, "depth": 1, "levels": 2},
                        train=images.take(np.arange(32)), context=FitContext(seed=0, max_epochs_cap=1))


@pytest.fixture(scope="module")
def test_rows(images: Dataset) -> Dataset:
    return images.take(np.arange(32, 48))


class _Oracle(FittedModel):
    """Finds the true boxes of some classes, under the label ``relabel`` maps them to, at score 0.9
    (threshold 0.5); with ``stray``, also a box of class 1 at the top left of every image."""

    def __init__(self, relabel: dict[int, int], *, stray: bool = False) -> None:
        self.relabel, self.stray = relabel, stray

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for boxes, labels in zip(features[BOXES], features[LABELS], strict=True):
            found = np.isin(labels, list(self.relabel))
            labels = np.array([self.relabel[int(label)] for label in labels[found]], np.int64)
            boxes = boxes[found]
            if self.stray:
                boxes, labels = np.vstack([boxes, [[2, 2, 20, 20]]]).astype(np.float32), np.append(labels, 1)
            rows.append({BOXES: boxes, "scores": np.full(len(labels), 0.9, np.float32), LABELS: labels})
        frame = pd.DataFrame(rows, columns=[BOXES, "scores", LABELS], index=features.index)
        frame["score_threshold"] = 0.5
        return frame

    def to_state(self) -> dict[str, Any]:
        raise NotImplementedError("not saved in these tests")


def _of_class(data: Dataset, predictions: pd.DataFrame, label: int) -> tuple[Dataset, pd.DataFrame]:
    """The test images and the predictions with the boxes of class ``label`` only."""
    features = data.features.copy()
    chosen = [labels == label for labels in features[LABELS]]
    features[BOXES] = [boxes[mask] for boxes, mask in zip(features[BOXES], chosen, strict=True)]
    features[LABELS] = [labels[mask] for labels, mask in zip(features[LABELS], chosen, strict=True)]
    predictions = predictions.copy()
    kept = [labels == label for labels in predictions[LABELS]]
    for column in (BOXES, "scores", LABELS):
        predictions[column] = [values[mask] for values, mask in zip(predictions[column], kept, strict=True)]
    return Dataset(features=features, target=None, info=data.info), predictions


def _bars(figures: list[Any]) -> Bars:
    (bars,) = [figure for figure in figures if isinstance(figure, Bars)]
    return bars


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB"))


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


# ---------------------------------------------------------------- per-class bars


def test_per_class_bars_equal_the_task_metrics_of_each_class_alone(model: DetectorModel,
                                                                    test_rows: Dataset) -> None:
    task = DetectionTask()
    bars = _bars(task.report_figures(model, test_rows, private=True))
    present = sorted(set(np.concatenate(list(test_rows.features[LABELS])).tolist()))
    assert bars.labels == [NAMES[label - 1] for label in present]  # each class with a true box, by label
    assert list(bars.series) == ["F1", "AP@0.5"]
    predictions = model.predict(test_rows.features)
    for position, label in enumerate(present):
        alone = task.metrics(*_of_class(test_rows, predictions, label))
        assert bars.series["F1"][position] == pytest.approx(alone["f1"])
        assert bars.series["AP@0.5"][position] == pytest.approx(alone["map_50"])  # mAP of one class: its AP
    assert np.mean(bars.series["AP@0.5"]) == pytest.approx(task.evaluate(model, test_rows)["map_50"])
    assert f"threshold ({model.score_threshold:.2f})" in bars.caption
    true_boxes = sum(len(labels) for labels in test_rows.features[LABELS])
    assert f"{true_boxes} true boxes in {len(test_rows)} images" in bars.caption


def test_bars_of_a_model_that_finds_two_classes_and_mistakes_a_third(test_rows: Dataset) -> None:
    # digit_0 and digit_2 found exactly: F1 and AP 1. digit_3 found as digit_4: digit_3 all missed,
    # digit_4's detections all false: F1 and AP 0 for both. digit_6 never found: 0.
    assert set(np.concatenate(list(test_rows.features[LABELS])).tolist()) == {1, 2, 3, 4, 5}
    bars = _bars(DetectionTask().report_figures(_Oracle({1: 1, 2: 2, 3: 4}), test_rows, private=True))
    assert bars.labels == NAMES
    assert bars.series == {"F1": [1.0, 1.0, 0.0, 0.0, 0.0], "AP@0.5": [1.0, 1.0, 0.0, 0.0, 0.0]}


def test_a_class_found_without_truth_is_left_out_and_named() -> None:
    truth_boxes = [np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32), np.zeros((0, 4), np.float32)]
    truth_labels = [np.array([1, 2]), np.zeros(0, np.int64)]
    found = [Detections([[0, 0, 10, 10]], [0.9], [1]),
             Detections([[5, 5, 9, 9], [1, 1, 4, 4]], [0.8, 0.1], [3, 3])]  # one class-3 box kept
    bars = class_scores(found, truth_boxes, truth_labels, names=["a", "b", "c"], score_threshold=0.5)
    assert bars.labels == ["a", "b"] and bars.series["F1"] == [1.0, 0.0]
    assert "Not shown: c, without a true box here, whose 1 detections count as false positives" \
        in bars.caption


# ---------------------------------------------------------------- pictures


def test_pictures_only_for_data_that_are_not_private(model: DetectorModel, test_rows: Dataset) -> None:
    task = DetectionTask()
    assert not any(isinstance(f, Image) for f in task.report_figures(model, test_rows, private=True))
    pictures = [f for f in task.report_figures(model, test_rows, private=False) if isinstance(f, Image)]
    assert len(pictures) == MAX_PICTURES
    found = model.predict(test_rows.features)["scores"]
    kept = [int((scores >= model.score_threshold).sum()) for scores in found]
    truth = [len(labels) for labels in test_rows.features[LABELS]]
    shown = [row for row in range(len(test_rows)) if truth[row] or kept[row]][:MAX_PICTURES]
    for picture, row in zip(pictures, shown, strict=True):  # the first images with a true box or a detection
        image = test_rows.features[IMAGE].iloc[row]
        assert f"{truth[row]} true boxes, {kept[row]} found" in picture.title
        assert _pixels(picture.png).shape == (2 * image.shape[0], 2 * image.shape[1], 3)  # 128-192 px: 2x
        assert len(picture.png) < 150_000


def test_a_picture_shows_the_true_boxes_and_the_boxes_found_in_their_colours() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    png = truth_and_found_png(image, truth_boxes=np.array([[5, 5, 20, 25]], np.float32), truth_captions=["a"],
                              found_boxes=np.array([[30, 2, 55, 18]], np.float32), found_captions=["b 0.90"])
    pixels = _pixels(png)
    assert pixels.shape == (80, 120, 3)  # enlarged 2x
    truth, found = (np.all(pixels == _rgb(colour), axis=2) for colour in (TRUTH_COLOUR, FOUND_COLOUR))
    assert truth[10, 12:38].all() and truth[10:48, 10].all()  # the true box's edges, at 2x
    assert found[4, 62:108].all() and found[4:36, 110].all()  # the found box's edges
    assert truth[51:64, 10:20].any()  # the true box's caption, under it
    assert not found[:, :58].any() and not truth[:, 58:].any()  # each colour stays with its own box
    assert not pixels[66:, 40:].any()  # nothing drawn away from the boxes


def test_pictures_are_never_enlarged_more_than_twice_nor_past_400_px() -> None:
    no_box = np.zeros((0, 4), np.float32)
    for side, drawn in [(30, 60), (150, 300), (300, 300)]:
        png = truth_and_found_png(np.zeros((side, side, 3), np.uint8), truth_boxes=no_box, truth_captions=[],
                                  found_boxes=no_box, found_captions=[])
        assert _pixels(png).shape == (drawn, drawn, 3) and not _pixels(png).any()


# ---------------------------------------------------------------- degenerate test images


def test_no_image_gives_no_figure(model: DetectorModel, test_rows: Dataset) -> None:
    assert DetectionTask().report_figures(model, test_rows.take(np.arange(0)), private=False) == []


def test_images_without_truth_give_no_bars(images: Dataset) -> None:
    empty = [i for i, labels in enumerate(images.features[LABELS]) if not len(labels)]
    assert empty  # the built-in data holds images without a digit
    rows = images.take(np.array(empty))
    assert DetectionTask().report_figures(_Oracle({}), rows, private=False) == []  # nothing true nor found
    figures = DetectionTask().report_figures(_Oracle({}, stray=True), rows, private=False)
    assert len(figures) == min(MAX_PICTURES, len(empty))  # the false detections, drawn; no bars
    assert all(isinstance(f, Image) and "0 true boxes, 1 found, 0 of them right" in f.title for f in figures)


def test_a_model_that_finds_nothing_gives_zero_bars_and_pictures_of_the_truth(test_rows: Dataset) -> None:
    figures = DetectionTask().report_figures(_Oracle({}), test_rows, private=False)
    bars = _bars(figures)
    assert bars.series["F1"] == [0.0] * 5 and bars.series["AP@0.5"] == [0.0] * 5
    assert all(", 0 found" in f.title for f in figures if isinstance(f, Image))


# ---------------------------------------------------------------- stored and drawn


def test_figures_round_trip_through_json_and_draw(model: DetectorModel, test_rows: Dataset) -> None:
    figures = list(DetectionTask().report_figures(model, test_rows, private=False))
    assert [type(f) for f in figures] == [Bars] + [Image] * MAX_PICTURES
    stored = json.loads(json.dumps(figures_to_json(figures), allow_nan=False))
    assert figures_from_json(stored) == figures
    for figure in figures:
        assert draw_figure(figure).startswith("data:image/png;base64,")
