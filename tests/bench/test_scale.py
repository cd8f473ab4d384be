"""The synthetic data generator writes rows the database constraints accept."""

import datetime as dt

import pytest

from bench.scale import seed_scale
from cases import rules
from cases.models import Filing, Patient, Qualification, Selection, TransferLetter

pytestmark = pytest.mark.django_db


def test_seed_scale_fills_every_guangxi_county_with_valid_records(regions):
    report = seed_scale(2000)
    assert "参保人 2000" in str(report)
    assert Patient.objects.count() == 2000
    assert Patient.objects.values("region").distinct().count() == 111
    assert 3400 <= Qualification.objects.count() <= 4000
    assert Selection.objects.count() == 4000
    assert Filing.objects.count() == 666
    assert TransferLetter.objects.count() == 133
    for number in Patient.objects.values_list("cert_number", flat=True)[:200]:
        assert rules.check_resident_id(number, dt.date.today()) == []
    assert set(Patient.objects.values_list("name_initials", flat=True)[:50]) != {""}
