"""cases.access: a clerk reaches only their own bureau's patients, anything else is a 404;
and a case-record query made while serving a request without going through it fails."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.http import Http404
from django.test import override_settings

from cases import access, selectors
from cases.models import Filing, Notification, Patient, Qualification, Selection, TransferLetter
from cases.models.scoping import UnscopedQueryError, guarded, unscoped
from tests import factories
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
CASE_MODELS = [Patient, Qualification, Selection, Filing, TransferLetter, Notification]


def test_clerk_sees_only_their_bureau(clerk, other_clerk):
    mine = factories.patient(clerk)
    theirs = factories.patient(other_clerk)
    assert list(selectors.patient_list(clerk)) == [mine]
    assert selectors.patient_get(clerk, mine.pk) == mine
    for pk in (theirs.pk, "not-a-number", None, 10**30):
        with pytest.raises(Http404):
            selectors.patient_get(clerk, pk)
    with pytest.raises(Http404):
        selectors.case_file(clerk, theirs.pk)


def test_records_under_another_bureaus_patient_are_404(clerk, other_clerk):
    theirs = factories.patient(other_clerk)
    their_reviewer = make_user("their_reviewer", "reviewer", other_clerk.bureau)
    qualification = factories.qualification(other_clerk, their_reviewer, theirs)
    with pytest.raises(Http404):
        selectors.qualification_get(clerk, qualification.pk)
    assert selectors.qualification_get(other_clerk, qualification.pk) == qualification


def test_anonymous_and_inactive_users_see_nothing(clerk):
    factories.patient(clerk)
    assert not access.patients(AnonymousUser()).exists()
    clerk.is_active = False
    assert not access.patients(clerk).exists()


def test_data_admin_needs_the_explicit_permission(clerk, data_admin):
    factories.patient(clerk)
    assert not access.patients(data_admin).exists()
    data_admin.user_permissions.add(Permission.objects.get(codename="view_all_patients"))
    data_admin = type(data_admin).objects.get(pk=data_admin.pk)  # fresh permission cache
    assert access.patients(data_admin).count() == 1


def test_review_queue_leaves_out_the_reviewers_own_records(clerk, reviewer):
    patient = factories.patient(clerk)
    factories.qualification(clerk, reviewer, patient, disease="M01600")
    Qualification.objects.update(status="submitted", reviewed_by=None, valid_from=None)
    assert selectors.reviews_waiting(reviewer).count() == 1
    assert selectors.reviews_waiting(clerk).count() == 0


def test_case_file_takes_a_constant_number_of_queries(clerk, reviewer, django_assert_num_queries):
    patient = factories.patient(clerk)
    factories.qualification(clerk, reviewer, patient)
    # 1 for the user's permissions, 1 for the patient, 4 for the records under it.
    with django_assert_num_queries(6), guarded("/patients/"):
        case = selectors.case_file(clerk, patient.pk)
    assert len(case.qualifications) == 1


# --- the guard --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", CASE_MODELS, ids=lambda m: m.__name__)
def test_an_unscoped_query_while_serving_a_request_raises(model, clerk):
    factories.patient(clerk)
    with guarded("/somewhere/"):
        for evaluate in (list, len, bool):
            with pytest.raises(UnscopedQueryError, match=r"cases\.access"):
                evaluate(model.objects.all())
        with pytest.raises(UnscopedQueryError):
            model.objects.count()
        with pytest.raises(UnscopedQueryError):
            model.objects.exists()
        with pytest.raises(UnscopedQueryError):
            model.objects.filter(pk=1).first()
        with pytest.raises(UnscopedQueryError):
            model.objects.update()
        with pytest.raises(UnscopedQueryError):
            model.objects.filter(pk=-1).delete()
        with pytest.raises(UnscopedQueryError):
            list(model.objects.iterator())


def test_scoped_queries_pass_the_guard(clerk, reviewer):
    patient = factories.patient(clerk)
    factories.qualification(clerk, reviewer, patient)
    with guarded("/patients/"):
        assert list(access.patients(clerk).filter(name=patient.name)) == [patient]
        assert access.records(clerk, Qualification.objects.all()).count() == 1
        found = access.patient_get(clerk, patient.pk)
        assert found.qualifications.count() == 1  # a related manager: scoped by its patient
        assert access.under_patient(Selection.objects.all(), found).count() == 0
        assert access.across_bureaus(Patient.objects.all(), "test").exists()
        with unscoped("a job"):
            assert Patient.objects.count() == 1
        assert not access.notifications(clerk).exists()


def test_outside_requests_queries_are_free(clerk):
    factories.patient(clerk)
    assert Patient.objects.count() == 1


@override_settings(STRICT_SCOPING=False)
def test_in_production_an_unscoped_query_is_logged_not_refused(clerk, caplog):
    factories.patient(clerk)
    with guarded("/patients/"):
        assert Patient.objects.count() == 1
    assert "Patient queried without a scope while serving /patients/" in caplog.text


def test_model_validation_checks_uniqueness_across_bureaus(clerk, other_clerk):
    theirs = factories.patient(other_clerk)
    copy = Patient(
        cert_type=theirs.cert_type,
        cert_number=theirs.cert_number,
        name="韦某",
        insurance_type="390",
        region=theirs.region,
        bureau=clerk.bureau,
    )
    with guarded("/admin/"), pytest.raises(Exception, match="ID-1"):
        copy.full_clean()
