"""The run directory's files: the report of a finished and of an interrupted search."""

from __future__ import annotations

from pathlib import Path

from finegrain_automl import results


def _summary(run_dir: Path, **changes):
    summary = {
        "task": "toy", "run_dir": str(run_dir), "elapsed_s": 3.0,
        "data": {"source": "built-in data", "rows": 100, "test_rows": 20},
        "settings": {"folds": 5, "repeats": 1, "seed": 0},
        "trials": {"completed": 2, "pruned": 1, "failed": 0},
        "best": None,
    }
    return summary | changes


_ROWS = [
    {"rank": rank, "trial_id": f"t{rank}", "model": "mlp", "cv_f1_mean": 0.9 - rank / 10, "cv_f1_std": 0.01,
     "cv_metrics": {}}
    for rank in (1, 2)
]


def test_report_of_an_interrupted_search_ranks_the_completed_trials(tmp_path: Path) -> None:
    results.write_report(tmp_path, _summary(tmp_path, interrupted=True), _ROWS)
    text = (tmp_path / "report.md").read_text()
    assert "interrupted (Ctrl-C) after 2 trials completed every fold; they are ranked below" in text
    assert "No trial completed every fold" not in text
    assert "| 1 | mlp | 0.8000 |" in text and "| 2 | mlp | 0.7000 |" in text


def test_report_says_when_no_trial_completed(tmp_path: Path) -> None:
    results.write_report(tmp_path, _summary(tmp_path, trials={"completed": 0, "pruned": 3, "failed": 0}), [])
    assert "No trial completed every fold; nothing was refit." in (tmp_path / "report.md").read_text()


def test_report_of_an_ensemble_run_scores_the_ensemble_not_the_single_winner(tmp_path: Path) -> None:
    best = {"trial_id": "t1", "rank": 1, "config": {"model": "mlp"}, "cv_f1_mean": 0.8, "cv_f1_std": 0.01,
            "cv_metrics": {}, "selection": {"rule": "one-se", "explanation": "rank 1"}, "test_f1": None,
            "test_metrics": None, "refit_seconds": None}
    ensemble = {"members": [{"trial_id": "t1", "rank": 1, "model": "mlp", "weight": 1.0, "oof_f1": 0.8,
                             "test_f1": 0.7}], "oof_f1": 0.81, "decision": {"threshold": 0.4}, "test_f1": 0.75,
                "test_metrics": {"f1": 0.75}}
    results.write_report(tmp_path, _summary(tmp_path, best=best, ensemble=ensemble), _ROWS)
    text = (tmp_path / "report.md").read_text()
    assert "## Final model: ensemble of the best trials" in text and "Test metrics: f1 0.7500" in text
    assert "refit on all development rows, scored once" not in text


def test_report_counts_train_only_rows_and_lists_the_reader_notes(tmp_path: Path) -> None:
    data = {"source": "u.data", "rows": 100, "test_rows": 20, "train_only_rows": 7, "train_only_groups": 3,
            "notes": ["2 duplicated interactions (same user and item) were removed."]}
    results.write_report(tmp_path, _summary(tmp_path, data=data), _ROWS)
    text = (tmp_path / "report.md").read_text()
    assert "- Only trained on, never scored: 7 rows of 3 groups" in text
    assert "- Note: 2 duplicated interactions (same user and item) were removed." in text
