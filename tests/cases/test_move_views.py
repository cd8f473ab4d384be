"""The move pages (cases.views.moves): request from the register form, answer with each
record's fate shown first, refusals next to their field, move out, the dashboard's queue,
and query counts that do not grow with the requests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from cases import facts
from cases.models import MoveRequest, Patient
from tests import factories
from tests.cases.test_moves import case, liuzhou_clerk  # noqa: F401 - fixtures
from tests.cases.test_views import count_queries

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 10)


@pytest.fixture(autouse=True)
def _today():
    with facts.as_of(TODAY):
        yield


def ask(client, patient, **overrides):
    data = {
        "cert_type": "resident_id",
        "cert_number": patient.cert_number,
        "region": "450202",
        "effective": "2025-06-01",
        "voucher": "GX2025060001",
        **overrides,
    }
    return client.post(reverse("move_new"), data)


def test_the_register_form_offers_a_request_and_carries_the_number_in_the_session(
    client_for,
    case,  # noqa: F811
    liuzhou_clerk,  # noqa: F811
):
    client = client_for(liuzhou_clerk)
    patient = case["patient"]
    page = client.post(
        reverse("patient_register"),
        {
            "cert_type": "resident_id",
            "cert_number": patient.cert_number,
            "name": "韦示例",
            "insurance_type": "390",
        },
    )
    body = page.content.decode()
    assert "已在其他经办机构登记" in body
    assert f'href="{reverse("move_new")}"' in body
    assert patient.cert_number not in reverse("move_new")
    form = client.get(reverse("move_new")).content.decode()
    assert f'value="{patient.cert_number}"' in form  # from the session, once
    assert f'value="{patient.cert_number}"' not in client.get(reverse("move_new")).content.decode()


def test_a_request_then_the_requester_sees_only_its_state(
    client_for,
    case,  # noqa: F811
    liuzhou_clerk,  # noqa: F811
):
    client = client_for(liuzhou_clerk)
    response = ask(client, case["patient"])
    move = MoveRequest.objects.get()
    assert response["Location"] == reverse("move_detail", args=[move.pk])
    page = client.get(response["Location"]).content.decode()
    assert "待答复" in page
    assert "韦*" in page
    assert "韦示例" not in page


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"voucher": ""}, "voucher", None),  # a required field
        ({"effective": "2025-07-01"}, "effective", "MV-2"),
        ({"cert_number": "451202199002020013"}, "cert_number", "MV-1"),  # nobody has it
        ({"region": "451202"}, "region", None),  # not a county the bureau serves
    ],
)
def test_a_bad_request_is_answered_next_to_its_field_and_changes_nothing(
    client_for,
    case,  # noqa: F811
    liuzhou_clerk,  # noqa: F811
    overrides,
    field,
    rule,
):
    response = ask(client_for(liuzhou_clerk), case["patient"], **overrides)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    if rule:
        assert rule in str(errors[field])
    assert not MoveRequest.objects.exists()


def test_the_owner_sees_each_records_fate_then_accepts(
    client_for,
    case,  # noqa: F811
    clerk,
    liuzhou_clerk,  # noqa: F811
):
    ask(client_for(liuzhou_clerk), case["patient"])
    move = MoveRequest.objects.get()
    owner = client_for(clerk)
    dashboard = owner.get(reverse("home")).content.decode()
    assert 'id="moves-to-answer"' in dashboard
    page = owner.get(reverse("move_detail", args=[move.pk])).content.decode()
    assert "转由新经办机构复核" in page  # the submitted application
    assert "区内异地" in page  # the selection's new scope
    assert "参保地变更" in page  # the filing ends
    response = owner.post(reverse("move_detail", args=[move.pk]), {"decision": "accept"})
    assert response["Location"] == reverse("move_list")
    assert Patient.objects.get().bureau == liuzhou_clerk.bureau
    assert owner.get(reverse("patient_detail", args=[case["patient"].pk])).status_code == 404
    mine = client_for(liuzhou_clerk).get(reverse("patient_detail", args=[case["patient"].pk]))
    assert mine.status_code == 200
    assert "参保地变更" in mine.content.decode()  # the move on the patient's timeline


def test_a_refusal_without_a_reason_is_answered_next_to_the_reason(
    client_for,
    case,  # noqa: F811
    clerk,
    liuzhou_clerk,  # noqa: F811
):
    ask(client_for(liuzhou_clerk), case["patient"])
    move = MoveRequest.objects.get()
    url = reverse("move_detail", args=[move.pk])
    response = client_for(clerk).post(url, {"decision": "refuse", "reason": ""})
    assert "MV-1" in str(response.context["form"].errors["reason"])
    assert MoveRequest.objects.get().status == "pending"
    client_for(clerk).post(url, {"decision": "refuse", "reason": "凭证不符"})
    assert MoveRequest.objects.get().status == "refused"


def test_moving_out_from_the_patient_page(client_for, case, clerk):  # noqa: F811
    client = client_for(clerk)
    patient = case["patient"]
    url = reverse("patient_move_out", args=[patient.pk])
    assert client.post(url, {"day": "2025-07-01"}).status_code == 200  # MV-2: not ahead
    assert Patient.objects.get().moved_out_on is None
    response = client.post(url, {"day": "2025-06-01"})
    assert response["Location"] == reverse("patient_detail", args=[patient.pk])
    page = client.get(response["Location"]).content.decode()
    assert 'id="moved-out"' in page
    assert reverse("selection_add", args=[patient.pk]) not in page  # read-only
    search = client.get(reverse("patient_search") + "?export=csv").content.decode()
    assert "转出广西（2025-06-01 起）" in search


def test_the_request_list_costs_the_same_queries_for_many_requests(
    client_for,
    clerk,
    liuzhou_clerk,  # noqa: F811
):
    from cases.services.moves import move_request
    from institutions.models import Region

    def requests(n):
        for i in range(n):
            patient = factories.patient(clerk, name=f"韦示例{i}")
            move_request(
                by=liuzhou_clerk,
                patient=patient,
                region=Region.objects.get(code="450202"),
                effective=TODAY,
                voucher=f"GX{i}",
            )

    requests(2)
    owner = client_for(clerk)
    few = count_queries(owner, reverse("move_list")), count_queries(owner, reverse("home"))
    requests(8)
    assert (
        count_queries(owner, reverse("move_list")),
        count_queries(owner, reverse("home")),
    ) == few


def test_a_search_for_a_number_kept_elsewhere_offers_a_request(
    client_for,
    case,  # noqa: F811
    clerk,
    liuzhou_clerk,  # noqa: F811
):
    patient = case["patient"]
    client = client_for(liuzhou_clerk)
    found = client.post(reverse("patient_search"), {"q": patient.cert_number}, follow=True)
    body = found.content.decode()
    assert 'id="registered-elsewhere"' in body
    assert patient.name not in body  # nothing of the case
    assert f'value="{patient.cert_number}"' in client.get(reverse("move_new")).content.decode()
    # The owning bureau finds its own patient; a name search offers nothing.
    own = client_for(clerk).post(reverse("patient_search"), {"q": patient.cert_number}, follow=True)
    assert 'id="registered-elsewhere"' not in own.content.decode()
    named = client.post(reverse("patient_search"), {"q": "韦示例"}, follow=True)
    assert 'id="registered-elsewhere"' not in named.content.decode()
