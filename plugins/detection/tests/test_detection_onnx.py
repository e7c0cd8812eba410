"""``fg-automl export --format onnx`` of the detection task: every family of the
default space exports whole (resizing, network, non-maximum suppression) and
the export's numpy module finds the torch model's detections on images of any
size, padded as ``predict``'s batches pad them; int8 keeps a trained
detector's F1.

Detection models give no class probabilities, so a detection run's final
model is never an ensemble (the search keeps out-of-fold predictions only of
models that give them): there is no ensemble to export here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import fg_automl_detection
import numpy as np
import pandas as pd
import pytest
import torch
from fg_automl_detection import DETECTION_FAMILIES, DetectionTask, DetectorModel
from fg_automl_detection import _detection_onnx as module
from fg_automl_detection._columns import BOXES, IMAGE, LABELS
from fg_automl_detection._data import load_builtin
from fg_automl_detection._detector import PREDICT_BATCH, fit_detector
from fg_automl_detection._onnx import INPUTS, OUTPUTS, PREDICT_MODULE, bilinear_resize, onnx_network
from fg_automl_detection._training import image_tensor

from finegrain_automl import Dataset, FitContext
from finegrain_automl.export import ExportNotSupported, export_onnx, foreign_imports, read_pipeline
from finegrain_automl.export.loader import OnnxModel
from finegrain_automl.plugins import make_registry
from finegrain_automl.record import SCHEMA
from finegrain_automl.results import RUN_FILE, save_model

#: The tiny fits of the training tests: 64 px, one epoch, narrow backbones.
TINY = {"image_size": 64, "batch_size": 4, "epochs": 1}
TINY_PARAMS = {"ssd": {"width": 8, "depth": 1, "levels": 2}, "fcos": {"width": 8, "depth": 1, "levels": 2,
               "fpn_channels": 32, "head_convs": 1}, "retinanet": {"width": 8, "depth": 1, "levels": 2,
               "fpn_channels": 32}, "faster_rcnn": {"width": 8, "depth": 1, "levels": 2, "fpn_channels": 32,
               "representation": 64}}
#: The columns of ``predict``'s table that hold one array per image.
ARRAYS = (BOXES, "scores", LABELS, "category_id", "category")


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load_builtin(seed=1)


@pytest.fixture(scope="module")
def models(data: Dataset) -> dict[str, DetectorModel]:
    """One tiny fit per family on 32 images (about a second each)."""
    return {family: fit_detector(config=TINY, family=DETECTION_FAMILIES[family], family_params=params,
                                 train=data.take(np.arange(32)), context=FitContext(seed=0, max_epochs_cap=1))
            for family, params in TINY_PARAMS.items()}


#: The last rows of ``images``: sizes outside the built-in data's.
OTHER_SIZES = [(150, 90), (70, 210), (300, 260)]


@pytest.fixture(scope="module")
def images(data: Dataset) -> pd.DataFrame:
    """40 held-out images of 128-192 px (four without objects), then three of
    sizes outside the data's (:data:`OTHER_SIZES`): a portrait, a wide one and a large one."""
    features = data.take(np.arange(32, 72)).features
    rng = np.random.default_rng(5)
    extra = [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in OTHER_SIZES]
    more = pd.DataFrame({IMAGE: pd.Series(extra, dtype=object), "image_id": [901, 902, 903],
                         "file_name": ["portrait.png", "wide.png", "large.png"]})
    return pd.concat([features[[IMAGE, "image_id", "file_name"]], more], ignore_index=True)


def _export(model: DetectorModel, folder: Path, *, quantize: str | None = "int8") -> Path:
    """``model`` saved as a finished run's ``model.pt`` and exported by the core."""
    folder.mkdir()
    save_model(folder, task_name="detection", state=model.to_state())
    (folder / RUN_FILE).write_text(json.dumps({"task": "detection", "schema": SCHEMA}))
    registry = make_registry(plugins=[("detection", fg_automl_detection)], autoload=False)
    with warnings.catch_warnings():  # torchvision's tracer warnings (its detectors are written to trace)
        warnings.simplefilter("ignore")
        return export_onnx(folder, quantize=quantize, registry=registry).directory


def _match(expected: pd.Series, found: pd.Series, *, box_tol: float, score_tol: float) -> tuple[float, float]:
    """Pairs each expected detection of one image with a found one of the same
    label, box within ``box_tol`` px and score within ``score_tol`` (one to
    one; the order of near-equal scores may differ); returns the largest box
    and score differences. Fails if any detection of either side is left."""
    used = np.zeros(len(found["scores"]), dtype=bool)
    box_diff = score_diff = 0.0
    for box, score, label in zip(expected[BOXES], expected["scores"], expected[LABELS], strict=True):
        boxes = np.abs(found[BOXES] - box).max(axis=1, initial=0.0)
        scores = np.abs(found["scores"] - score)
        close = (found[LABELS] == label) & (boxes <= box_tol) & (scores <= score_tol)
        candidates = np.flatnonzero(~used & close)
        assert len(candidates), f"no detection like {label} {box} {score} in {found[BOXES]} {found['scores']}"
        used[candidates[0]] = True
        box_diff = max(box_diff, float(boxes[candidates[0]]))
        score_diff = max(score_diff, float(scores[candidates[0]]))
    assert used.all(), f"{int((~used).sum())} detections found that torch did not find"
    return box_diff, score_diff


def _assert_same_detections(found: pd.DataFrame, expected: pd.DataFrame) -> tuple[float, float]:
    """The export's table is the torch model's: same columns, rows and index,
    per image the same detections (boxes within 1e-3 px, scores within 1e-4),
    also above the model's score threshold; returns the largest differences."""
    assert list(found.columns) == list(expected.columns)
    assert found.index.equals(expected.index)
    for column in found.columns.difference(ARRAYS):
        pd.testing.assert_series_equal(found[column], expected[column])
    box_diff = score_diff = 0.0
    for (_, got), (_, want) in zip(found.iterrows(), expected.iterrows(), strict=True):
        assert got[BOXES].dtype == np.float32 and got["scores"].dtype == np.float32
        assert got[LABELS].dtype == np.int64 and got[BOXES].shape == (len(got["scores"]), 4)
        boxes, scores = _match(want, got, box_tol=1e-3, score_tol=1e-4)
        box_diff, score_diff = max(box_diff, boxes), max(score_diff, scores)
        threshold = want["score_threshold"]
        assert (got["scores"] >= threshold).sum() == (want["scores"] >= threshold).sum()
        def categories(row: pd.Series) -> list[tuple[int, int, str]]:
            return sorted(zip(row[LABELS].tolist(), row["category_id"].tolist(), row["category"].tolist(),
                              strict=True))

        assert categories(got) == categories(want)
    return box_diff, score_diff


@pytest.mark.parametrize("family", sorted(TINY_PARAMS))
def test_every_family_exports_the_detections_torch_finds(family, models, images, data, tmp_path) -> None:
    model = models[family]
    directory = _export(model, tmp_path / "run")
    pipeline = read_pipeline(directory)
    member = pipeline["members"][0]
    assert pipeline["task"] == "detection" and pipeline["preprocess"] == PREDICT_MODULE.name
    assert member["activation"] is None and member["outputs"] == list(OUTPUTS)
    assert member["spec"]["family"] == family and member["spec"]["score_threshold"] == model.score_threshold
    exported = OnnxModel(directory)
    assert exported.predict_proba(images) is None
    expected = model.predict(images)
    assert sum(len(s) for s in expected["scores"]) > 100  # enough detections to compare (the floor is 0.01)
    found, rows = exported.predict(images), len(images) - len(OTHER_SIZES)
    on_data = _assert_same_detections(found.iloc[:rows], expected.iloc[:rows])
    on_other = _assert_same_detections(found.iloc[rows:], expected.iloc[rows:])
    print(f"{family}: ONNX against torch, max |box| {on_data[0]:.1e} px on the data's images, "
          f"{on_other[0]:.1e} px on the others, max |score| {max(on_data[1], on_other[1]):.1e}")

    # Images only (no ids, no names), under another index: the same table, as the task's predict writes it.
    bare = images[[IMAGE]].set_axis(np.arange(len(images)) * 3 + 7)
    _assert_same_detections(exported.predict(bare), model.predict(bare))

    # The task scores the export's table as it scores torch's; int8 runs and keeps the table's form.
    test, task = data.take(np.arange(32, 72)), DetectionTask()
    on_torch = task.metrics(test, model.predict(test.features))
    assert task.metrics(test, exported.predict(test.features)) == on_torch
    int8 = OnnxModel(directory, int8=True).predict(test.features)
    assert list(int8.columns) == list(expected.columns) and len(int8) == len(test)
    assert abs(task.metrics(test, int8)["f1"] - on_torch["f1"]) <= 0.05


def test_int8_keeps_the_f1_of_a_trained_detector(data, tmp_path) -> None:
    """SSD (the task's first starting point) trained long enough to find digits
    (20 epochs on 200 images at 128 px, about 20 s): the export finds its
    detections and the int8 network's F1 stays close to torch's."""
    config = {"image_size": 128, "batch_size": 4, "epochs": 20, "lr": 3e-3, "augment": 0.0, "hflip": 0.0}
    model = fit_detector(config=config, family=DETECTION_FAMILIES["ssd"],
                         family_params={"width": 16, "depth": 1, "levels": 2},
                         train=data.take(np.arange(200)), context=FitContext(seed=0))
    test = data.take(np.arange(300, 360))
    expected = model.predict(test.features)
    task = DetectionTask()
    torch_f1 = task.metrics(test, expected)["f1"]
    assert torch_f1 > 0.1  # a detector worth quantising
    directory = _export(model, tmp_path / "run")
    _assert_same_detections(OnnxModel(directory).predict(test.features), expected)
    int8_f1 = task.metrics(test, OnnxModel(directory, int8=True).predict(test.features))["f1"]
    print(f"trained SSD: test F1 torch {torch_f1:.4f}, int8 {int8_f1:.4f}")
    assert abs(int8_f1 - torch_f1) <= 0.03, (torch_f1, int8_f1)


def test_each_image_is_padded_as_its_batch_pads_it(models, tmp_path) -> None:
    """torchvision pads a batch's images to its largest one, which changes
    what the detector finds near the edges: an image predicted in a batch with
    a larger one differs from the same image alone, and the export gives both."""
    model = models["fcos"]
    rng = np.random.default_rng(3)
    portrait, landscape = (rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                           for h, w in [(160, 70), (90, 180)])
    together = pd.DataFrame({IMAGE: pd.Series([portrait, landscape], dtype=object)})
    alone = together.iloc[[0]]
    batched, single = model.predict(together), model.predict(alone)
    assert not np.array_equal(batched[BOXES].iloc[0], single[BOXES].iloc[0])  # the padding matters
    exported = OnnxModel(_export(model, tmp_path / "run", quantize=None))
    _assert_same_detections(exported.predict(together), batched)
    _assert_same_detections(exported.predict(alone), single)
    # Past PREDICT_BATCH images a new batch starts, padded to its own largest image.
    many = pd.DataFrame({IMAGE: pd.Series([portrait] * PREDICT_BATCH + [landscape, portrait], dtype=object)})
    _assert_same_detections(exported.predict(many), model.predict(many))


@pytest.mark.parametrize("family", ["ssd", "faster_rcnn"])
def test_sizes_are_torchvisions_eager_ones(models, family) -> None:
    """The module's resized and padded sizes are those torchvision's transform
    gives in eager mode, including sizes a float32 scale truncates otherwise."""
    transform = models[family].network.transform.eval()
    spec = onnx_network(models[family]).spec
    shapes = [(128, 141), (141, 128), (49, 49), (133, 160), (192, 190), (70, 210), (300, 260), (17, 5),
              (64, 64)]
    tensors = [image_tensor(np.zeros((h, w, 3), np.uint8)) for h, w in shapes]
    for start in range(0, len(shapes), 4):
        batch = shapes[start:start + 4]
        listed, _ = transform(tensors[start:start + 4])
        expected = [module.image_sizes(shape, spec) for shape in batch]
        assert [tuple(size) for size in listed.image_sizes] == expected
        padded = module._padded_size(listed.image_sizes, spec["size_divisible"])
        assert tuple(listed.tensors.shape[-2:]) == padded


@pytest.mark.parametrize(("shape", "size"), [((3, 300, 260), (160, 138)), ((3, 192, 190), (160, 158)),
                                             ((3, 141, 128), (64, 58)), ((3, 49, 49), (64, 64)),
                                             ((3, 17, 5), (64, 18)), ((3, 1, 1), (16, 16))])
def test_the_graphs_resize_is_torchs_bilinear_interpolation(shape, size) -> None:
    """Within a float32 step of torch's output (torch's CPU kernel fuses the
    multiply-add of the sampling positions; so does the graph's resize)."""
    image = torch.from_numpy(np.random.default_rng(0).normal(size=shape).astype(np.float32))
    expected = torch.nn.functional.interpolate(image[None], size=list(size), mode="bilinear",
                                               align_corners=False)[0]
    found = bilinear_resize(image, torch.tensor(size[0]), torch.tensor(size[1]))
    assert found.shape == expected.shape
    assert float((found - expected).abs().max()) <= 1e-6 * max(1.0, float(expected.abs().max()))


def test_preprocess_gives_the_networks_inputs_for_one_image(models, images) -> None:
    spec = onnx_network(models["retinanet"]).spec
    inputs = module.preprocess(images.iloc[[0]], spec)
    assert list(inputs) == list(INPUTS)
    assert inputs["image"].dtype == np.uint8 and inputs["image"].shape == images[IMAGE].iloc[0].shape
    assert inputs["resized_size"].dtype == inputs["padded_size"].dtype == np.int64
    assert (inputs["padded_size"] % spec["size_divisible"] == 0).all()
    assert (inputs["padded_size"] >= inputs["resized_size"]).all() and max(inputs["resized_size"]) == 64
    with pytest.raises(ValueError, match="one image per call, but got 2 rows"):
        module.preprocess(images.iloc[:2], spec)


@pytest.mark.parametrize(("value", "fragment"), [
    (np.zeros((20, 20, 3), np.float32), "float32 (20, 20, 3)"),
    (np.zeros((20, 20), np.uint8), "uint8 (20, 20)"),
    (np.zeros((20, 20, 4), np.uint8), "uint8 (20, 20, 4)"),
    (None, "NoneType"),
])
def test_an_image_that_is_not_uint8_rgb_is_named(models, value, fragment) -> None:
    spec = onnx_network(models["ssd"]).spec
    frame = pd.DataFrame({IMAGE: pd.Series([np.zeros((20, 20, 3), np.uint8), value], dtype=object)})
    message = rf"Row 1 of the 'image' column must be a uint8 RGB array .* {re.escape(fragment)}"
    with pytest.raises(ValueError, match=message):
        module.predict(frame, spec, run=lambda inputs: pytest.fail("nothing runs before every image is read"))
    with pytest.raises(ValueError, match="Column 'image' is missing"):
        module.predict(pd.DataFrame({"file_name": ["a.png"]}), spec, run=lambda inputs: {})


def test_the_export_runs_with_numpy_pandas_and_onnxruntime_only(models, images, tmp_path) -> None:
    assert foreign_imports(PREDICT_MODULE) == set()  # numpy, pandas and the standard library only
    model = models["faster_rcnn"]
    moved = Path(shutil.copytree(_export(model, tmp_path / "run", quantize=None), tmp_path / "elsewhere"))
    subset = images.iloc[[0, 7, 40, 41]]
    pd.to_pickle(subset, tmp_path / "images.pkl")
    expected = model.predict(subset)
    script = f"""
import sys
sys.path.insert(0, {str(moved)!r})
import pandas as pd
from fg_automl_onnx import OnnxModel
table = OnnxModel({str(moved)!r}).predict(pd.read_pickle({str(tmp_path / "images.pkl")!r}))
table.to_pickle({str(tmp_path / "found.pkl")!r})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in (
    "torch", "torchvision", "PIL", "finegrain_automl", "fg_automl_detection", "pytorch_lightning"))
assert not heavy, heavy
print(len(table))
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) == 4
    _assert_same_detections(pd.read_pickle(tmp_path / "found.pkl"), expected)


def test_a_network_that_is_not_a_torchvision_detector_is_refused_with_the_reason(models) -> None:
    class _Custom(torch.nn.Module):
        def forward(self, images):
            empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0).long()}
            return [empty for _ in images]

    model = models["ssd"]
    foreign = DetectorModel(family_name="custom", family_params={}, image_size=64,
                            categories=model.categories, category_ids=model.category_ids, network=_Custom(),
                            score_threshold=0.5)
    message = r"model family 'custom' \(_Custom\) is not one of torchvision's"
    with pytest.raises(ExportNotSupported, match=message):
        DetectionTask().onnx_network(foreign)
