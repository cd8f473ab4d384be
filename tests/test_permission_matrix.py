"""Every portal URL, found from the URL configuration (the admin site has its own matrix,
tests/test_admin_matrix.py). A URL with an object id: anonymous users are sent to login,
another bureau's clerk gets 404 on GET and POST, and each role of the owning bureau gets
the answer its permissions give. Every other URL (lists, exports, queues, autocomplete):
each role gets the answer its permissions give, and no page or export shows another
bureau's patient. A new URL without an entry fails."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from cases import facts, statistics
from cases.imports import workbooks
from cases.models import Notification
from cases.services.imports import import_check, import_upload
from cases.services.moves import move_accept, move_refuse, move_request
from cases.services.national import reconciliation_request, reconciliation_run
from cases.services.qualifications import qualification_apply
from cases.services.reports import report_build, report_request
from institutions.models import Disease, Region
from portal.models import Role
from tests import factories
from tests.conftest import make_bureau, make_user

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 3, 1)


def url_names(*, with_object: bool) -> set[str]:
    """Names of the portal's URLs with (or without) a path parameter."""
    names: set[str] = set()

    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                if not str(p.pattern).startswith("admin/"):
                    walk(p.url_patterns)
            elif isinstance(p, URLPattern) and p.name and bool(p.pattern.converters) == with_object:
                names.add(p.name)

    walk(get_resolver().url_patterns)
    return names


def object_url_names() -> set[str]:
    return url_names(with_object=True)


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
    case_import = import_upload(by=clerk, file_name="档案.xlsx", data=workbooks.template())
    import_check(case_import.pk)
    move = ask_to_move(case["patient"])
    statistics.refresh(TODAY)
    report = report_request(
        by=clerk, area=Region.objects.get(code="451202"), month=TODAY.replace(day=1)
    )
    report_build(report.pk)
    reconciliation = reconciliation_request(
        by=clerk, kind="letter", file_name="5304.csv", data=b"psn_no\n"
    )
    reconciliation_run(reconciliation.pk)
    return {
        **case,
        "submitted": submitted,
        "notification": note,
        "import": case_import,
        "move": move,
        "report": report,
        "reconciliation": reconciliation,
    }


def ask_to_move(patient):
    """宜州区 asks for the 金城江区 patient (MV-1): a third bureau to 柳州's other_clerk."""
    yizhou = make_user("yizhou_clerk", Role.CLERK, make_bureau("451203"))
    with facts.as_of(TODAY):
        return move_request(
            by=yizhou,
            patient=patient,
            region=Region.objects.get(code="451203"),
            effective=TODAY,
            voucher="GX2025030001",
        )


# url name -> (record, expected GET status for clerk, reviewer, bureau admin)
MATRIX = {
    "patient_detail": ("patient", 200, 200, 200),
    "patient_edit": ("patient", 200, 200, 200),
    "patient_print": ("patient", 200, 200, 200),
    "qualification_apply": ("patient", 200, 200, 200),
    "selection_add": ("patient", 200, 200, 200),
    "filing_create": ("patient", 200, 200, 200),
    "letter_issue": ("patient", 200, 200, 200),
    "qualification_review": ("submitted", 403, 200, 200),
    "selection_end": ("selection", 200, 200, 200),
    "filing_cancel": ("filing", 200, 200, 200),
    "filing_change": ("filing", 200, 200, 200),
    "qualification_cancel": ("qualification", 200, 200, 200),
    "filing_receipt": ("filing", 200, 200, 200),
    "letter_print": ("letter", 200, 200, 200),
    "import_detail": ("import", 200, 200, 200),
    "import_progress": ("import", 200, 200, 200),
    "import_errors": ("import", 200, 200, 200),
    "import_confirm": ("import", 405, 405, 405),
    "import_review": ("import", 405, 405, 405),
    "move_detail": ("move", 200, 200, 200),
    "patient_move_out": ("patient", 200, 200, 200),
    # A bureau's monthly reports, for its staff.
    "report_detail": ("report", 200, 200, 200),
    "report_progress": ("report", 200, 200, 200),
    "report_download": ("report", 200, 200, 200),
    # The platform's numbers, and a bureau's reconciliations with the platform.
    "platform_ids": ("patient", 200, 200, 200),
    "reconciliation_detail": ("reconciliation", 200, 200, 200),
    "reconciliation_progress": ("reconciliation", 200, 200, 200),
    "reconciliation_adopt": ("reconciliation", 302, 302, 302),
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


# --- every URL without an object id -------------------------------------------------------

# The account pages have their own tests (tests/portal/test_auth.py, test_security.py).
ACCOUNT_PAGES = {"login", "logout", "two_factor_verify", "two_factor_setup", "status"}
# A load balancer's health checks, open to all (tests/portal/test_health.py).
ACCOUNT_PAGES |= {"health_live", "health_ready"}

# (url name, query) -> expected GET status for clerk, reviewer, bureau admin, data admin.
PAGES = {
    ("home", ""): (200, 200, 200, 200),
    ("patient_search", ""): (200, 200, 200, 403),
    ("patient_search", "?q=韦"): (200, 200, 200, 403),
    ("patient_search", "?export=csv"): (200, 200, 200, 403),
    ("patient_search", "?export=xlsx"): (200, 200, 200, 403),
    ("patient_register", ""): (200, 200, 200, 403),
    ("import_list", ""): (200, 200, 200, 200),
    ("import_template", ""): (200, 200, 200, 200),
    ("patient_receipts", ""): (200, 200, 200, 403),
    ("patient_receipts", "?filing_status=active"): (200, 200, 200, 403),
    ("review_queue", ""): (403, 200, 200, 403),
    ("review_queue", "?export=csv"): (403, 200, 200, 403),
    ("expiring", ""): (200, 200, 200, 403),
    ("expiring", "?export=csv"): (200, 200, 200, 403),
    ("settlement", ""): (200, 200, 200, 403),
    ("institution_finder", "?destination=440100&disease=M03900"): (200, 200, 200, 403),
    ("institution_autocomplete", "?q=H44"): (200, 200, 200, 403),
    ("policy", ""): (200, 200, 200, 200),
    ("inbox", ""): (200, 200, 200, 200),
    ("inbox_read_all", ""): (405, 405, 405, 405),
    ("move_list", ""): (200, 200, 200, 403),
    ("move_new", ""): (200, 200, 200, 403),
    ("statistics", ""): (200, 200, 200, 403),
    ("statistics", "?area=451202&table=diseases&export=csv"): (200, 200, 200, 403),
    ("statistics", "?table=counties&export=xlsx"): (200, 200, 200, 403),
    ("report_list", ""): (200, 200, 200, 403),
    ("exchange_export", ""): (200, 200, 200, 403),
    ("exchange_export", "?kind=person&fmt=csv"): (200, 200, 200, 403),
    ("exchange_export", "?kind=qualification&fmt=csv"): (200, 200, 200, 403),
    ("exchange_export", "?kind=filing&fmt=xlsx"): (200, 200, 200, 403),
    ("reconciliation_list", ""): (200, 200, 200, 403),
}


def test_every_url_without_an_object_id_has_an_entry():
    assert url_names(with_object=False) == ACCOUNT_PAGES | {name for name, _ in PAGES}


@pytest.fixture
def other_bureaus_case(other_clerk, other_bureau):
    """Another bureau's patient with an application waiting, a filing and a message."""
    other_reviewer = make_user("other_reviewer", Role.REVIEWER, other_bureau)
    patient = factories.patient(other_clerk, name="覃他局")
    factories.qualification(other_clerk, other_reviewer, patient)
    with facts.as_of(TODAY):
        qualification_apply(
            by=other_clerk,
            patient=patient,
            disease=Disease.objects.get(code="M01600"),
            applied_on=TODAY,
            diagnosis_institution=factories.institution("H45020200001", level=3),
            diagnosis_date=TODAY,
            diagnosis_doctor="x",
        )
    Notification.objects.create(user=other_clerk, patient=patient, title="他局消息", body="b")
    return patient


@pytest.mark.parametrize(("name", "query"), sorted(PAGES))
def test_pages_answer_by_role_and_never_show_another_bureau(
    name, query, records, other_bureaus_case, client_for, clerk, reviewer, bureau_admin, data_admin
):
    url = reverse(name) + query
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))

    theirs = other_bureaus_case
    hidden = [theirs.name, theirs.cert_number, theirs.masked_cert_number, "他局消息"]
    for user, status in zip(
        (clerk, reviewer, bureau_admin, data_admin), PAGES[name, query], strict=True
    ):
        response = client_for(user).get(url)
        assert response.status_code == status, (name, query, user.username)
        spreadsheet = "spreadsheetml" in response.get("Content-Type", "")
        if status == 200 and "xlsx" not in query and not spreadsheet:
            body = b"".join(response) if response.streaming else response.content
            text = body.decode("utf-8")
            assert not [h for h in hidden if h in text], (name, query, user.username)


def test_the_leak_check_sees_what_a_page_shows(records, client_for, clerk):
    """The check above is not vacuous: the bureau's own patient is on its search and export."""
    mine = records["patient"]
    for query in ("", "?export=csv"):
        text = client_for(clerk).get(reverse("patient_search") + query).content.decode()
        assert mine.name in text
    with facts.as_of(TODAY):  # the filing is running on that day
        receipts = client_for(clerk).get(reverse("patient_receipts")).content.decode()
    assert "备案回执" in receipts
    assert mine.name in receipts


# --- a transfer request in each of its states (MV-1) -----------------------------------------


@pytest.mark.parametrize("state", ["pending", "accepted", "refused"])
def test_a_move_request_by_state_for_requester_owner_and_a_third_bureau(
    state, records, client_for, clerk, other_clerk
):
    move, patient = records["move"], records["patient"]
    requester = move.requested_by
    with facts.as_of(TODAY):
        if state == "accepted":
            move_accept(by=clerk, move=move, day=TODAY)
        elif state == "refused":
            move_refuse(by=clerk, move=move, reason="凭证不符", day=TODAY)
    url = reverse("move_detail", args=[move.pk])
    answer = {"decision": "accept", "reason": ""}
    owner, asking, third = client_for(clerk), client_for(requester), client_for(other_clerk)

    assert third.get(url).status_code == 404
    assert third.post(url, answer).status_code == 404
    assert third.get(reverse("move_list")).content.decode().count(f"/moves/{move.pk}/") == 0
    # The requester never answers; the owner answers a pending request only.
    assert asking.post(url, answer).status_code == 403
    owner_page = owner.get(url).content.decode()
    asking_page = asking.get(url).content.decode()
    if state == "pending":
        assert 'name="decision"' in owner_page
        assert 'name="decision"' not in asking_page
        assert patient.name in owner_page
        assert patient.name not in asking_page
        assert "接受后各项记录的处理" in owner_page
    else:
        assert owner.post(url, answer).status_code == 403
        keeps = asking_page if state == "accepted" else owner_page
        other = owner_page if state == "accepted" else asking_page
        assert patient.name in keeps
        assert patient.name not in other
    # The case itself: the old bureau gets 404 once the move is accepted.
    case_url = reverse("patient_detail", args=[patient.pk])
    expected = {"pending": (200, 404), "accepted": (404, 200), "refused": (200, 404)}[state]
    assert (owner.get(case_url).status_code, asking.get(case_url).status_code) == expected
    assert third.get(case_url).status_code == 404
