"""The policy parameters in force on a date, read from the PolicyParameter table.

The catalogue (names, rules, defaults, allowed values) and the typed ``Parameters`` are
part of the policy, in ``cases.rules.parameters``; this module is their database side.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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


# Parameters kept while a long run reads them over and over (an import); None: read each
# time, as requests do.
_kept: ContextVar[dict[dt.date, Parameters] | None] = ContextVar("parameters_kept", default=None)


@contextmanager
def kept() -> Iterator[None]:
    """Within: the parameters of each date are read from the database once."""
    token = _kept.set({})
    try:
        yield
    finally:
        _kept.reset(token)


def parameters_on(on: dt.date) -> Parameters:
    """Every parameter's value in force on ``on``: one query (none when kept)."""
    cache = _kept.get()
    if cache is not None and on in cache:
        return cache[on]
    parameters = _read(on)
    if cache is not None:
        cache[on] = parameters
    return parameters


def _read(on: dt.date) -> Parameters:
    rows = (
        PolicyParameter.objects.filter(valid_from__lte=on)
        .order_by("key", "-valid_from")
        .distinct("key")
        .values_list("key", "value")
    )
    return Parameters.from_values(on, dict(rows))
