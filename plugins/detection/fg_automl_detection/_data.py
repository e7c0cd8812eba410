"""Images and boxes for the detection task: the built-in generator and users' COCO files.

Every row of a :class:`~finegrain_automl.Dataset` of this task is one image,
in file order: :data:`IMAGE` (uint8 ``[h, w, 3]``, RGB), :data:`BOXES`
(float32 ``[n, 4]``, ``x1, y1, x2, y2`` in pixels, ``n`` may be 0),
:data:`LABELS` (int64 ``[n]``, labels ``1..C``; 0 is the background),
:data:`IMAGE_ID` (``int``) and :data:`FILE_NAME` (``str``). There is no target
and there are no groups: the core splits images. ``info`` holds aggregates
only (never pixels or file names): ``categories`` (label ``i + 1`` is
``categories[i]``), ``category_ids`` (the file's id of each label), counts of
images, boxes and empty images, the range of image sizes, what loading removed
or clipped, and the ``layout``.

Every box that reaches a model has a positive width and height inside its
image (torchvision asserts on any other). Every problem a user can cause is a
:class:`~finegrain_automl.DataError` with a one-line message that states the
rule, the offending value and a fix.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from fg_automl_detection._columns import BOXES, FILE_NAME, IMAGE, IMAGE_ID, LABELS
from fg_automl_detection._generator import CATEGORIES, DIGITS, generate_digit_images
from finegrain_automl import DataError, DataNote, DataOption, Dataset, DataSource

__all__ = [
    "BOXES",
    "DATA_OPTIONS",
    "FILE_NAME",
    "IMAGE",
    "IMAGE_ID",
    "IMAGE_SUFFIXES",
    "LABELS",
    "load_builtin",
    "read_coco",
]

DATA_OPTIONS: tuple[DataOption, ...] = (
    DataOption(name="images", type=str, predict=True,
               help="Folder of the COCO file's images; default: the JSON file's folder."),
    DataOption(name="draw", type=str, predict=True, search=False,
               help="predict only: folder to write PNG copies of the images with the boxes found."),
)

#: Image files read from a folder (or alone) to predict; case does not matter.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_SHOWN = 3  # names shown in a message before "and N more"


# --------------------------------------------------------------------------- built-in data


def load_builtin(*, seed: int) -> Dataset:
    """Returns :func:`generate_digit_images` ``(seed)`` as this task's data set."""
    frame = generate_digit_images(seed)
    info = {"categories": list(CATEGORIES), "category_ids": list(range(1, len(DIGITS) + 1)),
            "layout": "built-in generator", "degenerate_boxes_removed": 0, "boxes_clipped": 0,
            "crowd_annotations_dropped": 0}
    return _dataset(frame, info)


# --------------------------------------------------------------------------- users' files


def read_coco(source: DataSource) -> Dataset:
    """Reads a user's COCO detection file and its images (into memory, as RGB).

    ``source.path`` is a COCO JSON file (``images``, ``annotations`` and
    ``categories``); its images are looked up under the ``images`` option,
    else in the JSON file's folder, by each image's ``file_name``. Category
    ids may be any integers: label ``i + 1`` is the ``i``-th entry of
    ``categories`` (``info["category_ids"]`` keeps the file's ids, to write
    predictions back with them). A ``bbox`` ``[x, y, width, height]`` becomes
    ``x1, y1, x2, y2``; a box reaching outside its image is clipped to it, and
    one left without area is removed, each with a :class:`DataNote`; crowd
    annotations (``iscrowd`` 1) are dropped with a note, as detectors and the
    F1 here score single objects.

    To predict (``source.require_target`` false), ``source.path`` may also be
    a folder of images (png, jpg, jpeg, bmp; not its subfolders) or one image
    file, giving rows without boxes, or a COCO file without annotations.

    Raises:
        DataError: The file is missing or not COCO JSON, a listed image is
            missing or unreadable, an annotation names an undeclared category
            or image, there is nothing to train on, or a target or columns to
            drop are given; the message says how to fix it.
    """
    path = Path(source.path)
    predict = not source.require_target
    if source.target is not None:
        raise DataError(f"The detection task has no target column (got --target {source.target}): the boxes "
                        "and categories of the COCO file are the targets; remove --target.")
    if source.drop_columns and not predict:
        raise DataError(f"The detection task reads no columns (got --drop-columns "
                        f"{','.join(source.drop_columns)}); remove --drop-columns.")
    if not path.exists():
        raise DataError(f"Data file {path} does not exist; check the path and spelling.")
    if predict and (path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES):
        return _read_image_files(path)
    if path.is_dir():
        raise DataError(f"Data path {path} is a folder; pass the COCO annotations file instead "
                        "(--data annotations.json --images DIR).")
    document = _read_json(path)
    required = ("images",) if predict else ("images", "annotations", "categories")
    missing = [key for key in required if key not in document]
    if missing:
        raise DataError(f"{path.name} lacks {_and(repr(key) for key in missing)}; a COCO detection file "
                        "has lists 'images', 'annotations' and 'categories'.")
    annotations = _entries(document, "annotations", path.name)
    if not annotations and not predict:
        raise DataError(f"{path.name} has no annotations; training needs boxes: add them to 'annotations' "
                        "(each with image_id, category_id and bbox [x, y, width, height]).")
    if annotations and "categories" not in document:
        raise DataError(f"{path.name} has annotations but lacks 'categories'; declare each category_id there "
                        "(id and name).")
    ids, names = _categories(_entries(document, "categories", path.name), path.name)
    files = _images(_entries(document, "images", path.name), path.name)
    found, crowd = _annotations(annotations, [f[0] for f in files], ids, name=path.name)
    folder = _image_folder(source.options.get("images"), default=path.parent)
    where = f"{folder} (the JSON file's folder)" if source.options.get("images") is None else str(folder)
    frame = _read_listed_images(files, folder, listed=f"listed in {path.name}", where=where,
                                fix="pass the folder that holds them with --images DIR")
    boxes, labels, counts = _boxes(found, frame, name=path.name)
    if not predict and sum(len(b) for b in boxes) == 0:
        raise DataError(f"No usable box is left in {path.name}: all {len(annotations)} annotations are crowd "
                        "annotations or have no area inside their image; add boxes of single objects.")
    if crowd:
        _note(f"{crowd} crowd annotations (iscrowd 1) of {path.name} were dropped; this task detects single "
              "objects.", stacklevel=3)
    frame[BOXES] = _object_column(boxes)
    frame[LABELS] = _object_column(labels)
    info = {"categories": names, "category_ids": ids, "layout": "COCO JSON"} | counts | {
        "crowd_annotations_dropped": crowd}
    return _dataset(frame[[IMAGE, BOXES, LABELS, IMAGE_ID, FILE_NAME]], info)


def _dataset(frame: pd.DataFrame, info: dict[str, Any]) -> Dataset:
    """Wraps checked rows; adds the counts of images, boxes and empty images and the range of sizes."""
    sizes = np.array([image.shape[:2] for image in frame[IMAGE]], dtype=np.int64).reshape(-1, 2)
    counts = np.array([len(boxes) for boxes in frame[BOXES]], dtype=np.int64)
    info = info | {
        "images": len(frame),
        "boxes": int(counts.sum()),
        "empty_images": int((counts == 0).sum()),
        "image_sizes": {"min_height": int(sizes[:, 0].min()) if len(sizes) else 0,
                        "max_height": int(sizes[:, 0].max()) if len(sizes) else 0,
                        "min_width": int(sizes[:, 1].min()) if len(sizes) else 0,
                        "max_width": int(sizes[:, 1].max()) if len(sizes) else 0},
    }
    return Dataset(features=frame.reset_index(drop=True), target=None, groups=None, positive_label=None,
                   info=info)


def _read_json(path: Path) -> dict[str, Any]:
    """The parsed file, which must be a JSON object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as error:
        raise DataError(f"{path.name} is not UTF-8 text (found byte 0x{error.object[error.start]:02x} at "
                        f"byte {error.start}); pass a COCO JSON file.") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path.name} is not valid JSON ({error.msg} at line {error.lineno}, column "
                        f"{error.colno}); fix it there, or pass a COCO JSON file.") from None
    except OSError as error:
        raise DataError(f"{path.name} cannot be read ({error.strerror or error}); check its "
                        "permissions.") from None
    if not isinstance(document, dict):
        raise DataError(f"{path.name} holds a JSON {type(document).__name__}, not a COCO object with "
                        "'images', 'annotations' and 'categories'; pass a COCO detection file.")
    return document


def _image_folder(option: str | None, *, default: Path) -> Path:
    if option is None:
        return default
    folder = Path(option).expanduser().resolve()
    if not folder.is_dir():
        raise DataError(f"--images {option} is not a folder; pass the folder that holds the COCO file's "
                        "images.")
    return folder


def _entries(document: dict[str, Any], key: str, name: str) -> list[dict[str, Any]]:
    """``document[key]``, a list of objects (``[]`` when absent)."""
    entries = document.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise DataError(f"{key!r} of {name} is not a list of objects; write it as COCO does: "
                        "[{...}, {...}].")
    return entries


def _field(entry: dict[str, Any], key: str, kind: type, *, what: str, name: str) -> Any:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        wanted = "an integer" if kind is int else "text"
        has = f"no {key}" if key not in entry else f"{key} {value!r}, not {wanted}"
        raise DataError(f"{what} of {name} has {has}; give it {key} as {wanted}.")
    return value


def _categories(categories: list[dict[str, Any]], name: str) -> tuple[list[int], list[str]]:
    """The declared category ids and names, in file order (label ``i + 1`` is entry ``i``)."""
    ids = [_field(entry, "id", int, what=f"Category number {i + 1}", name=name)
           for i, entry in enumerate(categories)]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise DataError(f"{name} declares category id {repeated[0]} more than once; give each category its "
                        "own id.")
    names = [str(entry.get("name", category_id)) for entry, category_id in zip(categories, ids, strict=True)]
    return ids, names


def _images(images: list[dict[str, Any]], name: str) -> list[tuple[int, str, Any, Any]]:
    """``(id, file_name, width, height)`` of each listed image, ids checked to be unique."""
    if not images:
        raise DataError(f"{name} lists no images; add them to 'images' (each with id and file_name).")
    files = []
    seen: set[int] = set()
    for i, entry in enumerate(images):
        image_id = _field(entry, "id", int, what=f"Image number {i + 1}", name=name)
        file_name = _field(entry, "file_name", str, what=f"Image {image_id}", name=name)
        if image_id in seen:
            raise DataError(f"{name} lists image id {image_id} more than once; give each image its own id.")
        seen.add(image_id)
        files.append((image_id, file_name, entry.get("width"), entry.get("height")))
    return files


def _read_listed_images(
    files: list[tuple[int, str, Any, Any]], folder: Path, *, listed: str, where: str, fix: str
) -> pd.DataFrame:
    """Reads every image of ``files`` (id, file name, width, height) under ``folder``; a
    :class:`DataError` naming the missing, unreadable or resized ones (``listed``, ``where`` and
    ``fix`` word it)."""
    pixels, missing, unreadable, resized = [], [], [], []
    for _, file_name, width, height in files:
        file = folder / file_name
        if not file.is_file():
            missing.append(file_name)
            continue
        image = _read_image(file)
        if image is None:
            unreadable.append(file_name)
            continue
        if width is not None and height is not None and (width, height) != (image.shape[1], image.shape[0]):
            resized.append(f"{file_name} is {image.shape[1]}x{image.shape[0]}, listed {width}x{height}")
        pixels.append(image)
    of_all = f"of the {len(files)} images {listed}"
    if missing:
        raise DataError(f"{len(missing)} {of_all} ({_some(missing)}) {_be(missing)} missing from {where}; "
                        f"{fix}.")
    if unreadable:
        them = "it" if len(unreadable) == 1 else "them"
        raise DataError(f"{len(unreadable)} {of_all} ({_some(unreadable)}) cannot be read as images in "
                        f"{where}; re-save {them} as PNG or JPEG, or {fix}.")
    if resized:  # the boxes are in the listed size's pixels
        raise DataError(f"{len(resized)} {of_all} ({_some(resized)}) {_be(resized)} not the size given "
                        f"there, width x height, in {where}; pass the original images, not resized copies, "
                        "with --images DIR.")
    return pd.DataFrame({IMAGE: _object_column(pixels),
                         IMAGE_ID: np.array([f[0] for f in files], dtype=np.int64),
                         FILE_NAME: pd.Series([f[1] for f in files], dtype=object)})


def _read_image(file: Path) -> np.ndarray | None:
    """The image as uint8 RGB ``[h, w, 3]``, or ``None`` if it is not one PIL can read."""
    try:
        with Image.open(file) as image:
            return np.asarray(image.convert("RGB")).copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def _read_image_files(path: Path) -> Dataset:
    """Rows to predict from a folder of images (sorted by name) or from one image file, without boxes."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"Folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}); pass a folder of "
                            "images, one image, or a COCO JSON file.")
        folder, layout = path, "image folder"
    else:
        files, folder, layout = [path], path.parent, "image file"
    names = [file.name for file in files]
    listed = [(i, name, None, None) for i, name in enumerate(names, start=1)]
    frame = _read_listed_images(listed, folder, listed="found", where=str(folder),
                                fix="move what is not an image out of the folder")
    frame[BOXES] = _object_column([np.zeros((0, 4), np.float32) for _ in files])
    frame[LABELS] = _object_column([np.zeros(0, np.int64) for _ in files])
    info = {"categories": [], "category_ids": [], "layout": layout, "degenerate_boxes_removed": 0,
            "boxes_clipped": 0, "crowd_annotations_dropped": 0}
    return _dataset(frame[[IMAGE, BOXES, LABELS, IMAGE_ID, FILE_NAME]], info)


def _annotations(
    annotations: list[dict[str, Any]], image_ids: list[int], category_ids: list[int], *, name: str
) -> tuple[list[list[tuple[list[float], int]]], int]:
    """Each listed image's ``(bbox, label)`` pairs in file order, and the number of crowd annotations
    dropped; checked before any image is read."""
    row_of = {image_id: row for row, image_id in enumerate(image_ids)}
    label_of = {category_id: label for label, category_id in enumerate(category_ids, start=1)}
    per_row: list[list[tuple[list[float], int]]] = [[] for _ in image_ids]
    unknown_images: list[int] = []
    crowd = 0
    for i, entry in enumerate(annotations):
        what = f"Annotation {entry.get('id', f'number {i + 1}')}"
        image_id = _field(entry, "image_id", int, what=what, name=name)
        category_id = _field(entry, "category_id", int, what=what, name=name)
        if category_id not in label_of:
            declared = ", ".join(map(str, category_ids[:12])) + (", ..." if len(category_ids) > 12 else "")
            raise DataError(f"{what} of {name} has category_id {category_id}, which 'categories' does not "
                            f"declare (declared ids: {declared or 'none'}); declare it or fix the "
                            "annotation.")
        if image_id not in row_of:
            unknown_images.append(image_id)
            continue
        if entry.get("iscrowd", 0) == 1:
            crowd += 1
            continue
        per_row[row_of[image_id]].append((_bbox(entry, what=what, name=name), label_of[category_id]))
    if unknown_images:
        shown = _some(sorted(set(unknown_images)), noun="image_id")
        raise DataError(f"{len(unknown_images)} annotations of {name} belong to no listed image ({shown}); "
                        "list those images in 'images' or remove the annotations.")
    return per_row, crowd


def _boxes(
    per_row: list[list[tuple[list[float], int]]], frame: pd.DataFrame, *, name: str
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, int]]:
    """Each image's boxes (xyxy, clipped to the image, those without area removed) and labels, and the
    counts of boxes clipped and removed, each told in a :class:`DataNote`."""
    boxes, labels, clipped, removed = [], [], 0, 0
    for found, image in zip(per_row, frame[IMAGE], strict=True):
        height, width = image.shape[:2]
        xywh = np.array([bbox for bbox, _ in found], dtype=np.float64).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        inside = np.clip(xyxy, 0, [width, height, width, height]).astype(np.float32)
        keep = (inside[:, 2] > inside[:, 0]) & (inside[:, 3] > inside[:, 1])  # in float32, as models see them
        clipped += int((keep & np.any(inside != xyxy.astype(np.float32), axis=1)).sum())
        removed += int((~keep).sum())
        boxes.append(inside[keep])
        labels.append(np.array([label for _, label in found], dtype=np.int64)[keep])
    if clipped:
        _note(f"{clipped} boxes of {name} reach outside their image and were clipped to it.")
    if removed:
        _note(f"{removed} boxes of {name} have no area inside their image (zero or negative width or height) "
              "and were removed.")
    return boxes, labels, {"degenerate_boxes_removed": removed, "boxes_clipped": clipped}


def _bbox(entry: dict[str, Any], *, what: str, name: str) -> list[float]:
    bbox = entry.get("bbox")
    numbers = isinstance(bbox, list) and len(bbox) == 4 and all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in bbox)
    if not numbers:
        shown = "no bbox" if "bbox" not in entry else f"bbox {json.dumps(bbox)[:60]}"
        raise DataError(f"{what} of {name} has {shown}; write each box as bbox [x, y, width, height] in "
                        "pixels.")
    return [float(v) for v in bbox]


def _object_column(values: Sequence[np.ndarray]) -> pd.Series:
    """A column of arrays, one per row (pandas would stack equal-shaped arrays otherwise)."""
    column = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        column[i] = value
    return pd.Series(column, dtype=object)


def _some(names: Sequence[Any], *, noun: str = "") -> str:
    """``"a.png, b.png, c.png and 4 more"``, or ``"image_id 7"``."""
    shown = ", ".join(f"{noun} {n}".strip() for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _be(names: Sequence[Any]) -> str:
    return "is" if len(names) == 1 else "are"


def _and(words: Iterable[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    words = list(words)
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _note(message: str, *, stacklevel: int = 4) -> None:
    warnings.warn(DataNote(message), stacklevel=stacklevel)  # the caller of read_coco
