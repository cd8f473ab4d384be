"""Moving between bureaus (参保地变更): MV-1..MV-6.

A patient's insured county is a dated history: one span per county, half-open, the first
one open at its start (the county the patient was registered in). Every rule that depends
on the insured county asks for the county in force on the date in question (MV-6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cases.rules.base import Period, Violation, implements
from cases.rules.choices import QualificationStatus, SelectionScope

MOVE_REASON = "参保地变更"
MOVED_OUT_REASON = "转出广西"


@dataclass(frozen=True)
class InsuredSpan:
    """The insured county (and its prefecture) from ``start`` (None: since registration)
    until ``end`` (None: still)."""

    county: str
    prefecture: str
    start: dt.date | None = None
    end: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)


@implements("MV-6")
def insured_on(spans: Sequence[InsuredSpan], day: dt.date) -> InsuredSpan | None:
    """MV-6: the insured county in force on ``day``. Before the first span, the first one
    (a record older than the registration was kept by the county registered); after a
    move out of Guangxi, None."""
    for span in spans:
        if span.covers(day):
            return span
    ordered = sorted(spans, key=lambda s: s.start or dt.date.min)
    if ordered and ordered[0].start is not None and day < ordered[0].start:
        return ordered[0]
    return None


@implements("MV-1", "MV-2")
def check_move_request(
    *,
    owned_here: bool,
    region_served: bool,
    effective: dt.date | None,
    voucher: str,
    today: dt.date,
    previous_move: dt.date | None,
    pending: bool,
) -> list[Violation]:
    """MV-1 and MV-2: what a receiving bureau may ask for."""
    violations = []
    if owned_here:
        violations.append(
            Violation("MV-1", "该参保人已由本经办机构经办，无需申请转入。", "cert_number")
        )
    if not region_served:
        violations.append(Violation("MV-1", "新参保地须为本经办机构服务的县区。", "region"))
    if not voucher.strip():
        violations.append(Violation("MV-1", "请填写转移接续凭证号。", "voucher"))
    if effective is None:
        violations.append(Violation("MV-2", "请填写生效日期。", "effective"))
    else:
        if effective > today:
            violations.append(Violation("MV-2", "生效日期不能晚于今天。", "effective"))
        if previous_move is not None and effective < previous_move:
            violations.append(
                Violation(
                    "MV-2",
                    f"生效日期不能早于该参保人上一次参保地变更（{previous_move}）。",
                    "effective",
                )
            )
    if pending:
        violations.append(
            Violation("MV-2", "该参保人已有一份待答复的转入申请，请等待答复。", "cert_number")
        )
    return violations


def check_move_answer(*, pending: bool, effective: dt.date, today: dt.date) -> list[Violation]:
    if not pending:
        return [Violation("MV-1", "该申请已答复，不能再次答复。")]
    if effective > today:
        return [Violation("MV-2", "生效日期不能晚于今天。", "effective")]
    return []


def check_refusal(reason: str) -> list[Violation]:
    if not reason.strip():
        return [Violation("MV-1", "拒绝转入申请须填写理由。", "reason")]
    return []


def check_move_out(
    *, day: dt.date | None, today: dt.date, previous_move: dt.date | None, moved_out: bool
) -> list[Violation]:
    """MV-5: the owning bureau records a move out of Guangxi with its date."""
    if moved_out:
        return [Violation("MV-5", "该参保人已转出广西。")]
    if day is None:
        return [Violation("MV-5", "请填写转出日期。", "day")]
    violations = []
    if day > today:
        violations.append(Violation("MV-2", "转出日期不能晚于今天。", "day"))
    if previous_move is not None and day < previous_move:
        violations.append(
            Violation("MV-2", f"转出日期不能早于上一次参保地变更（{previous_move}）。", "day")
        )
    return violations


def check_not_moved_out(moved_out: bool) -> list[Violation]:
    """MV-5: a patient who moved out of Guangxi is read-only."""
    if moved_out:
        return [Violation("MV-5", "该参保人已转出广西，档案只读；转回须由新参保地申请转入。")]
    return []


# --- what a move does to each record (MV-3, MV-4, MV-5) -----------------------------------------


@dataclass(frozen=True)
class RecordFacts:
    """A record as a move sees it."""

    id: int
    kind: str  # qualification | selection | filing | letter
    period: Period
    status: str = ""
    scope: str = ""  # a selection's
    institution_prefecture: str = ""  # a selection's institution's prefecture
    institution_province: str = ""


@dataclass
class Step:
    """One record's fate: ``carry`` (unchanged), ``review`` (moves, still to be
    reviewed), ``end`` (ends on the date), ``rescope`` (a selection's scope changes from
    the date: it ends and the same institution continues with ``scope``)."""

    record: RecordFacts
    action: str
    scope: str = ""
    label: str = ""


@dataclass
class MovePlan:
    steps: list[Step] = field(default_factory=list)

    def of(self, action: str) -> list[Step]:
        return [s for s in self.steps if s.action == action]


def _open_after(period: Period, day: dt.date) -> bool:
    """Still applies on or after ``day``, by its dates alone (ends after it, or open)."""
    return not period.is_empty and (period.end is None or period.end > day)


def _ends(day: dt.date, reason: str) -> str:
    """What a clerk reads: the last valid day (有效期至), the day before ``day``."""
    return f"有效期至 {day - dt.timedelta(days=1)}（{reason}）"


def new_scope(institution_prefecture: str, institution_province: str, prefecture: str) -> str:
    if institution_province != "45":
        return SelectionScope.CROSS_PROVINCE
    if institution_prefecture == prefecture:
        return SelectionScope.IN_CITY
    return SelectionScope.IN_REGION


@implements("MV-3", "MV-4")
def move_plan(
    *,
    same_prefecture: bool,
    carries_over: bool,
    effective: dt.date,
    new_prefecture: str,
    records: Sequence[RecordFacts],
) -> MovePlan:
    """MV-3 within a prefecture, MV-4 to another Guangxi prefecture."""
    plan = MovePlan()
    for record in records:
        open_after = _open_after(record.period, effective)
        if same_prefecture or not open_after:
            plan.steps.append(Step(record, "carry", label="不变"))
            continue
        if record.kind == "qualification":
            if record.status == QualificationStatus.SUBMITTED:
                plan.steps.append(Step(record, "review", label="转由新经办机构复核"))
            elif carries_over:
                plan.steps.append(Step(record, "carry", label="区内互认，继续有效"))
            else:
                plan.steps.append(Step(record, "end", label=_ends(effective, MOVE_REASON)))
        elif record.kind == "selection":
            scope = new_scope(
                record.institution_prefecture, record.institution_province, new_prefecture
            )
            if scope == record.scope:
                plan.steps.append(Step(record, "carry", label="不变"))
            else:
                label = f"自 {effective} 起范围改为“{SelectionScope.labels[scope]}”"
                plan.steps.append(Step(record, "rescope", scope=scope, label=label))
        elif record.kind in ("filing", "letter"):
            plan.steps.append(Step(record, "end", label=_ends(effective, MOVE_REASON)))
    return plan


@implements("MV-5")
def move_out_plan(*, day: dt.date, records: Sequence[RecordFacts]) -> MovePlan:
    """MV-5: every record still applying on ``day`` ends on it."""
    plan = MovePlan()
    for record in records:
        if _open_after(record.period, day):
            plan.steps.append(Step(record, "end", label=_ends(day, MOVED_OUT_REASON)))
        else:
            plan.steps.append(Step(record, "carry", label="不变"))
    return plan
