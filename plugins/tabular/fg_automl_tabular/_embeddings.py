"""Embeddings of numerical features, from the authors' ``rtdl_num_embeddings``.

Gorishniy, Rubachev & Babenko, "On Embeddings for Numerical Features in
Tabular Deep Learning" (NeurIPS 2022): each numeric column becomes a vector
before the network mixes the columns, which lets an MLP draw the steps and
wiggles that trees draw. Two kinds are offered to every network family:

- ``"ple"``: piecewise-linear encoding over quantile bins, followed by a
  linear layer per column (version "B" of the package, as TabM uses: it starts
  as a plain linear embedding and learns the piecewise part). The bins come
  from :attr:`TabularSpec.quantiles`, the grid the preprocessor measured on
  the training rows only (:func:`piecewise_linear_bins`);
- ``"periodic"``: ``cos``/``sin`` of learned frequencies, a linear layer per
  column and a ReLU (the paper's PLR embeddings).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from fg_automl_tabular._spec import TabularSpec

__all__ = ["NUMERIC_EMBEDDINGS", "make_numeric_embedding", "piecewise_linear_bins"]

#: The ``numeric_embedding`` values every network family accepts.
NUMERIC_EMBEDDINGS: tuple[str, ...] = ("none", "periodic", "ple")


def piecewise_linear_bins(spec: TabularSpec, n_bins: int) -> list[torch.Tensor]:
    """Bin edges per numeric column at evenly spaced quantile levels.

    The edges are the quantiles of the training rows (``spec.quantiles``, the
    grid nearest each level ``i / n_bins``), without repeats, so a column
    with few distinct values (a 0/1 indicator, a small count) gets fewer
    bins. A constant column gets one bin ``[c, c + 1]``.

    Raises:
        ValueError: ``spec`` carries no quantiles, or ``n_bins`` is below 2.
    """
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, but got {n_bins=}.")
    if not spec.quantiles:
        raise ValueError(
            "Piecewise-linear embeddings need the training quantiles of every numeric column "
            "(TabularSpec.quantiles, filled by a fitted TabularPreprocessor), but the spec has none."
        )
    bins = []
    for grid in spec.quantiles:
        grid = np.asarray(grid, dtype=np.float64)
        picks = np.round(np.linspace(0, len(grid) - 1, n_bins + 1)).astype(int)
        edges = np.unique(grid[picks])
        if len(edges) < 2:
            edges = np.array([edges[0], edges[0] + 1.0])
        bins.append(torch.tensor(edges, dtype=torch.float32))
    return bins


def make_numeric_embedding(
    spec: TabularSpec, *, kind: str, dim: int, n_bins: int, frequency_scale: float
) -> nn.Module | None:
    """Returns a module mapping ``x_num [n, n_numeric]`` to ``[n, n_numeric, dim]``,
    or ``None`` for ``kind="none"`` (the network reads the values as they are).

    Args:
        spec: The input description (its quantiles for ``"ple"``).
        kind: One of :data:`NUMERIC_EMBEDDINGS`.
        dim: Width of each column's embedding.
        n_bins: Bins per column for ``"ple"``.
        frequency_scale: Standard deviation of the initial frequencies for
            ``"periodic"`` (the paper's sigma, its most important setting).
    """
    if kind not in NUMERIC_EMBEDDINGS:
        raise ValueError(f"numeric_embedding must be one of {list(NUMERIC_EMBEDDINGS)}, but got {kind!r}.")
    if kind == "none" or spec.n_numeric == 0:
        return None
    if dim < 1:
        raise ValueError(f"numeric_embedding_dim must be at least 1, but got {dim}.")
    import rtdl_num_embeddings

    if kind == "periodic":
        if frequency_scale <= 0:
            raise ValueError(f"frequency_scale must be positive, but got {frequency_scale=}.")
        return rtdl_num_embeddings.PeriodicEmbeddings(
            spec.n_numeric, dim, n_frequencies=16, frequency_init_scale=frequency_scale, lite=False
        )
    with warnings.catch_warnings():  # "just two bin edges": expected for 0/1 indicator columns
        warnings.simplefilter("ignore", UserWarning)
        return rtdl_num_embeddings.PiecewiseLinearEmbeddings(
            piecewise_linear_bins(spec, n_bins), dim, activation=False, version="B"
        )
