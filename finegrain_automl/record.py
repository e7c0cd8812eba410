"""The run record: one typed object for everything a search reports.

What ``fg-automl search --json`` prints, what ``run.json`` stores, what
``report.md`` renders and what the ``fg_automl_search_end`` hook receives is
a :class:`RunRecord` (the last three through :meth:`RunRecord.to_dict`, its
JSON form). Its schema is versioned (:data:`SCHEMA`) and published as JSON
Schema in the package (``finegrain_automl/schemas/run.schema.json``,
:func:`json_schema`); the test suite checks every run it makes against it
(:func:`validate`).

Sections are filled by the search's steps in order (prepared, searched,
selected, refit); a section a run never reached is ``None`` and left out of
the JSON form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEMA",
    "json_schema",
    "validate",
    "DataRecord",
    "EnsembleCheckRecord",
    "EnsembleRecord",
    "FinalModel",
    "RunRecord",
    "TrialCounts",
    "Winner",
]

#: Name and version of the record's schema, stored as ``run.json``'s ``schema``.
SCHEMA = "finegrain_automl.run/1"


@dataclass(kw_only=True)
class DataRecord:
    """What data the search used (aggregates only, never a row).

    Attributes:
        source: The file, or which built-in data set (and seed).
        rows: Rows in all.
        test_rows: Rows held out for the final test.
        split: The split strategy, in words (``"grouped by customer_id"``).
        train_only_rows: Rows only ever trained on (a spread split's small groups).
        train_only_groups: How many groups those rows belong to (users with
            too few interactions to be scored).
        positive_label: The positive class (binary tasks), else ``None``.
        drop_columns: Columns the user asked to ignore.
        options: The task's data options, as used (``predict`` reuses them).
        facts: The task's own facts about the data (target, classes, column
            kinds, missing values), as its reader put them in ``Dataset.info``.
        notes: What the reader changed in the data and said so
            (:class:`~finegrain_automl.errors.DataNote`: duplicates removed...).
    """

    source: str
    rows: int
    test_rows: int
    split: str = ""
    train_only_rows: int = 0
    train_only_groups: int = 0
    positive_label: Any = None
    drop_columns: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The task's facts with the core's fields on top, one flat object."""
        core = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "facts"}
        return {**self.facts, **core}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DataRecord:
        names = {f.name for f in dataclasses.fields(cls)} - {"facts"}
        return cls(**{k: v for k, v in raw.items() if k in names},
                   facts={k: v for k, v in raw.items() if k not in names})


@dataclass(kw_only=True)
class TrialCounts:
    """How the trials ended."""

    total: int = 0
    completed: int = 0
    pruned: int = 0
    failed: int = 0


@dataclass(kw_only=True)
class Winner:
    """The trial the selection rule picked (refit alone unless an ensemble is kept).

    Attributes:
        selection: ``rule``, ``rank``, ``standard_error``, ``explanation``.
        test_f1, test_metrics, refit_seconds: Its refit's test scores, when
            it was refit alone (the final model).
    """

    trial_id: str
    rank: int
    config: dict[str, Any]
    cv_f1_mean: float
    cv_f1_std: float
    cv_metrics: dict[str, float]
    selection: dict[str, Any]
    test_f1: float | None = None
    test_metrics: dict[str, float] | None = None
    refit_seconds: float | None = None


@dataclass(kw_only=True)
class EnsembleRecord:
    """The kept ensemble: its members (each scored alike), rule and scores."""

    members: list[dict[str, Any]]
    oof_f1: float
    candidates: list[dict[str, Any]]
    decision: dict[str, Any]
    test_f1: float
    test_metrics: dict[str, float]


@dataclass(kw_only=True)
class EnsembleCheckRecord:
    """The nested check of the ensemble against the best single trial
    (:class:`~finegrain_automl.ensemble.SelectionCheck`); scores are ``None``
    when greedy selection chose one trial and there was nothing to check."""

    kept: bool
    members: int
    ensemble_f1: float | None = None
    single_f1: float | None = None
    folds: int | None = None


@dataclass(kw_only=True)
class FinalModel:
    """The saved model (``model.pt``): an ensemble or a single trial, scored once on the test rows."""

    kind: str
    test_f1: float
    test_metrics: dict[str, float]
    refit_seconds: float


_SECTIONS: dict[str, type] = {
    "data": DataRecord,
    "trials": TrialCounts,
    "best": Winner,
    "ensemble": EnsembleRecord,
    "ensemble_check": EnsembleCheckRecord,
    "final": FinalModel,
}


@dataclass(kw_only=True)
class RunRecord:
    """Everything one search reports, in the order its steps fill it.

    Attributes:
        schema: :data:`SCHEMA`.
        run_dir: The run directory.
        task: The task searched.
        data: The data (:class:`DataRecord`).
        settings: The search settings, as used (``SearchSettings.to_dict()``).
        starting_points: Configurations tried first.
        versions: Package versions, to repeat the run.
        leaderboard_metrics: Metrics besides F1 that the leaderboard shows.
        dashboard_url: The Ray dashboard, if one was started.
        trials: How the trials ended.
        errors: Up to five distinct trial errors.
        leaderboard: The top 10 rows (and the winner if it ranks lower);
            all of them are in ``leaderboard.csv``.
        best: The selected trial; ``None`` when no trial completed.
        ensemble_check: The ensemble's nested check, when one was run.
        ensemble: The kept ensemble, if the final model is one.
        final: The saved model; ``None`` until it is refit.
        elapsed_s: Wall time of the search and refit.
        interrupted: The user stopped the search (Ctrl-C, SIGTERM).
        resumed: How many times ``--resume`` continued the search.
    """

    schema: str = SCHEMA
    run_dir: str
    task: str
    data: DataRecord
    settings: dict[str, Any]
    starting_points: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    leaderboard_metrics: list[str] = field(default_factory=list)
    dashboard_url: str | None = None
    trials: TrialCounts = field(default_factory=TrialCounts)
    errors: list[str] = field(default_factory=list)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    best: Winner | None = None
    ensemble_check: EnsembleCheckRecord | None = None
    ensemble: EnsembleRecord | None = None
    final: FinalModel | None = None
    elapsed_s: float = 0.0
    interrupted: bool = False
    resumed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: sections a run did not reach are left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in _SECTIONS:
                continue
            if f.name in ("interrupted", "resumed") and not value:
                continue
            if isinstance(value, DataRecord):
                value = value.to_dict()
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RunRecord:
        """Reads the JSON form back (``run.json`` of this schema)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in names:
                continue
            section = _SECTIONS.get(key)
            if section is DataRecord:
                value = DataRecord.from_dict(value)
            elif section is not None and value is not None:
                value = section(**value)
            values[key] = value
        return cls(**values)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :meth:`RunRecord.to_dict` (``run.json``)."""
    import json
    from importlib.resources import files

    return json.loads((files("finegrain_automl") / "schemas" / "run.schema.json").read_text())


def validate(record: Mapping[str, Any]) -> None:
    """Raises ``jsonschema.ValidationError`` unless ``record`` (a ``run.json``,
    or ``--json`` output) matches :func:`json_schema`. Needs ``jsonschema``
    (the ``test`` extra)."""
    import jsonschema

    jsonschema.validate(record, json_schema(), cls=jsonschema.Draft202012Validator)
