"""The contract a task plugin fills in.

A task knows how to read its data, how to fit one configuration on some rows,
how to score predictions with its F1 definition, and how to save and load a
fitted model safely. The core knows nothing else about it: it splits rows into
folds, runs trials, ranks configurations and refits the winner.

A plugin subclasses :class:`Task` and returns an instance from the
``fg_automl_tasks`` hook. Model families (the architectures searched under the
``model`` key of a space) are :class:`ModelFamily` objects; a task brings its
own and other plugins may add more through ``fg_automl_model_families``.
"""

from __future__ import annotations

import abc
import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pytorch_lightning as pl

    from finegrain_automl.cv import SplitStrategy
    from finegrain_automl.data import Dataset, DataSource
    from finegrain_automl.export import OnnxNetwork
    from finegrain_automl.figures import Figure
    from finegrain_automl.options import DataOption
    from finegrain_automl.space import Space

__all__ = [
    "FitContext",
    "FittedModel",
    "ModelFamily",
    "Task",
    "check_space",
    "check_space_values",
    "saved_family",
    "starting_points",
]

#: Key of the branch choice that selects the model family in every space.
MODEL_KEY = "model"
#: Seconds of trials of a search unless the user or the task says otherwise (:attr:`Task.time_budget_s`).
DEFAULT_TIME_BUDGET_S = 240.0


@dataclass(frozen=True, kw_only=True)
class ModelFamily:
    """An architecture that a task's search may choose under ``model``.

    Attributes:
        name: The branch name in the space (``model: {choice: {<name>: ...}}``).
        build: ``build(spec, **params) -> torch.nn.Module``. ``spec`` describes
            the input (the task documents its type); ``params`` are the
            family's hyperparameters, declared as keyword-only arguments with
            defaults. A space key under this family that ``build`` does not
            accept is rejected before any trial runs.
        description: One line for ``fg-automl plugins`` and reports.
        complexity: Where the family stands from simplest (0, e.g. a linear
            model) upwards. When the cross-validation cannot tell trials
            apart (within one standard error of the best, ``--select
            one-se``), the search refits the trial of the simplest family.
            ``None`` (undeclared) counts as more complex than every declared
            family; families of equal complexity are told apart by CV F1.
        space: The family's hyperparameters as a search space fragment, in
            the space format (``{"depth": {"int": [1, 4]}, "dropout": 0.1}``;
            ``{}``: none to search). A family that has one and that a task's
            default space does not list is added to that space's ``model``
            choice (:meth:`finegrain_automl.plugins.Registry.default_space`):
            a plugin that adds a family to another plugin's task sets it, so
            the family is searched once the plugin is installed. ``None``
            (the default): searched only where a space lists it.
    """

    name: str
    build: Callable[..., Any]
    description: str = ""
    complexity: int | None = None
    space: Mapping[str, Any] | None = None

    @property
    def hyperparameters(self) -> frozenset[str]:
        """Names of the keyword-only arguments ``build`` accepts."""
        params = inspect.signature(self.build).parameters.values()
        return frozenset(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True, kw_only=True)
class FitContext:
    """What the core tells a task about the place a fit runs in.

    Attributes:
        seed: Seed for everything random in this fit (weights, batches,
            inner splits). Identical configurations and seeds give identical
            models on the same hardware.
        accelerator: ``"cpu"`` or ``"gpu"``.
        num_threads: CPU threads torch may use (the trial's CPU share).
        max_epochs_cap: Optional upper bound on epochs set by the user, for
            smoke runs and tests; tasks apply ``min(config epochs, cap)``.
        final: ``True`` for the refit of a search's winner: the task should
            learn from every row it is given (a decision threshold, if any,
            from cross-fitted predictions rather than a held-out part).
        decision: ``False`` for a member of an ensemble, whose decision
            rule the core chooses on out-of-fold probabilities
            (:meth:`Task.fit_decision`): the task may skip choosing its own
            (a threshold), and should, when that costs extra fits.
    """

    seed: int = 0
    accelerator: str = "cpu"
    num_threads: int = 1
    max_epochs_cap: int | None = None
    final: bool = False
    decision: bool = True

    def epochs(self, requested: int) -> int:
        """Returns ``requested`` limited by :attr:`max_epochs_cap`."""
        return requested if self.max_epochs_cap is None else min(requested, self.max_epochs_cap)

    def trainer(self, *, max_epochs: int, **options: Any) -> pl.Trainer:
        """Returns a quiet Lightning ``Trainer`` for one fit.

        No logger, no checkpoints, no progress bar, no model summary: the core
        reports progress itself and keeps only the final weights.
        """
        import logging

        import pytorch_lightning as pl

        # "GPU available: ..." and tips, five times per trial, help no one.
        for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
        return pl.Trainer(
            max_epochs=max_epochs,
            accelerator=self.accelerator,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            **options,
        )


class FittedModel(abc.ABC):
    """A model fitted on some rows, with everything needed to predict.

    A model whose predictions come from class probabilities also implements
    :meth:`predict_proba` and sets :attr:`classes`; the search can then
    ensemble the task's best trials (``--ensemble``).

    Attributes:
        classes: The original label of each probability column (class code
            order, as ``Dataset.target`` encodes them); empty when the model
            gives no class probabilities.
    """

    classes: Sequence[Any] = ()

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray | None:
        """Returns class probabilities, float ``[n, len(classes)]``, columns
        in class code order; ``None`` (the default) when the model's
        predictions are not class probabilities (then no ensembles)."""
        return None

    @abc.abstractmethod
    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Returns one row per input row.

        Classification tasks return at least ``label`` (the original label
        value) and ``probability``: of the positive class for tasks ranked by
        the F1 of a positive class, else of the predicted label.
        """

    @abc.abstractmethod
    def to_state(self) -> dict[str, Any]:
        """Returns the model as tensors, numbers, strings, lists and dicts only.

        The core saves it with ``torch.save`` and loads it back with
        ``torch.load(..., weights_only=True)``, so no arbitrary code is
        unpickled when a user applies a model someone sent them.
        """


class Task(abc.ABC):
    """A prediction task: data, model families, F1 definition, default space.

    Class attributes:
        name: The name users type (``fg-automl search --task <name>``).
        description: One line for ``fg-automl plugins``.
        hyperparameters: Every key a space may hold besides the ``model``
            branch, as dotted paths (``"lr"``, ``"loss"``,
            ``"loss.focal.gamma"``). Anything else is rejected up front.
        stratified: Whether folds are stratified by the target.
        leaderboard_metrics: Metrics of :meth:`metrics` besides ``f1`` that the
            terminal leaderboard shows (averaged over folds), e.g. ``("auroc",)``.
        metric: What the task's F1 is, in a few words (``"F1 of the fraud
            class"``), for ``fg-automl plugins --task``.
        data_options: The options :meth:`read_file` reads from
            :attr:`DataSource.options <finegrain_automl.data.DataSource.options>`
            (:class:`~finegrain_automl.options.DataOption`); the command line
            accepts exactly these, typed and checked, and records them with the run.
        prediction_format: What :meth:`write_predictions` writes, in a word
            (``"CSV"``, ``"COCO results JSON"``), for messages and help.
        time_budget_s: Seconds of trials of ``fg-automl search`` without
            ``--time-budget``. The core's 240 s suits fits of seconds; a task
            whose fits take minutes on a laptop (a detector trained from
            scratch) asks for more, keeping a default search within about 10
            minutes with its refit. Folds and passes: :meth:`split_strategy`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    hyperparameters: ClassVar[frozenset[str]] = frozenset()
    stratified: ClassVar[bool] = True
    leaderboard_metrics: ClassVar[tuple[str, ...]] = ()
    metric: ClassVar[str] = "F1"
    data_options: ClassVar[tuple[DataOption, ...]] = ()
    prediction_format: ClassVar[str] = "CSV"
    time_budget_s: ClassVar[float] = DEFAULT_TIME_BUDGET_S

    @abc.abstractmethod
    def model_families(self) -> Mapping[str, ModelFamily]:
        """Returns the task's own model families by name."""

    @abc.abstractmethod
    def default_space(self) -> Space:
        """Returns the default search space (usually package data YAML)."""

    def starting_points(self) -> Sequence[Mapping[str, Any]]:
        """Returns configurations to try first, before the sampler takes over.

        Known-good settings (each family's usual defaults for the task's
        data, the classical baseline) make a short search reliable: they are
        scored like any trial and seed the sampler's model of the space.
        Each is flat (``{"model": "linear", "lr": 0.01}``) and may be
        partial; the core keeps only what the space in use can sample
        (:meth:`~finegrain_automl.space.Space.starting_point`) and lets the
        sampler draw the rest. Default: none.
        """
        return ()

    @abc.abstractmethod
    def load_default(self, *, seed: int) -> Dataset:
        """Returns the built-in data set (generated or bundled, never downloaded).

        A task that declares data options with ``builtin=True`` (a ranking
        cut-off ``k``) is called as ``load_default(seed=..., options={...})``
        with those options' values, and must accept that keyword; other
        tasks are called with ``seed`` alone.
        """

    def split_strategy(self, data: Dataset) -> SplitStrategy:
        """Says how ``data`` is split into the test split and the folds.

        Default: grouped by ``data.groups`` when the reader set them (rows of
        one patient or customer stay on one side), else by rows; stratified
        by the target if :attr:`stratified`. A recommender returns
        ``SplitStrategy(kind="spread")`` with users as groups.
        """
        from finegrain_automl.cv import SplitStrategy

        kind = "grouped" if data.groups is not None else "rows"
        return SplitStrategy(kind=kind, stratify=self.stratified)

    @abc.abstractmethod
    def read_file(self, source: DataSource) -> Dataset:
        """Reads a user's file; raises :class:`~finegrain_automl.errors.DataError`
        with a one-line message for anything unusable."""

    @abc.abstractmethod
    def fit(
        self,
        *,
        config: Mapping[str, Any],
        family: ModelFamily,
        family_params: Mapping[str, Any],
        train: Dataset,
        context: FitContext,
    ) -> FittedModel:
        """Fits one configuration on ``train`` and returns the fitted model.

        Everything learned from data (scaling, vocabularies, imputation,
        resampling, decision thresholds) is learned from ``train`` only.
        """

    @abc.abstractmethod
    def metrics(self, data: Dataset, predictions: pd.DataFrame) -> dict[str, float]:
        """Scores ``predictions`` of ``data``'s rows; must include ``"f1"``,
        the task's F1 definition, which ranks configurations."""

    @abc.abstractmethod
    def load_model(
        self, state: Mapping[str, Any], *, families: Mapping[str, ModelFamily]
    ) -> FittedModel:
        """Rebuilds a fitted model from :meth:`FittedModel.to_state` output.

        ``families`` holds every model family registered for the task (its own
        and those other plugins contribute), to rebuild the architecture by name.
        """

    def check_config(
        self, *, config: Mapping[str, Any], family: ModelFamily, family_params: Mapping[str, Any]
    ) -> None:
        """Called before any trial runs, for extreme and random configurations of
        the space, to reject values that could never be fit (an unknown loss, a
        width not divisible by the number of heads).

        Raises:
            ValueError: The configuration is invalid; the message says why.
                The default implementation accepts everything.
        """

    def prediction_table(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """Returns what ``fg-automl predict`` writes, from :meth:`FittedModel.predict`
        output: by default ``row`` (the input row's position), ``label`` and
        ``probability``. A task whose predictions are not one per input row
        (a recommender's top-K lists) returns its own columns."""
        table = predictions[["label", "probability"]]
        return table.rename_axis("row").reset_index()

    def write_predictions(self, table: pd.DataFrame, stream: TextIO) -> None:
        """Writes :meth:`prediction_table` output to ``stream`` (a text file or
        stdout) as ``fg-automl predict`` delivers it; default: CSV without the
        index. A task whose users expect another format (a detector: COCO
        results JSON) writes that, and says so in :attr:`prediction_format`."""
        table.to_csv(stream, index=False)

    def after_predict(
        self, predictions: pd.DataFrame, *, data: Dataset, options: Mapping[str, Any]
    ) -> list[str]:
        """Writes what a ``predict``-only data option (``DataOption(search=False)``)
        asks for besides the predictions, e.g. a detector's ``--draw DIR``: the
        images with the boxes found. ``predictions`` is :meth:`FittedModel.predict`
        output for ``data``'s rows; ``options`` the resolved data options.
        Returns one line per thing written, which the CLI prints. Default: nothing."""
        return []

    def report_figures(self, model: FittedModel, data: Dataset, *, private: bool) -> Sequence[Figure]:
        """Called once after the winner (or the ensemble) is refit, in the
        process that refit it, with the refit model and the test rows it was
        scored on.

        Returns pictures of how good the model is on those rows for the run's
        ``report.html``, as :mod:`finegrain_automl.figures` records (a
        precision-recall curve, a confusion matrix, per-class F1): the core
        keeps them in ``figures.json`` and draws them. Aggregates only, never
        a raw row of the data; an :class:`~finegrain_automl.figures.Image` of
        the data only when ``private`` is False (the task's built-in data set;
        True: the user's file). Default: none. An exception is reported as a
        warning and the report goes without the figures.
        """
        return []

    def prediction_rows(self, data: Dataset) -> pd.DataFrame:
        """The rows to give :meth:`FittedModel.predict` so that :meth:`metrics`
        scores its predictions of ``data`` (``fg-automl export`` checks an
        export on the test rows this way). Default: ``data.features``. A
        recommender returns the users alone: its ``predict`` leaves out the
        items a row pairs with a user, which are the answers."""
        return data.features

    def onnx_network(self, model: FittedModel) -> OnnxNetwork:
        """Called by ``fg-automl export --format onnx`` for each network of a
        run's final model (the model, or each member of an ensemble).

        Returns the network as the export needs it
        (:class:`~finegrain_automl.export.OnnxNetwork`): the torch module,
        example inputs, its output's activation, the model's decision rule,
        the classes, and the task's own preprocessing as a module that needs
        only numpy and pandas, with the statistics it reads. The core exports,
        quantises, checks and documents it.

        Raises:
            ExportNotSupported: This task or model cannot be exported; the
                message says why. The default: no export.
        """
        from finegrain_automl.export import ExportNotSupported

        raise ExportNotSupported(f"task {self.name!r} does not export to ONNX (it defines no onnx_network).")

    def evaluate(self, model: FittedModel, data: Dataset) -> dict[str, float]:
        """Predicts ``data`` with ``model`` and scores it: every fold and the
        final test go through here. A task whose scoring needs more than
        :meth:`FittedModel.predict` of the rows (a recommender ranks the whole
        catalogue for each user of ``data``, the user's training items
        excluded) overrides it."""
        return self.metrics(data, model.predict(data.features))

    def fit_decision(self, probabilities: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """Called with out-of-fold class probabilities ``[n, C]`` of an
        ensemble (or of one trial) and the rows' class codes; returns the rule
        that turns probabilities into labels, as numbers and strings (a
        binary task's F1-best threshold). The default, ``{}``, is the most
        probable class."""
        return {}

    def predictions_from_probabilities(
        self,
        probabilities: np.ndarray,
        *,
        decision: Mapping[str, Any],
        classes: Sequence[Any],
        index: pd.Index,
    ) -> pd.DataFrame:
        """Returns what :meth:`FittedModel.predict` returns, from class
        probabilities and a rule of :meth:`fit_decision` (``classes``: the
        label of each column). The default picks the most probable class:
        ``label``, its ``probability`` and its code as ``prediction``."""
        codes = np.asarray(probabilities).argmax(axis=1)
        return pd.DataFrame(
            {
                "label": pd.Series([classes[c] for c in codes], index=index, dtype=pd.Series(list(classes)).dtype),
                "probability": np.asarray(probabilities)[np.arange(len(codes)), codes],
                "prediction": codes.astype(np.int64),
            },
            index=index,
        )


def saved_family(
    state: Mapping[str, Any], *, families: Mapping[str, ModelFamily], expected_format: str
) -> ModelFamily:
    """Checks a saved model's format and returns the family it was built with.

    Raises:
        UsageError: Another format (another task or version), or a family no
            loaded plugin provides.
    """
    from finegrain_automl.errors import UsageError

    if state.get("format") != expected_format:
        raise UsageError(
            f"The saved model has format {state.get('format')!r}, not {expected_format!r}; "
            "load it with the task that saved it, or refit it with this version."
        )
    name = state.get("family")
    if name not in families:
        raise UsageError(
            f"The saved model uses model family {name!r}, which no loaded plugin provides "
            f"(available: {', '.join(sorted(families)) or 'none'}); install the plugin that adds it."
        )
    return families[name]


def check_space(space: Space, *, task: Task, families: Mapping[str, ModelFamily]) -> None:
    """Checks that every key of ``space`` means something to ``task``.

    The space must hold a ``model`` branch choice whose branches are model
    families of the task; a key under a branch must be a keyword argument of
    that family's ``build``; every other key must be one of
    ``task.hyperparameters``.

    Raises:
        SpaceError: The first key that does not fit, with the keys that would.
    """
    from finegrain_automl.space import SpaceError

    source = getattr(space, "source", "<space>")
    paths = space.paths()
    if MODEL_KEY not in paths:
        raise SpaceError(
            f"{source}: {MODEL_KEY}: every space needs a `{MODEL_KEY}` branch choice, got none. "
            f"Add `{MODEL_KEY}: {{choice: {{{', '.join(families)}: {{}}}}}}`.",
            path=MODEL_KEY,
        )
    chosen = space.branches(MODEL_KEY)
    if not chosen:
        raise SpaceError(
            f"{source}: {MODEL_KEY}: must be a branch choice of model families, got "
            f"{dict(space.rows()).get(MODEL_KEY)!r}. Write `{MODEL_KEY}: {{choice: {{<family>: {{...}}}}}}` "
            f"with families among: {', '.join(sorted(families))}.",
            path=MODEL_KEY,
        )
    for name in chosen:
        if name not in families:
            raise SpaceError(
                f"{source}: {MODEL_KEY}.{name}: task {task.name!r} has no model family {name!r}. "
                f"{_did_you_mean(name, families)}Use one of: {', '.join(sorted(families))}.",
                path=f"{MODEL_KEY}.{name}",
            )
    for path in paths:
        if path == MODEL_KEY:
            continue
        parts = path.split(".")
        if parts[0] == MODEL_KEY:
            if len(parts) < 3:
                continue
            family = families[parts[1]]
            if parts[2] not in family.hyperparameters:
                accepted = ", ".join(sorted(family.hyperparameters)) or "none"
                raise SpaceError(
                    f"{source}: {path}: model family {family.name!r} has no hyperparameter "
                    f"{parts[2]!r}. {_did_you_mean(parts[2], family.hyperparameters)}Use one of: {accepted}.",
                    path=path,
                )
        elif path not in task.hyperparameters:
            accepted = ", ".join(sorted(task.hyperparameters))
            raise SpaceError(
                f"{source}: {path}: task {task.name!r} does not use this key. "
                f"{_did_you_mean(path, task.hyperparameters)}Remove it or use one of: {accepted}.",
                path=path,
            )


def _did_you_mean(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"Did you mean {close[0]!r}? " if close else ""


#: Random configurations :func:`check_space_values` tries besides the extremes.
RANDOM_CHECKS = 32


def starting_points(space: Space, *, task: Task, limit: int | None = None) -> list[dict[str, Any]]:
    """The task's starting points that ``space`` can start from, without
    duplicates or empty ones, at most ``limit`` (see :meth:`Task.starting_points`)."""
    kept: list[dict[str, Any]] = []
    for point in task.starting_points():
        fitted = space.starting_point(point)
        if fitted and fitted not in kept:
            kept.append(fitted)
    return kept[:limit]


def check_space_values(space: Space, *, task: Task, families: Mapping[str, ModelFamily]) -> None:
    """Asks ``task`` to check extreme and random configurations of ``space``.

    Every choice value is tried, each numeric parameter at its low and its
    high bound, plus :data:`RANDOM_CHECKS` seeded random configurations, so a
    space that would make every trial fail is rejected before Ray starts.

    Raises:
        SpaceError: A configuration the task rejects, with the key path when
            the task names one.
    """
    import optuna

    from finegrain_automl.space import SpaceError, branch_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    widest = max(_choice_lengths(space.to_dict()), default=1)
    configs = [space.sample(_ExtremeTrial(index=i, high=high)) for i in range(widest) for high in (False, True)]
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    points = starting_points(space, task=task)
    for point in points:  # completed by the sampler exactly as in a search
        study.enqueue_trial(point)
    configs += [space.sample(study.ask()) for _ in range(len(points) + RANDOM_CHECKS)]
    for config in configs:
        name, params = branch_params(config, MODEL_KEY)
        try:
            task.check_config(config=config, family=families[name], family_params=params)
        except (ValueError, TypeError) as exc:
            path = getattr(exc, "path", "") or f"{MODEL_KEY}.{name}"
            shown = ", ".join(f"{k}={v}" for k, v in sorted(config.items()))
            reason = " ".join(str(exc).split()).removeprefix("config: ").removeprefix(f"{path}: ")
            raise SpaceError(
                f"{space.source}: {path}: {reason} "
                f"(in the configuration {{{shown}}}). Change the space so that every configuration it "
                "allows is valid.",
                path=path,
            ) from None


def _choice_lengths(raw: Mapping[str, Any]) -> list[int]:
    """Lengths of every choice list and branch choice in a raw space, at any depth."""
    lengths = []
    for node in raw.values():
        if isinstance(node, Mapping) and "choice" in node:
            choice = node["choice"]
            lengths.append(len(choice))
            if isinstance(choice, Mapping):
                for branch in choice.values():
                    lengths += _choice_lengths(branch or {})
    return lengths


class _ExtremeTrial:
    """Duck-typed Optuna trial: numbers at one bound, the ``index``-th choice."""

    def __init__(self, *, index: int, high: bool) -> None:
        self.index, self.high = index, high

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return choices[self.index % len(choices)]

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return high if self.high else low

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return high if self.high else low
