"""The detection task's data: the built-in digit scenes and users' COCO files and image folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fg_automl_detection import _generator
from fg_automl_detection._columns import BOXES, FILE_NAME, IMAGE, IMAGE_ID, LABELS
from fg_automl_detection._data import DATA_OPTIONS, load_builtin, read_coco
from fg_automl_detection._generator import CATEGORIES, DIGITS, generate_digit_images
from PIL import Image

from finegrain_automl import DataError, DataNote, Dataset, DataSource
from finegrain_automl.errors import collect_notes

COLUMNS = [IMAGE, BOXES, LABELS, IMAGE_ID, FILE_NAME]
INFO_KEYS = {"categories", "category_ids", "images", "boxes", "empty_images", "image_sizes",
             "degenerate_boxes_removed", "boxes_clipped", "crowd_annotations_dropped", "layout"}


def check_contract(data: Dataset, *, n_categories: int) -> None:
    """What every reader promises: one row per image, RGB uint8, boxes with area inside the image."""
    assert list(data.features.columns) == COLUMNS
    assert data.target is None and data.groups is None
    assert set(data.info) == INFO_KEYS
    json.dumps(data.info)  # aggregates only, JSON-serialisable
    for image, boxes, labels, image_id, file_name in data.features[COLUMNS].itertuples(index=False):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
        assert labels.dtype == np.int64 and labels.shape == (len(boxes),)
        assert isinstance(image_id, int | np.integer) and isinstance(file_name, str)
        height, width = image.shape[:2]
        assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
        assert np.all(boxes >= 0) and np.all(boxes[:, [0, 2]] <= width) and np.all(boxes[:, [1, 3]] <= height)
        assert np.all((labels >= 1) & (labels <= n_categories))
    assert data.info["images"] == len(data)
    assert data.info["boxes"] == sum(len(b) for b in data.features[BOXES])
    assert data.info["empty_images"] == sum(len(b) == 0 for b in data.features[BOXES])


# --------------------------------------------------------------------------- built-in data


@pytest.fixture(scope="module")
def builtin() -> Dataset:
    return load_builtin(seed=0)


def test_builtin_data_keeps_the_contract(builtin: Dataset) -> None:
    check_contract(builtin, n_categories=len(DIGITS))
    assert builtin.info["categories"] == ["digit_0", "digit_2", "digit_3", "digit_4", "digit_6"]
    assert list(CATEGORIES) == builtin.info["categories"] and builtin.info["category_ids"] == [1, 2, 3, 4, 5]
    assert builtin.info["layout"] == "built-in generator"
    assert builtin.features[IMAGE_ID].tolist() == list(range(1, len(builtin) + 1))
    assert builtin.features[FILE_NAME].iloc[0] == "digits_0001.png"
    assert not any(isinstance(v, str) and v.endswith(".png") for v in builtin.info.values())


def test_builtin_figures(builtin: Dataset) -> None:
    assert len(builtin) == 360
    counts = builtin.features[BOXES].map(len)
    assert counts.max() == 5 and set(counts) <= set(range(6))
    assert 30 <= builtin.info["empty_images"] <= 45  # a tenth drawn empty, a few more if no place was found
    assert 850 <= builtin.info["boxes"] <= 1100
    sizes = builtin.info["image_sizes"]
    assert sizes["min_height"] >= 128 and sizes["max_height"] <= 192
    assert sizes["min_width"] >= 128 and sizes["max_width"] <= 192
    assert len({image.shape for image in builtin.features[IMAGE]}) > 50  # sizes vary per image
    for image in builtin.features[IMAGE]:
        assert 0.75 <= image.shape[1] / image.shape[0] <= 1.3
    labels = np.concatenate(builtin.features[LABELS].tolist())
    assert np.all(np.bincount(labels, minlength=6)[1:] > 150)  # every class well represented
    sides = np.concatenate(builtin.features[BOXES].tolist())
    sides = sides[:, 2:] - sides[:, :2]
    assert sides.min() >= 4 and sides.max() <= 66 and 15 <= np.median(sides) <= 40
    assert sum(image.nbytes for image in builtin.features[IMAGE]) < 40e6


def test_builtin_data_is_deterministic_per_seed() -> None:
    first, again, other = (generate_digit_images(seed, images=30) for seed in (3, 3, 4))
    for column in (IMAGE, BOXES, LABELS):
        assert all(np.array_equal(a, b) for a, b in zip(first[column], again[column], strict=True))
    assert not all(a.shape == b.shape and np.array_equal(a, b)
                   for a, b in zip(first[IMAGE], other[IMAGE], strict=True))


def test_digits_overlap_only_a_little(builtin: Dataset) -> None:
    for boxes in builtin.features[BOXES]:
        for i, earlier in enumerate(boxes):
            for later in boxes[i + 1:]:
                across = max(0.0, min(earlier[2], later[2]) - max(earlier[0], later[0]))
                down = max(0.0, min(earlier[3], later[3]) - max(earlier[1], later[1]))
                area = (earlier[2] - earlier[0]) * (earlier[3] - earlier[1])
                assert across * down <= 0.25 * area + 1e-6


def test_a_box_is_the_tight_box_of_visible_ink() -> None:
    bank = _generator._digit_bank(DIGITS)
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(20):
        scene = _generator._draw_scene(rng, height=150, width=170, n_objects=5, bank=bank)
        assert scene.image.shape == scene.background.shape == (150, 170, 3)
        changed = np.abs(scene.image.astype(int) - scene.background.astype(int)).sum(axis=2)
        for box, mask in zip(scene.boxes, scene.masks, strict=True):
            rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
            assert box.tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
            x1, y1, x2, y2 = box.astype(int)
            inside = changed[y1:y2, x1:x2]
            # the ink touches all four sides of its box, and stands out from the background
            assert inside[0].max() > 0 and inside[-1].max() > 0
            assert inside[:, 0].max() > 0 and inside[:, -1].max() > 0
            assert changed[mask].mean() > 60
            checked += 1
    assert checked >= 60


def test_the_generator_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="digits distinct values of 0-9"):
        generate_digit_images(0, images=5, digits=(1, 1))


# --------------------------------------------------------------------------- COCO files


def write_image(path: Path, height: int = 24, width: int = 32, *, seed: int = 0,
                mode: str = "RGB") -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return np.asarray(image.convert("RGB"))


def coco(annotations: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    """Three images (a.png 24x32, b.png 20x30, c.png 24x32), categories 7 "cat" and 3 "dog"."""
    document = {
        "images": [{"id": 10, "file_name": "a.png", "width": 32, "height": 24},
                   {"id": 20, "file_name": "b.png", "width": 30, "height": 20},
                   {"id": 30, "file_name": "c.png"}],
        "annotations": annotations if annotations is not None else [
            {"id": 1, "image_id": 10, "category_id": 3, "bbox": [2, 3, 10, 5], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 7, "bbox": [0.5, 1.5, 4, 4]},
            {"id": 3, "image_id": 20, "category_id": 7, "bbox": [5, 5, 20, 10]},
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
    }
    return document | changes


def write_coco(folder: Path, document: dict[str, Any], *, images: Path | None = None) -> Path:
    """Writes ``document`` as ``folder/annotations.json`` and its PNG images (into ``images``)."""
    images = images or folder
    sizes = {"a.png": (24, 32), "b.png": (20, 30), "c.png": (24, 32)}
    for i, name in enumerate(sizes):
        write_image(images / name, *sizes[name], seed=i)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "annotations.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def read(path: Path, *, predict: bool = False, target: str | None = None, drop: tuple[str, ...] = (),
         **options: Any) -> Dataset:
    source = DataSource(path=path, target=target, require_target=not predict, drop_columns=drop,
                        options={k: v for k, v in options.items() if v is not None})
    return read_coco(source)


def test_data_options_are_declared_for_the_cli() -> None:
    images, draw = DATA_OPTIONS
    assert images.name == "images" and images.type is str and images.predict and not images.required
    assert images.search and images.help == "Folder of the COCO file's images; default: the JSON file's folder."
    assert draw.name == "draw" and draw.predict and not draw.search  # predict only: where to draw the boxes


def test_coco_file_is_read_with_its_images(tmp_path: Path) -> None:
    path = write_coco(tmp_path, coco())
    with collect_notes() as notes:
        data = read(path)
    assert notes == []
    check_contract(data, n_categories=2)
    assert data.features[IMAGE_ID].tolist() == [10, 20, 30]  # file order
    assert data.features[FILE_NAME].tolist() == ["a.png", "b.png", "c.png"]
    assert np.array_equal(data.features[IMAGE].iloc[1], np.asarray(Image.open(tmp_path / "b.png")))
    boxes = data.features[BOXES]
    assert boxes.iloc[0].tolist() == [[2, 3, 12, 8], [0.5, 1.5, 4.5, 5.5]]  # [x, y, w, h] -> x1 y1 x2 y2
    assert boxes.iloc[1].tolist() == [[5, 5, 25, 15]] and boxes.iloc[2].shape == (0, 4)
    # COCO ids 7 and 3 become labels 1 and 2, in the order of "categories"
    assert [labels.tolist() for labels in data.features[LABELS]] == [[2, 1], [1], []]
    assert data.info == {
        "categories": ["cat", "dog"], "category_ids": [7, 3], "layout": "COCO JSON", "images": 3,
        "boxes": 3, "empty_images": 1, "degenerate_boxes_removed": 0, "boxes_clipped": 0,
        "crowd_annotations_dropped": 0,
        "image_sizes": {"min_height": 20, "max_height": 24, "min_width": 30, "max_width": 32},
    }


def test_images_are_found_under_the_images_option_and_converted_to_rgb(tmp_path: Path) -> None:
    path = write_coco(tmp_path / "labels", coco(), images=tmp_path / "pictures")
    write_image(tmp_path / "pictures" / "c.png", 24, 32, mode="L")  # greyscale
    data = read(path, images=str(tmp_path / "pictures"))
    assert len(data) == 3 and data.features[IMAGE].iloc[2].shape == (24, 32, 3)
    with pytest.raises(DataError, match=r"3 of the 3 images listed in annotations.json \(a.png, b.png, "
                                        r"c.png\) are missing from .*labels \(the JSON file's folder\); pass "
                                        r"the folder that holds them with --images DIR\."):
        read(path)
    with pytest.raises(DataError, match=r"--images .*nowhere is not a folder"):
        read(path, images=str(tmp_path / "nowhere"))


def test_boxes_outside_the_image_are_clipped_and_boxes_without_area_removed(tmp_path: Path) -> None:
    annotations = [
        {"image_id": 10, "category_id": 7, "bbox": [-4, 20, 10, 10]},  # clipped to [0, 20, 6, 24]
        {"image_id": 10, "category_id": 3, "bbox": [30, 0, 5, 5]},  # clipped to [30, 0, 32, 5]
        {"image_id": 10, "category_id": 3, "bbox": [5, 5, 0, 4]},  # zero width
        {"image_id": 20, "category_id": 7, "bbox": [5, 5, 4, -2]},  # negative height
        {"image_id": 20, "category_id": 7, "bbox": [40, 5, 4, 4]},  # wholly outside: no area inside
        {"image_id": 20, "category_id": 7, "bbox": [10, 5, 1e-9, 4]},  # no width in float32
        {"image_id": 20, "category_id": 3, "bbox": [1, 1, 3, 3]},
    ]
    path = write_coco(tmp_path, coco(annotations))
    with pytest.warns(DataNote, match="2 boxes of annotations.json reach outside their image and were clip"):
        with pytest.warns(DataNote, match=r"4 boxes of annotations.json have no area inside their image "
                                          r"\(zero or negative width or height\) and were removed"):
            data = read(path)
    check_contract(data, n_categories=2)
    assert data.features[BOXES].iloc[0].tolist() == [[0, 20, 6, 24], [30, 0, 32, 5]]
    assert data.features[BOXES].iloc[1].tolist() == [[1, 1, 4, 4]]
    assert data.features[LABELS].iloc[1].tolist() == [2]
    assert data.info["boxes_clipped"] == 2 and data.info["degenerate_boxes_removed"] == 4


def test_crowd_annotations_are_dropped_with_a_note(tmp_path: Path) -> None:
    annotations = [{"image_id": 10, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 1},
                   {"image_id": 10, "category_id": 3, "bbox": [2, 2, 5, 5], "iscrowd": 0}]
    path = write_coco(tmp_path, coco(annotations))
    with pytest.warns(DataNote, match=r"1 crowd annotations \(iscrowd 1\) of annotations.json were dropped"):
        data = read(path)
    assert data.features[LABELS].iloc[0].tolist() == [2] and data.info["crowd_annotations_dropped"] == 1
    crowd_only = write_coco(tmp_path / "crowd", coco(annotations[:1]))
    with pytest.raises(DataError, match="No usable box is left in annotations.json"):
        read(crowd_only)


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Data file .*absent.json does not exist; check the path"):
        read(tmp_path / "absent.json")


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    path.write_text('{\n  "images": [],\n  "annotations": [,]\n}', encoding="utf-8")
    with pytest.raises(DataError, match=r"annotations.json is not valid JSON \(Expecting value at line 3, "
                                        r"column 19\)"):
        read(path)
    path.write_bytes(b'{"images": "\xff"}')
    with pytest.raises(DataError, match="is not UTF-8 text"):
        read(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataError, match="holds a JSON list, not a COCO object"):
        read(path)


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_a_missing_coco_list_is_named(tmp_path: Path, key: str) -> None:
    document = coco()
    del document[key]
    with pytest.raises(DataError, match=f"annotations.json lacks '{key}'; a COCO detection file has lists"):
        read(write_coco(tmp_path, document))


def test_all_missing_lists_are_named(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match="lacks 'images', 'annotations' and 'categories'"):
        read(path)


def test_missing_images_are_named_with_their_count_and_folder(tmp_path: Path) -> None:
    document = coco()
    document["images"] += [{"id": 40 + i, "file_name": f"gone_{i}.png"} for i in range(4)]
    with pytest.raises(DataError, match=r"4 of the 7 images listed in annotations.json \(gone_0.png, "
                                        r"gone_1.png, gone_2.png and 1 more\) are missing from .*; pass the "
                                        r"folder that holds them with --images DIR"):
        read(write_coco(tmp_path, document))


def test_unreadable_and_resized_images(tmp_path: Path) -> None:
    path = write_coco(tmp_path, coco())
    (tmp_path / "b.png").write_text("not a picture", encoding="utf-8")
    with pytest.raises(DataError, match=r"1 of the 3 images listed in annotations.json \(b.png\) cannot be "
                                        r"read as images in .*; re-save it as PNG or JPEG, or pass"):
        read(path)
    write_image(tmp_path / "b.png", 30, 20)  # the file says 30 wide, 20 high
    with pytest.raises(DataError, match=r"1 of the 3 images .* \(b.png is 20x30, listed 30x20\) is not the "
                                        r"size given there, width x height"):
        read(path)


def test_undeclared_category_is_named_with_the_declared_ids(tmp_path: Path) -> None:
    path = write_coco(tmp_path, coco([{"id": 5, "image_id": 10, "category_id": 99, "bbox": [1, 1, 2, 2]}]))
    with pytest.raises(DataError, match=r"Annotation 5 of annotations.json has category_id 99, which "
                                        r"'categories' does not declare \(declared ids: 7, 3\)"):
        read(path)


def test_annotation_of_an_unlisted_image(tmp_path: Path) -> None:
    annotations = [{"image_id": 42, "category_id": 7, "bbox": [1, 1, 2, 2]},
                   {"image_id": 10, "category_id": 7, "bbox": [1, 1, 2, 2]}]
    with pytest.raises(DataError, match=r"1 annotations of annotations.json belong to no listed image "
                                        r"\(image_id 42\); list those images"):
        read(write_coco(tmp_path, coco(annotations)))


def test_training_needs_annotations(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="annotations.json has no annotations; training needs boxes"):
        read(write_coco(tmp_path, coco([])))


@pytest.mark.parametrize(("entry", "match"), [
    ({"image_id": 10, "category_id": 7, "bbox": [1, 1, 2]}, r"has bbox \[1, 1, 2\]; write each box as bbox"),
    ({"image_id": 10, "category_id": 7, "bbox": [1, "a", 2, 2]}, "has bbox"),
    ({"image_id": 10, "category_id": 7, "bbox": [1, float("nan"), 2, 2]}, "has bbox"),
    ({"image_id": 10, "category_id": 7}, "has no bbox"),
    ({"image_id": "10", "category_id": 7, "bbox": [1, 1, 2, 2]}, "has image_id '10', not an integer"),
    ({"image_id": 10, "bbox": [1, 1, 2, 2]},
     "Annotation number 1 of annotations.json has no category_id; give it category_id as an integer"),
])
def test_malformed_annotations(tmp_path: Path, entry: dict[str, Any], match: str) -> None:
    with pytest.raises(DataError, match=match):
        read(write_coco(tmp_path, coco([entry])))


def test_malformed_images_and_categories(tmp_path: Path) -> None:
    document = coco()
    document["images"][1]["id"] = 10
    with pytest.raises(DataError, match="lists image id 10 more than once"):
        read(write_coco(tmp_path, document))
    with pytest.raises(DataError, match="declares category id 7 more than once"):
        read(write_coco(tmp_path, coco(categories=[{"id": 7, "name": "a"}, {"id": 7, "name": "b"}])))
    with pytest.raises(DataError, match="'images' of annotations.json is not a list of objects"):
        read(write_coco(tmp_path, coco(images={"id": 1})))
    with pytest.raises(DataError, match="lists no images"):
        read(write_coco(tmp_path, coco(images=[])))


def test_no_target_and_no_columns(tmp_path: Path) -> None:
    path = write_coco(tmp_path, coco())
    with pytest.raises(DataError, match=r"The detection task has no target column \(got --target label\)"):
        read(path, target="label")
    with pytest.raises(DataError, match="The detection task reads no columns"):
        read(path, drop=("id",))
    with pytest.raises(DataError, match=r"is a folder; pass the COCO annotations file instead"):
        read(tmp_path)


# --------------------------------------------------------------------------- rows to predict


def test_predicting_reads_a_folder_of_images(tmp_path: Path) -> None:
    pixels = write_image(tmp_path / "b.png", 20, 30, seed=1)
    write_image(tmp_path / "a.JPG", 16, 16)
    write_image(tmp_path / "c.bmp", 18, 40)
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    write_image(tmp_path / "nested" / "d.png")  # subfolders are not read
    data = read(tmp_path, predict=True, images="/recorded/with/the/run")
    check_contract(data, n_categories=0)
    assert data.features[FILE_NAME].tolist() == ["a.JPG", "b.png", "c.bmp"]
    assert data.features[IMAGE_ID].tolist() == [1, 2, 3]
    assert np.array_equal(data.features[IMAGE].iloc[1], pixels)
    assert all(boxes.shape == (0, 4) for boxes in data.features[BOXES])
    assert data.info["layout"] == "image folder" and data.info["empty_images"] == 3
    one = read(tmp_path / "c.bmp", predict=True)
    assert len(one) == 1 and one.features[IMAGE].iloc[0].shape == (18, 40, 3)
    assert one.info["layout"] == "image file"


def test_predicting_an_empty_folder_or_unreadable_image(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"Folder .*empty holds no images \(.png, .jpg, .jpeg, .bmp\)"):
        read(tmp_path / "empty", predict=True)
    (tmp_path / "broken.png").write_text("no", encoding="utf-8")
    with pytest.raises(DataError, match=r"1 of the 1 images found \(broken.png\) cannot be read as images "
                                        r"in .*; re-save it as PNG or JPEG, or move what is not an image out "
                                        r"of the folder"):
        read(tmp_path / "broken.png", predict=True)


def test_predicting_reads_a_coco_file_with_or_without_annotations(tmp_path: Path) -> None:
    document = coco()
    del document["annotations"], document["categories"]
    bare = read(write_coco(tmp_path / "bare", document), predict=True)
    check_contract(bare, n_categories=0)
    assert bare.info["boxes"] == 0 and bare.features[IMAGE_ID].tolist() == [10, 20, 30]
    full = read(write_coco(tmp_path / "full", coco()), predict=True)
    assert full.info["boxes"] == 3 and full.info["category_ids"] == [7, 3]
    with pytest.raises(DataError, match="lacks 'images'"):
        read(write_coco(tmp_path / "none", {"annotations": []}), predict=True)
