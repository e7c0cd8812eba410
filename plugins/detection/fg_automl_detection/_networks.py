"""The detection task's model families: torchvision's FCOS, RetinaNet, SSD and
Faster R-CNN on a small convolutional backbone trained from scratch.

Nothing is downloaded: every model is built from torchvision's classes with
this module's backbone, which has trainable :class:`~torch.nn.BatchNorm2d`
throughout (torchvision's backbone helpers freeze BatchNorm and early layers
for fine-tuning pretrained weights; there are none here). FCOS's and
RetinaNet's heads normalise with GroupNorm, as torchvision builds them.

The backbone gives ``levels`` maps at strides 8, 16, 32, ... (level ``k`` at
stride ``8 * 2**k``). FCOS, RetinaNet and Faster R-CNN read them through a
feature pyramid network; SSD reads them directly. Anchors follow the strides:
a level's anchors have a side of about ``anchor_scale`` times its stride, so
the default 2 covers 16-100 px over three levels, the size of the built-in
data's digits (7-63 px in 128-192 px images).

Every model follows torchvision's detection contract: ``model(images,
targets)`` in training mode returns a dict of losses; in eval mode
``model(images)`` returns one dict per image with ``boxes`` (``x1, y1, x2,
y2`` in the input image's pixels), ``scores`` and ``labels``. Images are
float tensors ``[3, h, w]`` in 0..1; the model resizes them so that the longer
side is :attr:`DetectionSpec.image_size` (SSD: to a square of that side) and
maps its boxes back. Labels are ``1..n_classes``; every family's
``num_classes`` counts the background as class 0, as torchvision's docs say.
FCOS and RetinaNet score each class with its own sigmoid, so their class-0
column is only ever trained as a negative: its bias starts far below any score
kept, and their outputs drop class 0, so every label returned is a category.

Outputs keep every box scoring above :data:`LOW_SCORE_THRESHOLD` (at most
:data:`DETECTIONS_PER_IMAGE` per image): the task chooses the score threshold
on training predictions itself.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator, DefaultBoxGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.ssd import SSD
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign

__all__ = [
    "DETECTIONS_PER_IMAGE",
    "DETECTION_FAMILIES_BUILDERS",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "LOW_SCORE_THRESHOLD",
    "DetectionSpec",
    "SmallBackbone",
    "build_faster_rcnn",
    "build_fcos",
    "build_retinanet",
    "build_ssd",
    "score_threshold_kwargs",
]

#: Detections scoring at or below this are dropped by the models themselves.
LOW_SCORE_THRESHOLD = 0.01
#: At most this many detections per image, the best-scoring ones.
DETECTIONS_PER_IMAGE = 100
#: Normalisation of the 0..1 RGB input (ImageNet's statistics, as torchvision's detectors use).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

_FIRST_STRIDE = 8  # stride of level 0; each further level doubles it
_MAX_LEVELS = 5
_ASPECT_RATIOS = (0.5, 1.0, 2.0)  # height / width, torchvision's convention
_NEVER = -20.0  # initial logit of the background column of a sigmoid classifier: sigmoid is 2e-9


@dataclass(frozen=True)
class DetectionSpec:
    """What a detector is built for.

    Attributes:
        n_classes: Object categories; labels are ``1..n_classes`` (0 is the background).
        image_size: Side in pixels the model resizes its input to (the longer
            side; SSD resizes to a square of this side).
    """

    n_classes: int
    image_size: int

    def __post_init__(self) -> None:
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, but got {self.n_classes=}.")
        if self.image_size < 2 * _FIRST_STRIDE:
            raise ValueError(f"image_size must be at least {2 * _FIRST_STRIDE} px, but got "
                             f"{self.image_size=}.")


def score_threshold_kwargs(family: str) -> dict[str, float | int]:
    """The keyword arguments that make ``family``'s torchvision class keep every
    box scoring above :data:`LOW_SCORE_THRESHOLD`, up to :data:`DETECTIONS_PER_IMAGE` per image."""
    if family == "faster_rcnn":
        return {"box_score_thresh": LOW_SCORE_THRESHOLD, "box_detections_per_img": DETECTIONS_PER_IMAGE}
    if family in ("fcos", "retinanet", "ssd"):
        return {"score_thresh": LOW_SCORE_THRESHOLD, "detections_per_img": DETECTIONS_PER_IMAGE}
    raise ValueError(f"family must be one of {sorted(DETECTION_FAMILIES_BUILDERS)}, but got {family=}.")


# --------------------------------------------------------------------------- backbone


def _conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallBackbone(nn.Module):
    """A plain convolutional backbone: a stem to stride 4, then one stage per level.

    The stem is two 3x3 convolutions of stride 2 (``width // 2``, at least 8,
    then ``width`` channels). Stage ``k`` is ``depth`` 3x3 convolutions with
    BatchNorm and ReLU, the first of stride 2, with ``width * 2**k`` channels
    (at most ``4 * width``); its output, at stride ``8 * 2**k``, is level ``k``.

    ``forward(x)`` maps ``[n, 3, h, w]`` to an ``OrderedDict`` ``{"0": ..., "1": ...}``
    of ``levels`` maps, level ``k`` ``[n, channels[k], ceil(h / strides[k]), ceil(w / strides[k])]``.

    Attributes:
        channels: Channels of each level's map.
        strides: Stride of each level's map.
    """

    def __init__(self, *, width: int, depth: int, levels: int) -> None:
        super().__init__()
        stem = max(width // 2, 8)
        self.stem = nn.Sequential(_conv_block(3, stem, 2), _conv_block(stem, width, 2))
        self.channels = tuple(min(width * 2**k, 4 * width) for k in range(levels))
        self.strides = tuple(_FIRST_STRIDE * 2**k for k in range(levels))
        stages = []
        previous = width
        for channels in self.channels:
            blocks = [_conv_block(previous, channels, 2)]
            blocks += [_conv_block(channels, channels, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            previous = channels
        self.stages = nn.ModuleList(stages)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.stem(x)
        maps: OrderedDict[str, torch.Tensor] = OrderedDict()
        for index, stage in enumerate(self.stages):
            x = stage(x)
            maps[str(index)] = x
        return maps


class _SSDBackbone(SmallBackbone):
    """The backbone as SSD reads it: ``out_channels`` lists each level's channels."""

    @property
    def out_channels(self) -> list[int]:
        return list(self.channels)


class _PyramidBackbone(nn.Module):
    """The backbone followed by a feature pyramid network: ``levels`` maps of
    ``out_channels`` channels each, named as the backbone's."""

    def __init__(self, body: SmallBackbone, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(list(body.channels), out_channels)
        self.out_channels = out_channels
        self.strides = body.strides

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(self.body(x))


def _check_backbone(*, width: int, depth: int, levels: int, spec: DetectionSpec) -> None:
    if width < 8:
        raise ValueError(f"width must be at least 8 channels, but got {width=}.")
    if depth < 1:
        raise ValueError(f"depth must be at least 1 convolution per stage, but got {depth=}.")
    if not 1 <= levels <= _MAX_LEVELS:
        raise ValueError(f"levels must be between 1 and {_MAX_LEVELS}, but got {levels=}.")
    coarsest = _FIRST_STRIDE * 2 ** (levels - 1)
    if spec.image_size < 2 * coarsest:
        raise ValueError(f"image_size must be at least twice the coarsest stride ({coarsest} px at "
                         f"{levels=}), but got {spec.image_size=}; use fewer levels or a larger image_size.")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, but got {name}={value!r}.")


def _pyramid(
    spec: DetectionSpec, *, width: int, depth: int, levels: int, fpn_channels: int
) -> _PyramidBackbone:
    _check_backbone(width=width, depth=depth, levels=levels, spec=spec)
    _check_positive(fpn_channels=fpn_channels)
    return _PyramidBackbone(SmallBackbone(width=width, depth=depth, levels=levels), fpn_channels)


def _transform_kwargs(spec: DetectionSpec, strides: tuple[int, ...]) -> dict[str, Any]:
    """Resize to ``image_size``, normalise, and pad to a multiple of the coarsest stride."""
    return {"min_size": spec.image_size, "max_size": spec.image_size, "image_mean": list(IMAGE_MEAN),
            "image_std": list(IMAGE_STD), "size_divisible": strides[-1]}


# --------------------------------------------------------------------------- outputs of sigmoid classifiers


class _ForegroundOutputs:
    """Mixed into FCOS and RetinaNet: their outputs leave out class 0 (the background)."""

    training: bool

    def eager_outputs(
        self, losses: dict[str, torch.Tensor], detections: list[dict[str, torch.Tensor]]
    ) -> Any:
        if self.training:
            return losses
        return [{key: value[found["labels"] > 0] for key, value in found.items()} for found in detections]


class _FCOS(_ForegroundOutputs, FCOS):
    pass


class _RetinaNet(_ForegroundOutputs, RetinaNet):
    pass


def _silence_background(cls_logits: nn.Conv2d, num_classes: int) -> None:
    """Starts the background column of a sigmoid classifier far below every kept score
    (its channels are ``anchor * num_classes + 0``)."""
    with torch.no_grad():
        cls_logits.bias.view(-1, num_classes)[:, 0] = _NEVER


# --------------------------------------------------------------------------- families


def build_fcos(
    spec: DetectionSpec,
    *,
    width: int = 32,
    depth: int = 2,
    levels: int = 3,
    fpn_channels: int = 64,
    head_convs: int = 2,
    level_scale: int = 1,
    center_radius: float = 1.5,
) -> FCOS:
    """FCOS (anchor-free, one location per cell) over :class:`SmallBackbone` and an FPN.

    Args:
        spec: Classes and input size.
        width: Channels of the backbone's first stage (e.g. 16-64).
        depth: Convolutions per backbone stage (e.g. 1-3).
        levels: Maps at strides 8, 16, 32, ... (e.g. 2-4).
        fpn_channels: Channels of the FPN's maps and of the head; a multiple of
            32 (torchvision's head normalises in 32 groups).
        head_convs: 3x3 convolutions of the classification and of the
            regression branch before their outputs (torchvision's default: 4).
        level_scale: 1, 2 or 4. Level ``k`` (stride ``s``) learns the
            locations whose farthest box edge lies ``level_scale * s`` to
            ``2 * level_scale * s`` px away (the first level from 0, the last
            without limit); at a box's centre that distance is half its side,
            so at 1 stride 16 learns boxes of about 32-64 px. torchvision's
            FCOS uses 4, which puts every box under about 128 px on the first
            level.
        center_radius: Locations within this many strides of a box's centre
            (and inside it) are its positives.
    """
    if level_scale not in (1, 2, 4):
        raise ValueError(f"level_scale must be 1, 2 or 4 (torchvision rounds FCOS's anchor sizes to whole "
                         f"pixels, which keeps only these exact), but got {level_scale=}.")
    _check_positive(head_convs=head_convs, center_radius=center_radius)
    if fpn_channels % 32:
        raise ValueError(f"fpn_channels must be a multiple of 32 for FCOS (torchvision's FCOS head "
                         f"normalises in 32 groups), but got {fpn_channels=}.")
    backbone = _pyramid(spec, width=width, depth=depth, levels=levels, fpn_channels=fpn_channels)
    # torchvision takes a level's box range as [4a, 8a] of its anchor size a, and the centre radius in a's.
    anchor_sizes = tuple((stride * level_scale // 4,) for stride in backbone.strides)
    num_classes = spec.n_classes + 1
    model = _FCOS(
        backbone,
        num_classes,
        anchor_generator=AnchorGenerator(anchor_sizes, ((1.0,),) * levels),
        head=_fcos_head(fpn_channels, num_classes, head_convs),
        center_sampling_radius=center_radius * 4 / level_scale,
        **score_threshold_kwargs("fcos"),
        **_transform_kwargs(spec, backbone.strides),
    )
    return model


def _fcos_head(channels: int, num_classes: int, convs: int) -> nn.Module:
    head = FCOSHead(channels, 1, num_classes, num_convs=convs)
    _silence_background(head.classification_head.cls_logits, num_classes)
    return head


def build_retinanet(
    spec: DetectionSpec,
    *,
    width: int = 32,
    depth: int = 2,
    levels: int = 3,
    fpn_channels: int = 64,
    anchor_scale: float = 2.0,
) -> RetinaNet:
    """RetinaNet (focal loss, nine anchors per cell) over :class:`SmallBackbone` and an FPN.

    Args:
        spec: Classes and input size.
        width: Channels of the backbone's first stage (e.g. 16-64).
        depth: Convolutions per backbone stage (e.g. 1-3).
        levels: Maps at strides 8, 16, 32, ... (e.g. 2-4).
        fpn_channels: Channels of the FPN's maps and of the head: four 3x3
            convolutions per branch, with GroupNorm as in torchvision's
            RetinaNet v2 (trained from scratch, the head without it barely
            learns).
        anchor_scale: A level's anchors have sides ``anchor_scale * stride``
            times 1, 2^(1/3) and 2^(2/3), each at height/width 0.5, 1 and 2 (e.g. 1.5-6).
    """
    _check_positive(anchor_scale=anchor_scale)
    backbone = _pyramid(spec, width=width, depth=depth, levels=levels, fpn_channels=fpn_channels)
    octave = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    sizes = tuple(tuple(anchor_scale * stride * step for step in octave) for stride in backbone.strides)
    anchors = AnchorGenerator(sizes, (_ASPECT_RATIOS,) * levels)
    num_classes = spec.n_classes + 1
    norm = functools.partial(nn.GroupNorm, math.gcd(32, fpn_channels))  # as torchvision's RetinaNet v2
    head = RetinaNetHead(fpn_channels, anchors.num_anchors_per_location()[0], num_classes, norm_layer=norm)
    _silence_background(head.classification_head.cls_logits, num_classes)
    return _RetinaNet(backbone, num_classes, anchor_generator=anchors, head=head,
                      **score_threshold_kwargs("retinanet"), **_transform_kwargs(spec, backbone.strides))


def build_ssd(
    spec: DetectionSpec,
    *,
    width: int = 32,
    depth: int = 2,
    levels: int = 3,
    anchor_scale: float = 2.0,
) -> SSD:
    """SSD (hard negative mining, softmax over classes) on :class:`SmallBackbone`'s maps directly.

    The input is resized to a square of ``spec.image_size`` (SSD's fixed size).

    Args:
        spec: Classes and input size.
        width: Channels of the backbone's first stage (e.g. 16-64).
        depth: Convolutions per backbone stage (e.g. 1-3).
        levels: Maps at strides 8, 16, 32, ... (e.g. 2-4).
        anchor_scale: A level's default boxes are squares of side
            ``anchor_scale * stride`` and ``sqrt(2)`` times that, and boxes of
            height/width 0.5 and 2 of the same area as the first (e.g. 1.5-6).
    """
    _check_backbone(width=width, depth=depth, levels=levels, spec=spec)
    _check_positive(anchor_scale=anchor_scale)
    backbone = _SSDBackbone(width=width, depth=depth, levels=levels)
    strides = backbone.strides + (backbone.strides[-1] * 2,)  # the last level's second square needs the next
    boxes = DefaultBoxGenerator(
        [[2]] * levels,
        scales=[anchor_scale * stride / spec.image_size for stride in strides],
        steps=list(backbone.strides),
    )
    return SSD(backbone, boxes, (spec.image_size, spec.image_size), spec.n_classes + 1,
               image_mean=list(IMAGE_MEAN), image_std=list(IMAGE_STD), **score_threshold_kwargs("ssd"))


def build_faster_rcnn(
    spec: DetectionSpec,
    *,
    width: int = 32,
    depth: int = 2,
    levels: int = 3,
    fpn_channels: int = 64,
    anchor_scale: float = 2.0,
    representation: int = 256,
) -> FasterRCNN:
    """Faster R-CNN (region proposals, then RoIAlign and a two-layer box head) over
    :class:`SmallBackbone` and an FPN.

    The proposal network keeps 600 proposals per image in training and 300 in
    evaluation, and the box head learns from 128 of them per image (a quarter
    positive at most): enough for scenes of a few objects, and a fraction of
    torchvision's 2000/1000/512 at a fraction of the cost.

    Args:
        spec: Classes and input size.
        width: Channels of the backbone's first stage (e.g. 16-64).
        depth: Convolutions per backbone stage (e.g. 1-3).
        levels: Maps at strides 8, 16, 32, ... (e.g. 2-4).
        fpn_channels: Channels of the FPN's maps.
        anchor_scale: A level's proposal anchors have side ``anchor_scale *
            stride``, at height/width 0.5, 1 and 2 (e.g. 1.5-6); a region is
            pooled from the level whose anchor side is at most its own and
            more than half of it.
        representation: Width of the box head's two fully connected layers (e.g. 128-1024).
    """
    _check_positive(anchor_scale=anchor_scale, representation=representation)
    backbone = _pyramid(spec, width=width, depth=depth, levels=levels, fpn_channels=fpn_channels)
    anchors = AnchorGenerator(tuple((anchor_scale * stride,) for stride in backbone.strides),
                              (_ASPECT_RATIOS,) * levels)
    resolution = 7
    # RoIAlign's level k + 3 (stride 2**(k+3)) takes regions of side [1, 2) x that level's anchor side.
    pool = MultiScaleRoIAlign([str(k) for k in range(levels)], output_size=resolution, sampling_ratio=2,
                              canonical_scale=max(1, round(anchor_scale * 16)), canonical_level=4)
    return FasterRCNN(
        backbone,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=1000,
        rpn_pre_nms_top_n_test=600,
        rpn_post_nms_top_n_train=600,
        rpn_post_nms_top_n_test=300,
        box_roi_pool=pool,
        box_head=TwoMLPHead(fpn_channels * resolution**2, representation),
        box_predictor=FastRCNNPredictor(representation, spec.n_classes + 1),
        box_batch_size_per_image=128,
        **score_threshold_kwargs("faster_rcnn"),
        **_transform_kwargs(spec, backbone.strides),
    )


#: Each family's builder: ``build(spec, **hyperparameters) -> torch.nn.Module``.
DETECTION_FAMILIES_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "fcos": build_fcos,
    "retinanet": build_retinanet,
    "ssd": build_ssd,
    "faster_rcnn": build_faster_rcnn,
}
