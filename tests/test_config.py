"""Reading numbers out of a sampled configuration, with errors that name the key."""

from __future__ import annotations

import math

import pytest

from finegrain_automl.config import config_number, require_config
from finegrain_automl.space import SpaceError


def test_numbers_and_defaults() -> None:
    assert config_number({"lr": 0.01}, "lr", 1.0) == 0.01
    assert config_number({}, "lr", 1.0) == 1.0
    value = config_number({"epochs": 8.0}, "epochs", 1, integer=True)
    assert value == 8 and isinstance(value, int)


@pytest.mark.parametrize(
    ("value", "integer", "rule"),
    [("fast", False, "must be a finite number"), (math.inf, False, "must be a finite number"),
     (True, False, "must be a finite number"), (2.5, True, "must be an integer")],
)
def test_bad_values_name_the_key_and_the_value(value, integer, rule) -> None:
    with pytest.raises(SpaceError) as error:
        config_number({"k": value}, "k", 1, integer=integer)
    assert str(error.value).startswith(f"config: k: {rule}, got {value!r}.") and error.value.path == "k"


def test_require_config_passes_or_raises_one_line() -> None:
    require_config(True, "k", "rule", 1, "fix")
    with pytest.raises(SpaceError, match=r"^config: k: must be positive, got -1\. Use 1\.$"):
        require_config(False, "k", "must be positive", -1, "Use 1.")
