"""Tests of finegrain_automl.space: parsing, validation, sampling, YAML loading."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from finegrain_automl.errors import FgAutomlError
from finegrain_automl.space import Space, SpaceError, branch_params, load_points, load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "search_spaces" / "space.schema.json"

ARCH = {
    "lr": {"loguniform": [1e-4, 1e-2]},
    "batch_size": {"choice": [64, 128, 256]},
    "epochs": 5,
    "model": {
        "choice": {
            "resmlp": {
                "hidden": {"int": [32, 256], "log": True},
                "blocks": {"int": [1, 9], "step": 2},
                "act": {"choice": {"gelu": {"approximate": {"choice": ["none", "tanh"]}},
                                   "relu": None}},
                "norm": "layer",
            },
            "ft_transformer": {
                "d_token": {"int": [64, 512], "step": 64},
                "dropout": {"uniform": [0.0, 0.5]},
                "heads": 8,
            },
            "linear": None,
        }
    },
}

BRANCH_KEYS = {
    "resmlp": {"model.resmlp.hidden", "model.resmlp.blocks", "model.resmlp.act",
               "model.resmlp.norm"},
    "ft_transformer": {"model.ft_transformer.d_token", "model.ft_transformer.dropout",
                       "model.ft_transformer.heads"},
    "linear": set(),
}


def _study(n_trials: int = 30) -> tuple[optuna.Study, list[dict]]:
    space = Space.from_dict(ARCH)
    configs: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        config = space.sample(trial)
        configs.append(config)
        return config["lr"] * config["batch_size"]

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=n_trials)
    return study, configs


# ------------------------------------------------------------------------------ parsing
def test_parses_every_distribution() -> None:
    space = Space.from_dict({
        "a": {"choice": [None, True, 2, 2.5, "x"]},
        "b": {"int": [1, 10]},
        "c": {"int": [1, 1000], "log": True},
        "d": {"int": [0, 10], "step": 2},
        "e": {"uniform": [0, 1]},
        "f": {"loguniform": [1e-4, 1e-2]},
        "g": 5, "h": 0.5, "i": "adam", "j": False,
        "k": {"choice": {"x": None, "y": {}}},
    })
    assert space.rows() == [
        ("a", "choice: null, true, 2, 2.5, x"),
        ("b", "int 1..10"),
        ("c", "int 1..1000 (log)"),
        ("d", "int 0..10 step 2"),
        ("e", "uniform 0.0..1.0"),
        ("f", "loguniform 1e-4..1e-2"),
        ("g", "constant 5"), ("h", "constant 0.5"), ("i", "constant adam"),
        ("j", "constant false"),
        ("k", "branch choice: x, y"),
    ]
    raw = space.to_dict()
    assert raw["e"] == {"uniform": [0.0, 1.0]}
    assert raw["c"] == {"int": [1, 1000], "log": True}
    assert raw["d"] == {"int": [0, 10], "step": 2}
    assert raw["k"] == {"choice": {"x": None, "y": None}}


def test_rows_and_paths_cover_all_branches_in_order() -> None:
    space = Space.from_dict(ARCH)
    assert space.paths() == [
        "lr", "batch_size", "epochs", "model",
        "model.resmlp.hidden", "model.resmlp.blocks", "model.resmlp.act",
        "model.resmlp.act.gelu.approximate", "model.resmlp.norm",
        "model.ft_transformer.d_token", "model.ft_transformer.dropout",
        "model.ft_transformer.heads",
    ]
    rows = dict(space.rows())
    assert rows["model"] == "branch choice: resmlp, ft_transformer, linear"
    assert rows["model.resmlp.hidden"] == "int 32..256 (log)"
    assert rows["model.resmlp.act"] == "branch choice: gelu, relu"
    assert rows["model.resmlp.norm"] == "constant layer"


def test_branches() -> None:
    space = Space.from_dict(ARCH)
    assert space.branches("model") == ["resmlp", "ft_transformer", "linear"]
    assert space.branches("model.resmlp.act") == ["gelu", "relu"]
    assert space.branches("lr") == []
    with pytest.raises(SpaceError, match="modle: no such parameter"):
        space.branches("modle")


def test_numeric_string_bounds_are_converted() -> None:
    space = Space.from_dict({
        "lr": {"loguniform": ["1e-4", "1e-2"]},
        "n": {"int": ["1", "1e3"]},
        "p": {"uniform": [" 0 ", "0.5"]},
    })
    assert space.to_dict() == {
        "lr": {"loguniform": [1e-4, 1e-2]},
        "n": {"int": [1, 1000]},
        "p": {"uniform": [0.0, 0.5]},
    }


def test_to_dict_round_trips_and_is_a_copy() -> None:
    space = Space.from_dict(ARCH, source="arch.yaml")
    raw = space.to_dict()
    assert Space.from_dict(raw) == space
    assert Space.from_dict(raw).to_dict() == raw
    raw["model"]["choice"]["resmlp"]["hidden"]["int"][0] = 1
    assert space.to_dict()["model"]["choice"]["resmlp"]["hidden"]["int"] == [32, 256]
    assert Space.from_dict({}).to_dict() == {}


def test_space_is_immutable_and_picklable() -> None:
    space = Space.from_dict(ARCH)
    with pytest.raises(AttributeError):
        space._nodes = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        space.foo = 1  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(space)) == space
    assert hash(space) == hash(Space.from_dict(ARCH))
    fn = pickle.loads(pickle.dumps(space.define_by_run()))
    assert fn(optuna.create_study().ask())["epochs"] == 5


# --------------------------------------------------------------------------- validation
INVALID = [
    # (data, path, rule fragment, fix fragment)
    ([1, 2], "<root>", "must be a mapping of parameter name -> node", "`name: node`"),
    (None, "<root>", "must be a mapping", "`name: node`"),
    ({"x": {"normal": [0, 1]}}, "x", "unknown distribution key 'normal'",
     "Use exactly one of: choice, int, uniform, loguniform."),
    ({"x": {"Choice": [1, 2]}}, "x", "unknown distribution key 'Choice'", "Did you mean 'choice'?"),
    ({"x": {}}, "x", "needs exactly one distribution key", "choice, int, uniform, loguniform"),
    ({"x": {"log": True}}, "x", "needs exactly one distribution key", "Use exactly one of"),
    ({"x": {"int": [1, 2], "uniform": [0, 1]}}, "x", "exactly one distribution key",
     "Use exactly one of"),
    ({"x": {"uniform": [0, 1], "log": True}}, "x", "unknown option 'log' for uniform",
     "Use loguniform for a log scale."),
    ({"x": {"int": [1, 5], "scale": 2}}, "x", "unknown option 'scale' for int", "log, step"),
    ({"x": {"choice": [1, 2], "step": 1}}, "x", "unknown option 'step' for choice", "none"),
    ({"m": {"choice": {"a": {"h": {"int": [256, 32]}}}}}, "m.a.h",
     "int bounds need low <= high, got [256, 32]", "Swap the bounds."),
    ({"x": {"uniform": [1, 0]}}, "x", "uniform bounds need low <= high", "Swap the bounds."),
    ({"x": {"choice": []}}, "x", "choice needs at least one value", "Add values"),
    ({"x": {"choice": {}}}, "x", "choice needs at least one branch", "Add branches"),
    ({"x": {"choice": 3}}, "x", "list of values or a mapping of branches", "{choice: [a, b]}"),
    ({"x": {"choice": [1, 2, 1]}}, "x", "choice values must be unique", "Remove the duplicate 1"),
    ({"x": {"choice": [1, True]}}, "x", "choice values must be unique", "Remove the duplicate"),
    ({"x": {"choice": [1, [2, 3]]}}, "x", "choice values must be scalars", "branches"),
    ({"x": {"choice": [{"a": 1}]}}, "x", "choice values must be scalars", "branches"),
    ({"x": {"loguniform": [0, 1]}}, "x", "loguniform bounds need low > 0", "positive lower bound"),
    ({"x": {"loguniform": [-2, -1]}}, "x", "loguniform bounds need low > 0", "uniform"),
    ({"x": {"int": [0, 100], "log": True}}, "x", "log: true needs low >= 1", "at least 1"),
    ({"x": {"int": [1.5, 4]}}, "x", "int bounds must be whole numbers", "uniform"),
    ({"x": {"int": ["a", 4]}}, "x", "int bounds must be finite numbers", "plain numbers"),
    ({"x": {"uniform": [True, 4]}}, "x", "uniform bounds must be finite numbers", "plain numbers"),
    ({"x": {"uniform": ["nan", 4]}}, "x", "must be finite numbers", "plain numbers"),
    ({"x": {"uniform": [0, 1, 2]}}, "x", "uniform needs a [low, high] pair", "[1, 10]"),
    ({"x": {"uniform": 1}}, "x", "needs a [low, high] pair", "{uniform: [1, 10]}"),
    ({"x": {"int": [1, 10], "step": 0}}, "x", "step must be a positive integer", "step: 2"),
    ({"x": {"int": [1, 10], "step": 1.5}}, "x", "step must be a positive integer", "step: 2"),
    ({"x": {"int": [1, 10], "step": True}}, "x", "step must be a positive integer", "step: 2"),
    ({"x": {"int": [1, 9], "log": True, "step": 2}}, "x",
     "cannot combine log: true with step != 1", "Remove step, or remove log: true."),
    ({"x": {"int": [1, 10], "log": "yes"}}, "x", "log must be true or false", "log: true"),
    ({"x": {"int": [0, 10], "step": 3}}, "x", "multiple of step 3", "Use high 9"),
    ({"a.b": 1}, "a.b", "names must be non-empty without '.' or '/'", "Rename it"),
    ({"a/b": 1}, "a/b", "without '.' or '/'", "Rename it"),
    ({"": 1}, "<root>", "names must be non-empty", "Rename it"),
    ({1: 2}, "1", "parameter names must be strings", "Quote the name"),
    ({"m": {"choice": {"a.b": None}}}, "m.a.b", "branch names must be", "Rename it"),
    ({"m": {"choice": {"a": 1, "b": 2}}}, "m.a", "a choice branch must be a mapping",
     "{choice: [...]} for plain values"),
    ({"m": {"choice": {"a": {"h": {"int": [1]}}}}}, "m.a.h", "int needs a [low, high] pair",
     "Write e.g."),
    ({"x": None}, "x", "must be a constant", "{choice: [null, ...]}"),
    ({"x": [1, 2]}, "x", "must be a constant", "Wrap the values in {choice: [...]}"),
]


@pytest.mark.parametrize(("data", "path", "rule", "fix"), INVALID)
def test_validation_errors(data: object, path: str, rule: str, fix: str) -> None:
    with pytest.raises(SpaceError) as info:
        Space.from_dict(data, source="space.yaml")
    message = str(info.value)
    assert message.startswith(f"space.yaml: {path}: "), message
    assert rule in message and fix in message, message
    assert "\n" not in message and ", got " in message
    assert info.value.path == ("" if path == "<root>" else path)


def test_space_error_is_a_user_error_and_pickles() -> None:
    with pytest.raises(SpaceError) as info:
        Space.from_dict({"m": {"choice": {"resmlp": {"hidden": {"int": [256, 32]}}}}},
                        source="space.yaml")
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, FgAutomlError)
    assert str(err) == ("space.yaml: m.resmlp.hidden: int bounds need low <= high, "
                        "got [256, 32]. Swap the bounds.")
    clone = pickle.loads(pickle.dumps(err))
    assert str(clone) == str(err) and clone.path == "m.resmlp.hidden"


# ----------------------------------------------------------------------------- sampling
def test_conditional_branches_in_a_study() -> None:
    study, configs = _study()
    chosen = set()
    for trial, config in zip(study.trials, configs):
        branch = trial.params["model"]
        chosen.add(branch)
        model_keys = {k for k in trial.params if k.startswith("model.")}
        sampled_branch_keys = {k for k in BRANCH_KEYS[branch]
                               if not k.endswith((".norm", ".heads"))}  # constants
        if branch == "resmlp" and trial.params["model.resmlp.act"] == "gelu":
            sampled_branch_keys.add("model.resmlp.act.gelu.approximate")
        assert model_keys == sampled_branch_keys
        config_model_keys = {k for k in config if k.startswith("model.")}
        expected = set(BRANCH_KEYS[branch])
        if "model.resmlp.act.gelu.approximate" in sampled_branch_keys:
            expected.add("model.resmlp.act.gelu.approximate")
        assert config_model_keys == expected
        for other, keys in BRANCH_KEYS.items():
            if other != branch:
                assert not keys & set(config) and not keys & set(trial.params)
        assert {k: v for k, v in config.items() if k in trial.params} == trial.params
    assert chosen == {"resmlp", "ft_transformer", "linear"}


def test_values_respect_bounds_log_and_step() -> None:
    study, configs = _study()
    for config in configs:
        assert 1e-4 <= config["lr"] <= 1e-2 and isinstance(config["lr"], float)
        assert config["batch_size"] in (64, 128, 256)
        assert config["epochs"] == 5
        if config["model"] == "resmlp":
            assert 32 <= config["model.resmlp.hidden"] <= 256
            assert config["model.resmlp.blocks"] in (1, 3, 5, 7, 9)
            assert config["model.resmlp.norm"] == "layer"
        elif config["model"] == "ft_transformer":
            assert config["model.ft_transformer.d_token"] % 64 == 0
            assert 0.0 <= config["model.ft_transformer.dropout"] <= 0.5
            assert config["model.ft_transformer.heads"] == 8
    dists = {name: d for t in study.trials for name, d in t.distributions.items()}
    hidden = dists["model.resmlp.hidden"]
    assert isinstance(hidden, optuna.distributions.IntDistribution) and hidden.log
    assert dists["model.resmlp.blocks"].step == 2 and not dists["model.resmlp.blocks"].log
    assert dists["model.ft_transformer.d_token"].step == 64
    assert dists["lr"].log and not dists["model.ft_transformer.dropout"].log
    assert dists["model"].choices == ("resmlp", "ft_transformer", "linear")


def test_constants_present() -> None:
    space = Space.from_dict({"epochs": 5, "opt": "adam", "wd": 0.0, "flag": True,
                             "x": {"int": [1, 3]}})
    config = space.sample(optuna.create_study().ask())
    assert config["epochs"] == 5 and config["opt"] == "adam"
    assert config["wd"] == 0.0 and config["flag"] is True and 1 <= config["x"] <= 3
    assert list(config) == ["epochs", "opt", "wd", "flag", "x"]


def test_define_by_run_returns_only_active_constants() -> None:
    space = Space.from_dict(ARCH)
    fn = space.define_by_run()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    seen_branches = set()
    for _ in range(15):
        trial = study.ask()
        constants = fn(trial)
        branch = trial.params["model"]
        seen_branches.add(branch)
        expected = {"epochs": 5}
        if branch == "resmlp":
            expected["model.resmlp.norm"] = "layer"
        elif branch == "ft_transformer":
            expected["model.ft_transformer.heads"] = 8
        assert constants == expected
        assert not set(constants) & set(trial.params)
        assert {"lr", "batch_size", "model"} <= set(trial.params)
        study.tell(trial, 0.0)
    assert len(seen_branches) > 1


def test_define_by_run_with_ray_optuna_search() -> None:
    import ray.tune.search.optuna as optuna_search
    space = Space.from_dict(ARCH)
    searcher = optuna_search.OptunaSearch(
        space=space.define_by_run(), metric="loss", mode="min",
        sampler=optuna.samplers.TPESampler(seed=0))
    for i in range(5):
        config = searcher.suggest(f"t{i}")
        ot_trial = searcher._ot_trials[f"t{i}"]
        assert config == space.sample(optuna.trial.FixedTrial(ot_trial.params))
        assert "/" not in "".join(config) and all(isinstance(k, str) for k in config)


def test_branch_params() -> None:
    config = {"lr": 0.1, "model": "resmlp", "model.resmlp.hidden": 64,
              "model.resmlp.act": "gelu", "model.resmlp.act.gelu.approximate": "tanh",
              "model.resmlp2.x": 1}
    assert branch_params(config, "model") == (
        "resmlp", {"hidden": 64, "act": "gelu", "act.gelu.approximate": "tanh"})
    assert branch_params(config, "model.resmlp.act") == ("gelu", {"approximate": "tanh"})
    assert branch_params({"model": "linear"}, "model") == ("linear", {})
    with pytest.raises(KeyError, match="'head' is not in the configuration"):
        branch_params(config, "head")


def test_branch_params_on_sampled_configs() -> None:
    _, configs = _study(10)
    for config in configs:
        branch, params = branch_params(config, "model")
        assert {f"model.{branch}.{k}" for k in params} == {
            k for k in config if k.startswith(f"model.{branch}.")}


def test_sample_accepts_fixed_trial() -> None:
    space = Space.from_dict(ARCH)
    config = space.sample(optuna.trial.FixedTrial(
        {"lr": 1e-3, "batch_size": 64, "model": "linear"}))
    assert config == {"lr": 1e-3, "batch_size": 64, "epochs": 5, "model": "linear"}


# --------------------------------------------------------------------------------- YAML
def test_load_space_yaml(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "lr: {loguniform: [1e-4, 1e-2]}\n"
        "wd: 1e-5\n"
        "eps: {choice: [1e-8, 1.0e-6]}\n"
        "model:\n"
        "  choice:\n"
        "    resmlp:\n"
        "      hidden: {int: [32, 256], log: true}\n"
        "    linear:\n",
        encoding="utf-8",
    )
    space = load_space(path)
    assert space.source == str(path)
    raw = space.to_dict()
    assert raw["lr"] == {"loguniform": [1e-4, 1e-2]}
    assert raw["wd"] == 1e-5 and isinstance(raw["wd"], float)
    assert raw["eps"] == {"choice": [1e-8, 1e-6]}
    assert raw["model"] == {"choice": {"resmlp": {"hidden": {"int": [32, 256], "log": True}},
                                       "linear": None}}


def test_load_space_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  choice:\n    resmlp:\n      hidden: {int: [256, 32]}\n")
    with pytest.raises(SpaceError, match=r"bad\.yaml: model\.resmlp\.hidden: int bounds"):
        load_space(path)


def test_load_space_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpaceError) as info:
        load_space(missing)
    message = str(info.value)
    assert message.startswith(f"{missing}: <root>: cannot read the search-space file")
    assert "FileNotFoundError" in message and "Check the path" in message
    assert "\n" not in message
    with pytest.raises(SpaceError, match="cannot read"):
        load_space(tmp_path)  # a directory


@pytest.mark.parametrize(("text", "rule"), [
    ("a: [1, 2\n", "invalid YAML at line"),
    ("a: b: c\n", "invalid YAML at line 1"),
    ("a: 1\na: 2\n", "invalid YAML at line 2, column 1, got \"duplicate key 'a'\""),
    ("", "must be a mapping of parameter name -> node, got None"),
    ("- 1\n", "must be a mapping"),
])
def test_load_space_invalid_yaml(tmp_path: Path, text: str, rule: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    message = str(info.value)
    assert message.startswith(f"{path}: <root>: ") and rule in message, message
    assert "\n" not in message


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("base: &b {int: [1, 4]}\nother: {<<: *b, step: 3}\n")
    assert load_space(path).to_dict()["other"] == {"int": [1, 4], "step": 3}


# ------------------------------------------------------------------------ schema, import
def test_json_schema_accepts_valid_and_rejects_invalid() -> None:
    import jsonschema
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for data in (ARCH, Space.from_dict(ARCH).to_dict(), {"lr": {"loguniform": ["1e-4", 1e-2]}}):
        validator.validate(data)
    for bad in ({"x": {"normal": [0, 1]}}, {"x": {"choice": []}}, {"x": {"choice": [1, 1]}},
                {"x": {"int": [1, 9], "log": True, "step": 2}}, {"a.b": 1},
                {"x": {"uniform": [0, 1], "log": True}}, {"x": None}, {"x": {"int": [1.5, 2]}}):
        assert not validator.is_valid(bad), bad


def test_import_does_not_import_optuna() -> None:
    code = "import sys, finegrain_automl.space; print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"


def test_uniform_single_point_and_float_formatting() -> None:
    space = Space.from_dict({"x": {"uniform": [0.5, 0.5]}, "big": {"uniform": [1, 2e6]}})
    assert space.sample(optuna.create_study().ask())["x"] == 0.5
    assert dict(space.rows())["big"] == "uniform 1.0..2e6"


def test_starting_point_keeps_what_the_space_can_sample() -> None:
    space = Space.from_dict(ARCH)
    point = {
        "lr": 3e-3,
        "batch_size": 128,
        "epochs": 7,  # a constant: never sampled, so never kept
        "model": "resmlp",
        "model.resmlp.hidden": 64.0,  # an integral float counts as the int 64
        "model.resmlp.blocks": 4,  # off the step of 2 from 1
        "model.resmlp.act": "gelu",
        "model.resmlp.act.gelu.approximate": "tanh",
        "model.ft_transformer.dropout": 0.1,  # under a branch that is not chosen
        "warmup": 0.1,  # not in the space
    }
    kept = space.starting_point(point)
    assert kept == {
        "lr": 3e-3,
        "batch_size": 128,
        "model": "resmlp",
        "model.resmlp.hidden": 64,
        "model.resmlp.act": "gelu",
        "model.resmlp.act.gelu.approximate": "tanh",
    }
    assert type(kept["model.resmlp.hidden"]) is int
    # Out of range, wrong types, an unknown branch: left for the sampler.
    assert space.starting_point({"lr": 1.0, "batch_size": "128", "model": "mlp", "model.mlp.hidden": 8}) == {}
    assert space.starting_point({"batch_size": True, "lr": float("nan")}) == {}


def test_a_starting_point_is_completed_by_the_sampler() -> None:
    space = Space.from_dict(ARCH)
    point = space.starting_point({"model": "ft_transformer", "lr": 1e-3})
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial(point)
    config = space.sample(study.ask())
    assert config["model"] == "ft_transformer" and config["lr"] == 1e-3
    assert set(config) == {"lr", "batch_size", "epochs", "model"} | BRANCH_KEYS["ft_transformer"]


def test_load_points_reads_a_list_and_names_bad_items(tmp_path: Path) -> None:
    good = tmp_path / "points.yaml"
    good.write_text("- {model: linear, lr: 1e-2}\n- model: resmlp\n  model.resmlp.hidden: 64\n")
    assert load_points(good) == [{"model": "linear", "lr": 0.01}, {"model": "resmlp", "model.resmlp.hidden": 64}]
    for text, fragment in [
        ("model: linear\n", "must be a YAML list"),
        ("- [1, 2]\n", "[0]: a starting point must map key paths to values"),
        ("- {model: {choice: [a]}}\n", "[0].model: starting-point values must be scalars"),
        ("- {model: [\n", "invalid YAML"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(SpaceError, match=re.escape(fragment)):
            load_points(bad)
    with pytest.raises(SpaceError, match="cannot read the starting-points file"):
        load_points(tmp_path / "missing.yaml")
