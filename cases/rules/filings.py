"""FL-1..10: cross-province filings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cases.rules.base import (
    GUANGXI,
    MUNICIPALITIES,
    InstitutionFacts,
    Period,
    Violation,
    add_months,
    implements,
    last_day,
)
from cases.rules.choices import (
    SUBTYPES,
    Channel,
    DivisionLevel,
    FilingStatus,
    FilingSubtype,
    FilingType,
    Material,
)
from cases.rules.parameters import Parameters
from cases.rules.selections import FilingFacts

# --- FL: cross-province filings -----------------------------------------------------------


# FL-5: each inner tuple is "one of these"; every tuple must be met.
REQUIRED_MATERIALS: dict[str, list[tuple[Material, ...]]] = {
    FilingSubtype.RETIRED_RESETTLED: [(Material.IDENTITY,), (Material.HOUSEHOLD_REGISTER,)],
    FilingSubtype.LONG_TERM_RESIDENT: [
        (Material.IDENTITY,),
        (Material.RESIDENCE_PERMIT, Material.COMMITMENT_LETTER),
    ],
    FilingSubtype.POSTED_WORKER: [
        (Material.IDENTITY,),
        (Material.POSTING_CERTIFICATE, Material.EMPLOYMENT_CONTRACT),
    ],
    FilingSubtype.TRANSFER: [(Material.IDENTITY,), (Material.TRANSFER_LETTER,)],
    FilingSubtype.EMERGENCY: [(Material.IDENTITY,), (Material.EMERGENCY_CERTIFICATE,)],
    FilingSubtype.OTHER: [(Material.IDENTITY,)],
}


def materials_for(subtype: str) -> list[Material]:
    """Every material FL-5 asks for a subtype (the first of each alternative)."""
    return [options[0] for options in REQUIRED_MATERIALS.get(subtype, [])]


@dataclass(frozen=True)
class RegionFacts:
    code: str
    level: int  # a DivisionLevel
    active: bool = True


@dataclass(frozen=True)
class Agent:
    name: str = ""
    cert_number: str = ""
    phone: str = ""
    relation: str = ""

    @property
    def given(self) -> bool:
        return any([self.name, self.cert_number, self.phone, self.relation])


def check_destination(destination: RegionFacts | None) -> list[Violation]:
    """FL-1 (and ID-2: the destination must be a division code of the table)."""
    if destination is None:
        return [
            Violation("ID-2", "备案目的地不是有效的行政区划代码。", "destination"),
            Violation("FL-1", "请选择备案目的地（广西以外的地级市或直辖市）。", "destination"),
        ]
    if destination.code[:2] == GUANGXI[:2]:
        return [
            Violation(
                "FL-1",
                "广西区内就医无需备案（GX-1：2023年7月1日起区内免备案），目的地须在广西以外。",
                "destination",
            )
        ]
    municipality = destination.code in MUNICIPALITIES
    prefecture = destination.level == DivisionLevel.PREFECTURE and destination.code.endswith("00")
    if not (municipality or prefecture) or not destination.active:
        return [
            Violation(
                "FL-1",
                "备案目的地应为地级市（如440100广州市），或直辖市（北京、天津、上海、重庆）"
                "的省级代码；不能是县区或其他省份代码。",
                "destination",
            )
        ]
    return []


def check_agent(channel: str, agent: Agent) -> list[Violation]:
    """FL-9."""
    violations = []
    if channel not in Channel.labels:
        violations.append(Violation("FL-9", "请选择办理渠道。", "channel"))
    if agent.given:
        for attr, label in [
            ("name", "姓名"),
            ("cert_number", "证件号码"),
            ("phone", "联系电话"),
            ("relation", "与参保人关系"),
        ]:
            if not getattr(agent, attr).strip():
                violations.append(Violation("FL-9", f"代办人须登记{label}。", f"agent_{attr}"))
    return violations


def check_materials(subtype: str, materials: Iterable[str]) -> list[Violation]:
    """FL-5."""
    given = set(materials)
    missing = [
        "或".join(option.label for option in options)
        for options in REQUIRED_MATERIALS.get(subtype, [])
        if not given & set(options)
    ]
    if missing:
        return [Violation("FL-5", f"缺少备案材料：{'、'.join(missing)}。", "materials")]
    return []


@dataclass(frozen=True)
class LetterFacts:
    id: int
    patient_matches: bool
    receiver: InstitutionFacts
    period: Period


@dataclass(frozen=True)
class FilingRequest:
    type: str
    subtype: str
    destination: RegionFacts | None
    start: dt.date
    end: dt.date | None
    filed_on: dt.date
    channel: str
    agent: Agent
    materials: frozenset[str]
    letter: LetterFacts | None = None


@dataclass(frozen=True)
class FilingCheck:
    violations: list[Violation]
    start: dt.date
    end: dt.date | None
    retroactive: bool


def check_type(type: str, subtype: str) -> list[Violation]:
    """FL-2: a long-term or temporary filing, with a category of person its type admits."""
    if type not in FilingType.labels:
        return [Violation("FL-2", "备案类型应为长期或临时。", "type")]
    if subtype not in SUBTYPES[type]:
        allowed = "、".join(kind.label for kind in SUBTYPES[type])
        return [Violation("FL-2", f"该备案类型的人员类别只能是：{allowed}。", "subtype")]
    return []


def filing_dates(
    request: FilingRequest, params: Parameters
) -> tuple[dt.date, dt.date | None, list[Violation]]:
    """The period a new filing will have: a transfer filing's from its letter (FL-6), a
    temporary one at least six months (FL-3), a long-term one open-ended (FL-4)."""
    start, end = request.start, request.end
    if request.type == FilingType.TEMPORARY and request.subtype == FilingSubtype.TRANSFER:
        return _transfer_dates(request)
    if request.type == FilingType.TEMPORARY:
        minimum = add_months(start, params.temp_filing_months)
        if end is None:
            return start, minimum, []
        if end < minimum:
            message = (
                f"临时备案有效期不少于{params.temp_filing_months}个月，"
                f"有效期至不能早于 {last_day(minimum)}。"
            )
            return start, end, [Violation("FL-3", message, "end")]
    elif request.type == FilingType.LONG_TERM and end is not None:
        return start, end, [Violation("FL-4", "长期备案不设结束日期。", "end")]
    return start, end, []


def _transfer_dates(request: FilingRequest) -> tuple[dt.date, dt.date | None, list[Violation]]:
    """FL-6: a transfer filing takes its letter's period; the letter must be the patient's
    and its receiving institution in the destination."""
    letter = request.letter
    if letter is None or not letter.patient_matches:
        message = "异地转诊备案须关联本人的转诊证明。"
        return request.start, request.end, [Violation("FL-6", message, "transfer_letter")]
    destination = request.destination.code if request.destination else ""
    covering = FilingFacts(0, "filing", FilingType.TEMPORARY, destination, letter.period)
    violations = []
    if not covering.covers_place(letter.receiver):
        message = "转诊证明的转入机构不在备案目的地。"
        violations.append(Violation("FL-6", message, "transfer_letter"))
    return letter.period.start, letter.period.end, violations


def check_overlap(
    request: FilingRequest, period: Period, existing: Sequence[FilingFacts]
) -> list[Violation]:
    """FL-8, by the dates: one long-term filing at a time; temporary filings to one
    destination never overlap."""
    if request.type == FilingType.LONG_TERM:
        lasting = Period(period.start, None)
        if any(
            f.kind == "filing" and f.type == FilingType.LONG_TERM and f.period.overlaps(lasting)
            for f in existing
        ):
            return [Violation("FL-8", "参保人已有一份有效的长期备案，不能再办理长期备案。", "type")]
    elif request.type == FilingType.TEMPORARY and request.destination is not None:
        destination = request.destination.code
        if any(
            f.kind == "filing"
            and f.type == FilingType.TEMPORARY
            and f.status != FilingStatus.CHANGED
            and f.destination == destination
            and f.period.overlaps(period)
            for f in existing
        ):
            return [Violation("FL-8", "同一目的地的临时备案期间不能重叠。", "start")]
    return []


@implements("FL-7")
def check_filing(
    request: FilingRequest,
    *,
    existing: Sequence[FilingFacts],
    params: Parameters,
) -> FilingCheck:
    """FL-1..9 for a new filing; returns the dates the filing will have, and whether it
    is filed late (FL-7: it starts before the day it is filed)."""
    start, end, date_violations = filing_dates(request, params)
    violations = check_type(request.type, request.subtype)
    violations += check_destination(request.destination)
    violations += check_materials(request.subtype, request.materials)
    violations += check_agent(request.channel, request.agent)
    violations += date_violations
    violations += check_overlap(request, Period(start, end), existing)
    return FilingCheck(violations, start, end, retroactive=start < request.filed_on)


def check_filing_cancel(
    *,
    type: str,
    status: str,
    start: dt.date,
    end: dt.date | None,
    day: dt.date,
    params: Parameters,
    action: str = "取消",
) -> list[Violation]:
    """FL-10 (only an active filing, by its dates: a temporary one before its end date,
    whether or not the daily job has marked it expired) and FL-4 (a long-term filing is
    locked for six months)."""
    violations = []
    if status not in (FilingStatus.ACTIVE, FilingStatus.EXPIRED):
        violations.append(Violation("FL-10", f"只有有效的备案才能{action}。"))
    elif end is not None and day >= end:
        if action == "取消":
            message = f"备案有效期至 {last_day(end)}，取消后的有效期至须早于该日。"
        else:
            message = f"备案有效期至 {last_day(end)}，已到期，不能{action}。"
        violations.append(Violation("FL-10", message, "day"))
    if type == FilingType.LONG_TERM:
        unlock = add_months(start, params.long_term_lock_months)
        if day < unlock:
            earliest = f"（有效期至最早为 {last_day(unlock)}）" if action == "取消" else ""
            violations.append(
                Violation(
                    "FL-4",
                    f"长期备案自开始之日起{params.long_term_lock_months}个月内不能{action}，"
                    f"{unlock} 起方可办理{earliest}。",
                )
            )
    elif day < start and action == "取消":
        message = f"有效期至最早为 {last_day(start)}（开始日前一天，即从未生效）。"
        violations.append(Violation("FL-10", message, "day"))
    return violations
