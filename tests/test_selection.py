"""Choosing the trial to refit from the leaderboard: rank 1 or the one-standard-error rule."""

from __future__ import annotations

import math

import pytest

from finegrain_automl.results import SELECTION_RULES, select_winner

COMPLEXITY = {"linear": 0, "resmlp": 1, "ft_transformer": 2}


def _rows(*entries: tuple[str, float, float]) -> list[dict]:
    """Leaderboard rows (model, mean, fold std) with 5 folds each, rank 1 first."""
    return [
        {"rank": rank, "trial_id": f"t{rank}", "model": model, "cv_f1_mean": mean, "cv_f1_std": std, "folds": 5}
        for rank, (model, mean, std) in enumerate(entries, start=1)
    ]


def test_best_takes_rank_one() -> None:
    rows = _rows(("resmlp", 0.97, 0.02), ("linear", 0.969, 0.02))
    row, selection = select_winner(rows, rule="best", complexity=COMPLEXITY)
    assert row is rows[0]
    assert selection == {"rule": "best", "rank": 1, "standard_error": None,
                         "explanation": "rank 1: the best mean CV F1"}


def test_one_se_takes_the_simplest_family_within_one_standard_error() -> None:
    # Standard error of rank 1: 0.02 / sqrt(5 - 1) = 0.01, so the floor is 0.96.
    rows = _rows(
        ("ft_transformer", 0.970, 0.02),
        ("resmlp", 0.968, 0.01),
        ("linear", 0.962, 0.01),
        ("linear", 0.961, 0.01),  # same family, lower rank: not taken
        ("linear", 0.950, 0.01),  # outside the standard error
    )
    row, selection = select_winner(rows, rule="one-se", complexity=COMPLEXITY)
    assert row is rows[2]
    assert selection["rank"] == 3 and selection["rule"] == "one-se"
    assert selection["standard_error"] == pytest.approx(0.01)
    assert "simplest model family (linear)" in selection["explanation"]
    assert "0.9700, rank 1, ft_transformer" in selection["explanation"]


def test_one_se_keeps_rank_one_when_no_simpler_family_is_close() -> None:
    rows = _rows(("resmlp", 0.97, 0.004), ("linear", 0.95, 0.01), ("ft_transformer", 0.969, 0.01))
    row, selection = select_winner(rows, rule="one-se", complexity=COMPLEXITY)
    assert row is rows[0]
    assert selection["standard_error"] == pytest.approx(0.004 / math.sqrt(4))
    assert selection["explanation"].startswith("rank 1: the best mean CV F1, and no simpler model family")


def test_one_se_boundary_is_inclusive_and_unknown_families_count_as_simplest() -> None:
    rows = _rows(("resmlp", 0.97, 0.02), ("linear", 0.96, 0.0), ("mine", 0.96, 0.0))
    row, _ = select_winner(rows, rule="one-se", complexity=COMPLEXITY | {"linear": 1})
    assert row is rows[2]  # "mine" is not in the map: complexity 0, ties with nothing simpler


def test_one_se_with_one_fold_or_no_spread_is_rank_one() -> None:
    rows = _rows(("resmlp", 0.97, 0.0), ("linear", 0.969, 0.0))
    assert select_winner(rows, rule="one-se", complexity=COMPLEXITY)[0] is rows[0]
    single = [dict(rows[0], folds=1), dict(rows[1], folds=1)]
    assert select_winner(single, rule="one-se", complexity=COMPLEXITY)[0] is single[0]


def test_rules_are_checked() -> None:
    assert SELECTION_RULES == ("one-se", "best")
    with pytest.raises(ValueError, match="rule must be one of"):
        select_winner(_rows(("linear", 0.9, 0.0)), rule="worst", complexity={})
    with pytest.raises(ValueError, match="at least one leaderboard row"):
        select_winner([], rule="best", complexity={})
