"""Collects every scenario of tests/policy/scenarios/*.yaml as its own test."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.scenarios import iter_scenarios

SCENARIO_DIR = Path(__file__).parent / "scenarios"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario_case" in metafunc.fixturenames:
        cases = []
        ids = []
        for path, scenario, error in iter_scenarios([SCENARIO_DIR]):
            cases.append((path, scenario, error))
            name = scenario.get("name") if scenario else "load error"
            ids.append(f"{path.stem}: {name}")
        metafunc.parametrize("scenario_case", cases, ids=ids)
