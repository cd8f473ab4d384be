"""ST-1..7 and GX-1: the direct-settlement check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cases.rules.base import DiseaseFacts, InstitutionFacts, Violation, implements
from cases.rules.choices import Outcome
from cases.rules.parameters import Parameters
from cases.rules.qualifications import QualificationFacts
from cases.rules.selections import FilingFacts, SelectionFacts, find_basis

# --- ST: direct-settlement check ----------------------------------------------------------


NOT_COVERED_RULES = ("ID-4", "ST-1", "ST-2", "ST-3")


@dataclass(frozen=True)
class SettlementAnswer:
    outcome: Outcome
    failed: list[Violation]
    passed: list[str]


@implements("ST-1", "ST-2", "ST-3", "ST-4", "ST-5", "ST-6", "ST-7", "GX-1")
def check_settlement(
    *,
    day: dt.date,
    disease: DiseaseFacts,
    institution: InstitutionFacts,
    patient_prefecture: str,
    qualifications: Sequence[QualificationFacts],
    selections: Sequence[SelectionFacts],
    bases: Sequence[FilingFacts],
    params: Parameters,
) -> SettlementAnswer:
    """ST-1..7: every rule is evaluated, in order; ST-1..3 → NOT_COVERED, ST-4..6 → MANUAL."""
    failed: list[Violation] = []
    passed: list[str] = []

    def rule(rule_id: str, ok: bool, message: str) -> None:
        if ok:
            passed.append(rule_id)
        else:
            failed.append(Violation(rule_id, message))

    if disease.listings:
        # NX-5: a disease the platform's catalogue in force that day does not hold.
        rule(
            "ID-4",
            disease.in_catalogue_on(day),
            f"病种“{disease.name}”在{day}不在医保信息平台的门特病种目录内。",
        )
    rule(
        "ST-1",
        any(q.disease == disease.code and q.approved_on(day) for q in qualifications),
        f"参保人在{day}没有病种“{disease.name}”有效的门特认定资格。",
    )
    rule(
        "ST-2",
        any(s.institution == institution.code and s.period.covers(day) for s in selections),
        f"该机构在{day}不是参保人的门特选点机构。",
    )
    rule("ST-3", institution.designated_on(day), f"该机构在{day}不是有效的定点医疗机构。")
    outside = not institution.in_guangxi
    networked = institution.networked_cross_province if outside else institution.networked_in_region
    rule(
        "ST-4",
        disease.code in networked,
        "该机构尚未开通此病种的" + ("跨省" if outside else "区内") + "门特联网结算。",
    )
    if outside:
        rule(
            "ST-5",
            disease.cross_province,
            f"病种“{disease.name}”不在国家跨省门诊慢特病直接结算病种范围内。",
        )
        rule(
            "ST-6",
            find_basis(institution, day, bases) is not None,
            f"{day}没有覆盖该机构所在地的有效跨省备案或转诊证明（参保地可能降低报销比例）。",
        )
    elif institution.prefecture != patient_prefecture:
        rule(
            "ST-7",
            day >= params.gx_filing_free_since,
            f"{params.gx_filing_free_since} 前区内异地就医须备案，本系统不保存区内备案。",
        )
    if any(v.rule in NOT_COVERED_RULES for v in failed):
        outcome = Outcome.NOT_COVERED
    elif failed:
        outcome = Outcome.MANUAL
    else:
        outcome = Outcome.DIRECT
    return SettlementAnswer(outcome, failed, passed)
