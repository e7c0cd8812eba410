"""What a tabular network reads: the input description a fitted preprocessor gives.

Its own module, below the networks, the embeddings and the families that are
built from it, so none of them imports another for it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TabularSpec"]


@dataclass(frozen=True)
class TabularSpec:
    """What a tabular network reads, as produced by a fitted preprocessor.

    Attributes:
        n_numeric: Width of the float input ``x_num``: numeric values, then
            0/1 missing indicators.
        cardinalities: Number of codes per categorical column of the integer
            input ``x_cat``, code 0 (unknown or missing) included.
        missing_indicators: For each missing indicator (the last
            ``len(missing_indicators)`` columns of ``x_num``), the position of
            the numeric value column it flags. A network may treat them as
            plain inputs (ResMLP) or fold each into its column's token
            (FT-Transformer, which keeps one token per column).
        quantiles: For each column of ``x_num``, its quantiles over the
            training rows at evenly spaced levels from 0 to 1 (as encoded:
            after scaling), from which piecewise-linear embeddings take their
            bins (:func:`fg_automl_tabular._embeddings.piecewise_linear_bins`);
            empty when unknown (such a spec cannot build those embeddings).
    """

    n_numeric: int
    cardinalities: tuple[int, ...] = ()
    missing_indicators: tuple[int, ...] = ()
    quantiles: tuple[tuple[float, ...], ...] = ()

    @property
    def n_values(self) -> int:
        """Number of numeric value columns (``n_numeric`` minus the indicators)."""
        return self.n_numeric - len(self.missing_indicators)

    def __post_init__(self) -> None:
        if self.n_numeric < 0:
            raise ValueError(f"n_numeric cannot be negative, but got {self.n_numeric=}.")
        flagged = self.missing_indicators
        if len(set(flagged)) != len(flagged) or any(not 0 <= i < self.n_values for i in flagged):
            raise ValueError(
                "missing_indicators must name distinct value columns below "
                f"n_numeric - len(missing_indicators), but got {self.missing_indicators=} "
                f"with {self.n_numeric=}."
            )
        if any(c < 1 for c in self.cardinalities):
            raise ValueError(f"Every cardinality must be at least 1, but got {self.cardinalities=}.")
        if self.n_numeric == 0 and not self.cardinalities:
            raise ValueError("A tabular network needs at least one numeric or categorical column.")
        if self.quantiles and len(self.quantiles) != self.n_numeric:
            raise ValueError(
                f"quantiles must hold one grid per numeric column ({self.n_numeric}), "
                f"but got {len(self.quantiles)}."
            )
