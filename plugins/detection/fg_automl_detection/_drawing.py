"""Images with boxes drawn on them: ``predict --draw DIR``'s copies of the
images with the boxes found, and the report's pictures of test images with
their true boxes and the boxes found.

torchvision's ``draw_bounding_boxes`` draws each box with its category (and
score) in PIL's built-in font (nothing is downloaded): one colour per category
for ``--draw``; one colour for the true boxes and another for the boxes found
in the report's pictures.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes

from fg_automl_detection._columns import FILE_NAME, IMAGE, IMAGE_ID

__all__ = ["FOUND_COLOUR", "TRUTH_COLOUR", "draw_predictions", "truth_and_found_png"]

#: Distinct colours, cycled over the categories in order of appearance.
_PALETTE = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
            "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#800000", "#aaffc3", "#000075")

#: The report's pictures: the true boxes in green, the boxes found in magenta.
TRUTH_COLOUR, FOUND_COLOUR = "#00d43a", "#ff2bd6"
#: A report picture is enlarged (nearest neighbour, at most 2x) while its long side stays within this.
_PICTURE_SIDE = 400
#: Pixels a caption takes below its anchor (PIL's built-in font, 10 px, on its background).
_CAPTION_HEIGHT = 14


def _with_boxes(pixels: torch.Tensor, boxes: np.ndarray, captions: Sequence[str] | None,
                colours: str | list[str], *, width: int = 2, fill_labels: bool = False) -> torch.Tensor:
    """``pixels`` (uint8 ``[3, h, w]``) with ``boxes`` (``x1, y1, x2, y2``)
    drawn, each with its caption; the pixels as they were without a box."""
    if not len(boxes):
        return pixels
    return draw_bounding_boxes(pixels, torch.as_tensor(boxes, dtype=torch.float32), labels=captions,
                               colors=colours, width=width, fill_labels=fill_labels)


def _caption_anchors(boxes: np.ndarray, height: int) -> np.ndarray:
    """Where each true box's caption goes, as zero-size boxes ``(x1, top, x1, top)``:
    just under the box, else just over it, else inside its bottom edge, so that
    it does not sit on the caption a box found there carries in its top-left corner."""
    below, above = boxes[:, 3] + 1, boxes[:, 1] - _CAPTION_HEIGHT - 1
    inside = boxes[:, 3] - _CAPTION_HEIGHT
    top = np.where(below + _CAPTION_HEIGHT <= height, below, np.where(above >= 0, above, inside))
    top = np.clip(top, 0, max(0, height - 1))
    return np.stack([boxes[:, 0], top, boxes[:, 0], top], axis=1)


def truth_and_found_png(image: np.ndarray, *, truth_boxes: np.ndarray, truth_captions: Sequence[str],
                        found_boxes: np.ndarray, found_captions: Sequence[str]) -> bytes:
    """``image`` (uint8 ``[h, w, 3]``) as a PNG, enlarged up to 2x (see
    :data:`_PICTURE_SIDE`), with its true boxes in :data:`TRUTH_COLOUR`,
    captioned under each box, and the boxes found in :data:`FOUND_COLOUR`,
    captioned in their top-left corner (boxes: ``x1, y1, x2, y2`` in the
    image's pixels)."""
    scale = max(1, min(2, _PICTURE_SIDE // max(image.shape[:2])))
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    pixels = pixels.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    truth = np.asarray(truth_boxes, dtype=np.float32).reshape(-1, 4) * scale
    found = np.asarray(found_boxes, dtype=np.float32).reshape(-1, 4) * scale
    # A black band inside every box keeps both colours visible on any background.
    pixels = _with_boxes(pixels, np.concatenate([truth, found]), None, "black", width=4)
    pixels = _with_boxes(pixels, truth, None, TRUTH_COLOUR)
    pixels = _with_boxes(pixels, found, list(found_captions), FOUND_COLOUR, fill_labels=True)
    # Width 0: the captions alone, at their anchors (PIL draws no outline 0 px wide).
    pixels = _with_boxes(pixels, _caption_anchors(truth, pixels.shape[1]), list(truth_captions), TRUTH_COLOUR,
                         width=0, fill_labels=True)
    buffer = io.BytesIO()
    Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def drawing_name(image_id: int, file_name: str, taken: set[str]) -> str:
    """``<file stem>.png``, prefixed with the image id when two images share a stem."""
    name = Path(str(file_name)).with_suffix(".png").name
    if name in taken:
        name = f"{image_id}_{name}"
    taken.add(name)
    return name


def draw_predictions(features: pd.DataFrame, table: pd.DataFrame, folder: str | Path) -> int:
    """Writes one PNG per image of ``features`` into ``folder`` (created if
    needed) with the detections of ``table`` (``Task.prediction_table``
    rows: ``image_id``, ``category``, ``bbox`` as x, y, width, height, and
    ``score``) drawn on it; returns the number of images written."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    by_image = {image_id: rows for image_id, rows in table.groupby("image_id")} if len(table) else {}
    colours: dict[str, str] = {}
    taken: set[str] = set()
    for image, image_id, file_name in zip(features[IMAGE], features[IMAGE_ID], features[FILE_NAME], strict=True):
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        rows = by_image.get(image_id)
        if rows is not None and len(rows):
            boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in rows["bbox"]], dtype=np.float32)
            names = [str(c) for c in rows["category"]]
            for name in names:
                colours.setdefault(name, _PALETTE[len(colours) % len(_PALETTE)])
            captions = [f"{n} {s:.2f}" for n, s in zip(names, rows["score"], strict=True)]
            pixels = _with_boxes(pixels, boxes, captions, [colours[n] for n in names])
        Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(folder / drawing_name(int(image_id), file_name, taken))
    return len(features)
