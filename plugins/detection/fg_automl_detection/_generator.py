"""The built-in data of the detection task: real handwritten digits pasted into
cluttered scenes, seeded, generated in under two seconds.

The digits are the 1,797 8x8 scans of :func:`sklearn.datasets.load_digits`
(bundled with scikit-learn; nothing is downloaded), scaled up to 16-56 px and
pasted in varied colours onto backgrounds of colour gradients, blotches and
noise, among distractors that are not digits: lines, circles, rectangles, arcs
and scribbled strokes. Digits may overlap a little, run off the image's edge,
or be crossed by a stroke drawn over them; about one image in ten holds none.

Five classes, 0, 2, 3, 4 and 6, chosen by how little a linear classifier of
the 8x8 scans confuses them (5-fold cross-validation): 7 errors among their
900 scans, against 36 for 0, 1, 3, 7 and 8, which holds 1/8 (the most confused
pair of all ten digits) and 3/8. The only set with fewer errors (6), 0, 2, 4,
6 and 9, pairs two digits that are one another upside down. None of the five
is a plain bar that a line distractor imitates (1), and five classes leave
about 190 boxes per class in 360 images, enough for a detector trained from
scratch; ten would leave half that.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from fg_automl_detection._columns import BOXES, FILE_NAME, IMAGE, IMAGE_ID, LABELS

__all__ = ["CATEGORIES", "DIGITS", "generate_digit_images"]

#: The digits drawn, and the category of each (label i + 1 is ``CATEGORIES[i]``).
DIGITS: tuple[int, ...] = (0, 2, 3, 4, 6)
CATEGORIES: tuple[str, ...] = tuple(f"digit_{digit}" for digit in DIGITS)

_SIDE = (128, 192)  # image height and width in pixels, both ends included
_ASPECT = (0.8, 1.25)  # width / height
_DIGIT_SIDE = (16.0, 56.0)  # pasted digit's side in pixels, drawn log-uniformly
_EMPTY_SHARE = 0.1  # share of images without any digit
_MAX_OBJECTS = 5
_INK = 0.2  # scaled ink below this opacity is not drawn, so the box is the tight box of what is
_OFF_EDGE = 0.15  # share of digits placed partly outside the image
_MAX_HIDDEN = 0.25  # at most this share of an earlier digit's box is covered by later ones
_TRIES = 25  # placements tried per digit before it is left out
_CONTRAST = 100.0  # least RGB distance of a digit's colour from the background under it


@dataclass(frozen=True)
class _Scene:
    """One generated image, its background before the digits, and each digit's box, label and ink."""

    image: np.ndarray  # uint8 [h, w, 3]
    background: np.ndarray  # uint8 [h, w, 3]: the scene before any digit was pasted
    boxes: np.ndarray  # float32 [n, 4], x1 y1 x2 y2, pixel edges
    labels: np.ndarray  # int64 [n], 1..C
    masks: tuple[np.ndarray, ...]  # bool [h, w] per digit: the pixels its ink was pasted on


def generate_digit_images(
    seed: int, *, images: int = 360, digits: Sequence[int] = DIGITS
) -> pd.DataFrame:
    """Returns seeded scenes of handwritten digits among clutter, one row per image.

    Each image is 128 to 192 px high and wide (near-square, width/height in
    0.8-1.25). A tenth of the images (rounded) hold no digit; the others one to
    five, each a random scan of a random class of ``digits``, scaled to 16-56
    px (log-uniform, aspect varied by up to 15 %, nearest or bilinear), in a
    colour that contrasts with the background under it. A digit may cover at
    most a quarter of an earlier digit's box, and a few run off the image's
    edge (at least 60 % of their ink stays inside). A digit is left out when no
    such place is found, so a few images hold fewer than drawn.

    Args:
        seed: Seed of :func:`numpy.random.default_rng`; the same seed gives the
            same images, boxes and labels.
        images: Number of images.
        digits: The digit classes, label ``i + 1`` for ``digits[i]``.

    Returns:
        Columns :data:`IMAGE` (uint8 ``[h, w, 3]`` RGB), :data:`BOXES`
        (float32 ``[n, 4]``, ``x1, y1, x2, y2`` in pixels: the tight box of the
        digit's ink inside the image), :data:`LABELS` (int64 ``[n]``, 1..C),
        :data:`IMAGE_ID` (1, 2, ...) and :data:`FILE_NAME`
        (``"digits_0001.png"``...).
    """
    if images < 1 or not digits or len(set(digits)) != len(digits) or not set(digits) <= set(range(10)):
        raise ValueError(f"images must be positive and digits distinct values of 0-9, but got {images=}, "
                         f"{digits=}.")
    rng = np.random.default_rng(seed)
    bank = _digit_bank(tuple(digits))
    heights = rng.integers(_SIDE[0], _SIDE[1] + 1, size=images)
    widths = np.clip(np.round(heights * rng.uniform(*_ASPECT, size=images)), *_SIDE).astype(np.int64)
    counts = rng.integers(1, _MAX_OBJECTS + 1, size=images)
    counts[rng.choice(images, size=round(images * _EMPTY_SHARE), replace=False)] = 0
    rows: dict[str, list[object]] = {IMAGE: [], BOXES: [], LABELS: []}
    for height, width, count in zip(heights, widths, counts, strict=True):
        scene = _draw_scene(rng, height=int(height), width=int(width), n_objects=int(count), bank=bank)
        rows[IMAGE].append(scene.image)
        rows[BOXES].append(scene.boxes)
        rows[LABELS].append(scene.labels)
    frame = pd.DataFrame({name: _object_column(values) for name, values in rows.items()})
    frame[IMAGE_ID] = np.arange(1, images + 1, dtype=np.int64)
    frame[FILE_NAME] = pd.Series([f"digits_{i:04d}.png" for i in range(1, images + 1)], dtype=object)
    return frame


def _object_column(values: list[object]) -> pd.Series:
    """A column of arrays, one per row (pandas would stack equal-shaped arrays otherwise)."""
    column = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        column[i] = value
    return pd.Series(column, dtype=object)


@functools.lru_cache(maxsize=4)
def _digit_bank(digits: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The 8x8 scans of each class in ``digits`` (float32, 0..1), in ``load_digits`` order."""
    from sklearn.datasets import load_digits

    scans = load_digits()
    images = (scans.images / 16.0).astype(np.float32)
    return tuple(images[scans.target == digit] for digit in digits)


# --------------------------------------------------------------------------- one scene


def _draw_scene(
    rng: np.random.Generator, *, height: int, width: int, n_objects: int, bank: tuple[np.ndarray, ...]
) -> _Scene:
    """Draws the background and its distractors, pastes up to ``n_objects`` digits, then strokes over them."""
    canvas = _background(rng, height, width)
    _distractors(rng, canvas, count=int(rng.integers(3, 11)))
    background = np.asarray(canvas).copy()
    pixels = background.astype(np.float32)
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    masks: list[np.ndarray] = []
    for _ in range(n_objects):
        label = int(rng.integers(len(bank)))
        scans = bank[label]
        alpha = _scaled_ink(rng, scans[rng.integers(len(scans))])
        placed = _place(rng, alpha, height=height, width=width, boxes=boxes)
        if placed is None:
            continue
        box, opacity = placed
        _paste(rng, pixels, opacity)
        boxes.append(box)
        labels.append(label + 1)
        masks.append(opacity > 0)
    image = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))
    if rng.random() < 0.3:  # strokes over the digits: partial occlusion
        _strokes_over(rng, image, count=int(rng.integers(1, 3)))
    return _Scene(
        image=np.asarray(image).copy(),
        background=background,
        boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        labels=np.array(labels, dtype=np.int64),
        masks=tuple(masks),
    )


def _background(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    """A colour gradient in a random direction, low-frequency blotches and pixel noise."""
    start, end = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    across = np.arange(width, dtype=np.float32) * np.float32(np.cos(angle))
    down = np.arange(height, dtype=np.float32) * np.float32(np.sin(angle))
    along = across[None, :] + down[:, None]
    along = (along - along.min()) / max(float(np.ptp(along)), 1.0)
    pixels = start + along[..., None] * (end - start)
    blotches = rng.uniform(0, 255, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3))
    smooth = Image.fromarray(blotches.astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
    pixels += (np.asarray(smooth, dtype=np.float32) - np.float32(127.5)) * np.float32(rng.uniform(0.1, 0.5))
    pixels += rng.standard_normal(size=pixels.shape, dtype=np.float32) * np.float32(rng.uniform(2, 12))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    red, green, blue = rng.integers(0, 256, size=3)
    return int(red), int(green), int(blue)


def _distractors(rng: np.random.Generator, image: Image.Image, *, count: int) -> None:
    """Draws ``count`` shapes that are not digits: lines, circles, rectangles, arcs and scribbles."""
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(count):
        kind = int(rng.integers(5))
        cx, cy = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        size = float(rng.uniform(6, 50))
        stroke = int(rng.integers(1, 5))
        colour = _colour(rng)
        if kind == 0:  # a straight line
            angle = rng.uniform(0, 2 * np.pi)
            reach = rng.uniform(15, 120)
            draw.line([(cx, cy), (cx + reach * np.cos(angle), cy + reach * np.sin(angle))],
                      fill=colour, width=stroke)
        elif kind == 1:  # a circle or an ellipse, outlined
            rx, ry = size / 2, size / 2 * rng.uniform(0.6, 1.4)
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], outline=colour, width=stroke)
        elif kind == 2:  # a rectangle, outlined or filled
            w, h = size, size * rng.uniform(0.4, 1.6)
            fill = colour if rng.random() < 0.4 else None
            draw.rectangle([cx, cy, cx + w, cy + h], outline=colour, fill=fill, width=stroke)
        elif kind == 3:  # an arc
            begin = float(rng.uniform(0, 360))
            draw.arc([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2], begin,
                     begin + float(rng.uniform(60, 240)), fill=colour, width=stroke)
        else:  # a scribble: a few random steps, a stroke about a digit's size
            steps = rng.normal(0, size / 3, size=(int(rng.integers(3, 6)), 2)).cumsum(axis=0)
            draw.line([(cx + dx, cy + dy) for dx, dy in steps], fill=colour, width=stroke, joint="curve")


def _strokes_over(rng: np.random.Generator, image: Image.Image, *, count: int) -> None:
    """Draws ``count`` thin lines across the image, over whatever lies there."""
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(count):
        x1, x2 = rng.uniform(0, width, size=2)
        y1, y2 = rng.uniform(0, height, size=2)
        draw.line([(float(x1), float(y1)), (float(x2), float(y2))], fill=_colour(rng),
                  width=int(rng.integers(1, 3)))


# --------------------------------------------------------------------------- one digit


def _scaled_ink(rng: np.random.Generator, scan: np.ndarray) -> np.ndarray:
    """The digit's opacity (float32 0..1) at its pasted size; below :data:`_INK` it is 0."""
    side = float(np.exp(rng.uniform(*np.log(_DIGIT_SIDE))))
    height = max(int(round(side * rng.uniform(0.85, 1.15))), 8)
    width = max(int(round(side * rng.uniform(0.85, 1.15))), 8)
    method = Image.Resampling.NEAREST if rng.random() < 0.3 else Image.Resampling.BILINEAR
    scaled = np.asarray(Image.fromarray(scan, mode="F").resize((width, height), method), dtype=np.float32)
    opacity = np.clip(scaled * rng.uniform(1.2, 1.8), 0.0, 1.0)
    opacity[opacity < _INK] = 0.0
    return opacity


def _place(
    rng: np.random.Generator, alpha: np.ndarray, *, height: int, width: int, boxes: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Finds a place for the digit: its box and its opacity over the whole image, or ``None``.

    The place keeps at least 60 % of the ink inside the image, a visible box of
    at least 4 px each way, and covers at most :data:`_MAX_HIDDEN` of any
    earlier digit's box.
    """
    h, w = alpha.shape
    ink = int(np.count_nonzero(alpha))
    for _ in range(_TRIES):
        margin = 0.3 if rng.random() < _OFF_EDGE else 0.0
        top = int(rng.integers(-int(h * margin), height - h + int(h * margin) + 1))
        left = int(rng.integers(-int(w * margin), width - w + int(w * margin) + 1))
        opacity = np.zeros((height, width), dtype=np.float32)
        y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + h, height), min(left + w, width)
        if y1 <= y0 or x1 <= x0:
            continue
        opacity[y0:y1, x0:x1] = alpha[y0 - top:y1 - top, x0 - left:x1 - left]
        rows, cols = np.nonzero(opacity.any(axis=1))[0], np.nonzero(opacity.any(axis=0))[0]
        if rows.size == 0 or np.count_nonzero(opacity) < 0.6 * ink:
            continue
        box = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)
        if min(box[2] - box[0], box[3] - box[1]) < 4 or _hides_too_much(box, boxes):
            continue
        return box, opacity
    return None


def _hides_too_much(box: np.ndarray, earlier: list[np.ndarray]) -> bool:
    for other in earlier:
        across = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
        down = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
        if across * down > _MAX_HIDDEN * (other[2] - other[0]) * (other[3] - other[1]):
            return True
    return False


def _paste(rng: np.random.Generator, pixels: np.ndarray, opacity: np.ndarray) -> None:
    """Blends a colour into ``pixels`` with ``opacity``: the colour of 8 random ones farthest from the
    background under the ink (black or white when none is :data:`_CONTRAST` away)."""
    rows, cols = np.nonzero(opacity.any(axis=1))[0], np.nonzero(opacity.any(axis=0))[0]
    where = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    pixels, opacity = pixels[where], opacity[where]  # views: only the digit's box changes
    under = pixels[opacity > 0].mean(axis=0)
    candidates = rng.integers(0, 256, size=(8, 3)).astype(np.float32)
    distance = np.linalg.norm(candidates - under, axis=1)
    colour = candidates[int(np.argmax(distance))]
    if distance.max() < _CONTRAST:
        colour = np.zeros(3, np.float32) if under.mean() > 127.5 else np.full(3, 255, np.float32)
    pixels += opacity[..., None] * (colour - pixels)
