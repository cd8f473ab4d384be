"""The platform's disease catalogue (1309 download) and per-scheme table (NX-5): a dry run
naming what changes, versions kept, and a check for a day using the catalogue in force
that day."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases import facts, rules
from cases.services import PolicyRefusal
from cases.services.qualifications import qualification_apply
from cases.settlement import settlement_check
from institutions import catalogue
from institutions.models import Disease, DiseaseListing, DiseaseScheme
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 3, 1)
HEADER = (
    "opsp_dise_code,opsp_dise_name,opsp_dise_majcls_code,opsp_dise_majcls_name,"
    "opsp_dise_subd_clss_name,admdvs,vali_flag,efft_time,invd_time,ver,ver_name\n"
)


def catalogue_file(*rows: str) -> bytes:
    return (HEADER + "".join(f"{r}\n" for r in rows)).encode("utf-8")


# M03900 stays; M01600 is withdrawn from 2025-01-01 (version 2); M99901 is new.
DOWNLOAD = catalogue_file(
    "M03900,高血压病,M039,循环系统,,450000,1,2019-01-01 00:00:00,,V2019,2019版",
    "M01600,糖尿病,M016,内分泌,,450000,1,2019-01-01 00:00:00,2024-12-31 23:59:59,V2019,2019版",
    "M01600,糖尿病,M016,内分泌,,450000,0,2025-01-01 00:00:00,,V2025,2025版",
    "M99901,新增示例病种,M999,其他,,450000,1,2025-01-01,,V2025,2025版",
)
SCHEMES = b"opsp_dise_code,insutype,enddate\nM03900,310,\nM03900,390,2025-06-30\nM99901,390,\n"


def test_the_dry_run_names_added_changed_and_withdrawn(regions):
    plan = catalogue.plan(DOWNLOAD, SCHEMES, TODAY)
    assert plan.errors == []
    assert plan.added == ["M99901"]
    assert plan.withdrawn == ["M01600"]
    assert plan.changed == ["M03900"]  # its first version, not loaded yet
    assert not DiseaseListing.objects.exists()  # a dry run writes nothing


def test_the_import_keeps_every_version(regions, data_admin):
    catalogue.apply(catalogue.plan(DOWNLOAD, SCHEMES, TODAY), data_admin)
    diabetes = Disease.objects.get(code="M01600")
    assert not diabetes.active
    assert list(diabetes.listings.order_by("ver").values_list("ver", "valid", "invd_time")) == [
        ("V2019", True, dt.date(2025, 1, 1)),  # 23:59:59 of 2024-12-31: from 2025-01-01 on
        ("V2025", False, None),
    ]
    added = Disease.objects.get(code="M99901")
    assert (added.active, added.for_employee, added.for_resident) == (True, False, True)
    assert diabetes.history.latest().history_user == data_admin
    assert set(
        DiseaseScheme.objects.filter(disease__code="M03900").values_list("insutype", "end")
    ) == {
        ("310", None),
        ("390", dt.date(2025, 7, 1)),
    }
    # Importing the same files again changes nothing.
    again = catalogue.plan(DOWNLOAD, SCHEMES, TODAY)
    assert (again.added, again.changed, again.withdrawn, again.unchanged) == ([], [], [], 3)


def test_a_check_for_an_earlier_day_uses_the_catalogue_in_force_then(
    regions, data_admin, clerk, reviewer
):
    with facts.as_of(dt.date(2024, 6, 1)):
        home = factories.institution("H45120200001", level=3, networked=("M01600",))
        patient = factories.patient(clerk, day=dt.date(2024, 6, 1))
        factories.qualification(clerk, reviewer, patient, disease="M01600", day=dt.date(2024, 6, 1))
        from cases.services.selections import selection_add

        selection_add(by=clerk, patient=patient, institution=home, start=dt.date(2024, 6, 1))

    def outcome(day: dt.date) -> rules.SettlementAnswer:
        diabetes = Disease.objects.get(code="M01600")  # as a request reads it
        with facts.as_of(TODAY):
            return settlement_check(patient=patient, institution=home, disease=diabetes, day=day)

    assert outcome(dt.date(2024, 12, 31)).outcome == rules.Outcome.DIRECT
    catalogue.apply(catalogue.plan(DOWNLOAD, SCHEMES, TODAY), data_admin)
    before = outcome(dt.date(2024, 12, 31))
    after = outcome(dt.date(2025, 1, 2))
    assert before.outcome == rules.Outcome.DIRECT
    assert after.outcome == rules.Outcome.NOT_COVERED
    assert "ID-4" in rules.rules_of(after.failed)


def test_an_application_for_a_withdrawn_disease_is_refused(regions, data_admin, clerk):
    catalogue.apply(catalogue.plan(DOWNLOAD, SCHEMES, TODAY), data_admin)
    patient = factories.patient(clerk, day=TODAY)
    with facts.as_of(TODAY), pytest.raises(PolicyRefusal) as refused:
        qualification_apply(
            by=clerk,
            patient=patient,
            disease=Disease.objects.get(code="M01600"),
            applied_on=TODAY,
            diagnosis_institution=factories.institution("H45120200001", level=3),
            diagnosis_date=TODAY,
            diagnosis_doctor="李医生",
        )
    assert "ID-4" in refused.value.rules


def test_the_scheme_table_decides_by_day(regions, data_admin, clerk, reviewer):
    catalogue.apply(catalogue.plan(DOWNLOAD, SCHEMES, TODAY), data_admin)
    later = dt.date(2025, 7, 1)  # 390 no longer applies to M03900
    patient = factories.patient(clerk, day=later)  # a 390 patient
    with facts.as_of(later), pytest.raises(PolicyRefusal) as refused:
        factories.qualification(clerk, reviewer, patient, day=later)
    assert "ID-5" in refused.value.rules


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("X03900,名称,,,,,1,2019-01-01,,V1,", "病种代码"),
        ("M03900,,,,,,1,2019-01-01,,V1,", "缺少病种名称"),
        ("M03900,名称,,,,,Y,2019-01-01,,V1,", "vali_flag"),
        ("M03900,名称,,,,,1,2019-13-01,,V1,", "efft_time"),
        ("M03900,名称,,,,,1,2020-01-01,2019-01-01,V1,", "失效时间早于生效时间"),
        ("M03900,名称,,,,45,1,2019-01-01,,V1,", "admdvs"),
    ],
)
def test_a_bad_row_is_listed_and_nothing_is_imported(regions, data_admin, row, message):
    plan = catalogue.plan(catalogue_file(row), None, TODAY)
    assert not plan.ok
    assert message in plan.errors[0]
    assert "第2行" in plan.errors[0]
    with pytest.raises(catalogue.CatalogueError):
        catalogue.apply(plan, data_admin)


def test_the_admin_previews_then_imports_on_confirmation(regions, data_admin, client_for):
    client = client_for(data_admin)
    url = reverse("admin:institutions_disease_import_1309")
    assert client.get(url).status_code == 200
    preview = client.post(
        url,
        {
            "catalogue": SimpleUploadedFile("1309.csv", DOWNLOAD),
            "schemes": SimpleUploadedFile("insutype.csv", SCHEMES),
        },
    )
    assert preview.status_code == 200
    assert "M99901" in preview.content.decode()
    assert not Disease.objects.filter(code="M99901").exists()
    pending = preview.context["pending"]
    done = client.post(
        url, {"confirm": "1", "catalogue_file": pending[0], "schemes_file": pending[1]}
    )
    assert done.status_code == 302
    assert Disease.objects.get(code="M99901").listings.count() == 1
    # The kept upload is gone: confirming twice imports nothing more.
    again = client.post(url, {"confirm": "1", "catalogue_file": pending[0]})
    assert again.status_code == 302
    assert DiseaseListing.objects.count() == 4


def test_the_admin_refuses_an_unreadable_file_next_to_the_form(regions, data_admin, client_for):
    response = client_for(data_admin).post(
        reverse("admin:institutions_disease_import_1309"),
        {"catalogue": SimpleUploadedFile("1309.xlsx", b"PK\x03\x04broken")},
    )
    assert response.status_code == 200
    assert "XLSX" in response.content.decode()
    assert "pending" not in response.context


def test_another_users_kept_upload_cannot_be_confirmed(regions, data_admin, client_for):
    from portal.imports import keep_upload
    from tests.conftest import make_user

    other = make_user("other_admin", "data_admin", None)
    name = keep_upload(other, DOWNLOAD)
    response = client_for(data_admin).post(
        reverse("admin:institutions_disease_import_1309"),
        {"confirm": "1", "catalogue_file": name},
    )
    assert response.status_code == 302
    assert not Disease.objects.filter(code="M99901").exists()


def test_the_seed_states_its_provenance():
    from institutions.reference import DISEASE_SEED

    head = DISEASE_SEED.read_text(encoding="utf-8").splitlines()[:4]
    assert any("NOT the national" in line for line in head)
    assert any("1309" in line for line in head)
