"""Search at province scale: every term goes to an index (cases.search), in the clerk's
patient search and in the admin site's changelists."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from cases import search
from cases.admin import EstimatedCountPaginator
from cases.models import Filing, Patient, Qualification, TransferLetter
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("term", "kind"),
    [
        ("451202198001011233", "id"),
        ("45120219800101123x", "id"),
        ("４５１２０２１９８００１０１１２３３", "id"),
        ("ZS25110100000001", "serial"),
        ("wsl", "latin"),
        ("M03900", "code"),
        ("520100", "code"),
        ("韦示例", "text"),
        ("韦", "text"),
    ],
)
def test_kind_of_term(term, kind):
    assert search.kind(term) == kind


def test_short_names_match_at_the_start_long_ones_anywhere():
    assert str(search.name_q("name", "韦示")) == str(search.name_q("name", "韦示"))
    assert "startswith" in str(search.name_q("name", "韦示"))
    assert "contains" in str(search.name_q("name", "示例甲"))
    assert "startswith" in str(search.pinyin_q("", "WS"))
    assert "name_pinyin__contains" in str(search.pinyin_q("patient__", "wsl"))


def test_clerk_search_uses_the_rules(client_for, clerk):
    factories.patient(clerk, name="韦示例")
    factories.patient(clerk, name="覃韦示")
    client = client_for(clerk)

    def found(q):
        body = client.get(reverse("patient_search"), {"q": q}).content.decode()
        return sorted(n for n in ("韦示例", "覃韦示") if n in body)

    assert found("韦示") == ["韦示例"]  # two characters: from the start
    assert found("韦示例") == ["韦示例"]
    assert found("韦示例"[1:]) == []  # "示例": not at the start of any name
    assert found("覃韦示") == ["覃韦示"]
    assert found("韦示") == ["韦示例"]


@pytest.fixture
def searcher(data_admin, client_for):
    codenames = ["view_all_patients", "view_patient", "view_qualification", "view_filing"]
    codenames.append("view_transferletter")
    data_admin.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return client_for(data_admin)


def changelist(client, model, q):
    """Search as the admin's form does: the term is posted, the list is reached by key."""
    url = reverse(f"admin:cases_{model._meta.model_name}_changelist")
    posted = client.post(url, {"q": q, "_search": "1"})
    assert posted.status_code == 302
    assert q not in posted["Location"]
    response = client.get(posted["Location"])
    assert response.status_code == 200
    assert f"q={q}" not in response.content.decode()  # no link carries the term
    return list(response.context["cl"].result_list)


def test_admin_search_keeps_terms_out_of_urls(searcher, clerk):
    patient = factories.patient(clerk)
    url = reverse("admin:cases_patient_changelist")
    refused = searcher.get(url, {"q": patient.cert_number})
    assert "不在网址中传递" in refused.content.decode()
    assert refused.context["cl"].query == ""
    assert changelist(searcher, Patient, patient.cert_number) == [patient]
    posted = searcher.post(
        url, {"q": patient.cert_number, "_search": "1", "insurance_type__exact": "390"}
    )
    page = searcher.get(posted["Location"])
    assert list(page.context["cl"].result_list) == [patient]
    body = page.content.decode()
    assert f"q={patient.cert_number}" not in body
    assert "sk=" in posted["Location"]
    assert "insurance_type__exact=390" in posted["Location"]
    expired = searcher.get(url, {"sk": "gone"})
    assert "查询条件已过期" in expired.content.decode()


def test_admin_search_routes_each_kind_of_term(searcher, clerk, reviewer):
    records = factories.case_file(clerk, reviewer, dt.date(2025, 3, 3))
    patient = records["patient"]
    other = factories.patient(clerk, name="蓝丙丁")
    assert changelist(searcher, Patient, patient.cert_number) == [patient]
    assert changelist(searcher, Patient, "韦示") == [patient]
    assert changelist(searcher, Patient, "丙丁") == []  # short: from the start only
    assert changelist(searcher, Patient, "蓝丙丁") == [other]
    assert changelist(searcher, Patient, "lbd") == [other]
    qualification = Qualification.objects.get(patient=patient)
    assert changelist(searcher, Qualification, patient.cert_number) == [qualification]
    assert changelist(searcher, Qualification, "M03900") == [qualification]
    assert changelist(searcher, Qualification, "韦示例") == [qualification]
    filing = Filing.objects.get(patient=patient)
    assert changelist(searcher, Filing, filing.destination_id) == [filing]
    letter = TransferLetter.objects.get(patient=patient)
    assert changelist(searcher, TransferLetter, letter.serial) == [letter]
    assert changelist(searcher, TransferLetter, patient.cert_number) == [letter]


def test_admin_search_query_count_is_constant(searcher, clerk):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    factories.patient(clerk, name="韦示例")
    url = reverse("admin:cases_patient_changelist")
    searcher.get(url, {"q": "韦示"})
    with CaptureQueriesContext(connection) as few:
        searcher.get(url, {"q": "韦示"})
    for i in range(30):
        factories.patient(clerk, name=f"韦示{i}")
    with CaptureQueriesContext(connection) as many:
        searcher.get(url, {"q": "韦示"})
    assert len(few) == len(many)


def test_estimated_count_only_for_an_unfiltered_large_table(clerk, monkeypatch):
    for name in ("韦甲", "韦乙", "覃丙"):
        factories.patient(clerk, name=name)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_patient")
    assert EstimatedCountPaginator(Patient.objects.all(), 10).count == 3  # small: exact
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'cases_patient'")
        estimate = cursor.fetchone()[0]
    assert EstimatedCountPaginator(Patient.objects.all(), 10).count == estimate
    searched = Patient.objects.filter(name__startswith="韦")
    assert EstimatedCountPaginator(searched, 10).count == 2  # filtered: exact


def test_records_carry_their_patients_bureau(clerk, reviewer, other_clerk):
    records = factories.case_file(clerk, reviewer, dt.date(2025, 3, 3))
    patient = records["patient"]
    for model in (Qualification, Filing, TransferLetter):
        assert set(model.objects.filter(patient=patient).values_list("bureau_id", flat=True)) == {
            clerk.bureau_id
        }
    Patient.objects.filter(pk=patient.pk).update(bureau=other_clerk.bureau)
    for model in (Qualification, Filing, TransferLetter):
        assert set(model.objects.filter(patient=patient).values_list("bureau_id", flat=True)) == {
            other_clerk.bureau_id
        }


def test_institution_admin_finds_a_code_a_name_and_a_place(client_for, data_admin):
    from institutions.models import Institution

    hechi = factories.institution("H45120200077", level=3)
    nanning = factories.institution("H45010200078", level=2)
    data_admin.user_permissions.add(Permission.objects.get(codename="view_institution"))
    client = client_for(data_admin)
    url = reverse("admin:institutions_institution_changelist")

    def found(q):
        response = client.get(url, {"q": q})
        assert response.status_code == 200
        return set(response.context["cl"].result_list)

    assert found("h45120200077") == {hechi}
    assert found(hechi.name) == {hechi}
    assert nanning in found("南宁市")
    assert hechi not in found("南宁市")
    assert Institution.objects.count() >= 2
