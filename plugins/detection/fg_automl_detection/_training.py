"""Training a detector: augmentation, batches, and the Lightning module.

Augmentation (training images only) uses torchvision's ``transforms.v2``,
which moves the boxes with the pixels: a horizontal flip with probability
``hflip``; a random affine zoom and shift (scale ``1 +- 0.4 * augment``,
shift up to ``0.1 * augment`` of the side) that shrinks objects, enlarges
them and pushes some partly out of the picture; colour jitter (brightness,
contrast and saturation ``+- 0.4 * augment``).
Boxes are then clipped to the image and those left smaller than
:data:`MIN_BOX_SIDE` px are removed with their labels, so that torchvision
never sees a degenerate box.

The module trains with AdamW, a linear warm-up and cosine decay
(:func:`finegrain_automl.training.adamw_warmup_cosine`) and gradient
clipping; after each epoch it scores the images held out for that purpose
(:class:`HoldoutWatch`) and keeps the weights of the best epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import tv_tensors
from torchvision.transforms import v2

from fg_automl_detection._metrics import Detections, best_score_threshold, detection_f1
from finegrain_automl.training import adamw_warmup_cosine

__all__ = ["MIN_BOX_SIDE", "DetectorModule", "HoldoutWatch", "augmentation", "image_tensor", "training_batches"]

#: Boxes narrower or lower than this after augmentation are removed.
MIN_BOX_SIDE = 2.0
#: Largest total gradient norm (detection losses spike early when trained from scratch).
GRADIENT_CLIP = 10.0


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """``[h, w, 3]`` uint8 RGB as the float ``[3, h, w]`` in 0..1 that torchvision's detectors take."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def augmentation(*, augment: float, hflip: float) -> v2.Transform | None:
    """The training transform of strength ``augment`` (0..1) with horizontal
    flips of probability ``hflip``; ``None`` when both are 0."""
    steps: list[v2.Transform] = []
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=hflip))
    if augment > 0:
        steps += [
            v2.RandomAffine(degrees=0.0, translate=(0.1 * augment, 0.1 * augment),
                            scale=(1 - 0.4 * augment, 1 + 0.4 * augment), fill=114),
            # No hue: it costs twice the rest of the augmentation (HSV round trip) for little.
            v2.ColorJitter(brightness=0.4 * augment, contrast=0.4 * augment, saturation=0.4 * augment),
        ]
    if not steps:
        return None
    return v2.Compose([*steps, v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIDE)])


class _Images(torch.utils.data.Dataset):
    """Training images and targets, augmented anew at each visit."""

    def __init__(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                 transform: v2.Transform | None) -> None:
        self.images, self.boxes, self.labels, self.transform = images, boxes, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image = self.images[index]
        boxes = torch.as_tensor(self.boxes[index], dtype=torch.float32).reshape(-1, 4)
        labels = torch.as_tensor(self.labels[index], dtype=torch.int64)
        if self.transform is None:
            return image_tensor(image), {"boxes": boxes, "labels": labels}
        pixels = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))
        target = {"boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=image.shape[:2]),
                  "labels": labels}
        pixels, target = self.transform(pixels, target)
        return (pixels.float().div_(255.0),
                {"boxes": target["boxes"].as_subclass(torch.Tensor), "labels": target["labels"]})


def _collate(batch: list[Any]) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


def training_batches(images: Sequence[np.ndarray], boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray], *,
                     transform: v2.Transform | None, batch_size: int, seed: int) -> DataLoader:
    """Shuffled batches (lists of images and of targets), reshuffled each epoch from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(_Images(images, boxes, labels, transform), batch_size=batch_size, shuffle=True,
                      generator=generator, collate_fn=_collate, num_workers=0)


class HoldoutWatch:
    """Scores a detector on images held out of its training, to keep the best
    epoch's weights and to choose the score threshold (F1-best on these images).

    Args:
        images: Float ``[3, h, w]`` tensors (:func:`image_tensor`).
        boxes, labels: Their ground truth.
        detect: ``detect(network, images) -> list[Detections]``.
    """

    def __init__(self, images: Sequence[torch.Tensor], boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                 detect: Any) -> None:
        self.images, self.boxes, self.labels, self.detect = list(images), list(boxes), list(labels), detect
        self.best_f1 = -1.0
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.threshold: float | None = None

    def __len__(self) -> int:
        return len(self.images)

    def check(self, network: nn.Module, epoch: int) -> float:
        """Scores ``network`` (at its F1-best threshold on these images) and keeps
        its weights if it is the best so far; returns that F1."""
        detections: list[Detections] = self.detect(network, self.images)
        threshold = best_score_threshold(detections, self.boxes, self.labels)
        f1 = detection_f1(detections, self.boxes, self.labels, score_threshold=threshold)["f1"]
        if f1 > self.best_f1:
            self.best_f1, self.best_epoch, self.threshold = f1, epoch, threshold
            self.best_state = copy.deepcopy(network.state_dict())
        return f1


class DetectorModule(pl.LightningModule):
    """Trains a torchvision detector on its own summed losses.

    Args:
        network: A torchvision detection model (training mode returns its losses).
        lr, weight_decay: AdamW's.
        total_steps: Optimiser steps of the whole fit, for the schedule.
        watch: Images held out to keep the best epoch, scored after each epoch
            from ``watch_from`` on; ``None``: the last epoch is kept.
    """

    def __init__(self, network: nn.Module, *, lr: float, weight_decay: float, total_steps: int,
                 watch: HoldoutWatch | None = None, watch_from: int = 0) -> None:
        super().__init__()
        self.network = network
        self.lr, self.weight_decay, self.total_steps = lr, weight_decay, total_steps
        self.watch, self.watch_from = watch, watch_from

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, targets = batch
        losses = self.network(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The detector's loss is {float(loss)} ({', '.join(losses)}); lower lr.")
        return loss

    def on_train_epoch_end(self) -> None:
        if self.watch is not None and self.current_epoch >= self.watch_from:
            self.network.eval()
            self.watch.check(self.network, self.current_epoch)
            self.network.train()

    def configure_optimizers(self) -> dict[str, Any]:
        return adamw_warmup_cosine(self.network, lr=self.lr, weight_decay=self.weight_decay,
                                   total_steps=self.total_steps)
