"""Reading values out of a sampled (flat) configuration, with one-line errors.

Tasks turn the flat configuration a trial receives into their own typed
training options with these helpers, so that a bad value names its key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from finegrain_automl.space import SpaceError

__all__ = ["config_number", "require_config"]


def config_number(config: Mapping[str, Any], key: str, default: float, *, integer: bool = False) -> Any:
    """Returns ``config[key]`` (or ``default``) as a finite float, or an int.

    Raises:
        SpaceError: The value is not a finite number (an integer when asked).
    """
    value = config.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    require_config(
        ok, key, "must be an integer" if integer else "must be a finite number", value,
        "Fix the value in the search space.",
    )
    return int(value) if integer else float(value)


def require_config(condition: bool, key: str, rule: str, value: Any, fix: str) -> None:
    """Raises a one-line :class:`SpaceError` for ``key`` unless ``condition`` holds."""
    if not condition:
        raise SpaceError(f"config: {key}: {rule}, got {value!r}. {fix}", path=key)
