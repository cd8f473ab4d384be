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
