"""A fitted detector as ``fg-automl export --format onnx`` needs it.

Every family (SSD, FCOS, RetinaNet, Faster R-CNN) exports whole, as
torchvision's detectors export to ONNX: traced on one image, with its
normalisation, resizing, post-processing (score floor, non-maximum
suppression, at most 100 boxes) and the mapping of the boxes back to the
image inside the graph; the image's height and width stay dynamic.

Two sizes come in from outside the graph, computed by the export's numpy
module (:mod:`fg_automl_detection._detection_onnx`), where the torch model
computes them in Python:

- the size the image is resized to. Eager torch truncates ``side * scale``
  computed in Python floats; traced, torchvision computes it in float32,
  which lands on the other side of a whole pixel for about one image size in
  six (a 128 x 141 image at ``image_size`` 64: 58 x 64 eager, 58 x 63
  traced). Measured on torchvision's own trace of the 1-epoch test models,
  FCOS, RetinaNet and Faster R-CNN found other boxes on 4 of 40 built-in
  images and on every one of ten images of such sizes (SSD, resized to a
  fixed square, on none);
- the size it is padded to. ``predict`` sends the images through the
  network eight at a time and pads every image of a batch to the batch's
  largest one, which changes the detections near the right and bottom
  edges; the export pads each image as its batch did.

The resize itself is written out (:func:`bilinear_resize`): ONNX's
``Resize`` samples the image at positions a float32 rounding away from
torch's, which moved RetinaNet's large boxes by up to 3.4e-3 px.

The graph reads the image as the task holds it (uint8 ``[height, width,
3]``) and returns ``boxes``, ``scores`` and ``labels``.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional
from torchvision.models.detection import FCOS, RetinaNet
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from fg_automl_detection import _detection_onnx
from fg_automl_detection._columns import IMAGE
from fg_automl_detection._detector import PREDICT_BATCH, DetectorModel
from finegrain_automl.export import ExportNotSupported, OnnxNetwork

__all__ = ["INPUTS", "OUTPUTS", "PREDICT_MODULE", "bilinear_resize", "onnx_network"]

#: The module the export copies (numpy and pandas only).
PREDICT_MODULE = Path(_detection_onnx.__file__)
#: The graph's inputs: the image, the size it is resized to and the size it is padded to.
INPUTS = ("image", "resized_size", "padded_size")
#: The graph's outputs, one image's detections.
OUTPUTS = ("boxes", "scores", "labels")
#: torchvision's detectors that export whole (their forward and post-processing trace).
_EXPORTED = (SSD, FCOS, RetinaNet, GeneralizedRCNN)
#: Height and width of the example image the graph is traced with (any size gives the same graph).
_EXAMPLE_SHAPE = (72, 96)


def onnx_network(model: DetectorModel) -> OnnxNetwork:
    """The :class:`~finegrain_automl.export.OnnxNetwork` of ``model``: the
    whole detector on one image, and the spec the export's module predicts with.

    Raises:
        ExportNotSupported: The network is not one of torchvision's detectors
            that export (a family another plugin contributed, say).
    """
    network = model.network.eval()
    if not isinstance(network, _EXPORTED) or type(network.transform) is not GeneralizedRCNNTransform:
        raise ExportNotSupported(
            f"model family {model.family_name!r} ({type(network).__name__}) is not one of torchvision's SSD, "
            "FCOS, RetinaNet or Faster R-CNN with their own transform, which the detection task exports; "
            "predict with fg-automl predict instead.")
    spec = _spec(model, network.transform)
    image = np.random.default_rng(0).integers(0, 256, size=(*_EXAMPLE_SHAPE, 3), dtype=np.uint8)
    inputs = _detection_onnx.preprocess(_one_image(image), spec)
    dynamic = {"image": {0: "height", 1: "width"}} | {name: {0: "detections"} for name in OUTPUTS}
    return OnnxNetwork(module=_ExportedDetector(network), inputs={name: inputs[name] for name in INPUTS},
                       spec=spec, preprocess=PREDICT_MODULE, outputs=OUTPUTS, dynamic_axes=dynamic)


def _one_image(image: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({IMAGE: pd.Series([image], dtype=object)})


def _spec(model: DetectorModel, transform: GeneralizedRCNNTransform) -> dict[str, Any]:
    """What the export's module needs: the transform's sizes, the batch, the categories and the threshold."""
    fixed = transform.fixed_size
    return {
        "family": model.family_name,
        "image_column": IMAGE,
        "min_size": int(transform.min_size[-1]),
        "max_size": int(transform.max_size),
        "fixed_size": None if fixed is None else [int(side) for side in fixed],
        "size_divisible": int(transform.size_divisible),
        "predict_batch": PREDICT_BATCH,
        "categories": [str(name) for name in model.categories],
        "category_ids": [int(i) for i in model.category_ids],
        "score_threshold": float(model.score_threshold),
    }


def bilinear_resize(image: torch.Tensor, height: Any, width: Any) -> torch.Tensor:
    """``image`` ``[c, h, w]`` resized to ``[c, height, width]`` as torch's CPU
    ``interpolate(mode="bilinear", align_corners=False)`` does it, written in
    plain operations so that the graph computes the same float32 sampling
    positions. ONNX's ``Resize`` computes them another way (from ``height /
    h``, not ``h / height``), a float32 rounding apart: measured, that moved a
    300 x 260 px image shrunk to 160 px by up to 1.3e-4 (normalised units)
    and RetinaNet's largest boxes on it by 3.4e-3 px."""
    rows0, rows1, top, bottom = _taps(image.shape[1], height)
    cols0, cols1, left, right = _taps(image.shape[2], width)
    upper, lower = image.index_select(1, rows0), image.index_select(1, rows1)
    upper = upper.index_select(2, cols0) * left + upper.index_select(2, cols1) * right
    lower = lower.index_select(2, cols0) * left + lower.index_select(2, cols1) * right
    return upper * top[:, None] + lower * bottom[:, None]


def _taps(size: Any, resized: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each output position along one axis: the two input positions it
    reads and their weights (torch's ``area_pixel_compute_source_index`` and
    ``guard_index_and_lambda``, in float32).

    torch's vectorised CPU kernels compute ``scale * (i + 0.5) - 0.5`` as one
    fused multiply-add, rounded once; so does this (exact in float64, then
    rounded to float32): rounding twice puts some positions one float32 step
    away (1.5e-5 px near 160 px), which moves the resized image by as much
    times its local contrast.
    """
    size = torch.as_tensor(size, dtype=torch.int64)
    scale = size.to(torch.float32) / torch.as_tensor(resized).to(torch.float32)
    centres = torch.arange(resized, dtype=torch.float32) + 0.5
    source = (scale.to(torch.float64) * centres.to(torch.float64) - 0.5).to(torch.float32).clamp(min=0.0)
    first = torch.minimum(source.floor().to(torch.int64), size - 1)
    weight = (source - first.to(torch.float32)).clamp(0.0, 1.0)
    second = first + (first < size - 1).to(torch.int64)
    return first, second, 1.0 - weight, weight


class _SizedTransform(GeneralizedRCNNTransform):
    """torchvision's transform, resizing and padding each image to the sizes
    :class:`_ExportedDetector` was given (set in :attr:`sizes` before each call)."""

    def __init__(self, base: GeneralizedRCNNTransform) -> None:
        super().__init__(base.min_size, base.max_size, base.image_mean, base.image_std,
                         size_divisible=base.size_divisible, fixed_size=base.fixed_size)
        self.sizes: tuple[torch.Tensor, torch.Tensor] | None = None

    def resize(self, image: torch.Tensor, target: Any = None) -> tuple[torch.Tensor, Any]:
        resized, _ = self.sizes
        return bilinear_resize(image, resized[0], resized[1]), target

    def batch_images(self, images: list[torch.Tensor], size_divisible: int = 32) -> torch.Tensor:
        (image,), (_, padded) = images, self.sizes
        return functional.pad(image, (0, padded[1] - image.shape[2], 0, padded[0] - image.shape[1]))[None]


class _ExportedDetector(nn.Module):
    """A copy of a detector whose forward takes one uint8 image and its two sizes
    and returns that image's boxes, scores and labels."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = copy.deepcopy(network).eval()
        self.network.transform = _SizedTransform(network.transform)

    def forward(self, image: torch.Tensor, resized_size: torch.Tensor,
                padded_size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pixels = image.permute(2, 0, 1).to(torch.float32) / 255.0  # as the task's image_tensor
        self.network.transform.sizes = (resized_size, padded_size)
        with warnings.catch_warnings():
            _quiet_tracing()
            (found,) = self.network([pixels])
        return found["boxes"], found["scores"], found["labels"]


def _quiet_tracing() -> None:
    """Ignores what torchvision's detectors say while traced, which is known
    and harmless here: the tracer's notes on sizes it sees as Python values
    (the tests check the graph on images of many sizes), ``torch.tensor`` of
    traced sizes, and ``torch.jit.script`` (its non-maximum suppression is
    scripted when traced) being deprecated."""
    warnings.simplefilter("ignore", torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
