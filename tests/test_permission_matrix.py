"""Every URL that takes an object id, found from the URL configuration: anonymous users
are sent to login, another bureau's clerk gets 404 on GET and POST, and each role of the
owning bureau gets the answer its permissions give. A new URL without an entry fails."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from cases import facts
from cases.models import Notification
from cases.services.qualifications import qualification_apply
from institutions.models import Disease
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 3, 1)


def object_url_names() -> set[str]:
    """Names of the portal's URLs with a path parameter (the admin site has its own test)."""
    names: set[str] = set()

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("admin/"):
                    continue
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.pattern.converters and p.name:
                names.add(p.name)

    walk(get_resolver().url_patterns)
    return names


@pytest.fixture
def records(clerk, reviewer, bureau_admin):
    case = factories.case_file(clerk, reviewer, TODAY)
    with facts.as_of(TODAY):
        submitted = qualification_apply(
            by=clerk,
            patient=case["patient"],
            disease=Disease.objects.get(code="M01600"),
            applied_on=TODAY,
            diagnosis_institution=case["home"],
            diagnosis_date=TODAY,
            diagnosis_doctor="x",
        )
    note = Notification.objects.create(user=clerk, patient=case["patient"], title="t", body="b")
    return {**case, "submitted": submitted, "notification": note}


# url name -> (record, expected GET status for clerk, reviewer, bureau admin)
MATRIX = {
    "patient_detail": ("patient", 200, 200, 200),
    "qualification_apply": ("patient", 200, 200, 200),
    "selection_add": ("patient", 200, 200, 200),
    "filing_create": ("patient", 200, 200, 200),
    "letter_issue": ("patient", 200, 200, 200),
    "qualification_review": ("submitted", 403, 200, 200),
    "selection_end": ("selection", 200, 200, 200),
    "filing_cancel": ("filing", 200, 200, 200),
    "filing_receipt": ("filing", 200, 200, 200),
    "letter_print": ("letter", 200, 200, 200),
    # The inbox is per user: only its owner reaches a message, and only by POST.
    "inbox_read": ("notification", 405, 404, 404),
}


def test_every_object_url_has_a_matrix_entry():
    assert object_url_names() == set(MATRIX)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_permission_matrix(
    name, records, client_for, clerk, reviewer, bureau_admin, other_clerk, client
):
    record, *expected = MATRIX[name]
    url = reverse(name, args=[records[record].pk])

    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    assert client.post(url, {}).status_code == 302

    outsider = client_for(other_clerk)
    assert outsider.get(url).status_code == 404
    assert outsider.post(url, {}).status_code == 404

    for user, status in zip((clerk, reviewer, bureau_admin), expected, strict=True):
        assert client_for(user).get(url).status_code == status, (name, user.username)


def test_unknown_ids_are_404(client_for, clerk):
    assert client_for(clerk).get(reverse("patient_detail", args=[999999])).status_code == 404
    assert client_for(clerk).get("/patients/99999999999999999999/").status_code == 404


def test_another_bureaus_letter_cannot_be_linked_to_a_filing(records, client_for, other_clerk):
    other_patient = factories.patient(other_clerk, name="覃示例")
    response = client_for(other_clerk).post(
        reverse("filing_create", args=[other_patient.pk]),
        {
            "type": "temporary",
            "subtype": "transfer",
            "destination": "440100",
            "start": "2025-03-01",
            "transfer_letter": records["letter"].pk,
            "materials": ["identity", "transfer_letter"],
            "channel": "window",
        },
    )
    assert response.status_code == 200
    assert "transfer_letter" in response.context["form"].errors
