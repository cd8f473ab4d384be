"""The policy scenarios pass, through pytest and through the command, and cover every rule."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cases import rules
from cases.rules import national
from cases.scenarios import run_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = Path(__file__).parent / "scenarios"
POLICY = ROOT.parent / "shared" / "POLICY.md"

RULE_IDS = (
    [f"ID-{n}" for n in range(1, 7)]
    + [f"QL-{n}" for n in range(1, 6)]
    + [f"SL-{n}" for n in range(1, 7)]
    + [f"FL-{n}" for n in range(1, 11)]
    + [f"TL-{n}" for n in range(1, 6)]
    + [f"ST-{n}" for n in range(1, 8)]
    + ["GX-1"]
    + [f"RM-{n}" for n in range(1, 6)]
    + [f"MV-{n}" for n in range(1, 7)]
)
# POLICY.md's rules that the portal does not implement yet; any rule POLICY.md gains
# fails the test below until it is here or implemented.
NOT_YET_IMPLEMENTED: set[str] = set()


@pytest.mark.django_db
def test_policy_scenario(scenario_case, regions):
    _path, scenario, error = scenario_case
    assert error is None, error.line()
    result = run_scenario(scenario)
    assert result.status == "PASS", result.line()


@pytest.mark.django_db
def test_command_runs_the_repository_scenarios(regions):
    out = io.StringIO()
    call_command("policy_scenarios", str(SCENARIO_DIR), stdout=out)
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\d+ passed, 0 failed", lines[-1])
    assert all(line.startswith("PASS ") for line in lines[:-1])


@pytest.mark.django_db
def test_command_reports_failures_and_exits_non_zero(regions, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        """
scenarios:
  - name: 预期错误的情景
    today: 2025-03-01
    when:
      - register_patient: {id_number: "451202198001011234", name: 校验码错, insurance: resident, region: "451202"}
        expect: {ok: true}
  - name: 引用不存在
    when:
      - check_settlement: {patient: nobody, institution: H45120200001, disease: M03900, date: 2025-03-01}
        expect: {outcome: direct}
""",
        encoding="utf-8",
    )
    (tmp_path / "broken.yaml").write_text("scenarios: [", encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("policy_scenarios", str(tmp_path), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("FAIL 预期错误的情景: step 1: ok / refused: ID-1")
    assert lines[1].startswith("ERROR 引用不存在")
    assert lines[2].startswith("ERROR ")
    assert "broken.yaml" in lines[2]
    assert lines[-1] == "0 passed, 3 failed"


def enforced_rule_ids() -> dict[str, set[str]]:
    """Rule IDs the rules package decides, read from its code (docstrings and comments
    do not count): the first argument of every ``Violation(...)`` and the arguments of
    every ``@implements(...)``, by module."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "cases" / "rules").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            arguments = node.args[:1] if name == "Violation" else node.args
            if name in ("Violation", "implements"):
                for argument in arguments:
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        found.setdefault(argument.value, set()).add(path.stem)
    return found


def test_every_rule_id_is_enforced_by_the_rules_and_in_a_scenario():
    enforced = enforced_rule_ids()
    scenarios = "".join(p.read_text(encoding="utf-8") for p in SCENARIO_DIR.glob("*.yaml"))
    assert [r for r in RULE_IDS if r not in enforced] == []
    assert [r for r in RULE_IDS if r not in scenarios] == []
    # The portal's own exchange rules with the national platform (docs/national-exchange.md).
    own = set(national.EXCHANGE_RULES)
    assert set(enforced) - own <= set(RULE_IDS), "a rule ID that POLICY.md does not have"


def test_the_implements_marks_are_the_ones_read_from_the_code():
    marked = {
        rule
        for path in (ROOT / "cases" / "rules").glob("*.py")
        for rule in re.findall(r"@implements\(([^)]*)\)", path.read_text(encoding="utf-8"))
    }
    assert marked
    assert set(rules.IMPLEMENTED) <= set(enforced_rule_ids())


@pytest.mark.skipif(not POLICY.exists(), reason="shared/POLICY.md is not beside the checkout")
def test_rule_list_matches_policy_md():
    text = POLICY.read_text(encoding="utf-8")
    found = set(re.findall(r"\*\*([A-Z]{2}-\d+)", text))
    assert found == set(RULE_IDS) | NOT_YET_IMPLEMENTED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scenario", "named"),
    [
        ({"name": "x", "today": "2025-03-01", "wehn": []}, "wehn"),
        ({"name": "x", "given": {"patiens": []}}, "patiens"),
        ({"name": "x", "given": {"patients": [{"ref": "p1", "idnumber": "1"}]}}, "idnumber"),
        ({"name": "x", "given": {"diseases": [{"code": "M03900", "validty": "open"}]}}, "validty"),
        ({"name": "x", "given": {"parameters": [{"name": "TEMP_FILING_MONTHS", "val": 7}]}}, "val"),
        (
            {"name": "x", "when": [{"run_reminders": {"date": "2025-03-01", "force": True}}]},
            "force",
        ),
        ({"name": "x", "when": [{"run_reminder": {"date": "2025-03-01"}}]}, "run_reminder"),
        (
            {
                "name": "x",
                "when": [{"run_reminders": {"date": "2025-03-01"}, "expect": {"ok": True}}],
            },
            "ok",
        ),
    ],
)
def test_an_unknown_key_anywhere_is_an_error_naming_it(regions, scenario, named):
    result = run_scenario(scenario)
    assert result.status == "ERROR"
    assert named in result.detail


@pytest.mark.django_db
def test_x_keys_are_free_and_a_bad_parameter_value_is_an_error(regions):
    assert run_scenario({"name": "x", "x-base": {"anything": 1}, "when": []}).status == "PASS"
    bad = {
        "name": "x",
        "given": {"parameters": [{"name": "TEMP_FILING_MONTHS", "value": 3, "from": "2025-01-01"}]},
    }
    result = run_scenario(bad)
    assert result.status == "ERROR"
    assert "TEMP_FILING_MONTHS" in result.detail
