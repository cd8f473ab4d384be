"""Shared pieces of the rules: results, half-open periods, calendar months, facts."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cases.rules.choices import Validity

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


Function = TypeVar("Function", bound=Callable[..., object])

# Rule ID -> the functions that decide it without returning a Violation of it (a date, a
# scope, a stage); a rule that refuses is found by its Violation. Both are read from the
# code by tests/policy/test_scenarios.py.
IMPLEMENTED: dict[str, list[str]] = {}


def implements(*rule_ids: str) -> Callable[[Function], Function]:
    """Marks a function as the definition of ``rule_ids``."""

    def mark(function: Function) -> Function:
        for rule_id in rule_ids:
            IMPLEMENTED.setdefault(rule_id, []).append(function.__qualname__)
        return function

    return mark


# --- dates --------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months, clipped to the month's end (2025-08-31 + 6 months = 2026-02-28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def latest_start_before(day: dt.date, months: int) -> dt.date:
    """The latest start ``s`` with ``add_months(s, months) <= day``: the inverse of
    add_months, which subtracting months is not. Clipping maps the ends of longer months
    onto a shorter month's last day (2025-08-29..31 + 6 months = 2026-02-28), so when
    ``day`` is the last day of its month every day to the end of the earlier month counts."""
    start = add_months(day, -months)
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        start = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return start


ONE_DAY = dt.timedelta(days=1)


def last_day(end: dt.date | None) -> dt.date | None:
    """有效期至: the last day a half-open period covers (None: open-ended). Screens,
    prints, exports and messages show this; the end itself is the storage form."""
    return end - ONE_DAY if end is not None else None


def end_after(last: dt.date) -> dt.date:
    """The half-open end of a period whose last covered day is ``last`` (a date a clerk
    typed as 有效期至)."""
    return last + ONE_DAY


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


# --- reference facts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One version's entry of a disease in the platform's catalogue (1309, NX-5)."""

    ver: str
    valid: bool  # vali_flag
    period: Period  # efft_time .. invd_time, half-open


def listed_on(listings: Sequence[Listing], day: dt.date) -> bool:
    """NX-5: the catalogue in force on ``day`` holds the disease: of the versions whose
    period covers the day, the newest says whether it is valid."""
    covering = [entry for entry in listings if entry.period.covers(day)]
    if not covering:
        return False
    newest = max(covering, key=lambda entry: (entry.period.start, entry.ver))
    return newest.valid


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
    validity: str = Validity.OPEN
    validity_months: int | None = None
    for_employee: bool = True
    for_resident: bool = True
    exclusive_with: frozenset[str] = frozenset()
    # The platform catalogue's versions of the disease (NX-5); none for a disease of the
    # seed list, which no 1309 download has confirmed yet.
    listings: tuple[Listing, ...] = ()
    # Per scheme (insutype): the half-open end of the disease's applicability (NX-5).
    scheme_ends: tuple[tuple[str, dt.date | None], ...] | None = None

    def applies_to(self, insurance_type: str, day: dt.date | None = None) -> bool:
        if self.scheme_ends is not None and day is not None:
            return any(
                scheme == insurance_type and (end is None or day < end)
                for scheme, end in self.scheme_ends
            )
        return self.for_employee if insurance_type == "310" else self.for_resident

    def in_catalogue_on(self, day: dt.date) -> bool:
        """NX-5: in the platform's catalogue in force on ``day`` (a seed disease: active)."""
        return listed_on(self.listings, day) if self.listings else self.active
