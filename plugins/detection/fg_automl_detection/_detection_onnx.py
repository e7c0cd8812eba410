"""The detection task's side of an ONNX export (numpy and pandas only).

Copied into every export of a detector, where the loader
(``fg_automl_onnx.py``) calls :func:`predict`; nothing here may import
torch, torchvision, PIL or finegrain-automl.

The exported network detects objects in one image per call. It takes the
image as the task holds it (uint8 ``[height, width, 3]``, RGB), the size
the detector resizes it to and the size it pads it to, and returns that
image's ``boxes`` (float32 ``[n, 4]``, ``x1, y1, x2, y2`` in the image's
pixels), ``scores`` and ``labels`` (``1..C``), as the torch model's
``forward`` does: normalisation, resizing, the network, its post-processing
(score floor, non-maximum suppression, at most 100 boxes) and the boxes
mapped back to the image all run inside the graph.

What happens outside it is the plugin's ``DetectorModel.predict``, copied
here: images go through the network :data:`spec["predict_batch"]` at a time,
in row order, and torchvision pads every image of such a batch to the
batch's largest resized size (rounded up to a multiple of the coarsest
stride). The padding changes what the detector sees near the right and
bottom edges, so the export pads each image exactly as its batch would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["image_sizes", "predict", "preprocess"]

#: The columns of ``predict``'s table, in order; ``image_id`` and ``file_name`` only when the rows have them.
PASSED_THROUGH = ("image_id", "file_name")


def image_sizes(shape: tuple[int, ...], spec: dict[str, Any]) -> tuple[int, int]:
    """The ``(height, width)`` the detector resizes an image of ``shape`` to.

    torchvision's ``GeneralizedRCNNTransform``: a fixed size (SSD), else the
    scale ``min(min_size / shorter side, max_size / longer side)``, each side
    truncated after multiplying by it (Python floats, as torch's ``interpolate``
    computes them in eager mode).
    """
    if spec["fixed_size"] is not None:
        width, height = spec["fixed_size"]
        return int(height), int(width)
    height, width = int(shape[0]), int(shape[1])
    scale = min(spec["min_size"] / min(height, width), spec["max_size"] / max(height, width))
    return int(height * scale), int(width * scale)


def _padded_size(sizes: list[tuple[int, int]], divisible: int) -> tuple[int, int]:
    """The batch's padded size: its largest height and width, rounded up to ``divisible``."""
    stride = float(divisible)
    height = int(math.ceil(float(max(size[0] for size in sizes)) / stride) * stride)
    width = int(math.ceil(float(max(size[1] for size in sizes)) / stride) * stride)
    return height, width


def _image(value: Any, position: int) -> np.ndarray:
    """One image of the rows, checked: a uint8 RGB array ``[height, width, 3]``."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 3 or value.shape[2] != 3:
        found = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        raise ValueError(f"Row {position} of the 'image' column must be a uint8 RGB array [height, width, 3],"
                         f" but got {found}. Decode images as the detection task reads them (RGB, uint8).")
    if value.shape[0] < 1 or value.shape[1] < 1:
        raise ValueError(f"Row {position} of the 'image' column is empty ({value.shape}). Remove it.")
    return np.ascontiguousarray(value)


def _images(frame: pd.DataFrame, spec: dict[str, Any]) -> list[np.ndarray]:
    column = spec["image_column"]
    if column not in frame.columns:
        raise ValueError(f"Column {column!r} is missing from the rows to predict: the detector reads one "
                         "image per row (uint8 [height, width, 3]). Add it.")
    return [_image(value, position) for position, value in enumerate(frame[column].tolist())]


def _inputs(image: np.ndarray, resized: tuple[int, int], padded: tuple[int, int]) -> dict[str, np.ndarray]:
    return {"image": image, "resized_size": np.asarray(resized, dtype=np.int64),
            "padded_size": np.asarray(padded, dtype=np.int64)}


def preprocess(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The network's inputs for a frame of one image, predicted alone
    (:func:`predict` pads each image as the batch it falls in).

    Raises:
        ValueError: Not exactly one row, or no uint8 RGB image in it.
    """
    if len(frame) != 1:
        raise ValueError(f"The detector's network takes one image per call, but got {len(frame)} rows; "
                         "predict(frame, spec, run) runs a frame of any length.")
    (image,) = _images(frame, spec)
    resized = image_sizes(image.shape, spec)
    return _inputs(image, resized, _padded_size([resized], spec["size_divisible"]))


def _detect(images: list[np.ndarray], spec: dict[str, Any],
            run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Each image's outputs, the images taken ``predict_batch`` at a time as the torch model takes them."""
    found = []
    for start in range(0, len(images), spec["predict_batch"]):
        batch = images[start:start + spec["predict_batch"]]
        sizes = [image_sizes(image.shape, spec) for image in batch]
        padded = _padded_size(sizes, spec["size_divisible"])
        for image, resized in zip(batch, sizes, strict=True):
            outputs = run(_inputs(image, resized, padded))
            found.append({"boxes": np.asarray(outputs["boxes"], dtype=np.float32).reshape(-1, 4),
                          "scores": np.asarray(outputs["scores"], dtype=np.float32).reshape(-1),
                          "labels": np.asarray(outputs["labels"], dtype=np.int64).reshape(-1)})
    return found


def predict(frame: pd.DataFrame, spec: dict[str, Any],
            run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per image, as the detection task's ``predict`` writes it:
    ``image_id`` and ``file_name`` when the rows have them, ``boxes`` (float32
    ``[n, 4]``, ``x1, y1, x2, y2``), ``scores``, ``labels`` (1..C),
    ``category_id`` (the training file's ids), ``category`` (names) of every
    detection above the network's floor, and the model's ``score_threshold``
    (the task counts and writes only the detections scoring at least it).

    Raises:
        ValueError: The rows have no ``image`` column, or a value of it is not a uint8 RGB image.
    """
    found = _detect(_images(frame, spec), spec, run)
    ids = np.asarray(spec["category_ids"], dtype=np.int64)
    names = np.asarray(spec["categories"], dtype=object)
    table = pd.DataFrame(index=frame.index)
    for column in PASSED_THROUGH:
        if column in frame:
            table[column] = frame[column].to_numpy()
    for column in ("boxes", "scores", "labels"):
        table[column] = pd.Series([d[column] for d in found], index=frame.index, dtype=object)
    table["category_id"] = pd.Series([ids[d["labels"] - 1] for d in found], index=frame.index, dtype=object)
    table["category"] = pd.Series([names[d["labels"] - 1] for d in found], index=frame.index, dtype=object)
    table["score_threshold"] = float(spec["score_threshold"])
    return table
