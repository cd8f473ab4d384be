"""Policy parameters: every number POLICY.md marks [parameter], with its rule and bounds.

The catalogue (name, rule, default, allowed values) is defined here, beside the rules
that read it. The values in force on a date live in the PolicyParameter table, edited by
data administrators; ``institutions.parameters.parameters_on`` reads them and builds a
``Parameters`` with ``from_values``, so a check for an earlier date uses the value in
force then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class ParameterError(ValueError):
    """A value a parameter does not allow; the message is the Chinese sentence shown."""


def _int_between(low: int, high: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"应为整数（{low}–{high}）。")
        if not low <= value <= high:
            raise ParameterError(f"应在 {low} 到 {high} 之间。")
        return value

    return check


MAX_REMINDER_DAYS = 366


def _day_list(value: object) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ParameterError("应为天数列表，例如 [30, 7]。")
    if any(
        isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_REMINDER_DAYS
        for v in value
    ):
        raise ParameterError(f"每个提醒天数应为 1 到 {MAX_REMINDER_DAYS} 之间的整数。")
    if len(set(value)) != len(value):
        raise ParameterError("提醒天数不能重复。")
    return sorted(value, reverse=True)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ParameterError("应为 true 或 false。")
    return value


def _iso_date(value: object) -> str:
    try:
        dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ParameterError("应为日期，格式 YYYY-MM-DD。") from exc
    return str(value)


@dataclass(frozen=True)
class ParameterSpec:
    key: str
    rule: str
    label: str
    default: object
    clean: Callable[[object], object]

    @property
    def attribute(self) -> str:
        return self.key.lower()


SPECS: dict[str, ParameterSpec] = {
    spec.key: spec
    for spec in [
        ParameterSpec(
            "MAX_SELECTED_INSTITUTIONS", "SL-1", "同时有效的选点机构上限", 3, _int_between(1, 10)
        ),
        # FL-3: the national rule is "at least six months", so the value may not go below 6.
        ParameterSpec(
            "TEMP_FILING_MONTHS", "FL-3", "临时备案有效期（月，不少于6）", 6, _int_between(6, 24)
        ),
        # FL-4: the lock may be shortened, never lengthened past six months.
        ParameterSpec(
            "LONG_TERM_LOCK_MONTHS",
            "FL-4",
            "长期备案变更/取消锁定期（月，不超过6）",
            6,
            _int_between(0, 6),
        ),
        ParameterSpec(
            "TRANSFER_ISSUER_MIN_LEVEL", "TL-1", "开具转诊证明的最低医院等级", 2, _int_between(1, 3)
        ),
        ParameterSpec(
            "TRANSFER_LETTER_MONTHS", "TL-4", "转诊证明有效期（月）", 6, _int_between(1, 24)
        ),
        ParameterSpec(
            "REMINDER_STAGES_DAYS",
            "RM-1",
            "临时备案与转诊证明到期提醒（到期前天数）",
            [30, 7],
            _day_list,
        ),
        ParameterSpec(
            "REASSESSMENT_STAGES_DAYS",
            "RM-3",
            "资格复评提醒（到期前天数）",
            [60, 30],
            _day_list,
        ),
        ParameterSpec(
            "REASSESSMENT_WINDOW_DAYS",
            "QL-2",
            "资格续期申请窗口（到期前天数）",
            60,
            _int_between(1, MAX_REMINDER_DAYS),
        ),
        ParameterSpec(
            "GX_FILING_FREE_SINCE",
            "GX-1",
            "广西区内就医免备案生效日期",
            "2023-07-01",
            _iso_date,
        ),
        ParameterSpec(
            "MOVE_ANSWER_DAYS", "MV-1", "转入申请未答复催办（天）", 15, _int_between(1, 90)
        ),
        ParameterSpec(
            "QUALIFICATION_CARRIES_OVER",
            "MV-4",
            "跨设区市转移时已认定资格继续有效（区内互认）",
            True,
            _boolean,
        ),
    ]
}


def clean_value(key: str, value: object) -> object:
    """A stored value for parameter ``key``, checked; raises ParameterError citing the rule."""
    spec = SPECS.get(key)
    if spec is None:
        raise ParameterError(f"未知的政策参数：{key}")
    try:
        return spec.clean(value)
    except ParameterError as exc:
        raise ParameterError(f"{spec.rule} {spec.label}：{exc}") from exc


@dataclass(frozen=True)
class Parameters:
    """The parameter values in force on one date, typed. Built by ``from_values``, which
    takes every value not given from SPECS' defaults."""

    on: dt.date
    max_selected_institutions: int
    temp_filing_months: int
    long_term_lock_months: int
    transfer_issuer_min_level: int
    transfer_letter_months: int
    reminder_stages_days: tuple[int, ...]
    reassessment_stages_days: tuple[int, ...]
    reassessment_window_days: int
    gx_filing_free_since: dt.date
    move_answer_days: int
    qualification_carries_over: bool

    @classmethod
    def from_values(cls, on: dt.date, values: Mapping[str, object] | None = None) -> Parameters:
        """From stored values by key (as in PolicyParameter); unknown keys are ignored."""
        given = values or {}
        typed: dict[str, object] = {}
        for key, spec in SPECS.items():
            value = given.get(key, spec.default)
            if isinstance(value, list):
                value = tuple(value)
            elif key == "GX_FILING_FREE_SINCE":
                value = dt.date.fromisoformat(str(value))
            typed[spec.attribute] = value
        return cls(on=on, **typed)  # type: ignore[arg-type]  # each value passed SPECS' clean

    def value(self, key: str) -> object:
        """The value of parameter ``key`` (SPECS' name), for display."""
        return getattr(self, SPECS[key].attribute)


def defaults(on: dt.date) -> Parameters:
    return Parameters.from_values(on)
