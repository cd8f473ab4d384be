"""Scoping: a clerk reaches only their own bureau's patients; anything else is a 404."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.http import Http404

from cases import selectors
from cases.models import Patient
from tests import factories

pytestmark = pytest.mark.django_db


def test_clerk_sees_only_their_bureau(clerk, other_clerk):
    mine = factories.patient(clerk)
    theirs = factories.patient(other_clerk)
    assert list(selectors.patient_list(clerk)) == [mine]
    assert selectors.patient_get(clerk, mine.pk) == mine
    with pytest.raises(Http404):
        selectors.patient_get(clerk, theirs.pk)
    with pytest.raises(Http404):
        selectors.patient_get(clerk, "not-a-number")
    with pytest.raises(Http404):
        selectors.case_file(clerk, theirs.pk)


def test_data_admin_needs_the_explicit_permission(clerk, data_admin):
    factories.patient(clerk)
    assert not Patient.objects.visible_to(data_admin).exists()
    data_admin.user_permissions.add(Permission.objects.get(codename="view_all_patients"))
    data_admin = type(data_admin).objects.get(pk=data_admin.pk)  # fresh permission cache
    assert Patient.objects.visible_to(data_admin).count() == 1


def test_review_queue_leaves_out_the_reviewers_own_records(clerk, reviewer):
    patient = factories.patient(clerk)
    factories.qualification(clerk, reviewer, patient, disease="M01600")
    from cases.models import Qualification

    Qualification.objects.update(status="submitted", reviewed_by=None, valid_from=None)
    assert selectors.reviews_waiting(reviewer).count() == 1
    assert selectors.reviews_waiting(clerk).count() == 0


def test_case_file_takes_a_constant_number_of_queries(clerk, reviewer, django_assert_num_queries):
    patient = factories.patient(clerk)
    factories.qualification(clerk, reviewer, patient)
    # 1 for the user's permissions, 1 for the patient, 4 for the records under it.
    with django_assert_num_queries(6):
        case = selectors.case_file(clerk, patient.pk)
    assert len(case.qualifications) == 1
