"""Search spaces: parse, validate and sample the YAML search-space format.

The top level maps parameter names to nodes. A node is a constant (int, float, str, bool)
or a mapping with exactly one distribution key: ``choice`` (a list of scalars, or a mapping
of branches that each open their own sub-space), ``int`` (options ``log``, ``step``),
``uniform`` or ``loguniform``. A sampled configuration is flat, e.g.
``{"model": "resmlp", "model.resmlp.hidden": 64}``; parameters under an unchosen branch
are neither sampled nor present.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from finegrain_automl.errors import FgAutomlError

if TYPE_CHECKING:  # optuna is slow to import; only its types are needed here
    import optuna

__all__ = [
    "DISTRIBUTION_KEYS",
    "SEPARATOR",
    "Space",
    "SpaceError",
    "branch_params",
    "load_points",
    "load_space",
]

SEPARATOR = "."
DISTRIBUTION_KEYS = ("choice", "int", "uniform", "loguniform")
_OPTIONS = {"choice": (), "int": ("log", "step"), "uniform": (), "loguniform": ()}
_SCALARS = (bool, int, float, str)


class SpaceError(FgAutomlError, ValueError):
    """An invalid search space, with a one-line message.

    The message reads ``"<source>: <key.path>: <rule broken>, got <value>. <how to fix>"``.

    Attributes:
        path: Dotted key path of the offending node ("" for the whole file).
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message.replace("\r", " ").replace("\n", " "))
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:  # keep .path through pickling (Ray ships errors)
        return (type(self), (self.args[0], self.path))


def _err(src: str, path: str, rule: str, value: Any, fix: str) -> SpaceError:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return SpaceError(f"{src}: {path or '<root>'}: {rule}, got {shown}. {fix}", path)


@dataclass(frozen=True)
class _Node:
    kind: str  # "constant", "branch" or a DISTRIBUTION_KEYS entry ("choice": plain values)
    value: Any = None  # constant value, tuple of choices, or ((branch, sub-space), ...)
    low: Any = None
    high: Any = None
    log: bool = False
    step: int = 1


_Nodes = tuple[tuple[str, Any], ...]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}{SEPARATOR}{name}" if prefix else name


def _check_name(name: Any, prefix: str, src: str, what: str) -> None:
    if not isinstance(name, str):
        raise _err(src, _join(prefix, str(name)), f"{what} names must be strings", name,
                   "Quote the name (YAML reads yes/no/on/off/true/false/null and numbers).")
    if not name or "." in name or "/" in name:
        raise _err(src, _join(prefix, name), f"{what} names must be non-empty without '.' or '/'",
                   name, "Rename it, e.g. with '_' ('.' joins key paths, Ray Tune splits on '/').")


def _parse_space(data: Any, prefix: str, src: str) -> _Nodes:
    if not isinstance(data, Mapping):
        raise _err(src, prefix, "a search space must be a mapping of parameter name -> node", data,
                   "Write `name: node` entries, e.g. `lr: {loguniform: [1e-4, 1e-2]}`.")
    nodes = []
    for name, raw in data.items():
        _check_name(name, prefix, src, "parameter")
        nodes.append((name, _parse_node(raw, _join(prefix, name), src)))
    return tuple(nodes)


def _parse_node(raw: Any, path: str, src: str) -> Any:
    if isinstance(raw, Mapping):
        return _parse_dist(raw, path, src)
    if isinstance(raw, _SCALARS):
        return _Node("constant", raw)
    fix = ("Remove it, or search over it with {choice: [null, ...]}." if raw is None else
           "Wrap the values in {choice: [...]} to search over them." if isinstance(raw, list)
           else "Use a constant or a mapping such as {int: [1, 10]}.")
    raise _err(src, path, "a parameter must be a constant (int, float, str, bool) or a "
               "distribution mapping", raw, fix)


def _parse_dist(raw: Mapping, path: str, src: str) -> Any:
    allowed = ", ".join(DISTRIBUTION_KEYS)
    kinds = [k for k in raw if k in DISTRIBUTION_KEYS]
    unknown = [k for k in raw if k not in DISTRIBUTION_KEYS and k not in ("log", "step")]
    if not kinds and unknown:
        close = difflib.get_close_matches(str(unknown[0]), DISTRIBUTION_KEYS, n=1, cutoff=0.7)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        raise _err(src, path, f"unknown distribution key {unknown[0]!r}", dict(raw),
                   f"{hint}Use exactly one of: {allowed}.")
    if len(kinds) != 1:
        raise _err(src, path, "a distribution mapping needs exactly one distribution key",
                   dict(raw), f"Use exactly one of: {allowed}.")
    kind, value = kinds[0], raw[kinds[0]]
    extra = [k for k in raw if k != kind and k not in _OPTIONS[kind]]
    if extra:
        hint = " Use loguniform for a log scale." if kind == "uniform" and "log" in extra else ""
        raise _err(src, path, f"unknown option {extra[0]!r} for {kind}", dict(raw),
                   f"Remove it (options of {kind}: {', '.join(_OPTIONS[kind]) or 'none'}).{hint}")
    if kind == "choice":
        if isinstance(value, Mapping):
            return _parse_branches(value, path, src)
        if isinstance(value, (list, tuple)):
            return _parse_choices(value, path, src)
        raise _err(src, path, "choice needs a list of values or a mapping of branches", value,
                   "Write {choice: [a, b]} or {choice: {branch_a: {...}, branch_b: null}}.")
    if kind == "int":
        return _parse_int(raw, path, src)
    low, high = _bounds(value, kind, path, src, integer=False)
    if kind == "loguniform" and low <= 0:
        raise _err(src, path, "loguniform bounds need low > 0", [low, high],
                   "Use a positive lower bound such as 1e-8, or use uniform.")
    return _Node(kind, low=low, high=high, log=kind == "loguniform")


def _parse_choices(values: list | tuple, path: str, src: str) -> _Node:
    if not values:
        raise _err(src, path, "choice needs at least one value", list(values),
                   "Add values, or use a constant.")
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, _SCALARS):
            raise _err(src, path, "choice values must be scalars (null, bool, int, float, str)", v,
                       "Use branches {choice: {name: {...}}} for structured alternatives.")
        if v in values[:i]:  # == equality: Optuna cannot tell 1, 1.0 and true apart either
            raise _err(src, path, "choice values must be unique", list(values),
                       f"Remove the duplicate {v!r} (1, 1.0 and true count as equal).")
    return _Node("choice", tuple(values))


def _parse_branches(mapping: Mapping, path: str, src: str) -> _Node:
    if not mapping:
        raise _err(src, path, "choice needs at least one branch", dict(mapping),
                   "Add branches, or use a constant.")
    branches = []
    for name, sub in mapping.items():
        _check_name(name, path, src, "branch")
        if sub is not None and not isinstance(sub, Mapping):
            raise _err(src, _join(path, name), "a choice branch must be a mapping of parameters "
                       "or null", sub, "Write `name: null` for a branch without parameters, or "
                       "use {choice: [...]} for plain values.")
        branches.append((name, _parse_space(sub or {}, _join(path, name), src)))
    return _Node("branch", tuple(branches))


def _number(b: Any, raw: Any, kind: str, path: str, src: str, integer: bool) -> int | float:
    if isinstance(b, str):  # PyYAML reads 1e-4 as a string: accept numeric strings
        for convert in (int, float) if integer else (float,):
            try:
                b = convert(b.strip())
                break
            except ValueError:
                pass
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
        raise _err(src, path, f"{kind} bounds must be finite numbers", raw,
                   "Write plain numbers such as 0.001 or 1e-3.")
    if not integer:
        return float(b)
    if isinstance(b, float) and not b.is_integer():
        raise _err(src, path, "int bounds must be whole numbers", raw,
                   "Use whole numbers, or uniform for a continuous range.")
    return int(b)


def _bounds(raw: Any, kind: str, path: str, src: str, integer: bool) -> tuple[Any, Any]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise _err(src, path, f"{kind} needs a [low, high] pair", raw,
                   f"Write e.g. {{{kind}: [1, 10]}}.")
    low, high = (_number(b, raw, kind, path, src, integer) for b in raw)
    if low > high:
        raise _err(src, path, f"{kind} bounds need low <= high", [low, high], "Swap the bounds.")
    return low, high


def _parse_int(raw: Mapping, path: str, src: str) -> _Node:
    low, high = _bounds(raw["int"], "int", path, src, integer=True)
    log, step = raw.get("log", False), raw.get("step", 1)
    if not isinstance(log, bool):
        raise _err(src, path, "int option log must be true or false", log,
                   "Write `log: true` or remove it.")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise _err(src, path, "int option step must be a positive integer", step,
                   "Write e.g. `step: 2`, or remove it for step 1.")
    if log and step != 1:  # optuna.distributions.IntDistribution raises on this
        raise _err(src, path, "int cannot combine log: true with step != 1 (Optuna forbids it)",
                   step, "Remove step, or remove log: true.")
    if log and low < 1:
        raise _err(src, path, "int with log: true needs low >= 1", [low, high],
                   "Use a lower bound of at least 1, or remove log: true.")
    if (high - low) % step:
        raise _err(src, path, f"int range high - low must be a multiple of step {step}",
                   [low, high], f"Use high {low + (high - low) // step * step} (Optuna would "
                   "lower it with only a warning).")
    return _Node("int", low=low, high=high, log=log, step=step)


def _iter_nodes(nodes: _Nodes, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, node in nodes:
        path = _join(prefix, name)
        yield path, node
        for branch, sub in node.value if node.kind == "branch" else ():
            yield from _iter_nodes(sub, _join(path, branch))


def _to_raw(nodes: _Nodes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, node in nodes:
        if node.kind == "constant":
            out[name] = node.value
        elif node.kind == "choice":
            out[name] = {"choice": list(node.value)}
        elif node.kind == "branch":
            out[name] = {"choice": {b: (_to_raw(sub) or None) for b, sub in node.value}}
        elif node.kind == "int":
            out[name] = {"int": [node.low, node.high], **({"log": True} if node.log else {}),
                         **({"step": node.step} if node.step != 1 else {})}
        else:
            out[name] = {node.kind: [node.low, node.high]}
    return out


def _fmt(v: Any, sci_below: float = 1e-3) -> str:
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    if isinstance(v, float) and v != 0 and not sci_below <= abs(v) < 1e6:
        mantissa, exponent = f"{v:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return str(v)


def _describe(node: Any) -> str:
    if node.kind == "constant":
        return f"constant {_fmt(node.value)}"
    if node.kind == "choice":
        return "choice: " + ", ".join(_fmt(c) for c in node.value)
    if node.kind == "branch":
        return "branch choice: " + ", ".join(b for b, _ in node.value)
    if node.kind == "int":
        extra = " (log)" if node.log else f" step {node.step}" if node.step != 1 else ""
        return f"int {node.low}..{node.high}{extra}"
    sci_below = 0.1 if node.log else 1e-3  # loguniform 1e-4..1e-2 reads better than ..0.01
    return f"{node.kind} {_fmt(node.low, sci_below)}..{_fmt(node.high, sci_below)}"


class Space:
    """An immutable, validated search space. Build it with `from_dict` or `load_space`."""

    __slots__ = ("_nodes", "_source")

    def __init__(self, nodes: _Nodes, source: str = "<dict>") -> None:
        object.__setattr__(self, "_nodes", nodes)
        object.__setattr__(self, "_source", source)

    def __setattr__(self, *_: Any) -> None:
        raise AttributeError("Space is immutable")

    __delattr__ = __setattr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (Space, (self._nodes, self._source))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._nodes == other._nodes

    def __hash__(self) -> int:
        return hash(self._nodes)

    def __repr__(self) -> str:
        return f"Space(source={self._source!r}, params={[name for name, _ in self._nodes]})"

    @property
    def source(self) -> str:
        """Where the space came from (file name or "<dict>"); prefixes error messages."""
        return self._source

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> Space:
        """Validate a raw search space (a mapping name -> node) and build a `Space`.

        Args:
            data: The raw structure, e.g. parsed YAML. Numeric strings in bounds are converted.
            source: Prefix of error messages (usually the file name).

        Returns:
            The validated space.

        Raises:
            SpaceError: On the first invalid node, naming its dotted key path.
        """
        return cls(_parse_space(data, "", source), source)

    def _walk(self, trial: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Sample via `trial`; return (full flat config, active constants only)."""
        config: dict[str, Any] = {}
        constants: dict[str, Any] = {}

        def walk(nodes: _Nodes, prefix: str) -> None:
            for name, node in nodes:
                path = _join(prefix, name)
                if node.kind == "constant":
                    config[path] = constants[path] = node.value
                elif node.kind == "choice":
                    config[path] = trial.suggest_categorical(path, list(node.value))
                elif node.kind == "branch":
                    chosen = trial.suggest_categorical(path, [b for b, _ in node.value])
                    config[path] = chosen
                    walk(dict(node.value)[chosen], _join(path, chosen))
                elif node.kind == "int":
                    config[path] = trial.suggest_int(path, node.low, node.high, step=node.step,
                                                     log=node.log)
                else:
                    config[path] = trial.suggest_float(path, node.low, node.high, log=node.log)

        walk(self._nodes, "")
        return config, constants

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample one configuration, define-by-run.

        Args:
            trial: An Optuna trial (or any object with its ``suggest_*`` methods). Optuna
                parameter names equal the configuration keys.

        Returns:
            The flat configuration: the sampled values and the active constants.
        """
        return self._walk(trial)[0]

    def define_by_run(self) -> Callable[[optuna.Trial], dict[str, Any]]:
        """Return ``f(trial)`` for ``ray.tune.search.optuna.OptunaSearch(space=f)``.

        ``f`` samples via the trial and returns ONLY the constants active under the chosen
        branches. Ray 2.60's ``OptunaSearch._suggest_from_define_by_run_func`` passes ``f`` an
        ``_OptunaTrialSuggestCaptor`` that forwards to the Optuna trial and records the
        return value of every ``suggest_*`` call under its ``name``; it then uses
        ``{**captured_values, **returned_dict}`` (a non-dict return or non-str keys raise
        TypeError; None means no constants), and ``suggest`` returns
        ``unflatten_dict(params)``, which splits keys on "/". Our keys never contain "/", so
        Tune receives exactly the flat configuration that `sample` returns.

        Returns:
            A picklable callable (Tune checkpoints the searcher with its space).
        """
        return functools.partial(_active_constants, self)

    def paths(self) -> list[str]:
        """Every key path a configuration can contain (all branches), in definition order."""
        return [path for path, _ in _iter_nodes(self._nodes)]

    def branches(self, key: str) -> list[str]:
        """Branch names of the branch choice at `key` (a top-level or dotted nested path).

        Returns:
            The branch names, or an empty list when `key` is not a branch choice.

        Raises:
            SpaceError: If `key` is not a key path of this space.
        """
        for path, node in _iter_nodes(self._nodes):
            if path == key:
                return [b for b, _ in node.value] if node.kind == "branch" else []
        raise _err(self._source, key, "no such parameter", key,
                   f"Use one of: {', '.join(self.paths())}.")

    def to_dict(self) -> dict[str, Any]:
        """The normalized raw structure, a fresh copy that `from_dict` round-trips.

        Float bounds are floats, int options appear only when not the default, and a
        branch without parameters maps to ``None``.
        """
        return _to_raw(self._nodes)

    def starting_point(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """The part of a suggested configuration that this space can start from.

        A task suggests configurations known to work well (its starting
        points); a user's space may not hold all of their keys or values.
        Walking the space as a trial would, this keeps each key of ``point``
        whose value the space could sample there: a choice among the
        choices, a number within the bounds (an integer on the step for
        ``int``), a branch among the branches (then its parameters are
        visited). Keys the space lacks, keys under an unchosen or invalid
        branch, constants and out-of-range values are left out; the sampler
        draws what is left out.

        Args:
            point: A flat configuration, possibly partial, e.g.
                ``{"model": "linear", "lr": 0.01}``.

        Returns:
            The kept keys and values, in the space's order.
        """
        kept: dict[str, Any] = {}

        def walk(nodes: _Nodes, prefix: str) -> None:
            for name, node in nodes:
                path = _join(prefix, name)
                if path not in point or node.kind == "constant":
                    continue
                value = point[path]
                if node.kind == "branch":
                    branches = dict(node.value)
                    if isinstance(value, str) and value in branches:
                        kept[path] = value
                        walk(branches[value], _join(path, value))
                elif _can_sample(node, value):
                    kept[path] = value if node.kind == "choice" else _number_as_sampled(node, value)

        walk(self._nodes, "")
        return kept

    def rows(self) -> list[tuple[str, str]]:
        """(key path, description) per node in definition order, for ``space show``.

        Descriptions look like "int 32..256 (log)", "loguniform 1e-4..1e-2", "choice: a, b",
        "constant 5" or "branch choice: resmlp, ft_transformer".
        """
        return [(path, _describe(node)) for path, node in _iter_nodes(self._nodes)]


def _can_sample(node: _Node, value: Any) -> bool:
    """Whether sampling ``node`` can give ``value``."""
    if node.kind == "choice":
        return any(value == c and type(value) is type(c) for c in node.value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if node.kind == "int":
        return number and float(value).is_integer() and node.low <= value <= node.high and (
            (int(value) - node.low) % node.step == 0
        )
    return number and math.isfinite(value) and node.low <= value <= node.high


def _number_as_sampled(node: _Node, value: int | float) -> int | float:
    """``value`` with the type Optuna samples for ``node``: ``int`` or ``float``."""
    return int(value) if node.kind == "int" else float(value)


def _active_constants(space: Space, trial: Any) -> dict[str, Any]:
    return space._walk(trial)[1]


def branch_params(config: Mapping[str, Any], key: str) -> tuple[str, dict[str, Any]]:
    """Split the chosen branch of the branch choice `key` out of a flat configuration.

    Args:
        config: A sampled flat configuration.
        key: Key path of a branch choice, e.g. "model".

    Returns:
        ``(branch, params)``: the chosen branch's keys with the ``"<key>.<branch>."``
        prefix stripped; deeper keys keep their remaining dotted suffix, e.g.
        ``("resmlp", {"hidden": 64, "act": "gelu", "act.gelu.approximate": "tanh"})``.

    Raises:
        KeyError: If `key` is not in `config`.
    """
    if key not in config:
        raise KeyError(f"{key!r} is not in the configuration (keys: {', '.join(config)})")
    branch = config[key]
    prefix = f"{key}{SEPARATOR}{branch}{SEPARATOR}"
    return branch, {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads 1e-4 as a float (as YAML 1.2 does) and rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: list[Any] = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<` keys may legitimately override
                break
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                        key_node.start_mark)
            seen.append(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(  # YAML 1.1 floats need a '.', so PyYAML leaves 1e-4 a string
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _read_yaml(path: str | os.PathLike[str], what: str) -> tuple[str, Any]:
    """Returns ``(source name, parsed YAML)``; raises SpaceError naming the file."""
    src = os.fspath(path)
    try:
        with open(src, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeError) as exc:
        reason = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
        raise _err(src, "", f"cannot read the {what} file", reason,
                   "Check the path and that it is a readable UTF-8 file.") from exc
    try:
        return src, yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _err(src, "", f"invalid YAML{where}", getattr(exc, "problem", None) or str(exc),
                   "Fix the YAML syntax (quote values containing ': ' or ' #').") from exc


def load_space(path: str | os.PathLike[str]) -> Space:
    """Read and validate a YAML search-space file.

    Args:
        path: The YAML file. Numbers like ``1e-4`` are read as floats.

    Returns:
        The validated space; error messages start with the file name.

    Raises:
        SpaceError: If the file is missing, unreadable, not valid YAML, or not a valid space.
    """
    src, data = _read_yaml(path, "search-space")
    return Space.from_dict(data, source=src)


def load_points(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a YAML list of flat configurations (a task's starting points).

    Each item maps key paths, as a sampled configuration has them
    (``model.resmlp.hidden``), to scalar values.

    Raises:
        SpaceError: If the file is unreadable, not valid YAML, or not such a list.
    """
    src, data = _read_yaml(path, "starting-points")
    if not isinstance(data, list):
        raise _err(src, "", "starting points must be a YAML list of configurations", type(data).__name__,
                   "Write one `- {key: value, ...}` item per configuration.")
    for i, point in enumerate(data):
        if not isinstance(point, Mapping) or not all(isinstance(k, str) for k in point):
            raise _err(src, f"[{i}]", "a starting point must map key paths to values", point,
                       "Write e.g. `- {model: linear, lr: 0.01}`.")
        for key, value in point.items():
            if value is not None and not isinstance(value, _SCALARS):
                raise _err(src, f"[{i}].{key}", "starting-point values must be scalars", value,
                           "Use flat key paths such as model.resmlp.hidden: 64.")
    return [dict(point) for point in data]
