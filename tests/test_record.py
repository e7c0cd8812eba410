"""The run record: one typed object, its JSON form, and the published schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from finegrain_automl.record import (
    SCHEMA,
    DataRecord,
    EnsembleCheckRecord,
    EnsembleRecord,
    FinalModel,
    RunRecord,
    TrialCounts,
    Winner,
    json_schema,
    validate,
)


def _row(rank: int) -> dict:
    return {"rank": rank, "trial_id": f"t{rank}", "model": "mlp", "cv_f1_mean": 0.9 - rank / 100,
            "cv_f1_std": 0.01, "cv_metrics": {"cv_auroc": 0.95}, "config": {"model": "mlp", "lr": 0.01},
            "folds": 5, "seconds": 3.2}


def _record(**changes) -> RunRecord:
    record = RunRecord(
        run_dir="/runs/toy-1", task="toy",
        data=DataRecord(source="built-in", rows=100, test_rows=20, split="stratified by the target",
                        positive_label=1, facts={"target": "label", "n_positive": 30}),
        settings={"trials": 3, "folds": 5, "repeats": 1, "seed": 0, "select": "one-se", "ensemble": 5},
        versions={"torch": "2.14.1"}, trials=TrialCounts(total=3, completed=2, pruned=1),
        leaderboard=[_row(1), _row(2)], elapsed_s=12.5,
    )
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def _full() -> RunRecord:
    winner = Winner(**{k: v for k, v in _row(1).items() if k not in ("model", "folds", "seconds")},
                    selection={"rule": "one-se", "rank": 1, "standard_error": 0.004, "explanation": "rank 1"})
    member = {"trial_id": "t1", "rank": 1, "model": "mlp", "weight": 1.0, "cv_f1_mean": 0.89, "oof_f1": 0.9,
              "test_f1": 0.88, "refit_seconds": 1.0}
    return _record(
        best=winner,
        ensemble_check=EnsembleCheckRecord(kept=True, members=2, ensemble_f1=0.91, single_f1=0.9, folds=5),
        ensemble=EnsembleRecord(members=[member], oof_f1=0.92, candidates=[{"trial_id": "t1", "rank": 1,
                                "oof_f1": 0.9}], decision={"threshold": 0.4}, test_f1=0.9,
                                test_metrics={"f1": 0.9}),
        final=FinalModel(kind="ensemble", test_f1=0.9, test_metrics={"f1": 0.9, "auroc": None}, refit_seconds=2.0),
    )


def test_json_form_is_flat_where_users_read_it_and_leaves_out_unreached_sections() -> None:
    data = _record().to_dict()
    assert data["schema"] == SCHEMA == "finegrain_automl.run/1"
    assert data["data"]["target"] == "label" and data["data"]["rows"] == 100  # task facts beside core fields
    assert {"best", "ensemble", "ensemble_check", "final", "interrupted"}.isdisjoint(data)
    assert data["trials"] == {"total": 3, "completed": 2, "pruned": 1, "failed": 0}
    assert _record(interrupted=True).to_dict()["interrupted"] is True


@pytest.mark.parametrize("make", [_record, _full, lambda: _record(interrupted=True)])
def test_round_trip_through_json_and_the_schema(make) -> None:
    record = make()
    data = json.loads(json.dumps(record.to_dict()))
    validate(data)
    again = RunRecord.from_dict(data)
    assert again == record and again.to_dict() == data


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.pop("trials"), "trials"),
        (lambda d: d.update(schema="finegrain_automl.run/0"), "schema"),
        (lambda d: d["final"].update(kind="stack"), "kind"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["ensemble"]["members"][0].update(weight=0), "weight"),
    ],
)
def test_the_schema_rejects_what_the_record_never_holds(change, path) -> None:
    data = json.loads(json.dumps(_full().to_dict()))
    change(data)
    with pytest.raises(jsonschema.ValidationError) as error:
        validate(data)
    assert path in str(error.value)


def test_the_schema_is_valid_json_schema_and_documents_every_field() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    fields = set(RunRecord.__dataclass_fields__)
    assert set(schema["properties"]) == fields
    for name, section in (("best", Winner), ("ensemble", EnsembleRecord), ("ensemble_check", EnsembleCheckRecord),
                          ("final", FinalModel), ("trials", TrialCounts)):
        assert set(schema["properties"][name]["properties"]) == set(section.__dataclass_fields__), name
