"""TL-1..5: transfer letters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cases.rules.base import GUANGXI, InstitutionFacts, Period, Violation, add_months, implements
from cases.rules.choices import FilingType, LetterReason
from cases.rules.parameters import Parameters
from cases.rules.qualifications import QualificationFacts
from cases.rules.selections import FilingFacts

# --- TL: transfer letters -----------------------------------------------------------------


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
    today: dt.date,
) -> list[Violation]:
    violations = []
    if issued_on > today:
        violations.append(Violation("TL-4", "开具日期不能晚于今天。", "issued_on"))
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
    if reason not in LetterReason.labels:
        violations.append(Violation("TL-2", "请选择转诊原因。", "reason"))
    elif reason == LetterReason.OTHER and not reason_text.strip():
        violations.append(Violation("TL-2", "转诊原因为“其他”时须填写具体原因。", "reason_text"))
    # TL-3
    if not any(q.disease == disease and q.approved_on(issued_on) for q in qualifications):
        violations.append(
            Violation("TL-3", "参保人在开具日没有该病种有效的门特认定资格。", "disease")
        )
    return violations


@implements("TL-4")
def letter_period(issued_on: dt.date, params: Parameters) -> Period:
    """TL-4: valid for six months from issue."""
    return Period(issued_on, add_months(issued_on, params.transfer_letter_months))


def serial_prefix(insured_county: str, issued_on: dt.date) -> str:
    """TL-4: ZZ, the insured county and the issue date; a daily sequence follows."""
    return f"ZZ{insured_county}{issued_on:%Y%m%d}"


def next_serial(insured_county: str, issued_on: dt.date, issued_that_day: int) -> str:
    """TL-4: the next serial, e.g. ZZ45120220250105003 for the day's third letter."""
    return f"{serial_prefix(insured_county, issued_on)}{issued_that_day + 1:03d}"


def check_serial(*, taken: bool) -> list[Violation]:
    """TL-4: a serial is given to one letter only."""
    if taken:
        return [Violation("TL-4", "转诊证明编号已存在。", "serial")]
    return []


@implements("TL-5")
def letter_as_filing(
    *, letter_id: int, receiver_county: str, receiver_prefecture: str, period: Period
) -> FilingFacts | None:
    """TL-5: a cross-province letter counts as a temporary filing to the receiving
    institution's prefecture; a letter to another city in Guangxi does not."""
    if receiver_county.startswith(GUANGXI[:2]):
        return None
    return FilingFacts(
        id=letter_id,
        kind="letter",
        type=FilingType.TEMPORARY,
        destination=receiver_prefecture,
        period=period,
    )
