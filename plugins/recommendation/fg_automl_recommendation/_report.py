"""The recommendation task's figure for a run's report: how good the lists are
for users with little and with much history.

The test users are bucketed by how many training interactions each has
(quantiles, so each bucket holds about as many users); per bucket, the share
of users with at least one held-out item in their top K (hit rate@K) and
their mean F1@K, the task's own per-user F1. Weighted by the users in each
bucket, the F1 bars average to the test F1 of the leaderboard.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finegrain_automl.figures import Bars

__all__ = ["MAX_BUCKETS", "activity_buckets", "hit_rate_by_activity"]

#: At most this many buckets of user activity.
MAX_BUCKETS = 5


def activity_buckets(counts: np.ndarray, *, buckets: int = MAX_BUCKETS) -> list[tuple[int, int]]:
    """Ranges ``(low, high)`` (inclusive) of training interactions that cut
    ``counts`` into at most ``buckets`` quantiles.

    Each range holds at least one of ``counts``; together they cover every
    whole number from the smallest to the largest count, without overlap.
    Fewer ranges where many users share a count (ties cannot be split).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size == 0:
        return []
    quantiles = np.arange(1, buckets + 1) / buckets
    highs = np.unique(np.quantile(counts, quantiles, method="inverted_cdf").astype(np.int64))
    lows = np.concatenate([[counts.min()], highs[:-1] + 1])
    return [(int(low), int(high)) for low, high in zip(lows, highs, strict=True)]


def hit_rate_by_activity(scores: pd.DataFrame, activity: np.ndarray, *, k: int) -> Bars | None:
    """Hit rate@K and mean F1@K of the users in each activity bucket.

    Args:
        scores: One row per scored test user, columns ``hits`` and ``f1``
            (:func:`~fg_automl_recommendation._metrics.frame_user_scores`).
        activity: Training interactions of each user of ``scores``, in its order.
        k: The list length K.

    Returns:
        The figure, or None without a scored user.
    """
    scored = scores["f1"].notna().to_numpy()
    hits, f1 = scores["hits"].to_numpy()[scored], scores["f1"].to_numpy(np.float64)[scored]
    activity = np.asarray(activity, dtype=np.int64)[scored]
    ranges = activity_buckets(activity)
    if not ranges:
        return None
    labels, hit_rates, mean_f1 = [], [], []
    for low, high in ranges:
        members = (activity >= low) & (activity <= high)
        span, users = (f"{low}" if low == high else f"{low}-{high}"), int(members.sum())
        labels.append(f"{span} ({users} user{'s' * (users != 1)})")
        hit_rates.append(float(np.mean(hits[members] > 0)))
        mean_f1.append(float(np.mean(f1[members])))
    return Bars(
        title=f"Hit rate@{k} and F1@{k} by user activity",
        labels=labels,
        series={f"hit rate@{k}": hit_rates, f"mean F1@{k}": mean_f1},
        y_label="share of users / mean",
        x_label="training interactions per test user (users in the bucket)",
        limits=(0.0, 1.0),
        caption=(
            f"The {len(f1)} test users in {len(ranges)} quantile buckets by their number of training "
            f"interactions. Hit rate@{k}: the share whose top {k} (whole catalogue, training items "
            f"excluded) holds at least one of their test items; F1@{k}: the task's per-user F1, whose mean "
            f"over all users ({float(np.mean(f1)):.3f}) is the test F1."
        ),
    )
