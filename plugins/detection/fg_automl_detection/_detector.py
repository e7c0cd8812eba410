"""Fitting a detector, and the fitted model that finds objects in images.

A fit holds out :data:`HOLDOUT_SHARE` of its training images (at least
:data:`MIN_HOLDOUT` when there are enough): the detector trains on the rest
with augmentation; after each epoch from the middle of the schedule on it is
scored on the held-out images, and the weights of its best epoch are kept
with the score threshold that gave the best F1 there. Both choices are made
on training images only, never on the fold being scored; the refit of the
winner does the same on the whole development split.

The fitted model keeps the categories (names and the COCO file's ids) so
that ``predict`` on images without annotations can write COCO results.
Loading a model to predict does not import Lightning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from fg_automl_detection._columns import BOXES, FILE_NAME, IMAGE, IMAGE_ID, LABELS
from fg_automl_detection._metrics import DEFAULT_SCORE_THRESHOLD, Detections
from fg_automl_detection._networks import DetectionSpec
from finegrain_automl import (
    Dataset,
    FitContext,
    FittedModel,
    ModelFamily,
    config_number,
    require_config,
)

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "FORMAT",
    "DetectorModel",
    "detections_of",
    "fit_detector",
    "load_detector",
    "training_options",
]

#: Format tag of a saved model's state.
FORMAT = "fg_automl_detection/1"
#: Input side of the models when the configuration names none.
DEFAULT_IMAGE_SIZE = 160
#: Share of a fit's training images held out to keep the best epoch and choose the threshold.
HOLDOUT_SHARE = 0.15
#: Fewer held-out images than this are too few to choose anything; below
#: ``2 * MIN_HOLDOUT`` training images nothing is held out (last epoch, threshold 0.5).
MIN_HOLDOUT = 8
#: Images per forward pass when predicting.
PREDICT_BATCH = 8


def training_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The task-level values of ``config``, checked: ``lr``, ``weight_decay``,
    ``epochs``, ``batch_size``, ``image_size``, ``augment`` (0..1) and ``hflip`` (0..1).

    Defaults (what a configuration that names no value gets, the untuned
    baseline of ``benchmarks/quality.py``) follow torchvision's detection
    reference recipe where it applies to training from scratch: 26 epochs,
    horizontal flips with probability 0.5 and no other augmentation; AdamW at
    1e-3 with weight decay 1e-4 (the recipe's SGD at 0.02 is for pretrained
    backbones), batch 8, 160 px.
    """
    options = {
        "lr": config_number(config, "lr", 1e-3),
        "weight_decay": config_number(config, "weight_decay", 1e-4),
        "epochs": config_number(config, "epochs", 26, integer=True),
        "batch_size": config_number(config, "batch_size", 8, integer=True),
        "image_size": config_number(config, "image_size", DEFAULT_IMAGE_SIZE, integer=True),
        "augment": config_number(config, "augment", 0.0),
        "hflip": config_number(config, "hflip", 0.5),
    }
    require_config(options["lr"] > 0, "lr", "must be positive", options["lr"], "Use a learning rate above 0.")
    require_config(options["weight_decay"] >= 0, "weight_decay", "must be 0 or more", options["weight_decay"],
                   "Use 0 or a positive decay.")
    require_config(options["epochs"] >= 1, "epochs", "must be at least 1", options["epochs"], "Use 1 or more.")
    require_config(options["batch_size"] >= 1, "batch_size", "must be at least 1", options["batch_size"],
                   "Use 1 or more.")
    require_config(options["image_size"] >= 32, "image_size", "must be at least 32 px", options["image_size"],
                   "Use 32 or more.")
    for key in ("augment", "hflip"):
        require_config(0 <= options[key] <= 1, key, "must be between 0 and 1", options[key], "Use 0 to 1.")
    return options


def _detect(network: nn.Module, images: Sequence[torch.Tensor]) -> list[Detections]:
    """Runs ``network`` (in eval mode) on float images, :data:`PREDICT_BATCH` at a time."""
    found: list[Detections] = []
    with torch.inference_mode():
        for start in range(0, len(images), PREDICT_BATCH):
            for output in network(list(images[start:start + PREDICT_BATCH])):
                found.append(Detections(boxes=output["boxes"].numpy().astype(np.float32),
                                        scores=output["scores"].numpy().astype(np.float32),
                                        labels=output["labels"].numpy().astype(np.int64)))
    return found


def detections_of(predictions: pd.DataFrame) -> tuple[list[Detections], float]:
    """Each image's detections in :meth:`DetectorModel.predict` output, and the
    model's score threshold (:data:`DEFAULT_SCORE_THRESHOLD` for no image)."""
    found = [Detections(boxes=b, scores=s, labels=l)
             for b, s, l in zip(predictions[BOXES], predictions["scores"], predictions[LABELS], strict=True)]
    threshold = float(predictions["score_threshold"].iloc[0]) if len(predictions) else DEFAULT_SCORE_THRESHOLD
    return found, threshold


class DetectorModel(FittedModel):
    """A fitted detector and its score threshold.

    Args:
        family_name, family_params, image_size: The architecture, to rebuild it on load.
        categories: Category names; label ``i + 1`` is ``categories[i]``.
        category_ids: The id of each category in the training COCO file.
        network: The trained network, in eval mode.
        score_threshold: Detections scoring below it are not counted (F1) nor written (``predict``).
    """

    def __init__(self, *, family_name: str, family_params: Mapping[str, Any], image_size: int,
                 categories: Sequence[str], category_ids: Sequence[int], network: nn.Module,
                 score_threshold: float) -> None:
        self.family_name, self.family_params, self.image_size = family_name, dict(family_params), int(image_size)
        self.categories, self.category_ids = list(categories), [int(i) for i in category_ids]
        self.network, self.score_threshold = network.eval(), float(score_threshold)

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Every detection the network keeps (above its low floor), one :class:`Detections` per image."""
        from fg_automl_detection._training import image_tensor

        return _detect(self.network, [image_tensor(image) for image in images])

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """One row per image of ``features``: ``boxes`` (float ``[n, 4]``, x1, y1,
        x2, y2), ``scores``, ``labels`` (1..C), ``category_id`` (the training
        file's ids) and ``category`` (names) of every detection above the
        network's floor, and the model's ``score_threshold``; ``image_id`` and
        ``file_name`` when ``features`` has them."""
        found = self.detect(features[IMAGE].tolist())
        ids, names = np.asarray(self.category_ids, dtype=np.int64), np.asarray(self.categories, dtype=object)
        frame = pd.DataFrame(index=features.index)
        for column in (IMAGE_ID, FILE_NAME):
            if column in features:
                frame[column] = features[column].to_numpy()
        frame[BOXES] = pd.Series([d.boxes for d in found], index=features.index, dtype=object)
        frame["scores"] = pd.Series([d.scores for d in found], index=features.index, dtype=object)
        frame[LABELS] = pd.Series([d.labels for d in found], index=features.index, dtype=object)
        frame["category_id"] = pd.Series([ids[d.labels - 1] for d in found], index=features.index, dtype=object)
        frame["category"] = pd.Series([names[d.labels - 1] for d in found], index=features.index, dtype=object)
        frame["score_threshold"] = self.score_threshold
        return frame

    def to_state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "family": self.family_name,
            "params": self.family_params,
            "image_size": self.image_size,
            "categories": self.categories,
            "category_ids": self.category_ids,
            "score_threshold": self.score_threshold,
            "weights": {name: tensor.detach().cpu() for name, tensor in self.network.state_dict().items()},
        }


def _holdout_rows(n: int, seed: int) -> np.ndarray:
    """Positions of the images held out of a fit of ``n`` images (possibly none)."""
    if n < 2 * MIN_HOLDOUT:
        return np.zeros(0, dtype=np.int64)
    size = max(MIN_HOLDOUT, round(HOLDOUT_SHARE * n))
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def fit_detector(*, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any],
                 train: Dataset, context: FitContext) -> DetectorModel:
    """Fits one configuration on the training images ``train`` (see the module's docstring)."""
    import pytorch_lightning as pl  # only to fit: predict stays free of Lightning's import time

    from fg_automl_detection._training import (
        GRADIENT_CLIP,
        DetectorModule,
        HoldoutWatch,
        augmentation,
        image_tensor,
        training_batches,
    )

    options = training_options(config)
    torch.set_num_threads(context.num_threads)
    pl.seed_everything(context.seed, verbose=False)
    categories = list(train.info["categories"])
    network = family.build(DetectionSpec(n_classes=len(categories), image_size=options["image_size"]),
                           **family_params)
    features = train.features
    held = _holdout_rows(len(features), context.seed)
    fitted = np.setdiff1d(np.arange(len(features)), held)
    images, boxes, labels = (features[column].to_numpy(object) for column in (IMAGE, BOXES, LABELS))
    watch = None
    if len(held):
        watch = HoldoutWatch([image_tensor(images[i]) for i in held], list(boxes[held]), list(labels[held]),
                             detect=_detect)
    batches = training_batches(list(images[fitted]), list(boxes[fitted]), list(labels[fitted]),
                               transform=augmentation(augment=options["augment"], hflip=options["hflip"]),
                               batch_size=options["batch_size"], seed=context.seed)
    epochs = context.epochs(options["epochs"])
    module = DetectorModule(network, lr=options["lr"], weight_decay=options["weight_decay"],
                            total_steps=epochs * len(batches), watch=watch, watch_from=epochs // 2)
    context.trainer(max_epochs=epochs, gradient_clip_val=GRADIENT_CLIP).fit(module, train_dataloaders=batches)
    network = network.cpu().eval()
    threshold = DEFAULT_SCORE_THRESHOLD
    if watch is not None and watch.best_state is not None:
        network.load_state_dict(watch.best_state)
        threshold = watch.threshold if watch.threshold is not None else DEFAULT_SCORE_THRESHOLD
    return DetectorModel(family_name=family.name, family_params=family_params, image_size=options["image_size"],
                         categories=categories, category_ids=train.info["category_ids"], network=network,
                         score_threshold=threshold)


def load_detector(state: Mapping[str, Any], family: ModelFamily) -> DetectorModel:
    """Rebuilds a :class:`DetectorModel` from :meth:`DetectorModel.to_state`."""
    categories = list(state["categories"])
    network = family.build(DetectionSpec(n_classes=len(categories), image_size=int(state["image_size"])),
                           **state["params"])
    network.load_state_dict(state["weights"])
    return DetectorModel(family_name=state["family"], family_params=state["params"],
                         image_size=int(state["image_size"]), categories=categories,
                         category_ids=state["category_ids"], network=network,
                         score_threshold=float(state["score_threshold"]))
