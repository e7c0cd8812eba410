"""Training a detector: augmentation that moves the boxes with the pixels, the
held-out images that keep the best epoch and choose the threshold, the fitted
model's predictions, what ``predict`` writes and draws."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fg_automl_detection import DETECTION_FAMILIES, DetectionTask
from fg_automl_detection._columns import BOXES, FILE_NAME, IMAGE, IMAGE_ID, LABELS
from fg_automl_detection._data import load_builtin
from fg_automl_detection._detector import (
    HOLDOUT_SHARE,
    MIN_HOLDOUT,
    DetectorModel,
    _holdout_rows,
    fit_detector,
    training_options,
)
from fg_automl_detection._drawing import drawing_name
from fg_automl_detection._training import MIN_BOX_SIDE, _Images, augmentation
from PIL import Image

from finegrain_automl import Dataset, FitContext
from finegrain_automl.space import SpaceError

TINY = {"image_size": 64, "batch_size": 4, "epochs": 1}
TINY_PARAMS = {"ssd": {"width": 8, "depth": 1, "levels": 2}, "fcos": {"width": 8, "depth": 1, "levels": 2,
               "fpn_channels": 32, "head_convs": 1}, "retinanet": {"width": 8, "depth": 1, "levels": 2,
               "fpn_channels": 32}, "faster_rcnn": {"width": 8, "depth": 1, "levels": 2, "fpn_channels": 32,
               "representation": 64}}


@pytest.fixture(scope="module")
def images() -> Dataset:
    return load_builtin(seed=1).take(np.arange(40))


def _one_image(boxes: list[list[float]], labels: list[int], size: tuple[int, int] = (40, 60)):
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        pixels[int(y1):int(y2), int(x1):int(x2)] = 255
    return pixels, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def test_a_flip_moves_each_box_with_its_pixels() -> None:
    pixels, boxes, labels = _one_image([[5, 10, 15, 30], [40, 2, 58, 12]], [1, 2])
    image, target = _Images([pixels], [boxes], [labels], augmentation(augment=0.0, hflip=1.0))[0]
    assert image.shape == (3, 40, 60) and image.dtype == torch.float32 and float(image.max()) == 1.0
    flipped = target["boxes"].numpy()
    np.testing.assert_allclose(flipped, [[45, 10, 55, 30], [2, 2, 20, 12]])
    assert target["labels"].tolist() == [1, 2]
    white = image[0].numpy() == 1.0  # the white pixels are inside the flipped boxes
    ys, xs = np.nonzero(white)
    inside = np.zeros_like(white)
    for x1, y1, x2, y2 in flipped.astype(int):
        inside[y1:y2, x1:x2] = True
    assert inside[ys, xs].all()


def test_strong_augmentation_keeps_every_box_valid_and_inside_the_image() -> None:
    pixels, boxes, labels = _one_image([[0, 0, 6, 6], [20, 10, 50, 35], [52, 30, 60, 40]], [1, 2, 3])
    dataset = _Images([pixels] * 200, [boxes] * 200, [labels] * 200, augmentation(augment=1.0, hflip=0.5))
    torch.manual_seed(0)
    kept = []
    for index in range(200):
        image, target = dataset[index]
        out = target["boxes"].numpy()
        height, width = image.shape[1:]
        assert len(out) == len(target["labels"])
        assert (out[:, 2] - out[:, 0] >= MIN_BOX_SIDE).all() and (out[:, 3] - out[:, 1] >= MIN_BOX_SIDE).all()
        assert (out[:, :2] >= 0).all() and (out[:, 2] <= width).all() and (out[:, 3] <= height).all()
        kept.append(len(out))
    assert min(kept) < 3 and max(kept) == 3  # some boxes pushed out, usually all kept


def test_no_augmentation_is_no_transform() -> None:
    assert augmentation(augment=0.0, hflip=0.0) is None


def test_training_options_defaults_and_checks() -> None:
    defaults = training_options({})
    assert defaults == {"lr": 1e-3, "weight_decay": 1e-4, "epochs": 26, "batch_size": 8, "image_size": 160,
                        "augment": 0.0, "hflip": 0.5}
    for key, value in [("lr", 0.0), ("augment", 1.5), ("hflip", -0.1), ("image_size", 16), ("batch_size", 0)]:
        with pytest.raises(SpaceError, match=key):
            training_options({key: value})


def test_holdout_is_a_share_of_the_training_images_or_nothing() -> None:
    assert len(_holdout_rows(2 * MIN_HOLDOUT - 1, 0)) == 0
    assert len(_holdout_rows(2 * MIN_HOLDOUT, 0)) == MIN_HOLDOUT
    rows = _holdout_rows(200, 3)
    assert len(rows) == round(HOLDOUT_SHARE * 200) and len(set(rows.tolist())) == len(rows)
    np.testing.assert_array_equal(rows, _holdout_rows(200, 3))  # seeded


@pytest.mark.parametrize("family", sorted(DETECTION_FAMILIES))
def test_each_family_fits_one_epoch_and_predicts_every_image(images: Dataset, family: str) -> None:
    model = fit_detector(config=TINY, family=DETECTION_FAMILIES[family], family_params=TINY_PARAMS[family],
                         train=images.take(np.arange(32)), context=FitContext(seed=0, max_epochs_cap=1))
    assert isinstance(model, DetectorModel) and 0.0 < model.score_threshold < 1.0
    valid = images.take(np.arange(32, 40))
    predictions = model.predict(valid.features)
    assert len(predictions) == len(valid)
    for boxes, scores, labels, ids in zip(predictions[BOXES], predictions["scores"], predictions[LABELS],
                                          predictions["category_id"], strict=True):
        assert boxes.shape == (len(scores), 4) and len(labels) == len(scores) == len(ids)
        assert ((labels >= 1) & (labels <= 5)).all()  # categories only, never the background
        assert set(ids.tolist()) <= {1, 2, 3, 4, 5}
    metrics = DetectionTask().evaluate(model, valid)
    assert set(metrics) == {"f1", "precision", "recall", "map_50", "map"} and 0.0 <= metrics["f1"] <= 1.0


def _predictions(threshold: float = 0.5) -> pd.DataFrame:
    """Two images: the first with detections scoring 0.9 (kept) and 0.2 (not), the second with none."""
    return pd.DataFrame({
        IMAGE_ID: [7, 8], FILE_NAME: ["a.jpg", "b.png"],
        BOXES: [np.array([[1, 2, 11, 22], [3, 3, 9, 9]], np.float32), np.zeros((0, 4), np.float32)],
        "scores": [np.array([0.9, 0.2], np.float32), np.zeros(0, np.float32)],
        LABELS: [np.array([2, 1]), np.zeros(0, np.int64)],
        "category_id": [np.array([30, 10]), np.zeros(0, np.int64)],
        "category": [np.array(["dog", "cat"], object), np.zeros(0, object)],
        "score_threshold": [threshold, threshold],
    })


def test_prediction_table_holds_the_detections_above_the_threshold_in_coco_terms() -> None:
    table = DetectionTask().prediction_table(_predictions())
    assert table.to_dict(orient="records") == [
        {"image_id": 7, "file_name": "a.jpg", "category_id": 30, "category": "dog", "bbox": [1.0, 2.0, 10.0, 20.0],
         "score": 0.9}
    ]
    assert len(DetectionTask().prediction_table(_predictions(threshold=0.1))) == 2


def test_predictions_are_written_as_coco_results_json() -> None:
    task, stream = DetectionTask(), io.StringIO()
    task.write_predictions(task.prediction_table(_predictions(threshold=0.1)), stream)
    results = json.loads(stream.getvalue())
    assert [set(r) for r in results] == [{"image_id", "file_name", "category_id", "category", "bbox", "score"}] * 2
    assert results[1]["bbox"] == [3.0, 3.0, 6.0, 6.0] and results[1]["category_id"] == 10
    assert len(stream.getvalue().splitlines()) == 4  # one detection a line
    empty = io.StringIO()
    task.write_predictions(task.prediction_table(_predictions().iloc[1:]), empty)
    assert json.loads(empty.getvalue()) == []


def test_draw_writes_one_png_per_image_with_the_boxes(tmp_path: Path) -> None:
    features = pd.DataFrame({IMAGE: [np.zeros((30, 40, 3), np.uint8), np.zeros((20, 20, 3), np.uint8)],
                             IMAGE_ID: [7, 8], FILE_NAME: ["a.jpg", "b.png"]})
    task = DetectionTask()
    lines = task.after_predict(_predictions(), data=Dataset(features=features, target=None),
                               options={"draw": str(tmp_path / "drawn")})
    assert lines == [f"Drew the boxes of 2 images into {tmp_path / 'drawn'}"]
    drawn = np.asarray(Image.open(tmp_path / "drawn" / "a.png"))
    assert drawn.shape == (30, 40, 3) and drawn[2:23, 1:12].any()  # the kept box is drawn
    assert not drawn[25:, 25:].any()  # and nothing far from it
    assert not np.asarray(Image.open(tmp_path / "drawn" / "b.png")).any()  # no detection: the image as it was
    assert task.after_predict(_predictions(), data=Dataset(features=features, target=None), options={}) == []


def test_drawings_of_images_with_the_same_name_do_not_overwrite_each_other() -> None:
    taken: set[str] = set()
    assert [drawing_name(1, "x/a.jpg", taken), drawing_name(2, "y/a.png", taken)] == ["a.png", "2_a.png"]
