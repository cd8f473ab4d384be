"""Every choice list of the policy, defined once: the value stored, the label clerks see.

Models take their field choices from these (``choices=FilingType.choices``), the rules
compare against their members, and forms and templates show their labels; nothing else
spells a value or a label out again. A member is a ``str``, so it compares equal to the
value stored in the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import EnumType, IntEnum, StrEnum
from typing import Any, Self, cast


class _ChoiceType(EnumType):
    @property
    def choices(cls) -> list[tuple[Any, str]]:
        """``(value, label)`` pairs, in definition order, for model and form fields."""
        return [(member.value, member.label) for member in cast("Iterable[_Labelled]", cls)]

    @property
    def labels(cls) -> dict[Any, str]:
        return {member.value: member.label for member in cast("Iterable[_Labelled]", cls)}


class Choice(StrEnum, metaclass=_ChoiceType):
    """A choice list: each member is a stored value with its Chinese label."""

    label: str

    def __new__(cls, value: str, label: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member


class IntChoice(IntEnum, metaclass=_ChoiceType):
    """A choice list of numbers, each with its Chinese label."""

    label: str

    def __new__(cls, value: int, label: str) -> Self:
        member = int.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member


_Labelled = Choice | IntChoice


# --- ID-2: divisions --------------------------------------------------------------------------


class DivisionLevel(IntChoice):
    """ID-2: PP0000 a province, PPCC00 a prefecture, any other code a county."""

    PROVINCE = 1, "省级"
    PREFECTURE = 2, "地级"
    COUNTY = 3, "县级"


# --- QL-3: how long a disease's qualification lasts -------------------------------------------


class Validity(Choice):
    OPEN = "open", "长期有效"
    MONTHS = "months", "按月数"
    CALENDAR_YEAR = "calendar_year", "至当年年底"


# --- ID: patients ---------------------------------------------------------------------------


class CertType(Choice):
    """ID-1: the certificates a patient is registered under."""

    RESIDENT_ID = "resident_id", "居民身份证"
    PASSPORT = "passport", "护照"
    HK_MACAU_PERMIT = "hk_macau_permit", "港澳居民居住证/通行证"
    TAIWAN_PERMIT = "taiwan_permit", "台湾居民居住证/通行证"
    FOREIGN_PERMANENT_RESIDENT = "foreign_permanent_resident", "外国人永久居留身份证"


class InsuranceType(Choice):
    """ID-5: the two schemes (the platform's insutype codes)."""

    EMPLOYEE = "310", "职工基本医疗保险"
    RESIDENT = "390", "城乡居民基本医疗保险"


class Sex(Choice):
    MALE = "M", "男"
    FEMALE = "F", "女"
    UNKNOWN = "U", "未知"


class Channel(Choice):
    """FL-9: where a request was made."""

    APP = "app", "国家医保服务平台App"
    MINI_PROGRAM = "mini_program", "微信小程序"
    WINDOW = "window", "经办窗口"
    PHONE = "phone", "电话（12393）"


# --- QL: qualifications -------------------------------------------------------------------


class QualificationStatus(Choice):
    SUBMITTED = "submitted", "待复核"
    APPROVED = "approved", "已认定"
    REJECTED = "rejected", "未通过"
    CANCELLED = "cancelled", "已取消"
    EXPIRED = "expired", "已到期"


# The statuses of a qualification that was approved; its dates say when it applies.
HELD = (
    QualificationStatus.APPROVED,
    QualificationStatus.EXPIRED,
    QualificationStatus.CANCELLED,
)


# --- FL: cross-province filings -----------------------------------------------------------


class FilingType(Choice):
    LONG_TERM = "long_term", "长期备案"
    TEMPORARY = "temporary", "临时备案"


class FilingSubtype(Choice):
    """FL-2: the categories of person; each belongs to one filing type (SUBTYPES)."""

    RETIRED_RESETTLED = "retired_resettled", "异地安置退休"
    LONG_TERM_RESIDENT = "long_term_resident", "异地长期居住"
    POSTED_WORKER = "posted_worker", "常驻异地工作"
    TRANSFER = "transfer", "异地转诊"
    EMERGENCY = "emergency", "急诊抢救"
    OTHER = "other", "其他临时外出就医"


# FL-2: the categories each filing type admits.
SUBTYPES: dict[str, tuple[FilingSubtype, ...]] = {
    FilingType.LONG_TERM: (
        FilingSubtype.RETIRED_RESETTLED,
        FilingSubtype.LONG_TERM_RESIDENT,
        FilingSubtype.POSTED_WORKER,
    ),
    FilingType.TEMPORARY: (
        FilingSubtype.TRANSFER,
        FilingSubtype.EMERGENCY,
        FilingSubtype.OTHER,
    ),
}


class FilingStatus(Choice):
    ACTIVE = "active", "有效"
    CANCELLED = "cancelled", "已取消"
    EXPIRED = "expired", "已到期"
    CHANGED = "changed", "已变更"


class Material(Choice):
    """FL-5: the documents a filing may be supported by."""

    IDENTITY = "identity", "身份证或医保凭证"
    HOUSEHOLD_REGISTER = "household_register", "户口簿"
    RESIDENCE_PERMIT = "residence_permit", "居住证"
    COMMITMENT_LETTER = "commitment_letter", "个人承诺书"
    POSTING_CERTIFICATE = "posting_certificate", "单位派驻证明"
    EMPLOYMENT_CONTRACT = "employment_contract", "劳动合同"
    TRANSFER_LETTER = "transfer_letter", "转诊证明"
    EMERGENCY_CERTIFICATE = "emergency_certificate", "急诊诊断证明"


# --- TL: transfer letters -----------------------------------------------------------------


class LetterReason(Choice):
    """TL-2."""

    TECHNICAL = "technical", "本地技术条件所限"
    EQUIPMENT = "equipment", "本地设备条件所限"
    OTHER = "other", "其他"


class LetterStatus(Choice):
    ACTIVE = "active", "有效"
    EXPIRED = "expired", "已到期"


# --- SL: selected institutions ------------------------------------------------------------


class SelectionScope(Choice):
    """SL-3: where a selected institution is, seen from the patient's city."""

    IN_CITY = "in_city", "市内"
    IN_REGION = "in_region", "区内异地"
    CROSS_PROVINCE = "cross_province", "跨省"


# --- RM: reminders ------------------------------------------------------------------------


class ReminderStage(Choice):
    """RM-1..3: a stage of N days before the end (the stages in force are parameters),
    the expiry itself, and a long-term filing's lock lifting (RM-2)."""

    DAYS_60 = "60", "到期前60天"
    DAYS_30 = "30", "到期前30天"
    DAYS_7 = "7", "到期前7天"
    EXPIRED = "expired", "已到期"
    LOCK_LIFTED = "lock_lifted", "长期备案锁定期满"


class RecipientChannel(Choice):
    """RM-4: how a reminder reaches a recipient."""

    INBOX = "inbox", "系统消息"
    EMAIL = "email", "电子邮件"
    SMS = "sms", "短信"


# --- ST: the direct-settlement check --------------------------------------------------------


class Outcome(Choice):
    """ST-1..7: how a patient settles a disease at an institution on a date."""

    DIRECT = "direct", "可直接结算"
    MANUAL = "manual", "需先行垫付、回参保地手工报销"
    NOT_COVERED = "not_covered", "不属于门特待遇范围"
