"""QL-1..5: qualifications."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cases.rules.base import DiseaseFacts, Period, Violation, add_months, implements, last_day
from cases.rules.choices import HELD, QualificationStatus, Validity
from cases.rules.parameters import Parameters

# --- QL: qualifications -------------------------------------------------------------------


@dataclass(frozen=True)
class QualificationFacts:
    """A patient's existing qualification record (any status)."""

    id: int
    disease: str
    status: str  # submitted | approved | rejected | cancelled | expired
    applied_on: dt.date
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    @property
    def period(self) -> Period | None:
        if self.valid_from is None:
            return None
        return Period(self.valid_from, self.valid_until)

    @property
    def held(self) -> bool:
        """Approved at some point: its period is what it covers (an EXPIRED one still
        covers every date inside it, a CANCELLED one the dates before its cancellation,
        which became its end). The daily job's flag never changes an answer."""
        return self.status in HELD and self.period is not None

    def approved_on(self, day: dt.date) -> bool:
        return self.held and self.period is not None and self.period.covers(day)


def renewal_target(
    disease: str, applied_on: dt.date, existing: Sequence[QualificationFacts], params: Parameters
) -> QualificationFacts | None:
    """The approved qualification a new application would renew (QL-2), if any."""
    window = dt.timedelta(days=params.reassessment_window_days)
    for q in existing:
        if (
            q.disease == disease
            and q.approved_on(applied_on)
            and q.valid_until is not None
            and q.valid_until - applied_on <= window
        ):
            return q
    return None


def check_application(
    *,
    disease: DiseaseFacts,
    insurance_type: str,
    applied_on: dt.date,
    diagnosis_date: dt.date | None,
    diagnosis_institution: str | None,
    diagnosis_doctor: str,
    existing: Sequence[QualificationFacts],
    params: Parameters,
    today: dt.date,
    birth_date: dt.date | None = None,
) -> list[Violation]:
    violations = []
    if applied_on > today:
        violations.append(Violation("QL-5", "申请日期不能晚于今天。", "applied_on"))
    if not disease.in_catalogue_on(applied_on):
        violations.append(
            Violation(
                "ID-4",
                f"病种{disease.code}在{applied_on}不在门特病种目录内（已停用或已失效），不能申请。"
                if disease.listings
                else f"病种{disease.code}已停用，不能申请。",
                "disease",
            )
        )
    if not disease.applies_to(insurance_type, applied_on):
        violations.append(
            Violation("ID-5", f"病种{disease.name}不适用于该参保人的险种。", "disease")
        )
    same = [q for q in existing if q.disease == disease.code]
    if any(q.status == QualificationStatus.SUBMITTED for q in same):
        violations.append(
            Violation("QL-2", "该病种已有一份待复核的申请，不能重复申请。", "disease")
        )
    valid_now = [q for q in same if q.approved_on(applied_on)]
    if valid_now and renewal_target(disease.code, applied_on, existing, params) is None:
        until = valid_now[0].valid_until
        shown = f"（有效期至 {last_day(until)}）" if until else "（长期有效）"
        violations.append(
            Violation(
                "QL-2",
                f"该病种已有有效的认定资格{shown}，到期前"
                f"{params.reassessment_window_days}天内方可申请续期。",
                "disease",
            )
        )
    violations += check_evidence(
        applied_on=applied_on,
        diagnosis_date=diagnosis_date,
        diagnosis_institution=diagnosis_institution,
        diagnosis_doctor=diagnosis_doctor,
        birth_date=birth_date,
    )
    return violations


def check_evidence(
    *,
    applied_on: dt.date,
    diagnosis_date: dt.date | None,
    diagnosis_institution: str | None,
    diagnosis_doctor: str,
    birth_date: dt.date | None = None,
) -> list[Violation]:
    """QL-5: who diagnosed, where and when; never after the application nor before the
    patient was born."""
    violations = []
    if not diagnosis_institution:
        violations.append(Violation("QL-5", "请填写诊断医疗机构。", "diagnosis_institution"))
    if not diagnosis_doctor.strip():
        violations.append(Violation("QL-5", "请填写诊断医师。", "diagnosis_doctor"))
    if diagnosis_date is None:
        violations.append(Violation("QL-5", "请填写诊断日期。", "diagnosis_date"))
    elif diagnosis_date > applied_on:
        violations.append(Violation("QL-5", "诊断日期不能晚于申请日期。", "diagnosis_date"))
    elif birth_date is not None and diagnosis_date < birth_date:
        message = f"诊断日期不能早于参保人出生日期（{birth_date}）。"
        violations.append(Violation("QL-5", message, "diagnosis_date"))
    return violations


@implements("QL-3")
def qualification_validity(disease: DiseaseFacts, valid_from: dt.date) -> dt.date | None:
    """QL-3: the first day the qualification no longer applies (None = open-ended)."""
    if disease.validity == Validity.MONTHS and disease.validity_months:
        return add_months(valid_from, disease.validity_months)
    if disease.validity == Validity.CALENDAR_YEAR:
        return dt.date(valid_from.year + 1, 1, 1)
    return None


def check_decision(
    *,
    status: str,
    applied_on: dt.date,
    decided_on: dt.date,
    recorded_by: int,
    reviewer: int,
    today: dt.date,
) -> list[Violation]:
    """QL-1 for approving or rejecting an application, on a day that has come."""
    violations = []
    if decided_on > today:
        violations.append(Violation("QL-1", "复核日期不能晚于今天。", "decided_on"))
    if status != QualificationStatus.SUBMITTED:
        violations.append(Violation("QL-1", "只有待复核的申请才能审核。"))
    if reviewer == recorded_by:
        violations.append(Violation("QL-1", "复核人不能是录入该申请的经办人（双人复核）。"))
    if decided_on < applied_on:
        violations.append(Violation("QL-1", "审核日期不能早于申请日期。", "decided_on"))
    return violations


@implements("QL-2", "QL-3")
def approval_period(
    *,
    disease: DiseaseFacts,
    decided_on: dt.date,
    renewed: QualificationFacts | None,
) -> Period:
    """QL-2/QL-3: a renewal approved in time starts on the old qualification's end date."""
    start = decided_on
    if renewed is not None and renewed.valid_until is not None and renewed.valid_until > start:
        start = renewed.valid_until
    return Period(start, qualification_validity(disease, start))


def check_approval(
    *,
    disease: DiseaseFacts,
    qualification_id: int,
    period: Period,
    existing: Sequence[QualificationFacts],
) -> list[Violation]:
    """QL-2 (no two approved at once) and QL-4 (mutually exclusive diseases)."""
    violations = []
    for q in existing:
        if q.id == qualification_id or not q.held or q.period is None:
            continue
        if not q.period.overlaps(period):
            continue
        if q.disease == disease.code:
            violations.append(Violation("QL-2", "同一病种不能同时有两个有效的认定资格。"))
        elif q.disease in disease.exclusive_with:
            violations.append(
                Violation(
                    "QL-4",
                    f"病种{disease.code}与已认定的病种{q.disease}互斥，不能同时认定。",
                )
            )
    return violations


def check_rejection(reason: str) -> list[Violation]:
    """QL-1: an application is rejected with its reason."""
    if not reason.strip():
        return [Violation("QL-1", "不予认定须填写原因。", "reason")]
    return []


def check_cancellation(
    *,
    status: str,
    valid_from: dt.date | None,
    valid_until: dt.date | None,
    day: dt.date,
    reason: str,
) -> list[Violation]:
    """QL-1: an approved qualification may be cancelled, ending on ``day`` (the first day
    it no longer covers), until its end, by its dates: whether or not the daily job has
    marked it expired (POLICY.md, Dates)."""
    violations = []
    if status not in (QualificationStatus.APPROVED, QualificationStatus.EXPIRED):
        violations.append(Violation("QL-1", "只有已认定的资格才能取消。"))
    elif valid_until is not None and day >= valid_until:
        message = f"该资格有效期至 {last_day(valid_until)}，取消后的有效期至须早于该日。"
        violations.append(Violation("QL-1", message, "day"))
    elif valid_from and day < valid_from:
        message = f"有效期至最早为 {last_day(valid_from)}（起始日前一天，即从未生效）。"
        violations.append(Violation("QL-1", message, "day"))
    if not reason.strip():
        violations.append(Violation("QL-1", "取消资格须填写原因。", "reason"))
    return violations
