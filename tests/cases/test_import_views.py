"""The import pages: upload, the check's result with every bad row, the error workbook,
confirmation, four eyes on approvals, who may, and the Celery path on a real worker."""

from __future__ import annotations

import datetime as dt
import io
import time
from urllib.parse import quote

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import facts
from cases.models import CaseImport, Filing, Patient, Qualification, ReminderCheck
from cases.services import imports
from portal.celery import app
from portal.models import AuditEvent
from tests.cases.test_imports import (
    FILING,
    ID2,
    PATIENT,
    full_book,
    hospitals,  # noqa: F401 - a fixture
)

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 12, 1)


@pytest.fixture(autouse=True)
def _today():
    with facts.as_of(TODAY):
        yield


def post_file(client, data: bytes, name: str = "金城江区档案.xlsx"):
    return client.post(reverse("import_list"), {"file": SimpleUploadedFile(name, data)})


def uploaded(client, data: bytes) -> CaseImport:
    response = post_file(client, data)
    case_import = CaseImport.objects.latest("pk")
    assert response["Location"] == reverse("import_detail", args=[case_import.pk])
    imports.import_check(case_import.pk)  # what the Celery task does
    case_import.refresh_from_db()
    return case_import


def test_upload_check_confirm_review_and_import(client_for, clerk, reviewer, hospitals):  # noqa: F811
    client = client_for(clerk)
    bad = {**PATIENT, "证件号码": ID2, "险种": "999"}
    typo = {**PATIENT, "证件号码": ID2[:-1] + "9"}
    case_import = uploaded(client, full_book(参保人=[PATIENT, bad, typo]))
    assert case_import.status == "checked"
    page = client.get(reverse("import_detail", args=[case_import.pk])).content.decode()
    assert "有错误的行（2）" in page
    assert "ID-5：“999”不是有效的险种" in page
    assert "4512**********0019" in page  # the value shown, masked on screen
    assert ID2[:-1] + "9" not in page
    assert not Patient.objects.exists()

    errors = client.get(reverse("import_errors", args=[case_import.pk]))
    book = openpyxl.load_workbook(io.BytesIO(errors.content))
    assert book["参保人"].cell(3, 8).value.startswith("ID-5")
    assert quote("导入错误说明_金城江区_20251201.xlsx") in errors["Content-Disposition"]
    assert AuditEvent.objects.filter(user=clerk, action="export").exists()

    # The reviewer may not confirm someone else's upload; the uploader confirms.
    assert (
        "确认导入无误的行"
        not in client_for(reviewer)
        .get(reverse("import_detail", args=[case_import.pk]))
        .content.decode()
    )
    client.post(reverse("import_confirm", args=[case_import.pk]))
    case_import.refresh_from_db()
    assert case_import.status == "awaiting_review"  # approvals need four eyes (QL-1)
    refused = client.post(reverse("import_review", args=[case_import.pk]), follow=True)
    assert "QL-1" in refused.content.decode()  # not the uploader

    # The batch waits on the reviewers' dashboard, not on the uploader's.
    dashboard = client_for(reviewer).get(reverse("home")).content.decode()
    assert reverse("import_detail", args=[case_import.pk]) in dashboard
    assert 'id="imports-awaiting-review"' not in client.get(reverse("home")).content.decode()
    client_for(reviewer).post(reverse("import_review", args=[case_import.pk]))
    case_import.refresh_from_db()
    assert (case_import.status, case_import.reviewer) == ("confirmed", reviewer)
    assert (
        'id="imports-awaiting-review"'
        not in client_for(reviewer).get(reverse("home")).content.decode()
    )
    imports.import_apply(case_import.pk)
    case_import.refresh_from_db()
    assert case_import.status == "imported"
    assert case_import.counts["参保人"] == {"rows": 3, "created": 1, "refused": 2}
    assert Qualification.objects.get().reviewed_by == reviewer
    listing = client.get(reverse("import_list")).content.decode()
    assert "已导入" in listing


def test_an_import_without_approvals_is_confirmed_by_its_uploader_alone(client_for, clerk):
    client = client_for(clerk)
    case_import = uploaded(client, full_book(门特资格=[], 选点=[], 跨省备案=[], 转诊证明=[]))
    client.post(reverse("import_confirm", args=[case_import.pk]))
    case_import.refresh_from_db()
    assert case_import.status == "confirmed"


def test_bad_uploads_are_refused_next_to_the_field(client_for, clerk, settings):
    client = client_for(clerk)
    response = post_file(client, b"hello", "notes.txt")
    assert "只能导入 .xlsx 或 .csv 文件" in response.content.decode()
    settings.CASES_IMPORT_MAX_BYTES = 10
    response = post_file(client, full_book())
    assert "文件大小超过" in response.content.decode()
    assert not CaseImport.objects.exists()


def test_an_unreadable_file_fails_with_its_reason(client_for, clerk):
    case_import = uploaded(client_for(clerk), b"PK\x03\x04 not really a zip")
    assert case_import.status == "failed"
    page = client_for(clerk).get(reverse("import_detail", args=[case_import.pk]))
    assert "不是有效的 XLSX" in page.content.decode()


def test_the_template_downloads(client_for, clerk):
    response = client_for(clerk).get(reverse("import_template"))
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert "填写说明" in book.sheetnames


def test_progress_answers_as_json(client_for, clerk):
    case_import = uploaded(
        client_for(clerk), full_book(门特资格=[], 选点=[], 跨省备案=[], 转诊证明=[])
    )
    data = client_for(clerk).get(reverse("import_progress", args=[case_import.pk])).json()
    assert data == {
        "status": "checked",
        "status_label": "已检查，待确认导入",
        "running": False,
        "total": 1,
        "checked": 1,
        "imported": 0,
        "percent": 100,
    }


def test_another_bureau_sees_nothing_a_data_administrator_sees_every_bureau(
    client_for, clerk, other_clerk, data_admin
):
    case_import = uploaded(client_for(clerk), full_book(门特资格=[]))
    for name in ("import_detail", "import_progress", "import_errors"):
        url = reverse(name, args=[case_import.pk])
        assert client_for(other_clerk).get(url).status_code == 404
        assert client_for(data_admin).get(url).status_code == 200
    for name in ("import_confirm", "import_review"):
        assert client_for(other_clerk).post(reverse(name, args=[case_import.pk])).status_code == 404
    assert (
        "金城江区档案" not in client_for(other_clerk).get(reverse("import_list")).content.decode()
    )


def test_the_import_list_costs_the_same_queries_for_many_imports(client_for, clerk):
    client = client_for(clerk)
    uploaded(client, full_book(门特资格=[]))
    client.get(reverse("import_list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("import_list"))
    for _ in range(4):
        uploaded(client, full_book(门特资格=[]))
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("import_list"))
    assert len(few) == len(many)


def test_a_stalled_run_is_queued_again_and_a_check_starts_over(clerk):
    case_import = imports.import_upload(by=clerk, file_name="x.xlsx", data=full_book())
    imports.import_check(case_import.pk)
    CaseImport.objects.filter(pk=case_import.pk).update(status="checking")
    later = case_import.updated_at + dt.timedelta(hours=1)
    assert imports.requeue_stalled(later) == 1
    assert imports.queued() == [(case_import.pk, "check")]
    imports.import_check(case_import.pk)
    case_import.refresh_from_db()
    assert case_import.status == "checked"
    assert case_import.rows.count() == 5  # staged once, not twice


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_celery_path_on_a_real_worker(client_for, regions):
    from tests.conftest import make_bureau, make_user

    clerk = make_user("clerk", "clerk", make_bureau("451202"))
    assert app.conf.broker_url.startswith("redis://")
    client = client_for(clerk)
    today = timezone.localdate()  # the worker's own today
    filing = {
        **FILING,
        "开始日期": (today - dt.timedelta(days=10)).isoformat(),
        "有效期至": "",  # six months (FL-3)
    }
    data = full_book(参保人=[PATIENT], 门特资格=[], 选点=[], 跨省备案=[filing], 转诊证明=[])
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        post_file(client, data)
        case_import = CaseImport.objects.get()
        assert _wait_for(lambda: CaseImport.objects.get().status == "checked")
        client.post(reverse("import_confirm", args=[case_import.pk]))
        assert _wait_for(lambda: CaseImport.objects.get().status == "imported")
        # The group's reminder checks, one task for the group, taken by the worker.
        assert _wait_for(lambda: not ReminderCheck.objects.exists())
    assert Patient.objects.get().name == "韦示例"
    assert Filing.objects.get().end > today


def test_a_data_administrator_imports_for_a_bureau_they_choose(
    client_for,
    data_admin,
    clerk,
    reviewer,
    other_clerk,
    hospitals,  # noqa: F811
):
    client = client_for(data_admin)
    page = client.get(reverse("import_list")).content.decode()
    assert 'name="bureau"' in page
    refused = post_file(client, full_book())
    assert (
        "请选择经办机构" in refused.content.decode()
        or "这个字段是必填项" in refused.content.decode()
    )
    response = client.post(
        reverse("import_list"),
        {"bureau": clerk.bureau_id, "file": SimpleUploadedFile("档案.xlsx", full_book())},
    )
    case_import = CaseImport.objects.get()
    assert response["Location"] == reverse("import_detail", args=[case_import.pk])
    assert case_import.bureau == clerk.bureau
    imports.import_check(case_import.pk)
    client.post(reverse("import_confirm", args=[case_import.pk]))
    client_for(reviewer).post(reverse("import_review", args=[case_import.pk]))
    imports.import_apply(case_import.pk)
    patient = Patient.objects.get()
    assert patient.bureau == clerk.bureau
    assert Qualification.objects.get().recorded_by == data_admin
    # The bureau's own staff see the import; another bureau's do not.
    assert "档案.xlsx" in client_for(clerk).get(reverse("import_list")).content.decode()
    assert "档案.xlsx" not in client_for(other_clerk).get(reverse("import_list")).content.decode()


def test_a_clerk_cannot_upload_for_another_bureau(clerk, other_bureau):
    with pytest.raises(imports.ImportRefused, match="只能导入本经办机构"):
        imports.import_upload(by=clerk, file_name="x.xlsx", data=b"x", bureau=other_bureau)


def test_the_import_page_costs_the_same_queries_for_many_bad_rows(client_for, clerk):
    client = client_for(clerk)

    def bad(n: int) -> list[dict[str, object]]:
        return [{**PATIENT, "证件号码": f"{ID2[:-3]}{i:03d}", "险种": "999"} for i in range(n)]

    few = uploaded(client, full_book(参保人=bad(2), 门特资格=[], 选点=[], 跨省备案=[], 转诊证明=[]))
    many = uploaded(
        client, full_book(参保人=bad(40), 门特资格=[], 选点=[], 跨省备案=[], 转诊证明=[])
    )
    counts = []
    for case_import in (few, many):
        url = reverse("import_detail", args=[case_import.pk])
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
