"""ID-1..6: certificates, patients and reference codes."""

from __future__ import annotations

import datetime as dt
import unicodedata

from cases.rules.base import GUANGXI, Violation
from cases.rules.choices import CertType, DivisionLevel, InsuranceType

# --- ID-1 resident ID numbers -------------------------------------------------------------

RESIDENT_ID_LENGTH = 18
FIRST_GENERATION_LENGTH = 15  # a resident ID issued before 1999
MAX_CERT_LENGTH = 30
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"


def normalize_cert_number(value: str) -> str:
    """NFKC (full-width digits become ASCII), no spaces anywhere (a number is often typed
    or pasted in groups), upper-case x (ID-1)."""
    return "".join(unicodedata.normalize("NFKC", value or "").split()).upper()


def resident_id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def upgrade_first_generation(number: str) -> str:
    """ID-1: a first-generation 15-digit number (6-digit address, YYMMDD, 3 digits, the
    last odd for men) as its 18-digit form: "19" before the year and the check character
    after. Any other value is returned unchanged; a 15-digit number is never stored."""
    if len(number) == FIRST_GENERATION_LENGTH and number.isdigit():
        body = number[:6] + "19" + number[6:]
        return body + resident_id_check_char(body)
    return number


def resident_number(cert_type: str, value: str) -> str:
    """The number a patient is recorded and found under: normalised and, for a resident
    ID, a 15-digit one converted to 18 digits."""
    number = normalize_cert_number(value)
    return upgrade_first_generation(number) if cert_type == CertType.RESIDENT_ID else number


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
        len(number) != RESIDENT_ID_LENGTH
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
    if cert_type not in CertType.labels:
        return [Violation("ID-1", "证件类型不正确。", "cert_type")]
    if not number:
        return [Violation("ID-1", "请填写证件号码。", "cert_number")]
    if cert_type == CertType.RESIDENT_ID:
        return check_resident_id(number, today)
    if len(number) > MAX_CERT_LENGTH or not number.isalnum():
        return [Violation("ID-1", "证件号码只能由字母和数字组成，最多30位。", "cert_number")]
    return []


def id_prefix_warning(number: str, known_prefix: bool) -> str | None:
    """An unknown address prefix is a warning, never a refusal (ID-1)."""
    if known_prefix:
        return None
    return f"ID-1：身份证号前6位 {number[:6]} 不在行政区划代码表中（可能是历史代码），请核对。"


# --- ID-5 / ID-6 patients -------------------------------------------------------------------

MAX_NAME_LENGTH = 50
MAX_PHONE_LENGTH = 20


def normalize_phone(value: str) -> str:
    """A phone number as stored and searched: NFKC (full-width digits become ASCII),
    without the spaces and hyphens it is often written with (0778-2234567)."""
    text = unicodedata.normalize("NFKC", value or "")
    return "".join(text.split()).replace("-", "")


def check_name(name: str) -> list[Violation]:
    """ID-1: a patient is recorded with a name."""
    if not name.strip():
        return [Violation("ID-1", "请填写参保人姓名。", "name")]
    if len(name.strip()) > MAX_NAME_LENGTH:
        return [Violation("ID-1", f"姓名最多{MAX_NAME_LENGTH}个字。", "name")]
    return []


def check_phone(phone: str) -> list[Violation]:
    """ID-1: a phone number, if given, is digits (a leading + for another country)."""
    if len(phone) > MAX_PHONE_LENGTH:
        return [Violation("ID-1", f"联系电话最多{MAX_PHONE_LENGTH}位。", "phone")]
    if phone and not phone.removeprefix("+").isdigit():
        return [Violation("ID-1", "联系电话只能由数字组成。", "phone")]
    return []


def check_correction(
    *, certificate_changed: bool, by_reviewer: bool, reason: str
) -> list[Violation]:
    """ID-1: a certificate number is corrected only by a reviewer, with the reason."""
    violations = []
    if certificate_changed and not by_reviewer:
        violations.append(Violation("ID-1", "更正证件号码须由复核人员办理。", "cert_number"))
    if certificate_changed and not reason.strip():
        violations.append(Violation("ID-1", "更正证件号码须填写原因。", "reason"))
    return violations


def check_patient(
    *,
    name: str,
    insurance_type: str,
    region_code: str | None,
    region_is_active_county: bool,
    bureau_county: str | None,
    phone: str = "",
) -> list[Violation]:
    """ID-1 (name and phone as recorded), ID-5 (insurance type), ID-6 (the insured county
    is the registering bureau's; ``bureau_county`` None: the user belongs to no bureau)."""
    violations = check_name(name) + check_phone(phone)
    if insurance_type not in InsuranceType.labels:
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
    if bureau_county is None:
        violations.append(Violation("ID-6", "只有经办机构的工作人员才能登记参保人。"))
    return violations


def check_not_registered(*, registered: bool) -> list[Violation]:
    """ID-1: one patient per certificate, in the whole region."""
    if registered:
        return [Violation("ID-1", "该证件号码的参保人已登记。", "cert_number")]
    return []


# --- ID-2 / ID-3 / ID-4 reference codes -----------------------------------------------------

DIVISION_CODE_LENGTH = 6  # PPCCDD
INSTITUTION_CODE_LENGTH = 12  # H or P, the county's division code, five digits
DISEASE_CODE_LENGTH = 6  # M and five digits


def division_level(code: str) -> DivisionLevel | None:
    """ID-2: a province (PP0000), a prefecture (PPCC00) or a county; None if not a code."""
    if len(code) != DIVISION_CODE_LENGTH or not code.isdigit():
        return None
    if code.endswith("0000"):
        return DivisionLevel.PROVINCE
    return DivisionLevel.PREFECTURE if code.endswith("00") else DivisionLevel.COUNTY


def division_prefix(code: str) -> str:
    """ID-2: what the codes of every division under ``code`` start with (itself included):
    45 under the region, 4512 under 河池市, the whole code for a county."""
    level = division_level(code)
    if level == DivisionLevel.PROVINCE:
        return code[:2]
    if level == DivisionLevel.PREFECTURE:
        return code[:4]
    return code


def check_institution_code(code: str, location: str | None) -> list[Violation]:
    """ID-3: H (medical institution) or P (pharmacy), then the location's division code."""
    if len(code) != INSTITUTION_CODE_LENGTH or code[0] not in "HP" or not code[1:].isdigit():
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
    if len(code) != DISEASE_CODE_LENGTH or code[0] != "M" or not code[1:].isdigit():
        return [Violation("ID-4", "门特病种编码应为字母M加5位数字，例如 M03900。", "code")]
    return []
