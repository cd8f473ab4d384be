"""SL-1..6: selected institutions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cases.rules.base import (
    MUNICIPALITIES,
    InstitutionFacts,
    Period,
    Violation,
    implements,
    last_day,
)
from cases.rules.choices import FilingStatus, FilingType, SelectionScope
from cases.rules.parameters import Parameters

# --- SL: selected institutions ------------------------------------------------------------


@implements("SL-3")
def selection_scope(patient_prefecture: str, institution: InstitutionFacts) -> SelectionScope:
    """SL-3: computed from the places, never typed."""
    if institution.prefecture == patient_prefecture:
        return SelectionScope.IN_CITY
    if institution.in_guangxi:
        return SelectionScope.IN_REGION
    return SelectionScope.CROSS_PROVINCE


@dataclass(frozen=True)
class SelectionFacts:
    id: int
    institution: str
    slot: int
    period: Period


@dataclass(frozen=True)
class FilingFacts:
    """A filing, or a cross-province transfer letter counted as one (TL-5)."""

    id: int
    kind: str  # "filing" | "letter"
    type: str  # long_term | temporary
    destination: str  # PPCC00 prefecture, or a municipality's province code
    period: Period
    status: str = FilingStatus.ACTIVE

    def covers_place(self, institution: InstitutionFacts) -> bool:
        if self.destination in MUNICIPALITIES:
            return institution.province == self.destination
        return institution.prefecture == self.destination

    def valid_on(self, day: dt.date) -> bool:
        # By its dates alone: a cancelled or changed filing's period already ends on the
        # day it was cancelled or changed (FL-10), and EXPIRED is only the job's mark.
        return self.period.covers(day)


def find_basis(
    institution: InstitutionFacts, day: dt.date, bases: Sequence[FilingFacts]
) -> FilingFacts | None:
    """SL-4/ST-6: a filing or letter valid on ``day`` that covers the institution's place.

    Filings come first: a long-term filing is the more durable basis.
    """
    candidates = [b for b in bases if b.valid_on(day) and b.covers_place(institution)]
    candidates.sort(key=lambda b: (b.kind != "filing", b.type != FilingType.LONG_TERM, b.id))
    return candidates[0] if candidates else None


@dataclass(frozen=True)
class SelectionCheck:
    violations: list[Violation]
    scope: SelectionScope
    slot: int
    basis: FilingFacts | None
    notices: list[str] = field(default_factory=list)


@implements("SL-5")
def check_selection(
    *,
    patient_prefecture: str,
    institution: InstitutionFacts,
    start: dt.date,
    existing: Sequence[SelectionFacts],
    bases: Sequence[FilingFacts],
    params: Parameters,
) -> SelectionCheck:
    violations = []
    notices = []
    scope = selection_scope(patient_prefecture, institution)
    new_period = Period(start)

    overlapping = [s for s in existing if s.period.overlaps(new_period)]
    if any(s.institution == institution.code for s in overlapping):
        violations.append(
            Violation("SL-6", "该机构已是参保人的选点机构，不能重复选择。", "institution")
        )
    if most_active(existing, new_period) >= params.max_selected_institutions:
        violations.append(
            Violation(
                "SL-1",
                f"参保人选点机构已达上限（{params.max_selected_institutions}家，"
                "市内、区内异地、跨省合计），请先终止一家再新增。",
                "institution",
            )
        )
    if not institution.designated_on(start):
        violations.append(
            Violation("SL-2", "该机构在选点开始日不是有效的定点医疗机构。", "institution")
        )
    basis = None
    if scope == SelectionScope.CROSS_PROVINCE:
        basis = find_basis(institution, start, bases)
        if basis is None:
            violations.append(
                Violation(
                    "SL-4",
                    "跨省选点需在开始日有有效的跨省异地就医备案（目的地覆盖该机构所在地）"
                    "或转诊证明。",
                    "institution",
                )
            )
    elif scope == SelectionScope.IN_REGION:
        notices.append("SL-5：区内异地选点无需备案；建议办理转诊或备案以保障待遇。")
    return SelectionCheck(violations, scope, slot_number(overlapping), basis, notices)


def most_active(existing: Sequence[SelectionFacts], period: Period) -> int:
    """SL-1: the most selections active on any one day of ``period``. The count changes
    only where a selection starts, so those days (and the period's first) are enough."""
    days = {period.start} | {s.period.start for s in existing if period.covers(s.period.start)}
    return max(sum(1 for s in existing if s.period.covers(day)) for day in days)


def slot_number(overlapping: Sequence[SelectionFacts]) -> int:
    """The slot shown to clerks (定点排序号, the platform's ``fix_srt_no``): the lowest
    number no selection overlapping the new one holds. An ordering, never a limit: after
    selections were ended and back-dated ones entered it may exceed the SL-1 limit, where
    the count (most_active) still allows the selection."""
    used = {s.slot for s in overlapping}
    return next(n for n in range(1, len(used) + 2) if n not in used)


def check_selection_end(
    *, start: dt.date, current_end: dt.date | None, end: dt.date, reason: str
) -> list[Violation]:
    violations = []
    if current_end is not None:
        violations.append(Violation("SL-6", "该选点已终止，不能再次终止。"))
    if end < start:
        message = f"有效期至最早为 {last_day(start)}（开始日前一天，即从未生效）。"
        violations.append(Violation("SL-6", message, "end"))
    if not reason.strip():
        violations.append(Violation("SL-6", "终止选点须填写原因。", "end_reason"))
    return violations
