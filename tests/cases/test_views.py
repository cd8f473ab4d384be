"""Every clerk page and form: success, refusals next to the field, nothing saved on
refusal, scoping, and query counts that do not grow with the rows."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import quote

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import facts
from cases.models import (
    Filing,
    Notification,
    Patient,
    Qualification,
    Reminder,
    Selection,
    TransferLetter,
)
from cases.services.filings import filing_create
from cases.services.selections import selection_add
from institutions.models import Disease, Region
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 3, 1)


@pytest.fixture(autouse=True)
def _today():
    with facts.as_of(TODAY):
        yield


@pytest.fixture
def patient(clerk):
    return factories.patient(clerk, name="韦示例")


@pytest.fixture
def hospitals(regions):
    return {
        "home": factories.institution(
            "H45120200001", level=3, transfer_issuer=True, networked=("M03900",)
        ),
        "home2": factories.institution("H45120200002", networked=("M03900",)),
        "home3": factories.institution("H45120200003", networked=("M03900",)),
        "home4": factories.institution("H45120200004", networked=("M03900",)),
        "nanning": factories.institution("H45010300001", networked=("M03900",)),
        "guangzhou": factories.institution("H44010600001", level=3, cross_province=("M03900",)),
    }


def qualified(clerk, reviewer, patient):
    return factories.qualification(clerk, reviewer, patient, day=dt.date(2025, 1, 2))


def count_queries(client, url):
    client.get(url)  # the first request of a session also settles its two-factor state
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    count_queries.last = [q["sql"] for q in ctx.captured_queries]
    return len(ctx.captured_queries)


# --- register and search ----------------------------------------------------------------------


def test_register_fills_birth_date_and_leads_to_existing_patient(client_for, clerk):
    client = client_for(clerk)
    data = {
        "cert_type": "resident_id",
        "cert_number": "451202198001011233",
        "name": "韦示例",
        "insurance_type": "390",
        "phone": "",
        "address": "",
    }
    response = client.post(reverse("patient_register"), data, follow=True)
    patient = Patient.objects.get()
    assert response.redirect_chain[-1][0] == reverse("patient_detail", args=[patient.pk])
    assert "1980-01-01" in response.content.decode()
    again = client.post(reverse("patient_register"), data, follow=True)
    assert again.redirect_chain[-1][0] == reverse("patient_detail", args=[patient.pk])
    assert "已登记" in again.content.decode()
    assert Patient.objects.count() == 1


def test_register_refusal_is_next_to_the_field(client_for, clerk):
    response = client_for(clerk).post(
        reverse("patient_register"),
        {
            "cert_type": "resident_id",
            "cert_number": "451202198001011234",
            "name": "错号",
            "insurance_type": "390",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert '<a href="/policy/#ID-1">ID-1</a>' in body
    assert "校验码不正确" in body
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("wsl", True),
        ("韦示", True),
        ("451202198001011233", True),
        ("４５１２０２１９８００１０１１２３３", True),
        ("13800001111", True),
        ("zzz", False),
    ],
)
def test_search_by_id_name_initials_and_phone(client_for, clerk, query, found):
    from cases.services.patients import patient_register

    patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number="451202198001011233",
        name="韦示例",
        insurance_type="390",
        phone="13800001111",
    )
    client = client_for(clerk)
    posted = client.post(reverse("patient_search"), {"q": query})
    # The results are addressed by a key kept in the session, never by the term itself.
    assert posted.status_code == 302
    assert posted["Location"].startswith(reverse("patient_search") + "?s=")
    assert "1233" not in posted["Location"]
    assert "1111" not in posted["Location"]
    body = client.get(posted["Location"]).content.decode()
    assert ("韦示例" in body) == found
    if found:
        table = body[body.index("<tbody>") :]
        assert "4512**********1233" in table
        assert "451202198001011233" not in table
        export = client.get(posted["Location"] + "&export=csv").content.decode("utf-8-sig")
        assert "4512**********1233" in export


@pytest.mark.parametrize(
    "query", ["451202198001011233", "13800001111", "４５１２０２１９８００１０１１２３３"]
)
def test_an_id_number_or_phone_in_a_url_is_refused(client_for, clerk, query):
    factories.patient(clerk, name="韦示例")
    response = client_for(clerk).get(reverse("patient_search"), {"q": query})
    assert response.status_code == 200
    assert "不在网址中传递" in response.content.decode()
    assert not response.context["page"].object_list


def test_search_forms_post_and_settlement_ignores_a_number_in_the_url(client_for, clerk, patient):
    client = client_for(clerk)
    assert (
        'method="post" action="/patients/"'
        in client.get(reverse("patient_search")).content.decode()
    )
    assert (
        'method="post" action="/settlement/"' in client.get(reverse("settlement")).content.decode()
    )
    response = client.get(
        reverse("settlement"),
        {
            "patient": patient.cert_number,
            "institution": "H45120200001",
            "disease": 1,
            "day": "2025-03-01",
        },
    )
    assert response.context["answer"] is None
    assert not response.context["form"].is_bound


def test_an_expired_search_key_says_so(client_for, clerk):
    response = client_for(clerk).get(reverse("patient_search"), {"s": "gone"}, follow=True)
    assert "查询条件已过期" in response.content.decode()


def test_search_filters_and_scoping(client_for, clerk, reviewer, other_clerk):
    mine = factories.patient(clerk, name="韦甲")
    factories.patient(clerk, name="覃乙")
    factories.patient(other_clerk, name="蓝丙")
    qualified(clerk, reviewer, mine)
    client = client_for(clerk)
    body = client.get(
        reverse("patient_search"), {"disease": Disease.objects.get(code="M03900").pk}
    ).content.decode()
    assert "韦甲" in body
    assert "覃乙" not in body
    everyone = client.get(reverse("patient_search")).content.decode()
    assert "蓝丙" not in everyone


def test_search_query_count_does_not_grow(client_for, clerk):
    client = client_for(clerk)
    for i in range(5):
        factories.patient(clerk, name=f"韦示例{i}")
    few = count_queries(client, reverse("patient_search") + "?q=wsl")
    for i in range(45):
        factories.patient(clerk, name=f"韦示例{i + 5}")
    many = count_queries(client, reverse("patient_search") + "?q=wsl")
    assert few == many


def test_export_is_masked_and_escaped(client_for, clerk):
    from cases.services.patients import patient_register

    patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number="451202198001011233",
        name="=HYPERLINK(1)",
        insurance_type="390",
        phone="13800001111",
    )
    client = client_for(clerk)
    csv = client.get(reverse("patient_search"), {"export": "csv"}).content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in csv
    assert "4512**********1233" in csv
    assert "451202198001011233" not in csv
    xlsx = client.get(reverse("patient_search"), {"export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.cell(2, 2).value == "4512**********1233"
    from portal.models import AuditEvent

    assert AuditEvent.objects.filter(user=clerk, action="export").count() == 2


# --- patient page -----------------------------------------------------------------------------


def test_patient_page_shows_three_slots_and_timeline(
    client_for, clerk, reviewer, patient, hospitals
):
    qualified(clerk, reviewer, patient)
    selection_add(by=clerk, patient=patient, institution=hospitals["home"], start=TODAY)
    body = client_for(clerk).get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert body.count('class="card slot-box') == 3
    assert "slot-in_city" in body
    assert body.count("slot-empty") == 2
    assert "新建门特选点" in body
    assert "新建参保人" in body


def test_patient_page_of_another_bureau_is_404(client_for, other_clerk, patient):
    assert (
        client_for(other_clerk).get(reverse("patient_detail", args=[patient.pk])).status_code == 404
    )
    assert (
        client_for(other_clerk).get(reverse("selection_add", args=[patient.pk])).status_code == 404
    )


def test_patient_page_query_count_does_not_grow(client_for, clerk, reviewer, patient, hospitals):
    client = client_for(clerk)
    url = reverse("patient_detail", args=[patient.pk])
    qualified(clerk, reviewer, patient)
    selection_add(by=clerk, patient=patient, institution=hospitals["home"], start=TODAY)
    filing_create(
        by=clerk,
        patient=patient,
        type="temporary",
        subtype="other",
        destination=Region.objects.get(code="440300"),
        start=TODAY,
        materials=["identity"],
    )
    few = count_queries(client, url)
    few_sql = count_queries.last
    for name in ("home2", "home3"):
        selection_add(by=clerk, patient=patient, institution=hospitals[name], start=TODAY)
    for code in ("440100", "110000", "310000"):
        filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="other",
            destination=Region.objects.get(code=code),
            start=TODAY,
            materials=["identity"],
        )
    many = count_queries(client, url)
    assert few == many, "\n".join(q[:300] for q in count_queries.last if q not in few_sql)


# --- qualification and review -----------------------------------------------------------------


def test_apply_then_review_by_another_clerk(client_for, clerk, reviewer, patient, hospitals):
    response = client_for(clerk).post(
        reverse("qualification_apply", args=[patient.pk]),
        {
            "disease": Disease.objects.get(code="M03900").pk,
            "applied_on": "2025-03-01",
            "diagnosis_institution": "H45120200001",
            "diagnosis_date": "2025-02-20",
            "diagnosis_doctor": "李医生",
            "channel": "window",
        },
    )
    assert response.status_code == 302
    application = Qualification.objects.get()
    own = client_for(clerk).get(reverse("qualification_review", args=[application.pk]))
    assert own.status_code == 403  # a clerk has no review permission
    refused = client_for(reviewer).post(
        reverse("qualification_review", args=[application.pk]),
        {"decision": "approve", "decided_on": "2025-02-28"},
    )
    assert "QL-1" in refused.content.decode()
    future = client_for(reviewer).post(
        reverse("qualification_review", args=[application.pk]),
        {"decision": "approve", "decided_on": "2026-03-01"},
    )
    assert "复核日期不能晚于今天" in future.context["form"].errors["decided_on"][0]
    client_for(reviewer).post(
        reverse("qualification_review", args=[application.pk]),
        {"decision": "approve", "decided_on": "2025-03-01"},
    )
    application.refresh_from_db()
    assert application.status == "approved"
    assert application.reviewed_by == reviewer


def test_a_diagnosis_before_the_patient_was_born_is_refused(client_for, clerk, patient, hospitals):
    response = client_for(clerk).post(
        reverse("qualification_apply", args=[patient.pk]),
        {
            "disease": Disease.objects.get(code="M03900").pk,
            "applied_on": "2025-03-01",
            "diagnosis_institution": "H45120200001",
            "diagnosis_date": "1899-12-31",
            "diagnosis_doctor": "李医生",
            "channel": "window",
        },
    )
    assert "出生日期" in response.context["form"].errors["diagnosis_date"][0]
    assert not Qualification.objects.exists()


def test_reviewer_cannot_approve_their_own_application(client_for, reviewer, patient, hospitals):
    client = client_for(reviewer)
    client.post(
        reverse("qualification_apply", args=[patient.pk]),
        {
            "disease": Disease.objects.get(code="M03900").pk,
            "applied_on": "2025-03-01",
            "diagnosis_institution": "H45120200001",
            "diagnosis_date": "2025-03-01",
            "diagnosis_doctor": "李医生",
            "channel": "window",
        },
    )
    application = Qualification.objects.get()
    page = client.get(reverse("qualification_review", args=[application.pk])).content.decode()
    assert "须由另一名工作人员复核" in page
    response = client.post(
        reverse("qualification_review", args=[application.pk]),
        {"decision": "approve", "decided_on": "2025-03-01"},
    )
    assert "QL-1" in response.content.decode()
    application.refresh_from_db()
    assert application.status == "submitted"
    assert client.get(reverse("review_queue")).content.decode().count("复核</a>") == 0


def test_apply_refusal_shows_ql_5_next_to_the_date(client_for, clerk, patient, hospitals):
    response = client_for(clerk).post(
        reverse("qualification_apply", args=[patient.pk]),
        {
            "disease": Disease.objects.get(code="M03900").pk,
            "applied_on": "2025-03-01",
            "diagnosis_institution": "H45120200001",
            "diagnosis_date": "2025-03-05",
            "diagnosis_doctor": "李医生",
            "channel": "window",
        },
    )
    assert (
        'id="error_1_id_diagnosis_date"' in response.content.decode()
        or "QL-5" in response.content.decode()
    )
    assert not Qualification.objects.exists()


def test_review_queue_and_its_export(client_for, clerk, reviewer, patient, hospitals):
    from cases.services.qualifications import qualification_apply

    qualification_apply(
        by=clerk,
        patient=patient,
        disease=Disease.objects.get(code="M03900"),
        applied_on=TODAY,
        diagnosis_institution=hospitals["home"],
        diagnosis_date=TODAY,
        diagnosis_doctor="李医生",
    )
    client = client_for(reviewer)
    assert "韦示例" in client.get(reverse("review_queue")).content.decode()
    export = client.get(reverse("review_queue"), {"export": "csv"}).content.decode("utf-8-sig")
    assert "4512**********" in export


# --- selections -------------------------------------------------------------------------------


def test_fourth_selection_is_refused_next_to_the_field(
    client_for, clerk, reviewer, patient, hospitals
):
    qualified(clerk, reviewer, patient)
    client = client_for(clerk)
    for name in ("home", "home2", "home3"):
        response = client.post(
            reverse("selection_add", args=[patient.pk]),
            {"institution": hospitals[name].code, "start": "2025-03-01"},
        )
        assert response.status_code == 302
    response = client.post(
        reverse("selection_add", args=[patient.pk]),
        {"institution": hospitals["home4"].code, "start": "2025-03-01"},
    )
    body = response.content.decode()
    assert '<a href="/policy/#SL-1">SL-1</a>' in body
    assert Selection.objects.count() == 3


def test_in_region_selection_shows_the_sl_5_notice(client_for, clerk, patient, hospitals):
    response = client_for(clerk).post(
        reverse("selection_add", args=[patient.pk]),
        {"institution": "H45010300001", "start": "2025-03-01"},
        follow=True,
    )
    assert "SL-5" in response.content.decode()


def test_unknown_institution_code_is_a_field_error(client_for, clerk, patient, hospitals):
    response = client_for(clerk).post(
        reverse("selection_add", args=[patient.pk]),
        {"institution": "H99999999999", "start": "2025-03-01"},
    )
    assert "ID-3" in response.content.decode()


def test_end_selection(client_for, clerk, patient, hospitals):
    selection = selection_add(
        by=clerk, patient=patient, institution=hospitals["home"], start=TODAY
    ).selection
    client = client_for(clerk)
    refused = client.post(
        reverse("selection_end", args=[selection.pk]), {"end": "2025-02-01", "end_reason": "x"}
    )
    assert "SL-6" in refused.content.decode()
    assert "有效期至最早为 2025-02-28" in refused.content.decode()
    # 有效期至 is the last valid day; the stored end is the day after.
    client.post(
        reverse("selection_end", args=[selection.pk]), {"end": "2025-03-31", "end_reason": "搬家"}
    )
    selection.refresh_from_db()
    assert selection.end == dt.date(2025, 4, 1)
    page = client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert "有效期至 2025-03-31" in page


# --- filings and letters ----------------------------------------------------------------------


def filing_data(**overrides):
    data = {
        "type": "temporary",
        "subtype": "other",
        "destination": "440100",
        "start": "2025-03-01",
        "end": "",
        "transfer_letter": "",
        "materials": ["identity"],
        "channel": "window",
    }
    data.update(overrides)
    return data


def test_file_cancel_and_print_receipt(client_for, clerk, patient):
    client = client_for(clerk)
    response = client.post(reverse("filing_create", args=[patient.pk]), filing_data(print="1"))
    filing = Filing.objects.get()
    assert response["Location"] == reverse("filing_receipt", args=[filing.pk])
    receipt = client.get(reverse("filing_receipt", args=[filing.pk])).content.decode()
    assert "跨省异地就医备案回执" in receipt
    assert f"BA20250301{filing.pk:06d}" in receipt
    assert "金城江区" in receipt
    client.post(
        reverse("filing_cancel", args=[filing.pk]), {"day": "2025-04-01", "reason": "提前返回"}
    )
    filing.refresh_from_db()
    assert filing.status == "cancelled"


def test_change_a_filing_to_another_destination(client_for, clerk, patient):
    client = client_for(clerk)
    client.post(reverse("filing_create", args=[patient.pk]), filing_data())
    filing = Filing.objects.get()
    page = client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert reverse("filing_change", args=[filing.pk]) in page
    url = reverse("filing_change", args=[filing.pk])
    change = {"day": "2025-04-01", "destination": "330100", "reason": "改往杭州"}
    refused = client.post(url, {**change, "channel": "window"})
    assert "FL-5" in refused.context["form"].errors["materials"][0]
    assert Filing.objects.count() == 1
    client.post(url, {**change, "channel": "window", "materials": ["identity"]})
    filing.refresh_from_db()
    new = Filing.objects.exclude(pk=filing.pk).get()
    assert (filing.status, filing.end, filing.replaced_by_id) == (
        "changed",
        dt.date(2025, 4, 1),
        new.pk,
    )
    assert (new.destination_id, new.start, new.status) == ("330100", dt.date(2025, 4, 1), "active")


def test_cancel_a_qualification(client_for, clerk, reviewer, patient):
    q = qualified(clerk, reviewer, patient)
    client = client_for(clerk)
    page = client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    url = reverse("qualification_cancel", args=[q.pk])
    assert url in page
    refused = client.post(url, {"day": "2024-12-01", "reason": "参保人死亡"})
    assert "QL-1" in refused.context["form"].errors["day"][0]
    client.post(url, {"day": "2025-02-28", "reason": "参保人死亡"})
    q.refresh_from_db()
    assert (q.status, q.valid_until) == ("cancelled", dt.date(2025, 3, 1))
    page = client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert url not in page


def test_end_dates_are_entered_and_shown_as_the_last_valid_day(client_for, clerk, patient):
    """有效期至 everywhere: a six-month filing from 2025-03-01 is valid to 2025-08-31, which
    the clerk types and every page, print and message shows; the end stored is 09-01."""
    client = client_for(clerk)
    refused = client.post(
        reverse("filing_create", args=[patient.pk]), filing_data(end="2025-08-30")
    )
    assert "有效期至不能早于 2025-08-31" in refused.context["form"].errors["end"][0]
    client.post(reverse("filing_create", args=[patient.pk]), filing_data(end="2025-08-31"))
    filing = Filing.objects.get()
    assert filing.end == dt.date(2025, 9, 1)
    page = client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert "有效期至 2025-08-31" in page
    assert "2025-09-01" not in page
    receipt = client.get(reverse("filing_receipt", args=[filing.pk])).content.decode()
    assert "2025年8月31日" in receipt
    assert "2025年9月1日" not in receipt
    cancelled = client.post(
        reverse("filing_cancel", args=[filing.pk]), {"day": "2025-08-31", "reason": "x"}
    )
    assert "取消后的有效期至须早于该日" in cancelled.context["form"].errors["day"][0]
    client.post(reverse("filing_cancel", args=[filing.pk]), {"day": "2025-05-31", "reason": "x"})
    filing.refresh_from_db()
    assert (filing.status, filing.end) == ("cancelled", dt.date(2025, 6, 1))


def test_filing_destination_list_excludes_guangxi(client_for, clerk, patient):
    client = client_for(clerk)
    page = client.get(reverse("filing_create", args=[patient.pk])).content.decode()
    assert 'value="440100"' in page
    assert 'value="110000"' in page
    assert 'value="450100"' not in page
    assert 'value="440106"' not in page
    response = client.post(
        reverse("filing_create", args=[patient.pk]), filing_data(destination="450100")
    )
    assert "FL-1" in response.content.decode()
    assert not Filing.objects.exists()


def test_filing_refusals(client_for, clerk, patient):
    client = client_for(clerk)
    response = client.post(
        reverse("filing_create", args=[patient.pk]),
        filing_data(type="long_term", subtype="long_term_resident", materials=["identity"]),
    )
    assert "FL-5" in response.content.decode()
    response = client.post(
        reverse("filing_create", args=[patient.pk]), filing_data(end="2025-06-01")
    )
    assert "FL-3" in response.content.decode()
    assert not Filing.objects.exists()


def test_issue_and_print_a_letter(client_for, clerk, reviewer, patient, hospitals):
    qualified(clerk, reviewer, patient)
    client = client_for(clerk)
    data = {
        "disease": Disease.objects.get(code="M03900").pk,
        "issuer": "H45120200001",
        "receiver": "H45120200002",
        "reason": "technical",
        "reason_text": "",
        "issued_on": "2025-03-01",
    }
    assert "TL-2" in client.post(reverse("letter_issue", args=[patient.pk]), data).content.decode()
    response = client.post(
        reverse("letter_issue", args=[patient.pk]), {**data, "receiver": "H44010600001"}
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    letter = TransferLetter.objects.get()
    page = client.get(reverse("letter_print", args=[letter.pk])).content.decode()
    assert letter.serial in page
    assert "门诊特殊慢性病转诊证明" in page


# --- tools ------------------------------------------------------------------------------------


def test_settlement_check_answers_in_large_type_with_links(
    client_for, clerk, reviewer, patient, hospitals
):
    qualified(clerk, reviewer, patient)
    selection_add(by=clerk, patient=patient, institution=hospitals["home"], start=TODAY)
    client = client_for(clerk)
    disease = Disease.objects.get(code="M03900").pk
    direct = client.post(
        reverse("settlement"),
        {
            "patient": patient.cert_number,
            "institution": "H45120200001",
            "disease": disease,
            "day": "2025-03-01",
        },
    ).content.decode()
    assert 'data-outcome="direct"' in direct
    refused = client.post(
        reverse("settlement"),
        {
            "patient": patient.cert_number,
            "institution": "H44010600001",
            "disease": disease,
            "day": "2025-03-01",
        },
    ).content.decode()
    assert 'data-outcome="not_covered"' in refused
    assert '<a href="/policy/#ST-2">ST-2</a>' in refused


def test_settlement_for_another_bureaus_patient_is_refused(
    client_for, other_clerk, patient, hospitals
):
    body = (
        client_for(other_clerk)
        .post(
            reverse("settlement"),
            {
                "patient": patient.cert_number,
                "institution": "H45120200001",
                "disease": Disease.objects.get(code="M03900").pk,
                "day": "2025-03-01",
            },
        )
        .content.decode()
    )
    assert "没有登记这个证件号码" in body


def test_institution_finder_and_autocomplete(client_for, clerk, patient, hospitals):
    client = client_for(clerk)
    disease = Disease.objects.get(code="M03900").pk
    body = client.get(
        reverse("institution_finder"),
        {"destination": "440100", "disease": disease, "patient": patient.pk},
    ).content.decode()
    assert "H44010600001" in body
    assert f"/patients/{patient.pk}/selections/new/?institution=H44010600001" in body
    guangxi = client.get(
        reverse("institution_finder"), {"destination": "450100", "disease": disease}
    ).content.decode()
    assert "H45010300001" in guangxi
    results = client.get(reverse("institution_autocomplete"), {"q": "H4512"}).json()["results"]
    assert {"H45120200001", "H45120200002"} <= {r["code"] for r in results}


def test_policy_page_lists_every_rule_with_parameters(client_for, clerk):
    from tests.policy.test_scenarios import RULE_IDS

    body = client_for(clerk).get(reverse("policy")).content.decode()
    for rule in RULE_IDS:
        assert f'id="{rule}"' in body
    assert "选点机构上限 = 3" in body


def test_dashboard_queues_and_constant_queries(client_for, clerk, reviewer, hospitals):
    client = client_for(clerk)
    url = reverse("home")
    patients = [factories.patient(clerk, name=f"韦示例{i}") for i in range(5)]
    for p in patients:
        with facts.as_of(dt.date(2024, 9, 20)):
            filing_create(
                by=clerk,
                patient=p,
                type="temporary",
                subtype="other",
                destination=Region.objects.get(code="440100"),
                start=dt.date(2024, 9, 20),
                materials=["identity"],
            )
    few = count_queries(client, url)
    body = client.get(url).content.decode()
    assert 'id="count-filings">5<' in body
    for i in range(45):
        p = factories.patient(clerk, name=f"覃示例{i}")
        with facts.as_of(dt.date(2024, 9, 20)):
            filing_create(
                by=clerk,
                patient=p,
                type="temporary",
                subtype="other",
                destination=Region.objects.get(code="440100"),
                start=dt.date(2024, 9, 20),
                materials=["identity"],
            )
    assert count_queries(client, url) == few
    assert 'id="count-filings">50<' in client.get(url).content.decode()


def test_inbox_query_count_does_not_grow(client_for, clerk, patient):
    client = client_for(clerk)
    for i in range(5):
        Notification.objects.create(user=clerk, patient=patient, title=f"提醒{i}", body="x")
    few = count_queries(client, reverse("inbox"))
    for i in range(45):
        Notification.objects.create(user=clerk, patient=patient, title=f"提醒{i}", body="x")
    assert count_queries(client, reverse("inbox")) == few


def test_data_admin_home_is_a_page_of_links(client_for, data_admin):
    body = client_for(data_admin).get(reverse("home")).content.decode()
    assert "数据管理" in body


def test_expiring_queue_and_export(client_for, clerk):
    patients = [factories.patient(clerk, name=f"韦示例{i}") for i in range(3)]
    for p in patients:
        with facts.as_of(dt.date(2024, 9, 20)):
            filing_create(
                by=clerk,
                patient=p,
                type="temporary",
                subtype="other",
                destination=Region.objects.get(code="440100"),
                start=dt.date(2024, 9, 20),
                materials=["identity"],
            )
    client = client_for(clerk)
    body = client.get(reverse("expiring")).content.decode()
    assert body.count("临时跨省备案") == 3
    xlsx = client.get(reverse("expiring"), {"export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 4
    assert sheet.cell(2, 5).value == "2025-03-19"


def test_review_queue_query_count_does_not_grow(client_for, clerk, reviewer, hospitals):
    from cases.services.qualifications import qualification_apply

    def apply_for(n):
        for i in range(n):
            p = factories.patient(clerk, name=f"韦示例{i}")
            qualification_apply(
                by=clerk,
                patient=p,
                disease=Disease.objects.get(code="M03900"),
                applied_on=TODAY,
                diagnosis_institution=hospitals["home"],
                diagnosis_date=TODAY,
                diagnosis_doctor="李医生",
            )

    client = client_for(reviewer)
    apply_for(5)
    few = count_queries(client, reverse("review_queue"))
    apply_for(45)
    assert count_queries(client, reverse("review_queue")) == few


def test_an_end_offered_by_default_is_shown_as_its_last_day(client_for, clerk, reviewer, patient):
    """Ending today (the default) means valid to yesterday: the form shows 2025-02-28 and
    posting it back ends the record on 2025-03-01, as before."""
    q = qualified(clerk, reviewer, patient)
    client = client_for(clerk)
    page = client.get(reverse("qualification_cancel", args=[q.pk])).content.decode()
    assert 'value="2025-02-28"' in page
    client.post(reverse("qualification_cancel", args=[q.pk]), {"day": "2025-02-28", "reason": "x"})
    q.refresh_from_db()
    assert q.valid_until == TODAY


def test_names_not_codes_and_chinese_name_order(client_for, clerk, patient):
    """Staff are named family name first without a space; a change names its patient and
    a filing's destination by name."""
    clerk.last_name, clerk.first_name = "韦", "小明"
    clerk.save()
    assert clerk.get_full_name() == "韦小明"
    client = client_for(clerk)
    client.post(reverse("filing_create", args=[patient.pk]), filing_data(destination="440300"))
    dashboard = client.get(reverse("home")).content.decode()
    assert "韦小明" in dashboard
    assert f"{patient.name} · 临时备案 → 深圳市" in dashboard
    detail = client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert "→ 深圳市" in detail
    assert "→ 440300" not in detail
    receipt = client.get(reverse("filing_receipt", args=[Filing.objects.get().pk])).content
    assert "韦小明" in receipt.decode()


def test_reminders_lead_to_their_record_and_can_all_be_read(client_for, clerk, patient):
    client = client_for(clerk)
    client.post(reverse("filing_create", args=[patient.pk]), filing_data())
    filing = Filing.objects.get()
    reminder = Reminder.objects.create(
        filing=filing,
        patient=patient,
        bureau=clerk.bureau,
        stage="30",
        due_on=TODAY,
        record_end=filing.end,
    )
    first = Notification.objects.create(
        user=clerk, patient=patient, reminder=reminder, title="将到期", body="b"
    )
    Notification.objects.create(user=clerk, patient=patient, title="通知", body="b")
    home = client.get(reverse("home")).content.decode()
    assert 'id="nav-unread">2<' in home
    opened = client.post(reverse("inbox_read", args=[first.pk]), {"open": "1"})
    assert opened["Location"] == reverse("patient_detail", args=[patient.pk]) + "#filings"
    first.refresh_from_db()
    assert first.read_at is not None
    assert 'id="nav-unread">1<' in client.get(reverse("inbox")).content.decode()
    client.post(reverse("inbox_read_all"))
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert 'id="nav-unread"' not in client.get(reverse("inbox")).content.decode()


def apply_for(client, patient, disease="M03900", applied_on="2025-03-01"):
    return client.post(
        reverse("qualification_apply", args=[patient.pk]),
        {
            "disease": Disease.objects.get(code=disease).pk,
            "applied_on": applied_on,
            "diagnosis_institution": "H45120200001",
            "diagnosis_date": "2025-02-20",
            "diagnosis_doctor": "李医生",
            "channel": "window",
        },
    )


def test_review_goes_on_to_the_next_application_and_hides_the_form_on_ones_own(
    client_for, clerk, reviewer, patient, hospitals
):
    other = factories.patient(clerk, name="覃示例")
    apply_for(client_for(clerk), patient)
    apply_for(client_for(clerk), other)
    first, second = Qualification.objects.order_by("pk")
    reviewing = client_for(reviewer)
    done = reviewing.post(
        reverse("qualification_review", args=[first.pk]),
        {"decision": "approve", "decided_on": "2025-03-01"},
    )
    assert done["Location"] == reverse("qualification_review", args=[second.pk])
    last = reviewing.post(
        reverse("qualification_review", args=[second.pk]),
        {"decision": "approve", "decided_on": "2025-03-01"},
    )
    assert last["Location"] == reverse("review_queue")
    apply_for(client_for(reviewer), factories.patient(clerk, name="蓝示例"))
    own = Qualification.objects.get(recorded_by=reviewer)
    page = reviewing.get(reverse("qualification_review", args=[own.pk])).content.decode()
    assert "须由另一名工作人员复核" in page
    assert "提交复核结论" not in page


def test_only_what_the_rules_allow_is_offered_on_filings(client_for, clerk, patient):
    client = client_for(clerk)
    form = client.get(reverse("filing_create", args=[patient.pk])).content.decode()
    assert '<optgroup label="长期备案">' in form
    assert 'id="required-materials"' in form
    assert "户口簿" in form  # FL-5 for 异地安置退休
    client.post(
        reverse("filing_create", args=[patient.pk]),
        filing_data(
            type="long_term",
            subtype="retired_resettled",
            materials=["identity", "household_register"],
        ),
    )
    filing = Filing.objects.get()
    page = client.get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert "2025-09-01 起可变更或取消" in page
    assert reverse("filing_cancel", args=[filing.pk]) not in page
    assert reverse("filing_change", args=[filing.pk]) not in page


def test_correcting_a_patient_keeps_the_history(client_for, clerk, reviewer, patient):
    client = client_for(clerk)
    url = reverse("patient_edit", args=[patient.pk])
    form = client.get(url).content.decode()
    assert 'name="cert_number"' not in form  # a clerk does not correct the certificate
    refused = client.post(url, {"name": "韦示例", "phone": "0778-22x", "address": ""})
    assert "ID-1" in refused.context["form"].errors["phone"][0]
    client.post(url, {"name": "韦实例", "phone": "１３８ ００００ ２２２２", "address": "金城江"})
    patient.refresh_from_db()
    assert (patient.name, patient.phone) == ("韦实例", "13800002222")
    assert patient.name_initials.startswith("wsl")
    assert patient.history.count() == 2
    assert patient.history.first().history_user == clerk
    # The certificate number: a reviewer, with a reason.
    number = factories.resident_id("451202")
    checking = client_for(reviewer)
    refused = checking.post(url, {"name": "韦实例", "cert_number": number, "reason": ""})
    assert "ID-1" in refused.context["form"].errors["reason"][0]
    checking.post(url, {"name": "韦实例", "cert_number": number, "reason": "录入错误"})
    patient.refresh_from_db()
    assert patient.cert_number == number
    assert patient.history.first().history_change_reason == "录入错误"


def test_a_phone_is_stored_as_digits_and_found(client_for, clerk):
    client_for(clerk).post(
        reverse("patient_register"),
        {
            "cert_type": "resident_id",
            "cert_number": factories.resident_id("451202"),
            "name": "韦电话",
            "insurance_type": "390",
            "phone": "１３９-0000-1111",
        },
    )
    assert Patient.objects.get(name="韦电话").phone == "13900001111"


def test_a_refused_form_sums_up_every_error_at_the_top(client_for, clerk, patient):
    refused = client_for(clerk).post(
        reverse("filing_create", args=[patient.pk]),
        filing_data(end="2025-08-30", materials=[], destination="450100"),
    )
    page = refused.content.decode()
    summary = page[
        page.index('id="error-summary"') : page.index("</ul>", page.index('id="error-summary"'))
    ]
    for rule in ("FL-1", "FL-3", "FL-5"):
        assert rule in summary
    assert 'href="#id_end"' in summary


def test_forms_know_the_patient(client_for, clerk, reviewer, patient, hospitals):
    """One-click choices of the patient's diseases and institutions, institutions found by
    name, and after a refusal to settle directly the next steps."""
    qualified(clerk, reviewer, patient)
    selection_add(by=clerk, patient=patient, institution=hospitals["home"], start=TODAY)
    client = client_for(clerk)
    page = client.get(reverse("settlement") + f"?pid={patient.pk}").content.decode()
    assert 'data-fill="disease"' in page
    assert 'data-fill="institution" data-value="H45120200001"' in page
    found = client.get(reverse("institution_autocomplete"), {"q": "示例 00002"}).json()
    assert "H45120200002" in [r["code"] for r in found["results"]]
    # A full name typed in place of the code is accepted (it names one institution).
    factories.institution("H45010300009", name="南宁市第一人民医院", networked=("M03900",))
    found = client.get(reverse("institution_autocomplete"), {"q": "南宁第一"}).json()
    assert [r["code"] for r in found["results"]] == ["H45010300009"]
    answer = client.post(
        reverse("settlement"),
        {
            "pid": patient.pk,
            "institution": "南宁市第一人民医院",
            "disease": Disease.objects.get(code="M03900").pk,
            "day": "2025-03-01",
        },
    )
    assert answer.context["answer"].outcome == "not_covered"  # ST-2: not a selection
    steps = answer.content.decode()
    assert 'id="next-steps"' in steps
    assert reverse("selection_add", args=[patient.pk]) + "?institution=H45010300009" in steps
    assert reverse("institution_finder") + "?destination=450100" in steps


def test_a_full_set_of_selections_is_explained_before_the_form(
    client_for, clerk, patient, hospitals
):
    for key in ("home", "home2", "home3"):
        selection_add(by=clerk, patient=patient, institution=hospitals[key], start=TODAY)
    client = client_for(clerk)
    add = reverse("selection_add", args=[patient.pk])
    page = client.get(add + "?institution=H45120200004").content.decode()
    assert 'id="slots-full"' in page
    first = Selection.objects.get(slot=1)
    end = reverse("selection_end", args=[first.pk])
    assert f"{end}?then=" in page
    back = client.post(
        end + "?then=" + quote(add + "?institution=H45120200004"),
        {"end": "2025-02-28", "end_reason": "换点"},
    )
    assert back["Location"] == add + "?institution=H45120200004"
    assert 'id="slots-full"' not in client.get(back["Location"]).content.decode()
    outside = client.post(
        reverse("selection_end", args=[Selection.objects.get(slot=2).pk])
        + "?then=https://evil.example/",
        {"end": "2025-02-28", "end_reason": "x"},
    )
    assert outside["Location"] == reverse("patient_detail", args=[patient.pk])


def test_lists_like_the_ones_clerks_know(client_for, clerk, reviewer, patient, hospitals):
    client = client_for(clerk)
    factories.patient(clerk, name="覃示例")
    # By the last four characters of the ID number, within the bureau.
    found = client.get(reverse("patient_search"), {"q": patient.cert_number[-4:]})
    assert [p.pk for p in found.context["page"].object_list] == [patient.pk]
    assert 'id="result-count">共 1 人<' in found.content.decode()
    # Exports named with what, the bureau's county and the day.
    export = client.get(reverse("patient_search") + "?export=csv")
    assert "filename*=utf-8''" in export["Content-Disposition"]
    assert quote("参保人_金城江区_20250301.csv") in export["Content-Disposition"]
    # The review queue says how long each application has waited.
    apply_for(client, patient, applied_on="2025-02-20")
    queue = client_for(reviewer).get(reverse("review_queue")).content.decode()
    assert "已等待" in queue
    assert "9 天" in queue


def test_the_patient_export_carries_the_case_with_columns_fit_for_chinese(
    client_for, clerk, reviewer, patient, hospitals
):
    qualified(clerk, reviewer, patient)
    selection_add(by=clerk, patient=patient, institution=hospitals["home"], start=TODAY)
    client = client_for(clerk)
    client.post(reverse("filing_create", args=[patient.pk]), filing_data())
    xlsx = client.get(reverse("patient_search"), {"export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    header = [c.value for c in sheet[1]]
    row = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert row["门特病种"] == "高血压病"
    assert row["选点机构"] == hospitals["home"].name
    assert row["跨省备案"] == "临时备案→广州市（有效期至2025-08-31）"
    column = openpyxl.utils.get_column_letter(header.index("跨省备案") + 1)
    assert sheet.column_dimensions[column].width >= len("临时备案→广州市（有效期至2025-08-31）")


def test_a_one_page_case_summary_prints_every_record(client_for, clerk, reviewer, patient):
    qualified(clerk, reviewer, patient)
    client = client_for(clerk)
    client.post(reverse("filing_create", args=[patient.pk]), filing_data())
    page = client.get(reverse("patient_print", args=[patient.pk])).content.decode()
    assert "门诊特殊慢性病档案摘要" in page
    assert "高血压病" in page
    assert "2025-08-31" in page  # the filing's 有效期至
    assert "4512**********" in page
    from portal.models import AuditEvent

    assert AuditEvent.objects.filter(user=clerk, action="print").exists()


def test_apply_offers_only_the_diseases_the_patients_insurance_covers(client_for, clerk, patient):
    only_employees = Disease.objects.filter(active=True).order_by("code").first()
    only_employees.for_resident = False
    only_employees.save()
    page = client_for(clerk).get(reverse("qualification_apply", args=[patient.pk]))
    assert f'value="{only_employees.pk}"' not in page.content.decode()
    refused = client_for(clerk).post(
        reverse("qualification_apply", args=[patient.pk]), {"disease": only_employees.pk}
    )
    assert "ID-5" in refused.context["form"].errors["disease"][0]


def test_the_chosen_institution_is_previewed_before_saving(client_for, clerk, patient, hospitals):
    client = client_for(clerk)
    add = reverse("selection_add", args=[patient.pk])
    near = client.get(add, {"institution": "H45120200002"}).content.decode()
    assert 'id="selection-preview"' in near
    assert "范围：市内 · 选点位 1" in near
    far = client.get(add, {"institution": "H44010600001"}).content.decode()
    assert "范围：跨省" in far
    assert "SL-4" in far  # no filing or letter covers Guangzhou yet
    assert not Selection.objects.exists()
    unknown = client.get(add, {"institution": "nonsense"}).content.decode()
    assert 'id="selection-preview"' not in unknown


# --- lists as clerks know them: sorting, recent patients, receipts in batch ------------------
def names_in(page: str) -> list[str]:
    import re

    return re.findall(r'<a href="/patients/\d+/">([^<]+)</a></td>', page)


def test_the_patient_list_sorts_by_its_headings(client_for, clerk):
    for name in ("覃乙", "韦甲", "蓝丙"):
        factories.patient(clerk, name=name)
    client = client_for(clerk)
    url = reverse("patient_search")
    assert names_in(client.get(url).content.decode()) == ["蓝丙", "韦甲", "覃乙"]  # newest first
    by_name = client.get(url, {"sort": "name"}).content.decode()
    assert names_in(by_name) == ["蓝丙", "覃乙", "韦甲"]  # lan, qin, wei: pinyin order
    assert 'aria-sort="ascending"' in by_name
    assert "sort=-name" in by_name  # clicking again reverses
    reversed_ = client.get(url, {"sort": "-name"}).content.decode()
    assert names_in(reversed_) == ["韦甲", "覃乙", "蓝丙"]
    assert 'aria-sort="descending"' in reversed_
    # An unknown column is the default order, never an error.
    assert names_in(client.get(url, {"sort": "password"}).content.decode())[0] == "蓝丙"


def test_sorting_keeps_the_search_and_paging_keeps_the_sort(client_for, clerk):
    for i in range(30):
        factories.patient(clerk, name=f"韦示例{i:02d}")
    factories.patient(clerk, name="覃乙")
    client = client_for(clerk)
    key = client.post(reverse("patient_search"), {"q": "韦示例"})["Location"].split("s=")[1]
    page = client.get(reverse("patient_search"), {"s": key, "sort": "name"}).content.decode()
    assert "共 30 人" in page
    assert names_in(page)[0] == "韦示例00"
    assert f"s={key}&amp;sort=name&amp;page=2" in page
    second = client.get(reverse("patient_search"), {"s": key, "sort": "name", "page": 2})
    assert names_in(second.content.decode()) == [f"韦示例{i}" for i in range(25, 30)]


def test_recent_patients_are_listed_latest_first_and_only_while_visible(
    client_for, clerk, other_clerk
):
    first, second = factories.patient(clerk, name="韦甲"), factories.patient(clerk, name="覃乙")
    theirs = factories.patient(other_clerk, name="蓝丙")
    client = client_for(clerk)
    for p in (first, second, first):
        client.get(reverse("patient_detail", args=[p.pk]))
    session = client.session
    session["recent_patients"] = [*session["recent_patients"], theirs.pk]  # never shown
    session.save()
    page = client.get(reverse("patient_search")).content.decode()
    recent = page.split('id="recent-heading"')[1].split("</nav>")[0]
    assert recent.index("韦甲") < recent.index("覃乙")
    assert "蓝丙" not in page
    searching = client.get(reverse("patient_search"), {"insurance_type": "390"}).content.decode()
    assert 'id="recent-heading"' not in searching


def test_the_receipts_of_a_filtered_list_print_in_one_batch(client_for, clerk, other_clerk):
    from portal.models import AuditEvent

    client = client_for(clerk)
    filed = [factories.patient(clerk, name=n) for n in ("韦甲", "覃乙")]
    for p in filed:
        client.post(reverse("filing_create", args=[p.pk]), filing_data())
    factories.patient(clerk, name="蓝丙")  # no filing
    theirs = factories.patient(other_clerk, name="黄丁")
    client_for(other_clerk).post(reverse("filing_create", args=[theirs.pk]), filing_data())
    search = client.get(reverse("patient_search"), {"filing_status": "active"}).content.decode()
    assert "批量打印备案回执" in search
    url = reverse("patient_receipts") + "?filing_status=active"
    page = client.get(url).content.decode()
    assert page.count("跨省异地就医备案回执</h1>") == 2
    assert page.index("覃乙") < page.index("韦甲")  # by pinyin
    assert "黄丁" not in page
    assert "2025年8月31日" in page  # 有效期至, the last valid day
    assert "4512**********" in page
    assert AuditEvent.objects.filter(user=clerk, action="print", detail__contains="2份").exists()
    few = count_queries(client, url)
    for i in range(5):
        p = factories.patient(clerk, name=f"韦示例{i}")
        client.post(reverse("filing_create", args=[p.pk]), filing_data())
    assert count_queries(client, url) == few


def test_a_batch_of_receipts_says_when_there_is_none_to_print(client_for, clerk, patient):
    page = client_for(clerk).get(reverse("patient_receipts")).content.decode()
    assert "所列参保人今日没有有效的跨省备案" in page


# --- every error in one round -----------------------------------------------------------------
def test_a_missing_field_and_a_broken_rule_are_shown_together(
    client_for, clerk, reviewer, patient, hospitals
):
    from cases.models import ReminderCheck

    qualified(clerk, reviewer, patient)  # M03900 held: a new application breaks QL-2
    before = (Qualification.objects.count(), ReminderCheck.objects.count())
    history = Qualification.history.count()
    response = client_for(clerk).post(
        reverse("qualification_apply", args=[patient.pk]),
        {
            "disease": Disease.objects.get(code="M03900").pk,
            "applied_on": "2025-03-01",
            "diagnosis_institution": "H45120200001",
            "diagnosis_date": "",  # missing: a field error
            "diagnosis_doctor": "李医生",
            "channel": "window",
        },
    )
    errors = response.context["form"].errors
    assert "QL-2" in errors["disease"][0]
    assert len(errors["diagnosis_date"]) == 1  # the field's own error, not QL-5 again
    assert (Qualification.objects.count(), ReminderCheck.objects.count()) == before
    assert Qualification.history.count() == history
    page = response.content.decode()
    assert page.index('id="error-summary"') < page.index("QL-2")


def test_a_filing_with_a_bad_date_still_hears_about_its_materials(client_for, clerk, patient):
    response = client_for(clerk).post(
        reverse("filing_create", args=[patient.pk]),
        filing_data(end="2025-02-30", materials=[]),
    )
    errors = response.context["form"].errors
    assert "end" in errors
    assert "FL-5" in errors["materials"][0]
    assert not Filing.objects.exists()
    assert not Filing.history.exists()


def test_a_valid_form_checked_only_in_the_dry_run_saves_nothing(client_for, clerk, patient):
    # Every rule holds, one field is too long: the rolled-back dry run leaves no trace.
    response = client_for(clerk).post(
        reverse("filing_create", args=[patient.pk]),
        filing_data(channel="agent", agent_name="韦" * 51, agent_relation="子女"),
    )
    assert "agent_name" in response.context["form"].errors
    assert not Filing.objects.exists()
    assert not Filing.history.exists()


def test_without_the_fields_the_rules_need_only_field_errors_are_shown(client_for, clerk, patient):
    response = client_for(clerk).post(reverse("filing_create", args=[patient.pk]), {"type": ""})
    errors = response.context["form"].errors
    assert {"type", "subtype", "start"} <= set(errors)
    assert not any("FL-" in str(e) for e in errors.values())


def test_the_dashboards_queue_counts_are_one_query_and_each_queues_own(
    client_for, clerk, other_clerk, django_assert_num_queries
):
    from cases import selectors

    for owner, n in ((clerk, 3), (other_clerk, 2)):
        for i in range(n):
            p = factories.patient(owner, name=f"计数示例{i}")
            with facts.as_of(dt.date(2024, 9, 20)):
                filing_create(
                    by=owner,
                    patient=p,
                    type="temporary",
                    subtype="other",
                    destination=Region.objects.get(code="440100"),
                    start=dt.date(2024, 9, 20),
                    materials=["identity"],
                )
    today = dt.date(2025, 3, 1)
    queues = {
        "filings": selectors.expiring_filings(clerk, today),
        "reviews": selectors.reviews_waiting(clerk),
        "unread": selectors.unread_notifications(clerk),
    }
    expected = {name: qs.count() for name, qs in queues.items()}
    with django_assert_num_queries(1):
        counts = selectors.queue_counts(queues)
    assert counts == expected
    assert counts["filings"] == 3  # the other bureau's two are not counted
