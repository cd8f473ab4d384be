"""Exchange with the national medical-insurance platform (医保信息平台): the platform's
identifiers, its dates, its code values and its disease catalogue, as pure functions.

The exchange rules (NX-1..NX-5) are the portal's, not policy: docs/national-exchange.md
states each with its field. The platform writes ``enddate`` as the last valid day and
leaves it empty for an open-ended record; the portal's ends are half-open, so a date
leaving is end − 1 day and a date arriving is end + 1 day (NX-3).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cases.rules import base
from cases.rules.base import Period, Violation, end_after, last_day
from cases.rules.choices import CertType, Channel, FilingSubtype, InsuranceType, Outcome, Sex

# The exchange rules, stated in docs/national-exchange.md and on the policy page.
EXCHANGE_RULES = ("NX-1", "NX-2", "NX-3", "NX-4", "NX-5")

# NX-1: 人员编号 (psn_no); NX-2: 待遇申报明细流水号 (trt_dcla_detl_sn). Both are the
# platform's own numbers, at most 30 characters of digits and capital letters.
PSN_NO_RE = re.compile(r"^[0-9A-Z]{10,30}$")
SERIAL_RE = re.compile(r"^[0-9A-Z]{6,30}$")


def normalize_platform_id(value: str) -> str:
    """As the platform prints it: no spaces, capital letters."""
    return "".join(value.split()).upper()


def check_psn_no(value: str, field: str = "psn_no") -> list[Violation]:
    """NX-1: an empty psn_no is allowed (not yet taken from the platform)."""
    if value and not PSN_NO_RE.match(value):
        return [Violation("NX-1", "人员编号应为10–30位数字或大写字母。", field)]
    return []


def check_serial(value: str, field: str = "trt_dcla_detl_sn") -> list[Violation]:
    """NX-2: an empty serial is allowed (not yet registered on the platform)."""
    if value and not SERIAL_RE.match(value):
        return [Violation("NX-2", "待遇申报明细流水号应为6–30位数字或大写字母。", field)]
    return []


# --- NX-3: dates --------------------------------------------------------------------------


def date_out(day: dt.date | None) -> str:
    """A start or a single day, as the platform writes it (YYYY-MM-DD; empty for none)."""
    return day.isoformat() if day else ""


def end_out(end: dt.date | None) -> str:
    """A half-open end as the platform's enddate: the last valid day; empty = open."""
    return date_out(last_day(end))


def end_in(enddate: dt.date | None) -> dt.date | None:
    """The platform's enddate (last valid day, None = open) as a half-open end."""
    return end_after(enddate) if enddate is not None else None


def moment_in(value: dt.datetime | dt.date | None) -> dt.date | None:
    """A catalogue time (efft_time, invd_time) as a day boundary: a time at the very end
    of a day (23:59:59) means from the next day on; any other time, from that day."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second) == (23, 59, 59):
            return value.date() + dt.timedelta(days=1)
        return value.date()
    return value


# --- NX-4: code values --------------------------------------------------------------------

# What each mapping table translates, with the portal's default codes. The platform's
# dictionaries are national where one exists (psn_cert_type, gend, insutype); a filing's
# rloc_rea and a request's dcla_souc differ by province, so the defaults are the portal's
# until a data administrator enters the province's own codes (docs/national-exchange.md).
MAPPING_KINDS: dict[str, str] = {
    "psn_cert_type": "证件类型 → psn_cert_type",
    "gend": "性别 → gend",
    "insutype": "险种 → insutype",
    "rloc_rea": "备案人员类别 → rloc_rea",
    "dcla_souc": "办理渠道 → dcla_souc",
}

DEFAULT_CODES: dict[str, dict[str, str]] = {
    "psn_cert_type": {
        CertType.RESIDENT_ID: "01",
        CertType.HK_MACAU_PERMIT: "04",
        CertType.TAIWAN_PERMIT: "06",
        CertType.FOREIGN_PERMANENT_RESIDENT: "07",
        CertType.PASSPORT: "08",
    },
    "gend": {Sex.MALE: "1", Sex.FEMALE: "2", Sex.UNKNOWN: "9"},
    "insutype": {InsuranceType.EMPLOYEE: "310", InsuranceType.RESIDENT: "390"},
    "rloc_rea": {
        FilingSubtype.RETIRED_RESETTLED: "11",
        FilingSubtype.LONG_TERM_RESIDENT: "12",
        FilingSubtype.POSTED_WORKER: "13",
        FilingSubtype.TRANSFER: "21",
        FilingSubtype.EMERGENCY: "22",
        FilingSubtype.OTHER: "23",
    },
    "dcla_souc": {
        Channel.WINDOW: "01",
        Channel.APP: "02",
        Channel.MINI_PROGRAM: "03",
        Channel.PHONE: "04",
    },
}

PORTAL_VALUES: dict[str, type[CertType | Sex | InsuranceType | FilingSubtype | Channel]] = {
    "psn_cert_type": CertType,
    "gend": Sex,
    "insutype": InsuranceType,
    "rloc_rea": FilingSubtype,
    "dcla_souc": Channel,
}


@dataclass(frozen=True)
class CodeTables:
    """The code values in force: the defaults, overridden by the administrators' rows."""

    overrides: Mapping[str, Mapping[str, str]]

    def out(self, kind: str, portal_value: str) -> str:
        table = self.overrides.get(kind, {})
        if portal_value in table:
            return table[portal_value]
        return DEFAULT_CODES[kind].get(portal_value, "")

    def back(self, kind: str, code: str) -> str | None:
        """The portal value a platform code stands for (None: no table names it)."""
        merged = {**DEFAULT_CODES[kind], **self.overrides.get(kind, {})}
        for value, mapped in merged.items():
            if mapped == code:
                return value
        return None


# --- NX-5: the disease catalogue in force ---------------------------------------------------


Listing = base.Listing
listed_on = base.listed_on


# --- the platform's 2001 answer --------------------------------------------------------------


@dataclass(frozen=True)
class PlatformCheck:
    """What the platform's treatment check (2001) answers, as the portal would: whether
    the person enjoys the treatment, the qualification's period, and the reasons."""

    trt_enjymnt_flag: str  # "1" enjoys, "0" does not
    begndate: str
    enddate: str
    trt_chk_rslt: str


def platform_check(
    outcome: Outcome, period: Period | None, reasons: Sequence[Violation]
) -> PlatformCheck:
    """2001 as the platform reports it: treatment enjoyed where it settles directly; the
    period of the qualification in force; the failed rules as the result text."""
    enjoys = outcome == Outcome.DIRECT
    if enjoys:
        result = "享受门诊慢特病待遇，可直接结算"
    else:
        result = "；".join(f"{v.rule} {v.message}" for v in reasons) or "不享受"
    return PlatformCheck(
        trt_enjymnt_flag="1" if enjoys else "0",
        begndate=date_out(period.start) if period else "",
        enddate=end_out(period.end) if period else "",
        trt_chk_rslt=result,
    )
