"""The hook contract: every hook documented (in its docstring and in the plugin
author's guide, with the same arguments), and tested somewhere."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pluggy

from finegrain_automl import hookspecs


def _hooks():
    return [(name, fn) for name, fn in vars(hookspecs).items()
            if name.startswith("fg_automl_") and callable(fn)]


def test_every_hook_is_a_spec_with_its_arguments_documented() -> None:
    marker = pluggy.HookspecMarker(hookspecs.PROJECT_NAME).project_name
    hooks = _hooks()
    assert {name for name, _ in hooks} == {"fg_automl_tasks", "fg_automl_model_families", "fg_automl_search_start",
                                           "fg_automl_trial_result", "fg_automl_search_end"}
    for name, fn in hooks:
        assert hasattr(fn, f"{marker}_spec"), name
        doc = inspect.getdoc(fn) or ""
        assert doc.startswith("Called "), f"{name}: say when it is called"
        for parameter in inspect.signature(fn).parameters:
            assert f"{parameter}:" in doc, f"{name}: argument {parameter} is not described"


def test_every_hook_is_exercised_by_a_test() -> None:
    tests = Path(__file__).parent
    sources = "".join(p.read_text() for p in tests.glob("test_*.py") if p.name != Path(__file__).name)
    for name, _ in _hooks():
        assert f"def {name}(" in sources, f"no test implements {name}"


def test_the_plugin_guide_documents_every_hook_with_its_arguments() -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "plugin-guide.md").read_text()
    rows = dict(re.findall(r"^\| `(fg_automl_\w+)\(([^)]*)\)` \|", guide, flags=re.MULTILINE))
    for name, fn in _hooks():
        assert name in rows, f"docs/plugin-guide.md has no row for {name} in its hook table"
        documented = [arg.strip() for arg in rows[name].split(",") if arg.strip()]
        assert documented == list(inspect.signature(fn).parameters), (
            f"docs/plugin-guide.md lists {name}({rows[name]}), the hookspec takes "
            f"{list(inspect.signature(fn).parameters)}")
    assert set(rows) <= {name for name, _ in _hooks()}, "the guide documents a hook that does not exist"
