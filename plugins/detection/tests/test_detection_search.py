"""A tiny real detection search through the CLI and Ray Tune on a COCO file,
then ``predict`` writing COCO results JSON and drawing the boxes; and bad
input, which fails with one line and exit code 2 before Ray starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fg_automl_detection._data import load_builtin
from PIL import Image
from typer.testing import CliRunner

from finegrain_automl.cli import app
from finegrain_automl.record import validate as validate_record

runner = CliRunner()

TINY_SPACE = """
lr: {loguniform: [1.0e-3, 3.0e-3]}
epochs: {int: [1, 2]}
batch_size: {choice: [4]}
image_size: {choice: [64]}
augment: {uniform: [0.0, 0.5]}
model:
  choice:
    ssd: {width: {choice: [8]}, depth: {choice: [1]}, levels: {choice: [2]}}
    fcos: {width: {choice: [8]}, depth: {choice: [1]}, levels: {choice: [2]}, fpn_channels: {choice: [32]},
           head_convs: {choice: [1]}}
"""


def write_builtin_as_coco(folder: Path, *, n: int, seed: int = 2, category_ids: tuple[int, ...] = (11, 12, 13, 14, 15)
                          ) -> Path:
    """``n`` built-in images as PNG files under ``folder/images`` and their boxes
    in ``folder/annotations.json``, with the file's own category ids."""
    data = load_builtin(seed=seed)
    features = data.features.iloc[:n]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index, row in enumerate(features.itertuples(index=False)):
        name = f"scene_{index:03d}.png"
        Image.fromarray(row.image).save(folder / "images" / name)
        images.append({"id": 100 + index, "file_name": name, "height": row.image.shape[0], "width": row.image.shape[1]})
        for box, label in zip(row.boxes, row.labels, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append({"id": len(annotations) + 1, "image_id": 100 + index,
                                "category_id": category_ids[label - 1], "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    categories = [{"id": cid, "name": name} for cid, name in zip(category_ids, data.info["categories"], strict=True)]
    path = folder / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


@pytest.mark.ray
def test_tiny_detection_search_then_predict_and_draw(tmp_path: Path) -> None:
    annotations = write_builtin_as_coco(tmp_path / "coco", n=30)
    space = tmp_path / "space.yaml"
    space.write_text(TINY_SPACE)
    result = runner.invoke(
        app,
        ["search", "--task", "detection", "--data", str(annotations), "--images", str(tmp_path / "coco" / "images"),
         "--space", str(space), "--trials", "2", "--max-epochs", "1", "--no-dashboard", "--json",
         "--output", str(tmp_path / "runs")],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    validate_record(summary)
    data = summary["data"]
    assert data["layout"] == "COCO JSON" and data["images"] == 30 and data["categories"][0] == "digit_0"
    assert data["options"] == {"images": str(tmp_path / "coco" / "images")}
    assert summary["settings"]["folds"] == 3 and summary["settings"]["repeats"] == 1  # the task's defaults
    assert summary["trials"]["completed"] >= 1
    final = summary["final"]
    assert final["kind"] == "single" and 0.0 <= final["test_f1"] <= 1.0
    assert set(final["test_metrics"]) == {"f1", "precision", "recall", "map_50", "map"}
    run_dir = Path(summary["run_dir"])

    # Predict a folder of images (no annotations) into COCO results JSON, and draw them.
    new = tmp_path / "new"
    new.mkdir()
    for index, image in enumerate(load_builtin(seed=9).features["image"].iloc[:3]):
        Image.fromarray(image).save(new / f"new_{index}.png")
    out, drawn = tmp_path / "detections.json", tmp_path / "drawn"
    predicted = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(new), "--output", str(out),
                                    "--draw", str(drawn)])
    assert predicted.exit_code == 0, predicted.output
    message = " ".join(predicted.output.split())
    assert f"(COCO results JSON) to {out}" in message and f"Drew the boxes of 3 images into {drawn}" in message
    results = json.loads(out.read_text())
    assert isinstance(results, list)
    for detection in results:
        assert detection["image_id"] in {1, 2, 3} and detection["file_name"] in {f"new_{i}.png" for i in range(3)}
        assert detection["category_id"] in {11, 12, 13, 14, 15}  # the training file's ids, not labels
        _, _, w, h = detection["bbox"]
        assert w > 0 and h > 0 and 0.0 < detection["score"] <= 1.0
    assert sorted(p.name for p in drawn.iterdir()) == ["new_0.png", "new_1.png", "new_2.png"]
    assert np.asarray(Image.open(drawn / "new_0.png")).shape == load_builtin(seed=9).features["image"].iloc[0].shape

    # The COCO file itself predicts too (its annotations are ignored), to stdout.
    again = runner.invoke(app, ["predict", "--run", str(run_dir), "--data", str(annotations)])
    assert again.exit_code == 0, again.output
    start = again.stdout.index("[")
    assert isinstance(json.loads(again.stdout[start:again.stdout.rindex("]") + 1]), list)


def _search(tmp_path: Path, *args: str):
    return runner.invoke(app, ["search", "--task", "detection", "--no-dashboard", "--output",
                               str(tmp_path / "runs"), *args])


def _coco(tmp_path: Path, document: object, *, name: str = "bad.json") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


GOOD_IMAGE = {"id": 1, "file_name": "a.png"}
GOOD_CATEGORY = {"id": 1, "name": "thing"}
GOOD_ANNOTATION = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}


@pytest.mark.parametrize(
    ("document", "fragments"),
    [
        ('{"images": [', ["not valid JSON", "line 1"]),
        ({"images": [GOOD_IMAGE], "annotations": [GOOD_ANNOTATION]}, ["lacks 'categories'"]),
        ({"categories": [GOOD_CATEGORY]}, ["'images'", "'annotations'"]),
        ({"images": [GOOD_IMAGE, {"id": 2, "file_name": "b.png"}], "annotations": [GOOD_ANNOTATION],
          "categories": [GOOD_CATEGORY]}, ["b.png", "--images"]),
        ({"images": [GOOD_IMAGE], "annotations": [GOOD_ANNOTATION | {"category_id": 9}],
          "categories": [GOOD_CATEGORY]}, ["category_id 9", "1"]),
    ],
    ids=["invalid-json", "no-categories", "no-images-or-annotations", "missing-image", "undeclared-category"],
)
def test_bad_coco_files_are_one_line_errors(tmp_path: Path, document: object, fragments: list[str]) -> None:
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "a.png")
    result = _search(tmp_path, "--data", _coco(tmp_path, document))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0, result.output
    message = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in message, message
    assert not (tmp_path / "runs").exists()


def test_an_unreadable_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"not a png")
    document = {"images": [GOOD_IMAGE], "annotations": [GOOD_ANNOTATION], "categories": [GOOD_CATEGORY]}
    result = _search(tmp_path, "--data", _coco(tmp_path, document))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "a.png" in result.output and not (tmp_path / "runs").exists()


def test_draw_is_an_option_of_predict_only(tmp_path: Path) -> None:
    result = _search(tmp_path, "--draw", str(tmp_path / "drawn"))
    assert result.exit_code == 2, result.output
    assert "--draw of task 'detection' applies to fg-automl predict only" in " ".join(result.output.split())
    assert not (tmp_path / "drawn").exists() and not (tmp_path / "runs").exists()
