"""Options a task declares for its data reader, and how the command line fills them.

A task lists its :class:`DataOption` objects in ``Task.data_options``
(``--text-column`` for text; ``--user-column`` and ``--item-column`` for a
recommender). ``fg-automl search --task T`` and ``fg-automl predict`` accept
them as ordinary options, validated here against that declaration, so the CLI
itself names no task and no task option. The parsed values travel to the
task in :attr:`~finegrain_automl.data.DataSource.options`, are recorded in the
run directory, and are reused by ``predict`` unless given again.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finegrain_automl.errors import UsageError

__all__ = ["DataOption", "describe_options", "parse_option_tokens", "resolve_options"]

_TYPES: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", bool: "(flag)"}


@dataclass(frozen=True, kw_only=True)
class DataOption:
    """One option of a task's data reader.

    Attributes:
        name: Python name, ``text_column``; on the command line ``--text-column``.
        type: ``str``, ``int``, ``float`` or ``bool`` (a flag: ``--x`` / ``--no-x``).
        default: Value when the option is not given (``None``: the reader decides).
        help: One line for ``fg-automl plugins --task T``.
        required: The option must be given whenever ``--data`` is.
        predict: ``fg-automl predict`` accepts it too; otherwise the value
            recorded with the run is used as it is.
        builtin: The option applies to the built-in data too (a ranking
            metric's cut-off ``k``, not a column name): ``search`` accepts it
            without ``--data`` and passes it to ``Task.load_default(options=...)``.
        search: ``fg-automl search`` accepts it; ``False`` (with ``predict``)
            for an option of ``predict`` alone, such as where to draw the
            predictions (``Task.after_predict`` reads it).
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    required: bool = False
    predict: bool = False
    builtin: bool = False
    search: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"A data option's name must be a lower-case Python identifier, got {self.name!r}.")
        if self.type not in _TYPES:
            raise ValueError(f"Data option {self.name!r} has type {self.type!r}; use one of str, int, float, bool.")
        if not (self.search or self.predict):
            raise ValueError(f"Data option {self.name!r} applies to neither search nor predict; set one of them.")
        if self.required and not self.search:
            raise ValueError(f"Data option {self.name!r} is required with --data of search but search=False.")

    @property
    def flag(self) -> str:
        """The command-line spelling, ``--text-column``."""
        return "--" + self.name.replace("_", "-")

    def usage(self) -> str:
        """``--text-column TEXT`` (``--flag/--no-flag`` for a flag)."""
        if self.type is bool:
            return f"{self.flag}/--no-{self.flag[2:]}"
        return f"{self.flag} {_TYPES[self.type]}"

    def parse(self, value: str | bool, *, task_name: str) -> Any:
        """The typed value of a raw command-line ``value``; a :class:`UsageError` if it has the wrong type."""
        if isinstance(value, bool) and self.type is not bool:
            raise UsageError(f"{self.flag} of task {task_name!r} needs a value. Usage: {self.usage()}.")
        if self.type is bool:
            if isinstance(value, bool):
                return value
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
        elif not isinstance(value, bool):
            try:
                return self.type(value)
            except ValueError:
                pass
        expected = {bool: "a flag (no value) or true/false", int: "a whole number", float: "a number"}.get(
            self.type, "a value"
        )
        raise UsageError(
            f"{self.flag} of task {task_name!r} takes {expected}, but got {value!r}. Usage: {self.usage()}."
        )


def parse_option_tokens(tokens: Sequence[str]) -> dict[str, str | bool]:
    """Reads ``--name value``, ``--name=value``, ``--flag`` and ``--no-flag``
    tokens (what the CLI did not recognise) into ``{"name": value}``.

    A ``--name`` followed by nothing or by another ``--option`` is a flag
    (``True``; ``--no-name`` gives ``False``). Raises a :class:`UsageError` for
    a token that is not an option, or one given twice.
    """
    given: dict[str, str | bool] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise UsageError(f"Unexpected argument {token!r}; options are written --name value.")
        key, sep, value = token[2:].partition("=")
        raw: str | bool
        if sep:
            raw = value
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            raw = tokens[i + 1]
            i += 1
        elif key.startswith("no-"):
            key, raw = key[3:], False
        else:
            raw = True
        name = key.replace("-", "_")
        if name in given:
            raise UsageError(f"--{key} is given twice; give it once.")
        given[name] = raw
        i += 1
    return given


def resolve_options(
    declared: Sequence[DataOption],
    given: Mapping[str, str | bool],
    *,
    task_name: str,
    command: str,
    with_data: bool,
    recorded: Mapping[str, Any] | None = None,
    other_options: Iterable[str] = (),
) -> dict[str, Any]:
    """Checks the ``given`` options against the task's ``declared`` ones and
    returns the typed values, defaults filled in (``None`` defaults left out).

    Args:
        declared: ``Task.data_options``.
        given: Raw values by name (:func:`parse_option_tokens`).
        task_name: For messages.
        command: ``"search"`` or ``"predict"``; ``predict`` accepts only the
            options declared with ``predict=True``.
        with_data: A data file was given (required options apply; without
            one, the built-in data, only the options declared ``builtin`` apply).
        recorded: Values saved with the run (``predict``), overridden by ``given``.
        other_options: The command's own option names, to suggest for a typo.

    Raises:
        UsageError: An undeclared option (the message lists what the task
            accepts), a missing required one, an option without ``--data``,
            or a value of the wrong type.
    """
    by_name = {option.name: option for option in declared}
    accepted = [o for o in declared if (o.predict if command == "predict" else o.search)]
    for name in given:
        if command != "predict" and name in by_name and not by_name[name].search:
            flag = by_name[name].flag
            raise UsageError(f"{flag} of task {task_name!r} applies to fg-automl predict only; remove it from "
                             "fg-automl search.")
        if name not in by_name or by_name[name] not in accepted:
            raise UsageError(_unknown(name, accepted, task_name=task_name, command=command, others=other_options))
    file_only = [name for name in given if not by_name[name].builtin]
    if file_only and not with_data:
        flag = by_name[file_only[0]].flag
        raise UsageError(
            f"{flag} only applies with --data FILE; the built-in data set has its own columns. "
            f"Remove {flag} or pass --data."
        )
    values: dict[str, Any] = {}
    for option in declared:
        if command != "predict" and not option.search:
            continue
        if option.name in given:
            values[option.name] = option.parse(given[option.name], task_name=task_name)
        elif recorded is not None and option.name in recorded:
            values[option.name] = recorded[option.name]
        elif option.required and with_data and command == "search":
            raise UsageError(
                f"Task {task_name!r} needs {option.usage()} with --data ({option.help or 'see its README'})."
            )
        elif option.default is not None:
            values[option.name] = option.default
    return values


def describe_options(declared: Sequence[DataOption], *, task_name: str) -> str:
    """``--text-column TEXT, --min-rating NUMBER`` or a sentence saying there are none."""
    if not declared:
        return f"task {task_name!r} declares no data options"
    return f"task {task_name!r} accepts " + ", ".join(option.usage() for option in declared)


def _unknown(name: str, accepted: Sequence[DataOption], *, task_name: str, command: str, others: Iterable[str]) -> str:
    flag = "--" + name.replace("_", "-")
    candidates = [o.flag for o in accepted] + [f"--{n.replace('_', '-')}" for n in others]
    close = difflib.get_close_matches(flag, candidates, n=1, cutoff=0.75)
    hint = f" Did you mean {close[0]}?" if close else ""
    where = "fg-automl predict" if command == "predict" else "fg-automl search"
    listing = describe_options(accepted, task_name=task_name)
    listing = listing[0].upper() + listing[1:]
    see = f"`fg-automl plugins --task {task_name}` describes them, " if accepted else ""
    return f"{flag} is not an option of {where} for task {task_name!r}.{hint} {listing}; {see}`{where} --help` lists the others."
