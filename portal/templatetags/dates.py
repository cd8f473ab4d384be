"""Dates as clerks write them: an end is shown as 有效期至, the last day it covers."""

from __future__ import annotations

import datetime as dt

from django import template

from cases import rules

register = template.Library()


@register.filter
def last_day(end: dt.date | None) -> dt.date | None:
    """``{{ filing.end|last_day|date:"Y-m-d" }}``: the stored (first uncovered) end day
    as the last valid day; None (open-ended) stays None."""
    return rules.last_day(end)


@register.filter
def days_until(day: dt.date | None, later: dt.date | None) -> int | None:
    """``{{ q.applied_on|days_until:today }}``: whole days from ``day`` to ``later``."""
    if day is None or later is None:
        return None
    return (later - day).days
