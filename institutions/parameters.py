"""Policy parameters: every number POLICY.md marks [parameter], with the date it applies from.

The catalogue of parameters (name, default, what values are allowed) lives here in code;
the values in force live in the PolicyParameter table, edited by data administrators. The
rules read them only through ``parameters_on(date)``, so a check for an earlier date uses
the value that was in force then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"应为整数（{low}–{high}）。")
        if not low <= value <= high:
            raise ValidationError(f"应在 {low} 到 {high} 之间。")
        return value

    return check


def _day_list(value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ValidationError("应为天数列表，例如 [30, 7]。")
    if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 366 for v in value):
        raise ValidationError("每个提醒天数应为 1 到 366 之间的整数。")
    if len(set(value)) != len(value):
        raise ValidationError("提醒天数不能重复。")
    return sorted(value, reverse=True)


def _iso_date(value: Any) -> str:
    try:
        dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationError("应为日期，格式 YYYY-MM-DD。") from exc
    return str(value)


@dataclass(frozen=True)
class ParameterSpec:
    key: str
    rule: str
    label: str
    default: Any
    clean: Callable[[Any], Any]


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
            _int_between(1, 366),
        ),
        ParameterSpec(
            "GX_FILING_FREE_SINCE",
            "GX-1",
            "广西区内就医免备案生效日期",
            "2023-07-01",
            _iso_date,
        ),
    ]
}


def clean_value(key: str, value: Any) -> Any:
    """Validate a value for parameter ``key``; raises ValidationError in Chinese."""
    spec = SPECS.get(key)
    if spec is None:
        raise ValidationError(f"未知的政策参数：{key}")
    try:
        return spec.clean(value)
    except ValidationError as exc:
        raise ValidationError(f"{spec.rule} {spec.label}：{exc.messages[0]}") from exc


@dataclass(frozen=True)
class Parameters:
    """The parameter values in force on one date (plain values, no ORM)."""

    on: dt.date
    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def gx_filing_free_since(self) -> dt.date:
        return dt.date.fromisoformat(self.values["GX_FILING_FREE_SINCE"])


def defaults(on: dt.date) -> Parameters:
    return Parameters(on=on, values={key: spec.default for key, spec in SPECS.items()})


def parameters_on(on: dt.date) -> Parameters:
    """Every parameter's value in force on ``on``: one query."""
    from institutions.models import PolicyParameter

    values = {key: spec.default for key, spec in SPECS.items()}
    rows = (
        PolicyParameter.objects.filter(valid_from__lte=on)
        .order_by("key", "-valid_from")
        .distinct("key")
        .values_list("key", "value")
    )
    for key, value in rows:
        if key in values:
            values[key] = value
    return Parameters(on=on, values=values)
