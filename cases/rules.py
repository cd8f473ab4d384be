"""The policy rules of ../shared/POLICY.md, as pure functions over plain values.

Nothing here touches the database: services gather the facts (small dataclasses below)
and the parameters in force, call these functions, and refuse with every violation
returned. Each check cites its rule ID, and each message is the Chinese sentence a clerk
sees next to the field.

Dates: every period is half-open, [start, end); ``end`` is the first day a record no
longer applies. ``None`` as an end means open-ended.
"""

from __future__ import annotations

import calendar
import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from institutions.parameters import Parameters

GUANGXI = "450000"
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A rule that a request breaks: its ID, a Chinese sentence, and the form field."""

    rule: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.rule}：{self.message}"


def rules_of(violations: Iterable[Violation]) -> list[str]:
    return [v.rule for v in violations]


# --- dates --------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months, clipped to the month's end (2025-08-31 + 6 months = 2026-02-28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date | None = None  # first day no longer covered; None = open-ended

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def overlaps(self, other: Period) -> bool:
        if self.is_empty or other.is_empty:
            return False
        starts_before_other_ends = other.end is None or self.start < other.end
        other_starts_before_self_ends = self.end is None or other.start < self.end
        return starts_before_other_ends and other_starts_before_self_ends

    @property
    def is_empty(self) -> bool:
        return self.end is not None and self.end <= self.start


# --- ID-1 resident ID numbers -------------------------------------------------------------

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"


class CertType(StrEnum):
    RESIDENT_ID = "resident_id"
    PASSPORT = "passport"
    HK_MACAU_PERMIT = "hk_macau_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    FOREIGN_PERMANENT_RESIDENT = "foreign_permanent_resident"


def normalize_cert_number(value: str) -> str:
    """NFKC (full-width digits become ASCII), no surrounding space, upper-case x (ID-1)."""
    return unicodedata.normalize("NFKC", value or "").strip().upper()


def resident_id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def id_birth_date(number: str) -> dt.date | None:
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def id_sex(number: str) -> str:
    """'M' or 'F' from the 17th character (odd = male)."""
    return "M" if int(number[16]) % 2 else "F"


def check_resident_id(number: str, today: dt.date) -> list[Violation]:
    """ID-1 on an already normalised number."""
    field_name = "cert_number"
    if (
        len(number) != 18
        or not number[:17].isdigit()
        or not (number[17].isdigit() or number[17] == "X")
    ):
        return [
            Violation("ID-1", "居民身份证号应为18位：17位数字加1位校验码（数字或X）。", field_name)
        ]
    violations = []
    if resident_id_check_char(number[:17]) != number[17]:
        violations.append(Violation("ID-1", "居民身份证号校验码不正确，请核对号码。", field_name))
    birth = id_birth_date(number)
    if birth is None or not dt.date(1900, 1, 1) <= birth <= today:
        violations.append(
            Violation("ID-1", "居民身份证号中的出生日期（第7–14位）不是有效日期。", field_name)
        )
    return violations


def check_certificate(cert_type: str, number: str, today: dt.date) -> list[Violation]:
    if cert_type not in CertType.__members__.values():
        return [Violation("ID-1", "证件类型不正确。", "cert_type")]
    if not number:
        return [Violation("ID-1", "请填写证件号码。", "cert_number")]
    if cert_type == CertType.RESIDENT_ID:
        return check_resident_id(number, today)
    if len(number) > 30 or not number.isalnum():
        return [Violation("ID-1", "证件号码只能由字母和数字组成，最多30位。", "cert_number")]
    return []


def id_prefix_warning(number: str, known_prefix: bool) -> str | None:
    """An unknown address prefix is a warning, never a refusal (ID-1)."""
    if known_prefix:
        return None
    return f"ID-1：身份证号前6位 {number[:6]} 不在行政区划代码表中（可能是历史代码），请核对。"


# --- ID-5 / ID-6 patients -------------------------------------------------------------------


INSURANCE_TYPES = {"310": "职工基本医疗保险", "390": "城乡居民基本医疗保险"}


def check_patient(
    *,
    name: str,
    insurance_type: str,
    region_code: str | None,
    region_is_active_county: bool,
    bureau_county: str | None,
) -> list[Violation]:
    violations = []
    if not name.strip():
        violations.append(Violation("ID-1", "请填写参保人姓名。", "name"))
    if insurance_type not in INSURANCE_TYPES:
        violations.append(
            Violation("ID-5", "险种应为310职工医保或390城乡居民医保。", "insurance_type")
        )
    if region_code is None:
        violations.append(Violation("ID-2", "参保地不是有效的行政区划代码。", "region"))
    if (
        region_code is None
        or not region_is_active_county
        or not region_code.startswith(GUANGXI[:2])
    ):
        violations.append(Violation("ID-6", "参保地应为广西现行的县级行政区划。", "region"))
    elif bureau_county is not None and region_code != bureau_county:
        violations.append(Violation("ID-6", "参保地应为本经办机构所服务的县区。", "region"))
    return violations


# --- ID-2 / ID-3 / ID-4 reference codes -----------------------------------------------------


def division_level(code: str) -> int | None:
    """ID-2: 1 province (PP0000), 2 prefecture (PPCC00), 3 county; None if not a code."""
    if len(code) != 6 or not code.isdigit():
        return None
    if code.endswith("0000"):
        return 1
    return 2 if code.endswith("00") else 3


def check_institution_code(code: str, location: str | None) -> list[Violation]:
    """ID-3: H (medical institution) or P (pharmacy), then the location's division code."""
    if len(code) != 12 or code[0] not in "HP" or not code[1:].isdigit():
        return [
            Violation(
                "ID-3",
                "定点医药机构编码应为字母H（医疗机构）或P（药店）加11位数字，例如 H45120200001。",
                "code",
            )
        ]
    if location is not None and code[1:7] != location:
        return [
            Violation(
                "ID-3",
                f"机构编码第2–7位（{code[1:7]}）应为所在县区的区划代码（{location}）。",
                "code",
            )
        ]
    return []


def check_disease_code(code: str) -> list[Violation]:
    """ID-4: M and five digits."""
    if len(code) != 6 or code[0] != "M" or not code[1:].isdigit():
        return [Violation("ID-4", "门特病种编码应为字母M加5位数字，例如 M03900。", "code")]
    return []


# --- reference facts -------------------------------------------------------------------------


@dataclass(frozen=True)
class InstitutionFacts:
    code: str
    county: str
    prefecture: str
    level: int
    designated: bool
    designated_from: dt.date | None = None
    designated_until: dt.date | None = None
    transfer_issuer: bool = False
    networked_in_region: frozenset[str] = frozenset()
    networked_cross_province: frozenset[str] = frozenset()

    @property
    def province(self) -> str:
        return self.county[:2] + "0000"

    @property
    def in_guangxi(self) -> bool:
        return self.province == GUANGXI

    def designated_on(self, day: dt.date) -> bool:
        return (
            self.designated
            and (self.designated_from is None or self.designated_from <= day)
            and (self.designated_until is None or day < self.designated_until)
        )


@dataclass(frozen=True)
class DiseaseFacts:
    code: str
    name: str
    active: bool = True
    cross_province: bool = False
    validity: str = "open"  # open | months | calendar_year
    validity_months: int | None = None
    for_employee: bool = True
    for_resident: bool = True
    exclusive_with: frozenset[str] = frozenset()

    def applies_to(self, insurance_type: str) -> bool:
        return self.for_employee if insurance_type == "310" else self.for_resident


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

    def approved_on(self, day: dt.date) -> bool:
        return self.status == "approved" and self.period is not None and self.period.covers(day)


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
) -> list[Violation]:
    violations = []
    if not disease.active:
        violations.append(Violation("ID-4", f"病种{disease.code}已停用，不能申请。", "disease"))
    if not disease.applies_to(insurance_type):
        violations.append(
            Violation("ID-5", f"病种{disease.name}不适用于该参保人的险种。", "disease")
        )
    same = [q for q in existing if q.disease == disease.code]
    if any(q.status == "submitted" for q in same):
        violations.append(
            Violation("QL-2", "该病种已有一份待复核的申请，不能重复申请。", "disease")
        )
    valid_now = [q for q in same if q.approved_on(applied_on)]
    if valid_now and renewal_target(disease.code, applied_on, existing, params) is None:
        until = valid_now[0].valid_until
        shown = f"（有效期至 {until - dt.timedelta(days=1)}）" if until else "（长期有效）"
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
    )
    return violations


def check_evidence(
    *,
    applied_on: dt.date,
    diagnosis_date: dt.date | None,
    diagnosis_institution: str | None,
    diagnosis_doctor: str,
) -> list[Violation]:
    violations = []
    if not diagnosis_institution:
        violations.append(Violation("QL-5", "请填写诊断医疗机构。", "diagnosis_institution"))
    if not diagnosis_doctor.strip():
        violations.append(Violation("QL-5", "请填写诊断医师。", "diagnosis_doctor"))
    if diagnosis_date is None:
        violations.append(Violation("QL-5", "请填写诊断日期。", "diagnosis_date"))
    elif diagnosis_date > applied_on:
        violations.append(Violation("QL-5", "诊断日期不能晚于申请日期。", "diagnosis_date"))
    return violations


def qualification_validity(disease: DiseaseFacts, valid_from: dt.date) -> dt.date | None:
    """QL-3: the first day the qualification no longer applies (None = open-ended)."""
    if disease.validity == "months" and disease.validity_months:
        return add_months(valid_from, disease.validity_months)
    if disease.validity == "calendar_year":
        return dt.date(valid_from.year + 1, 1, 1)
    return None


def check_decision(
    *,
    status: str,
    applied_on: dt.date,
    decided_on: dt.date,
    recorded_by: int,
    reviewer: int,
) -> list[Violation]:
    """QL-1 for approving or rejecting an application."""
    violations = []
    if status != "submitted":
        violations.append(Violation("QL-1", "只有待复核的申请才能审核。"))
    if reviewer == recorded_by:
        violations.append(Violation("QL-1", "复核人不能是录入该申请的经办人（双人复核）。"))
    if decided_on < applied_on:
        violations.append(Violation("QL-1", "审核日期不能早于申请日期。", "decided_on"))
    return violations


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
        if q.id == qualification_id or q.status != "approved" or q.period is None:
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


# --- SL: selected institutions ------------------------------------------------------------


class Scope(StrEnum):
    IN_CITY = "in_city"
    IN_REGION = "in_region"
    CROSS_PROVINCE = "cross_province"


SCOPE_LABELS = {
    Scope.IN_CITY: "市内",
    Scope.IN_REGION: "区内异地",
    Scope.CROSS_PROVINCE: "跨省",
}


def selection_scope(patient_prefecture: str, institution: InstitutionFacts) -> Scope:
    """SL-3: computed from the places, never typed."""
    if institution.prefecture == patient_prefecture:
        return Scope.IN_CITY
    if institution.in_guangxi:
        return Scope.IN_REGION
    return Scope.CROSS_PROVINCE


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
    status: str = "active"

    def covers_place(self, institution: InstitutionFacts) -> bool:
        if self.destination in MUNICIPALITIES:
            return institution.province == self.destination
        return institution.prefecture == self.destination

    def valid_on(self, day: dt.date) -> bool:
        # A cancelled filing's period already ends on its cancellation date (FL-10).
        return self.status in ("active", "expired", "cancelled") and self.period.covers(day)


def find_basis(
    institution: InstitutionFacts, day: dt.date, bases: Sequence[FilingFacts]
) -> FilingFacts | None:
    """SL-4/ST-6: a filing or letter valid on ``day`` that covers the institution's place.

    Filings come first: a long-term filing is the more durable basis.
    """
    candidates = [b for b in bases if b.valid_on(day) and b.covers_place(institution)]
    candidates.sort(key=lambda b: (b.kind != "filing", b.type != "long_term", b.id))
    return candidates[0] if candidates else None


@dataclass(frozen=True)
class SelectionCheck:
    violations: list[Violation]
    scope: Scope
    slot: int | None
    basis: FilingFacts | None
    notices: list[str] = field(default_factory=list)


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
    used_slots = {s.slot for s in overlapping}
    free = [
        slot for slot in range(1, params.max_selected_institutions + 1) if slot not in used_slots
    ]
    if not free:
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
    if scope == Scope.CROSS_PROVINCE:
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
    elif scope == Scope.IN_REGION:
        notices.append("SL-5：区内异地选点无需备案；建议办理转诊或备案以保障待遇。")
    return SelectionCheck(violations, scope, free[0] if free else None, basis, notices)


def check_selection_end(
    *, start: dt.date, current_end: dt.date | None, end: dt.date, reason: str
) -> list[Violation]:
    violations = []
    if current_end is not None:
        violations.append(Violation("SL-6", "该选点已终止，不能再次终止。"))
    if end < start:
        violations.append(Violation("SL-6", "终止日期不能早于选点开始日期。", "end"))
    if not reason.strip():
        violations.append(Violation("SL-6", "终止选点须填写原因。", "end_reason"))
    return violations


# --- FL: cross-province filings -----------------------------------------------------------


class FilingType(StrEnum):
    LONG_TERM = "long_term"
    TEMPORARY = "temporary"


SUBTYPES = {
    FilingType.LONG_TERM: {
        "retired_resettled": "异地安置退休",
        "long_term_resident": "异地长期居住",
        "posted_worker": "常驻异地工作",
    },
    FilingType.TEMPORARY: {
        "transfer": "异地转诊",
        "emergency": "急诊抢救",
        "other": "其他临时外出就医",
    },
}

MATERIALS = {
    "identity": "身份证或医保凭证",
    "household_register": "户口簿",
    "residence_permit": "居住证",
    "commitment_letter": "个人承诺书",
    "posting_certificate": "单位派驻证明",
    "employment_contract": "劳动合同",
    "transfer_letter": "转诊证明",
    "emergency_certificate": "急诊诊断证明",
}

# FL-5: each inner tuple is "one of these"; every tuple must be met.
REQUIRED_MATERIALS: dict[str, list[tuple[str, ...]]] = {
    "retired_resettled": [("identity",), ("household_register",)],
    "long_term_resident": [("identity",), ("residence_permit", "commitment_letter")],
    "posted_worker": [("identity",), ("posting_certificate", "employment_contract")],
    "transfer": [("identity",), ("transfer_letter",)],
    "emergency": [("identity",), ("emergency_certificate",)],
    "other": [("identity",)],
}

CHANNELS = {
    "app": "国家医保服务平台App",
    "mini_program": "微信小程序",
    "window": "经办窗口",
    "phone": "电话（12393）",
}


def materials_for(subtype: str) -> list[str]:
    """Every material FL-5 asks for a subtype (the first of each alternative)."""
    return [options[0] for options in REQUIRED_MATERIALS.get(subtype, [])]


@dataclass(frozen=True)
class RegionFacts:
    code: str
    level: int  # 1 province, 2 prefecture, 3 county
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
    prefecture = destination.level == 2 and destination.code.endswith("00")
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
    if channel not in CHANNELS:
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
        "或".join(MATERIALS[m] for m in options)
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


def check_filing(
    request: FilingRequest,
    *,
    existing: Sequence[FilingFacts],
    params: Parameters,
) -> FilingCheck:
    """FL-1..9 for a new filing; returns the dates the filing will have."""
    violations: list[Violation] = []
    start, end = request.start, request.end

    if request.type not in SUBTYPES:
        violations.append(Violation("FL-2", "备案类型应为长期或临时。", "type"))
    elif request.subtype not in SUBTYPES[FilingType(request.type)]:
        allowed = "、".join(SUBTYPES[FilingType(request.type)].values())
        violations.append(Violation("FL-2", f"该备案类型的人员类别只能是：{allowed}。", "subtype"))

    violations += check_destination(request.destination)
    violations += check_materials(request.subtype, request.materials)
    violations += check_agent(request.channel, request.agent)

    if request.type == FilingType.TEMPORARY and request.subtype == "transfer":
        # FL-6: dates come from the transfer letter.
        letter = request.letter
        if letter is None or not letter.patient_matches:
            violations.append(
                Violation("FL-6", "异地转诊备案须关联本人的转诊证明。", "transfer_letter")
            )
        else:
            start, end = letter.period.start, letter.period.end
            destination = request.destination.code if request.destination else ""
            covering = FilingFacts(0, "filing", "temporary", destination, letter.period)
            if not covering.covers_place(letter.receiver):
                violations.append(
                    Violation(
                        "FL-6",
                        "转诊证明的转入机构不在备案目的地。",
                        "transfer_letter",
                    )
                )
    elif request.type == FilingType.TEMPORARY:
        minimum = add_months(start, params.temp_filing_months)
        if end is None:
            end = minimum
        elif end < minimum:
            violations.append(
                Violation(
                    "FL-3",
                    f"临时备案有效期不少于{params.temp_filing_months}个月，"
                    f"结束日期不能早于 {minimum}。",
                    "end",
                )
            )
    elif request.type == FilingType.LONG_TERM and end is not None:
        violations.append(Violation("FL-4", "长期备案不设结束日期。", "end"))

    if request.type == FilingType.LONG_TERM:
        if any(f.type == "long_term" and f.status == "active" for f in existing):
            violations.append(
                Violation("FL-8", "参保人已有一份有效的长期备案，不能再办理长期备案。", "type")
            )
    elif request.type == FilingType.TEMPORARY and request.destination is not None:
        period = Period(start, end)
        for f in existing:
            if (
                f.kind == "filing"
                and f.type == "temporary"
                and f.status != "changed"
                and f.destination == request.destination.code
                and f.period.overlaps(period)
            ):
                violations.append(Violation("FL-8", "同一目的地的临时备案期间不能重叠。", "start"))
                break

    retroactive = start < request.filed_on  # FL-7
    return FilingCheck(violations, start, end, retroactive)


def check_filing_cancel(
    *,
    type: str,
    status: str,
    start: dt.date,
    day: dt.date,
    params: Parameters,
    action: str = "取消",
) -> list[Violation]:
    """FL-10 (only active) and FL-4 (a long-term filing is locked for six months)."""
    violations = []
    if status != "active":
        violations.append(Violation("FL-10", f"只有有效的备案才能{action}。"))
    if type == FilingType.LONG_TERM:
        unlock = add_months(start, params.long_term_lock_months)
        if day < unlock:
            violations.append(
                Violation(
                    "FL-4",
                    f"长期备案自开始之日起{params.long_term_lock_months}个月内不能{action}，"
                    f"{unlock} 起方可办理。",
                )
            )
    elif day < start and action == "取消":
        violations.append(Violation("FL-10", "取消日期不能早于备案开始日期。"))
    return violations


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


# --- ST: direct-settlement check ----------------------------------------------------------


class Outcome(StrEnum):
    DIRECT = "direct"
    MANUAL = "manual"
    NOT_COVERED = "not_covered"


OUTCOME_LABELS = {
    Outcome.DIRECT: "可直接结算",
    Outcome.MANUAL: "需先行垫付、回参保地手工报销",
    Outcome.NOT_COVERED: "不属于门特待遇范围",
}

NOT_COVERED_RULES = ("ST-1", "ST-2", "ST-3")


@dataclass(frozen=True)
class SettlementAnswer:
    outcome: Outcome
    failed: list[Violation]
    passed: list[str]


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


# --- RM: reminders ------------------------------------------------------------------------

EXPIRED = "expired"
LOCK_LIFTED = "lock_lifted"


@dataclass(frozen=True)
class DueStages:
    send: str | None
    superseded: list[str]


def stage_day(end: dt.date, stage: str) -> dt.date:
    """RM-5: a stage of N days is due N days before the end date; expiry on the end."""
    if stage == EXPIRED:
        return end
    return end - dt.timedelta(days=int(stage))


def due_stages(
    *, end: dt.date, stages_days: Sequence[int], today: dt.date, done: Iterable[str]
) -> DueStages:
    """RM-1/RM-3/RM-5: which stage to send today, and which earlier ones it supersedes.

    Every stage whose day has come and that was not yet handled is due; only the latest
    is sent, the earlier ones are recorded as superseded. Expiry is the latest stage.
    """
    handled = set(done)
    order = [str(d) for d in sorted(stages_days, reverse=True)] + [EXPIRED]
    due = [s for s in order if s not in handled and stage_day(end, s) <= today]
    if not due:
        return DueStages(None, [])
    return DueStages(due[-1], due[:-1])


def lock_lift_day(start: dt.date, params: Parameters) -> dt.date:
    """RM-2: the day a long-term filing's change lock lifts (FL-4)."""
    return add_months(start, params.long_term_lock_months)


@dataclass(frozen=True)
class Delivery:
    channel: str  # inbox | email | sms
    address: str  # user id, e-mail address or phone number


def reminder_recipients(*, clerks: Sequence[tuple[int, str]], patient_phone: str) -> list[Delivery]:
    """RM-4: every clerk of the patient's bureau (portal inbox, and e-mail where they
    have an address) and the patient (SMS, where a phone number is recorded)."""
    deliveries = [Delivery("inbox", str(user_id)) for user_id, _ in clerks]
    deliveries += [Delivery("email", email) for _, email in clerks if email]
    if patient_phone:
        deliveries.append(Delivery("sms", patient_phone))
    return deliveries
