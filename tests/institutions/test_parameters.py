"""Policy parameters apply from a date: earlier checks keep earlier values."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from institutions.models import PolicyParameter
from institutions.parameters import parameters_on

pytestmark = pytest.mark.django_db


def test_defaults_are_those_of_policy_md(regions):
    params = parameters_on(dt.date(2025, 3, 1))
    assert params.max_selected_institutions == 3
    assert params.temp_filing_months == 6
    assert params.long_term_lock_months == 6
    assert params.transfer_issuer_min_level == 2
    assert params.transfer_letter_months == 6
    assert params.reminder_stages_days == (30, 7)
    assert params.reassessment_stages_days == (60, 30)
    assert params.gx_filing_free_since == dt.date(2023, 7, 1)


def test_a_later_change_leaves_earlier_dates_unchanged(regions):
    PolicyParameter.objects.create(
        key="MAX_SELECTED_INSTITUTIONS", value=4, valid_from=dt.date(2026, 1, 1)
    )
    assert parameters_on(dt.date(2025, 12, 31)).max_selected_institutions == 3
    assert parameters_on(dt.date(2026, 1, 1)).max_selected_institutions == 4
    assert parameters_on(dt.date(2026, 6, 1)).max_selected_institutions == 4


def test_parameters_for_a_date_take_one_query(regions, django_assert_num_queries):
    with django_assert_num_queries(1):
        parameters_on(dt.date(2025, 3, 1))


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("TEMP_FILING_MONTHS", 5, "FL-3"),
        ("LONG_TERM_LOCK_MONTHS", 7, "FL-4"),
        ("MAX_SELECTED_INSTITUTIONS", "三", "SL-1"),
        ("REMINDER_STAGES_DAYS", [30, 30], "RM-1"),
        ("GX_FILING_FREE_SINCE", "2023-13-01", "GX-1"),
    ],
)
def test_values_outside_the_policy_are_refused(regions, key, value, rule):
    parameter = PolicyParameter(key=key, value=value, valid_from=dt.date(2026, 1, 1))
    with pytest.raises(ValidationError) as excinfo:
        parameter.full_clean()
    assert rule in str(excinfo.value)
