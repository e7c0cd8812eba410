"""The detection families: each builds without downloading, trains a step from
scratch (an image without boxes included), predicts categories only, keeps
BatchNorm trainable, resizes to the spec's size, and places anchors by stride."""

from __future__ import annotations

import inspect

import pytest
import torch
import torchvision
from fg_automl_detection._networks import (
    DETECTION_FAMILIES_BUILDERS,
    DETECTIONS_PER_IMAGE,
    LOW_SCORE_THRESHOLD,
    DetectionSpec,
    SmallBackbone,
    build_fcos,
    build_retinanet,
    build_ssd,
    score_threshold_kwargs,
)
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

SPEC = DetectionSpec(n_classes=3, image_size=128)
FAMILIES = sorted(DETECTION_FAMILIES_BUILDERS)

#: The smallest and largest settings a search space would hold, per hyperparameter.
_SMALL = {"width": 16, "depth": 1, "levels": 2, "fpn_channels": 16, "anchor_scale": 1.5, "head_convs": 1,
          "level_scale": 1, "center_radius": 1.0, "representation": 64}
_LARGE = {"width": 64, "depth": 3, "levels": 4, "fpn_channels": 128, "anchor_scale": 6.0, "head_convs": 4,
          "level_scale": 4, "center_radius": 2.5, "representation": 1024}


def _hyperparameters(family: str) -> set[str]:
    parameters = inspect.signature(DETECTION_FAMILIES_BUILDERS[family]).parameters.values()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _settings(family: str, name: str) -> dict[str, object]:
    values = {"default": {}, "small": _SMALL, "large": _LARGE}[name]
    if family == "fcos" and name == "small":
        values = values | {"fpn_channels": 32}  # torchvision's FCOS head normalises in 32 groups
    return {key: value for key, value in values.items() if key in _hyperparameters(family)}


def _batch() -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Three images of 96-128 px: two with boxes of 10-60 px, one without any."""
    generator = torch.Generator().manual_seed(0)
    sizes = [(96, 128), (128, 112), (100, 100)]
    images = [torch.rand(3, h, w, generator=generator) for h, w in sizes]
    boxes = [
        torch.tensor([[10.0, 12.0, 40.0, 45.0], [60.0, 30.0, 120.0, 90.0]]),
        torch.tensor([[5.0, 70.0, 15.0, 82.0]]),
        torch.zeros((0, 4)),
    ]
    labels = [torch.tensor([1, 3]), torch.tensor([2]), torch.zeros(0, dtype=torch.int64)]
    return images, [{"boxes": b, "labels": lab} for b, lab in zip(boxes, labels, strict=True)]


@pytest.mark.parametrize("settings", ["default", "small", "large"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_training_step_from_scratch_gives_finite_losses_and_moves_every_parameter(
    family: str, settings: str
) -> None:
    torch.manual_seed(0)
    model = DETECTION_FAMILIES_BUILDERS[family](SPEC, **_settings(family, settings))
    images, targets = _batch()
    before = [p.detach().clone() for p in model.parameters()]
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    losses = model(images, targets)
    assert losses and all(torch.isfinite(loss) for loss in losses.values()), losses
    sum(losses.values()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    optimiser.step()
    moved = [not torch.equal(old, new) for old, new in zip(before, model.parameters(), strict=True)]
    assert sum(moved) >= 0.9 * len(moved)
    assert moved[0]  # the stem's first convolution

    model.eval()
    with torch.no_grad():
        outputs = model(images)
    assert len(outputs) == len(images)
    for image, output in zip(images, outputs, strict=True):
        n = len(output["scores"])
        assert output["boxes"].shape == (n, 4) and output["labels"].shape == (n,)
        assert n <= DETECTIONS_PER_IMAGE
        assert ((output["labels"] >= 1) & (output["labels"] <= SPEC.n_classes)).all()
        assert ((output["scores"] > LOW_SCORE_THRESHOLD) & (output["scores"] <= 1)).all()
        height, width = image.shape[-2:]
        boxes = output["boxes"]
        assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= width).all() and (boxes[:, [1, 3]] <= height).all()


@pytest.mark.parametrize("builder", [build_fcos, build_retinanet], ids=["fcos", "retinanet"])
def test_sigmoid_families_never_output_the_background_class(builder) -> None:
    torch.manual_seed(0)
    model = builder(SPEC, levels=2).eval()
    logits = model.head.classification_head.cls_logits
    with torch.no_grad():  # make the background column win everywhere
        logits.bias.view(-1, SPEC.n_classes + 1)[:, 0] = 10.0
        outputs = model(_batch()[0])
    assert all(((output["labels"] >= 1) & (output["labels"] <= SPEC.n_classes)).all() for output in outputs)


@pytest.mark.parametrize("family", FAMILIES)
def test_batchnorm_is_plain_and_every_parameter_trains(family: str) -> None:
    model = DETECTION_FAMILIES_BUILDERS[family](SPEC)
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) >= 3
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("image_size", [128, 192])
@pytest.mark.parametrize("family", FAMILIES)
def test_the_transform_resizes_to_the_spec_image_size(family: str, image_size: int) -> None:
    model = DETECTION_FAMILIES_BUILDERS[family](DetectionSpec(n_classes=2, image_size=image_size))
    assert model.transform.min_size == (image_size,)
    assert model.transform.max_size == image_size
    model.eval()
    with torch.no_grad():
        images, _ = model.transform([torch.rand(3, 100, 80)])
    assert max(images.image_sizes[0]) == image_size


@pytest.mark.parametrize("family", FAMILIES)
def test_outputs_keep_low_scores(family: str) -> None:
    model = DETECTION_FAMILIES_BUILDERS[family](SPEC)
    holder = model.roi_heads if family == "faster_rcnn" else model
    kwargs = score_threshold_kwargs(family)
    for name, value in kwargs.items():
        assert getattr(holder, name.removeprefix("box_")) == value
    assert LOW_SCORE_THRESHOLD in kwargs.values() and DETECTIONS_PER_IMAGE in kwargs.values()


def test_score_threshold_kwargs_names_the_families_for_an_unknown_one() -> None:
    with pytest.raises(ValueError, match="family must be one of"):
        score_threshold_kwargs("yolo")


def test_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", refuse)
    for family in FAMILIES:
        DETECTION_FAMILIES_BUILDERS[family](SPEC, **_settings(family, "large"))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_hyperparameter_is_keyword_only_with_a_default_and_documented(family: str) -> None:
    build = DETECTION_FAMILIES_BUILDERS[family]
    parameters = list(inspect.signature(build).parameters.values())
    assert parameters[0].name == "spec"
    for parameter in parameters[1:]:
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is not inspect.Parameter.empty
        assert f"{parameter.name}:" in (build.__doc__ or ""), parameter.name


def test_the_backbone_gives_a_map_per_level_at_doubling_strides() -> None:
    backbone = SmallBackbone(width=16, depth=2, levels=4)
    maps = backbone(torch.rand(2, 3, 128, 96))
    assert list(maps) == ["0", "1", "2", "3"] and backbone.strides == (8, 16, 32, 64)
    assert [tuple(m.shape) for m in maps.values()] == [
        (2, 16, 16, 12), (2, 32, 8, 6), (2, 64, 4, 3), (2, 64, 2, 2)]


def test_anchor_sides_are_anchor_scale_times_the_stride() -> None:
    retinanet = build_retinanet(SPEC, levels=3, anchor_scale=3.0)
    smallest = [min(sizes) for sizes in retinanet.anchor_generator.sizes]
    assert smallest == pytest.approx([24.0, 48.0, 96.0])
    ssd = build_ssd(SPEC, levels=3, anchor_scale=3.0)
    assert [s * SPEC.image_size for s in ssd.anchor_generator.scales[:3]] == pytest.approx([24.0, 48.0, 96.0])
    faster = DETECTION_FAMILIES_BUILDERS["faster_rcnn"](SPEC, levels=3, anchor_scale=3.0)
    assert faster.rpn.anchor_generator.sizes == ((24.0,), (48.0,), (96.0,))
    fcos = build_fcos(SPEC, levels=3, level_scale=2)
    # torchvision's FCOS: a level learns farthest-edge distances of 4 to 8 anchor sides.
    assert [4 * sizes[0] for sizes in fcos.anchor_generator.sizes] == [16, 32, 64]
    assert fcos.center_sampling_radius * fcos.anchor_generator.sizes[0][0] == pytest.approx(1.5 * 8)


@pytest.mark.parametrize(
    ("build", "arguments", "message"),
    [
        (lambda: DetectionSpec(n_classes=0, image_size=128), {}, "n_classes must be at least 1"),
        (build_retinanet, {"levels": 5}, "image_size must be at least twice the coarsest stride"),
        (build_retinanet, {"width": 4}, "width must be at least 8"),
        (build_ssd, {"depth": 0}, "depth must be at least 1"),
        (build_ssd, {"anchor_scale": 0.0}, "anchor_scale must be positive"),
        (build_fcos, {"fpn_channels": 48}, "fpn_channels must be a multiple of 32"),
        (build_fcos, {"level_scale": 3}, "level_scale must be 1, 2 or 4"),
    ],
)
def test_bad_settings_are_named_errors(build, arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build() if not arguments else build(SPEC, **arguments)
