"""Every reference-data admin page renders and searches for a data administrator."""

import datetime as dt

import pytest
from django.urls import reverse

from institutions.models import Disease, Institution, NetworkedSettlement, PolicyParameter, Region

pytestmark = pytest.mark.django_db

MODELS = ["region", "disease", "institution", "networkedsettlement", "policyparameter"]


@pytest.fixture
def sample(regions):
    institution = Institution.objects.create(
        code="H45120200090", name="金城江区示例医院", location_id="451202"
    )
    NetworkedSettlement.objects.create(
        institution=institution, disease=Disease.objects.get(code="M03900"), in_region=True
    )
    return institution


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("query", ["", "4512", "金城江", "M039"])
def test_changelist_renders_and_searches(client_for, data_admin, sample, model, query):
    response = client_for(data_admin).get(
        reverse(f"admin:institutions_{model}_changelist"), {"q": query}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_add_form_renders(client_for, data_admin, model):
    response = client_for(data_admin).get(reverse(f"admin:institutions_{model}_add"))
    assert response.status_code == 200


def test_change_forms_render(client_for, data_admin, sample):
    client = client_for(data_admin)
    objects = {
        "region": Region.objects.get(code="451202"),
        "disease": Disease.objects.get(code="M03900"),
        "institution": sample,
        "networkedsettlement": NetworkedSettlement.objects.get(institution=sample),
        "policyparameter": PolicyParameter.objects.first(),
    }
    for model, obj in objects.items():
        url = reverse(f"admin:institutions_{model}_change", args=[obj.pk])
        assert client.get(url).status_code == 200, model


def test_region_search_finds_by_code_and_name(client_for, data_admin, regions):
    client = client_for(data_admin)
    url = reverse("admin:institutions_region_changelist")
    assert "金城江区" in client.get(url, {"q": "451202"}).content.decode()
    assert "451202" in client.get(url, {"q": "金城江"}).content.decode()


def test_autocomplete_finds_counties(client_for, data_admin, regions):
    response = client_for(data_admin).get(
        reverse("admin:autocomplete"),
        {
            "term": "金城江",
            "app_label": "institutions",
            "model_name": "institution",
            "field_name": "location",
        },
    )
    assert response.status_code == 200
    assert "451202" in response.content.decode()


def test_institution_added_in_admin_is_validated(client_for, data_admin, regions):
    response = client_for(data_admin).post(
        reverse("admin:institutions_institution_add"),
        {
            "code": "H45020200001",
            "name": "错误医院",
            "location": "451202",
            "level": 2,
            "grade": "未定",
            "designated": "on",
            "networked_settlements-TOTAL_FORMS": 0,
            "networked_settlements-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "ID-3" in response.content.decode()
    assert not Institution.objects.filter(code="H45020200001").exists()


def test_parameter_added_in_admin_applies_from_its_date(client_for, data_admin, regions):
    response = client_for(data_admin).post(
        reverse("admin:institutions_policyparameter_add"),
        {"key": "TEMP_FILING_MONTHS", "value": "5", "valid_from": "2027-01-01", "note": ""},
    )
    assert response.status_code == 200
    assert "FL-3" in response.content.decode()
    response = client_for(data_admin).post(
        reverse("admin:institutions_policyparameter_add"),
        {"key": "TEMP_FILING_MONTHS", "value": "7", "valid_from": "2027-01-01", "note": ""},
    )
    assert response.status_code == 302
    parameter = PolicyParameter.objects.get(
        key="TEMP_FILING_MONTHS", valid_from=dt.date(2027, 1, 1)
    )
    assert parameter.history.first().history_user == data_admin


def test_clerk_cannot_open_the_admin(client_for, clerk):
    response = client_for(clerk).get(reverse("admin:index"), follow=True)
    assert response.status_code == 403
