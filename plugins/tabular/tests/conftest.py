"""Tiny synthetic tables for the tabular toolkit tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finegrain_automl.data import Dataset


def make_frame(n: int, *, seed: int, positive_rate: float = 0.1) -> tuple[pd.DataFrame, np.ndarray]:
    """Returns mixed-type features with missing values and a learnable 0/1 target."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    amount = rng.lognormal(3.0, 1.5, size=n)
    noise = rng.normal(size=n)
    noise[rng.random(n) < 0.1] = np.nan
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.05] = None
    cutoff = np.quantile(signal, 1 - positive_rate)
    target = (signal >= cutoff).astype(np.int64)
    frame = pd.DataFrame(
        {
            "signal": signal + rng.normal(scale=0.3, size=n),
            "amount": amount,
            "noise": noise,
            "colour": colour,
            "online": rng.random(n) < 0.5,
        }
    )
    return frame, target


@pytest.fixture
def small_dataset() -> Dataset:
    features, target = make_frame(300, seed=0, positive_rate=0.15)
    return Dataset(features=features, target=target)


@pytest.fixture
def scored_dataset() -> Dataset:
    features, target = make_frame(120, seed=1, positive_rate=0.15)
    return Dataset(features=features, target=target)


@pytest.fixture
def make_table():
    """The :func:`make_frame` factory, for tests that need other sizes."""
    return make_frame
