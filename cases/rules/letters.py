"""TL-1..5: transfer letters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cases.rules.base import InstitutionFacts, Period, Violation, add_months
from cases.rules.qualifications import QualificationFacts
from institutions.parameters import Parameters

# --- TL: transfer letters -----------------------------------------------------------------

LETTER_REASONS = {
    "technical": "本地技术条件所限",
    "equipment": "本地设备条件所限",
    "other": "其他",
}


def check_letter(
    *,
    patient_prefecture: str,
    issuer: InstitutionFacts,
    receiver: InstitutionFacts,
    reason: str,
    reason_text: str,
    issued_on: dt.date,
    disease: str,
    qualifications: Sequence[QualificationFacts],
    params: Parameters,
) -> list[Violation]:
    violations = []
    # TL-1
    if not issuer.designated_on(issued_on):
        violations.append(Violation("TL-1", "开具机构在开具日不是定点医疗机构。", "issuer"))
    if issuer.prefecture != patient_prefecture:
        violations.append(Violation("TL-1", "转诊证明须由参保地（本市）的定点医院开具。", "issuer"))
    if not issuer.transfer_issuer:
        violations.append(Violation("TL-1", "开具机构没有开具转诊证明的资格。", "issuer"))
    if issuer.level < params.transfer_issuer_min_level:
        violations.append(
            Violation(
                "TL-1",
                f"开具机构须为{params.transfer_issuer_min_level}级及以上医院。",
                "issuer",
            )
        )
    # TL-2
    if not receiver.designated_on(issued_on):
        violations.append(Violation("TL-2", "转入机构在开具日不是定点医疗机构。", "receiver"))
    if receiver.prefecture == patient_prefecture:
        violations.append(
            Violation("TL-2", "转入机构须在参保地以外（区内其他城市或外省）。", "receiver")
        )
    if reason not in LETTER_REASONS:
        violations.append(Violation("TL-2", "请选择转诊原因。", "reason"))
    elif reason == "other" and not reason_text.strip():
        violations.append(Violation("TL-2", "转诊原因为“其他”时须填写具体原因。", "reason_text"))
    # TL-3
    if not any(q.disease == disease and q.approved_on(issued_on) for q in qualifications):
        violations.append(
            Violation("TL-3", "参保人在开具日没有该病种有效的门特认定资格。", "disease")
        )
    return violations


def letter_period(issued_on: dt.date, params: Parameters) -> Period:
    """TL-4: valid for six months from issue."""
    return Period(issued_on, add_months(issued_on, params.transfer_letter_months))
