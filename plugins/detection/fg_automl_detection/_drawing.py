"""``predict --draw DIR``: copies of the images with the boxes found drawn on them.

torchvision's ``draw_bounding_boxes`` draws each box with its category and
score in PIL's built-in font (nothing is downloaded), one colour per category.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes

from fg_automl_detection._columns import FILE_NAME, IMAGE, IMAGE_ID

__all__ = ["draw_predictions"]

#: Distinct colours, cycled over the categories in order of appearance.
_PALETTE = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
            "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#800000", "#aaffc3", "#000075")


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
            boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in rows["bbox"]], dtype=torch.float32)
            names = [str(c) for c in rows["category"]]
            for name in names:
                colours.setdefault(name, _PALETTE[len(colours) % len(_PALETTE)])
            pixels = draw_bounding_boxes(
                pixels, boxes, labels=[f"{n} {s:.2f}" for n, s in zip(names, rows["score"], strict=True)],
                colors=[colours[n] for n in names], width=2,
            )
        Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(folder / drawing_name(int(image_id), file_name, taken))
    return len(features)
