"""Code formats are refused with a Chinese message, in Python and in the database."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from institutions.models import Disease, Institution, Region

pytestmark = pytest.mark.django_db


def institution(code, location="451202", **extra):
    return Institution(code=code, name="测试医院", location_id=location, **extra)


@pytest.mark.parametrize("code", ["H4512020000", "X45120200001", "H45120200001A", "h45120200001"])
def test_bad_institution_code_is_refused_in_chinese(regions, code):
    with pytest.raises(ValidationError) as excinfo:
        institution(code).full_clean()
    assert "ID-3" in str(excinfo.value)
    assert "机构编码" in str(excinfo.value)


def test_institution_code_must_carry_its_county(regions):
    with pytest.raises(ValidationError) as excinfo:
        institution("H45020200001").full_clean()
    assert "第2–7位" in excinfo.value.message_dict["code"][0]


def test_a_good_institution_code_passes(regions):
    institution("H45120200001").full_clean()
    institution("P45120200001").full_clean()


def test_database_refuses_a_code_that_skipped_validation(regions):
    with pytest.raises(IntegrityError), transaction.atomic():
        institution("H45020200001").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        institution("BAD").save()


def test_pharmacy_cannot_issue_transfer_letters(regions):
    with pytest.raises(ValidationError) as excinfo:
        institution("P45120200001", transfer_issuer=True).full_clean()
    assert "TL-1" in str(excinfo.value)


@pytest.mark.parametrize("code", ["M0390", "N03900", "M039000", "m03900"])
def test_bad_disease_code_is_refused_in_chinese(regions, code):
    with pytest.raises(ValidationError) as excinfo:
        Disease(code=code, name="测试").full_clean()
    assert "ID-4" in str(excinfo.value)
    assert "病种编码" in str(excinfo.value)


def test_database_refuses_a_bad_disease_code(regions):
    with pytest.raises(IntegrityError), transaction.atomic():
        Disease.objects.create(code="X1", name="测试")


def test_months_validity_needs_a_number_of_months(regions):
    with pytest.raises(ValidationError) as excinfo:
        Disease(code="M99901", name="测试", validity="months").full_clean()
    assert "QL-3" in str(excinfo.value)


def test_bad_division_code_is_refused(regions):
    with pytest.raises(ValidationError) as excinfo:
        Region(code="4512", name="x", full_name="x", level=3).full_clean()
    assert "ID-2" in str(excinfo.value)
