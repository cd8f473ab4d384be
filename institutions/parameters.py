"""The policy parameters in force on a date, read from the PolicyParameter table.

The catalogue (names, rules, defaults, allowed values) and the typed ``Parameters`` are
part of the policy, in ``cases.rules.parameters``; this module is their database side.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError

from cases.rules.parameters import SPECS, ParameterError, Parameters
from cases.rules.parameters import clean_value as _clean_value
from institutions.models import PolicyParameter

__all__ = ["SPECS", "Parameters", "clean_value", "parameters_on"]


def clean_value(key: str, value: object) -> object:
    """A value for parameter ``key``, checked; raises ValidationError in Chinese."""
    try:
        return _clean_value(key, value)
    except ParameterError as exc:
        raise ValidationError(str(exc)) from exc


def parameters_on(on: dt.date) -> Parameters:
    """Every parameter's value in force on ``on``: one query."""
    rows = (
        PolicyParameter.objects.filter(valid_from__lte=on)
        .order_by("key", "-valid_from")
        .distinct("key")
        .values_list("key", "value")
    )
    return Parameters.from_values(on, dict(rows))
