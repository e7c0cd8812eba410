"""Tests mirror the package: every core module has its own test module."""

from __future__ import annotations

from pathlib import Path

import finegrain_automl

#: Core modules whose tests live under another name.
_TESTED_AS = {"testing": "test_conformance", "search": "test_search", "figures": "test_report"}


def test_every_core_module_has_a_test_module() -> None:
    core = Path(finegrain_automl.__file__).parent
    tests = Path(__file__).parent
    modules = [p.stem for p in core.glob("*.py") if p.stem not in ("__init__", "__main__")]
    modules += [p.name for p in core.iterdir() if (p / "__init__.py").is_file()]
    missing = [m for m in sorted(modules) if not (tests / f"{_TESTED_AS.get(m, f'test_{m}')}.py").is_file()]
    assert not missing, f"core modules without tests/test_<module>.py: {missing}"
