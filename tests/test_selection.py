"""Choosing the trial to refit from the leaderboard: rank 1 or the one-standard-error rule."""

from __future__ import annotations

import math

import numpy as np
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
    assert selection["explanation"] == (
        "rank 1: the best mean CV F1; no trial of a simpler model family is within one standard error (0.0020)"
    )


def test_one_se_standard_error_is_the_sample_standard_error_of_the_fold_scores() -> None:
    scores = np.array([0.95, 0.97, 1.0, 0.93, 0.98, 0.96])
    rows = [{"rank": 1, "trial_id": "a", "model": "resmlp", "cv_f1_mean": scores.mean(),
             "cv_f1_std": scores.std(), "folds": len(scores)}]  # as trials report it: ddof=0
    _, selection = select_winner(rows, rule="one-se", complexity=COMPLEXITY)
    assert selection["standard_error"] == pytest.approx(scores.std(ddof=1) / math.sqrt(len(scores)))


def test_one_se_boundary_is_inclusive_and_undeclared_families_count_as_most_complex() -> None:
    rows = _rows(("resmlp", 0.97, 0.02), ("theirs", 0.965, 0.0), ("linear", 0.96, 0.0))
    assert select_winner(rows, rule="one-se", complexity=COMPLEXITY)[0] is rows[2]  # 0.96 is the floor
    # A family another plugin adds without a complexity is never preferred to a declared one ...
    assert select_winner(rows, rule="one-se", complexity=COMPLEXITY | {"linear": None})[0] is rows[0]
    # ... and among undeclared families, CV F1 decides.
    assert select_winner(rows, rule="one-se", complexity={})[0] is rows[0]


def test_one_se_with_a_missing_or_nan_spread_refits_rank_one() -> None:
    for spread in (float("nan"), None):
        rows = _rows(("resmlp", 0.97, 0.0), ("linear", 0.969, 0.0))
        rows[0]["cv_f1_std"] = spread
        row, selection = select_winner(rows, rule="one-se", complexity=COMPLEXITY)
        assert row is rows[0] and selection["standard_error"] == 0.0


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


def test_report_names_the_rule_and_marks_the_refit_trial_below_the_top_ten(tmp_path) -> None:
    from finegrain_automl.results import write_report

    rows = _rows(*[("resmlp", 0.97 - i / 1000, 0.02) for i in range(10)]) + [
        dict(_rows(("linear", 0.961, 0.01))[0], rank=14, trial_id="t14")
    ]
    for row in rows:
        row |= {"cv_metrics": {"cv_auroc": 0.99}, "config": {"model": row["model"]}}
    chosen, selection = select_winner(rows, rule="one-se", complexity=COMPLEXITY)
    assert chosen is rows[-1]  # within 0.01 of 0.970
    summary = {
        "run_dir": str(tmp_path), "task": "disease_risk", "elapsed_s": 3.0,
        "data": {"source": "built-in", "rows": 569, "test_rows": 114},
        "settings": {"folds": 5, "repeats": 1, "seed": 0},
        "trials": {"completed": 14, "pruned": 0, "failed": 0},
        "best": {**chosen, "test_metrics": {"f1": 0.97}, "selection": selection},
    }
    write_report(tmp_path, summary, rows)
    report = (tmp_path / "report.md").read_text()
    assert f"Chosen by `--select one-se`: {selection['explanation']}" in report
    lines = report.splitlines()
    ten = lines.index(next(line for line in lines if line.startswith("| 10 |")))
    assert lines[ten + 1].startswith("| ... |")
    assert lines[ten + 2].startswith("| 14 (refit) | linear | 0.9610 | 0.0100 | 0.9900 | t14 |")
    assert sum("(refit)" in line for line in lines) == 1
