"""Oversight above the county: a prefecture's supervisors read every county under it, the
region's all of Guangxi, read-only and masked; the statistics page, its exports and the
monthly reports (報表记录), scoped to the user's area."""

from __future__ import annotations

import io
import time

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import access, facts, statistics
from cases.models import MonthlyReport, Patient
from cases.services.reports import report_build
from institutions.models import Region
from portal.celery import app
from portal.models import AuditEvent, Role
from tests import factories
from tests.conftest import make_bureau, make_user
from tests.test_permission_matrix import MATRIX, TODAY, records  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(clerk, reviewer):
    return factories.case_file(clerk, reviewer, TODAY)


@pytest.fixture
def liuzhou_case(other_clerk):
    return factories.patient(other_clerk, name="覃柳州")


# --- levels and roles --------------------------------------------------------------------------


def test_a_bureau_takes_its_level_from_its_division_code(regions):
    assert make_bureau("451202").keeps_cases
    assert make_bureau("451200").level == 2
    assert not make_bureau("451200").keeps_cases
    assert make_bureau("450000").area_prefix == "45"


def test_casework_roles_belong_to_a_county_and_oversight_above_it(regions):
    with pytest.raises(ValidationError, match="县级经办机构"):
        make_user("c", Role.CLERK, make_bureau("451200"))
    with pytest.raises(ValidationError, match="地级市或自治区"):
        make_user("s", Role.SUPERVISOR, make_bureau("451202"))


# --- reading the cases of the area -------------------------------------------------------------


def test_a_prefecture_reads_its_counties_and_not_another_prefectures(
    case, liuzhou_case, client_for, hechi_supervisor, liuzhou_supervisor, region_supervisor
):
    hechi_patient = case["patient"]
    url = reverse("patient_detail", args=[hechi_patient.pk])
    page = client_for(hechi_supervisor).get(url)
    assert page.status_code == 200
    assert page.context["writable"] is False
    text = page.content.decode()
    assert hechi_patient.masked_cert_number in text
    assert hechi_patient.cert_number not in text
    assert 'method="post"' not in text.split("</nav>", 1)[1]  # no form but the logout
    assert client_for(liuzhou_supervisor).get(url).status_code == 404
    assert client_for(region_supervisor).get(url).status_code == 200
    other = reverse("patient_detail", args=[liuzhou_case.pk])
    assert client_for(hechi_supervisor).get(other).status_code == 404
    assert client_for(region_supervisor).get(other).status_code == 200

    visible = set(access.patients(hechi_supervisor).values_list("pk", flat=True))
    assert visible == {hechi_patient.pk}
    assert set(access.patients(region_supervisor).values_list("pk", flat=True)) == {
        hechi_patient.pk,
        liuzhou_case.pk,
    }


def test_search_and_export_across_the_area_masked_and_audited(
    case, liuzhou_case, client_for, hechi_supervisor
):
    client = client_for(hechi_supervisor)
    export = client.get(reverse("patient_search") + "?export=csv").content.decode("utf-8-sig")
    assert case["patient"].name in export
    assert case["patient"].masked_cert_number in export
    assert case["patient"].cert_number not in export
    assert liuzhou_case.name not in export
    assert AuditEvent.objects.filter(user=hechi_supervisor, action="export").exists()


# Object URLs: (GET for 河池's supervisor, GET for 柳州's) on a 金城江区 record.
OVERSIGHT = {
    "patient_detail": (200, 404),
    "patient_print": (200, 404),
    "filing_receipt": (200, 404),
    "letter_print": (200, 404),
    # Writes: refused before any record is looked up.
    "patient_edit": (403, 403),
    "qualification_apply": (403, 403),
    "selection_add": (403, 403),
    "filing_create": (403, 403),
    "letter_issue": (403, 403),
    "qualification_review": (403, 404),
    "selection_end": (403, 403),
    "filing_cancel": (403, 403),
    "filing_change": (403, 403),
    "qualification_cancel": (403, 403),
    "patient_move_out": (403, 403),
    # Imports and moves are a county bureau's own.
    "import_detail": (403, 403),
    "import_progress": (403, 403),
    "import_errors": (403, 403),
    "import_confirm": (403, 403),
    "import_review": (403, 403),
    "move_detail": (404, 404),
    "inbox_read": (404, 404),
    "report_detail": (404, 404),
    "report_progress": (404, 404),
    "report_download": (404, 404),
    # The platform's numbers and reconciliations are a county bureau's casework.
    "platform_ids": (403, 403),
    "reconciliation_detail": (403, 403),
    "reconciliation_progress": (403, 403),
    "reconciliation_adopt": (403, 403),
}


def test_every_object_url_has_an_oversight_entry():
    assert set(OVERSIGHT) == set(MATRIX)


@pytest.mark.parametrize("name", sorted(OVERSIGHT))
def test_oversight_reads_and_never_writes(
    name,
    records,  # noqa: F811 - the matrix's fixture
    client_for,
    hechi_supervisor,
    liuzhou_supervisor,
):
    record, *_ = MATRIX[name]
    url = reverse(name, args=[records[record].pk])
    before = _state()
    for user, status in zip((hechi_supervisor, liuzhou_supervisor), OVERSIGHT[name], strict=True):
        client = client_for(user)
        assert client.get(url).status_code == status, (name, user.username)
        assert client.post(url, {"name": "改名", "decision": "accept"}).status_code in (
            403,
            404,
            405,
        )
    assert _state() == before


def _state() -> tuple[int, ...]:
    """Every case record and its history, counted: nothing an oversight POST may change."""
    from django.apps import apps

    with access.system("test: counting"):
        return tuple(m._default_manager.count() for m in apps.get_app_config("cases").get_models())


def test_the_home_page_of_oversight_is_the_statistics(client_for, hechi_supervisor):
    response = client_for(hechi_supervisor).get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("statistics")


def test_the_navigation_offers_no_casework_above_the_county(client_for, hechi_supervisor, clerk):
    text = client_for(hechi_supervisor).get(reverse("statistics")).content.decode()
    assert reverse("patient_register") not in text
    assert reverse("move_list") not in text
    assert reverse("report_list") in text
    assert (
        reverse("patient_register") in client_for(clerk).get(reverse("statistics")).content.decode()
    )


# --- the statistics page -------------------------------------------------------------------------


@pytest.fixture
def figures(case, liuzhou_case):
    statistics.refresh(facts.today())


def test_the_page_shows_the_areas_figures_with_charts(figures, client_for, hechi_supervisor):
    response = client_for(hechi_supervisor).get(reverse("statistics"))
    assert response.status_code == 200
    shown = response.context["figures"]
    assert shown.criteria.area.code == "451200"
    expected = statistics.tables(shown.criteria)
    assert [t.rows for t in shown.tables] == [t.rows for t in expected.tables]
    assert sum(r[2] for r in shown.table("diseases").rows) == 1  # the 金城江区 case's
    text = response.content.decode()
    assert text.count('<svg class="chart"') >= 5
    assert "数据截至" in text
    assert 'style="' not in text.split("<svg", 1)[1]  # CSP: no inline styles in the charts


def test_areas_are_the_users_own_and_below(figures, client_for, hechi_supervisor, clerk):
    client = client_for(hechi_supervisor)
    choices = dict(client.get(reverse("statistics")).context["form"].fields["area"].choices)
    assert {"451200", "451202", "451203"} <= set(choices)
    assert not {"450200", "450202", "450000"} & set(choices)
    refused = client.get(reverse("statistics") + "?area=450202")
    assert refused.status_code == 200
    assert refused.context["figures"] is None
    assert "area" in refused.context["form"].errors
    mine = dict(client_for(clerk).get(reverse("statistics")).context["form"].fields["area"].choices)
    assert list(mine) == ["451202"]


def test_bad_filters_are_shown_next_to_the_field(figures, client_for, hechi_supervisor):
    client = client_for(hechi_supervisor)
    for query in ("?first=2026-10&last=2026-01", "?first=1999-01", "?disease=X99999", "?last=%00"):
        response = client.get(reverse("statistics") + query)
        assert response.status_code == 200, query
        assert response.context["figures"] is None
        assert response.context["form"].errors
    assert client.post(reverse("statistics")).status_code == 405


def test_each_table_exports_and_is_audited(figures, client_for, hechi_supervisor):
    client = client_for(hechi_supervisor)
    csv = client.get(reverse("statistics") + "?area=451202&table=diseases&export=csv")
    assert csv.status_code == 200
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "病种编码,病种名称,期末人数,上月末人数,增减"
    assert "M03900" in text
    xlsx = client.get(reverse("statistics") + "?table=counties&export=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]] == ["地市", "县区", "期末人数", "上月末人数", "增减"]
    assert (
        AuditEvent.objects.filter(user=hechi_supervisor, detail__contains="统计分析").count() == 2
    )
    assert client.get(reverse("statistics") + "?table=nope&export=csv").status_code == 404


@pytest.mark.parametrize("who", ["clerk", "hechi_supervisor", "region_supervisor"])
def test_the_page_costs_the_same_queries_at_every_level(figures, client_for, request, who):
    user = request.getfixturevalue(who)
    client = client_for(user)
    client.get(reverse("statistics"))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("statistics")).status_code == 200
    assert len(queries) <= 14, [q["sql"][:80] for q in queries]


def test_query_count_is_the_same_for_a_county_and_the_region(
    figures, client_for, clerk, region_supervisor
):
    counts = []
    for user in (clerk, region_supervisor):
        client = client_for(user)
        client.get(reverse("statistics"))
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("statistics"))
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- monthly reports -------------------------------------------------------------------------------


def _trimmed(row) -> list:
    """A row as a workbook gives it back: empty cells as None, none at the end."""
    cells = [None if c == "" else c for c in row]
    while cells and cells[-1] is None:
        cells.pop()
    return cells


def _request_report(client, area: str, month: str):
    return client.post(reverse("report_list"), {"area": area, "month": month})


def test_a_monthly_report_is_built_kept_and_downloaded_unchanged(
    figures, client_for, hechi_supervisor, liuzhou_supervisor, clerk, reviewer
):
    client = client_for(hechi_supervisor)
    month = statistics.add_months(statistics.month_start(facts.today()), -1)
    response = _request_report(client, "451200", f"{month:%Y-%m}")
    report = MonthlyReport.objects.get()
    assert response["Location"] == reverse("report_detail", args=[report.pk])
    assert report.status == "queued"
    assert client.get(reverse("report_download", args=[report.pk])).status_code == 302
    report_build(report.pk)
    report.refresh_from_db()
    assert report.status == "done"
    assert report.progress == 100
    assert client.get(reverse("report_progress", args=[report.pk])).json()["running"] is False

    first = client.get(reverse("report_download", args=[report.pk]))
    assert first.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(first.content))
    expected = statistics.tables(
        statistics.Criteria(area=Region.objects.get(code="451200"), first=month, last=month)
    )
    assert len(book.sheetnames) == len(expected.tables)
    for sheet, table in zip(book.worksheets, expected.tables, strict=True):
        values = [_trimmed(row) for row in sheet.iter_rows(values_only=True)]
        assert values[0][0] == f"广西壮族自治区河池市门诊特殊慢性病业务月报：{table.title}"
        assert values[1][0] == "统计地区：广西壮族自治区河池市"
        assert values[2][0].startswith(f"统计期：{month.year}年{month.month}月")
        assert values[3][0] == "制表单位：广西壮族自治区河池市医疗保障局"
        assert values[4][0] == f"制表日期：{facts.today():%Y-%m-%d}"
        heading = values.index(table.headers)
        body = values[heading + 1 : heading + 1 + len(table.rows)]
        assert body == [_trimmed(row) for row in table.rows]
    assert (
        "门特月报_河池市_" in first["Content-Disposition"]
        or "%E9%97%A8" in first["Content-Disposition"]
    )

    # New records and a new refresh change the figures, not the kept report.
    factories.patient(clerk, name="韦新增")
    statistics.refresh(facts.today())
    again = client.get(reverse("report_download", args=[report.pk]))
    assert again.content == first.content
    assert AuditEvent.objects.filter(user=hechi_supervisor, detail__contains="月报").count() == 2

    # Another prefecture never sees it; the county's staff do not either (not their bureau's).
    for other in (liuzhou_supervisor, clerk):
        assert client_for(other).get(reverse("report_detail", args=[report.pk])).status_code == 404
        assert (
            client_for(other).get(reverse("report_download", args=[report.pk])).status_code == 404
        )
    listed = client_for(liuzhou_supervisor).get(reverse("report_list")).content.decode()
    assert reverse("report_detail", args=[report.pk]) not in listed


def test_a_report_outside_the_area_or_the_window_is_refused(figures, client_for, hechi_supervisor):
    client = client_for(hechi_supervisor)
    month = f"{statistics.add_months(statistics.month_start(facts.today()), -1):%Y-%m}"
    for area, when in (("450200", month), ("450000", month), ("451200", "1999-01"), ("x", month)):
        response = _request_report(client, area, when)
        assert response.status_code == 200
        assert response.context["form"].errors
    assert not MonthlyReport.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_builds_the_report_with_progress(client_for, regions):
    supervisor = make_user("s", Role.SUPERVISOR, make_bureau("450000"))
    statistics.refresh(facts.today())
    client = client_for(supervisor)
    month = statistics.add_months(statistics.month_start(facts.today()), -1)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        _request_report(client, "450000", f"{month:%Y-%m}")
        report = MonthlyReport.objects.get()
        deadline = time.monotonic() + 60
        while MonthlyReport.objects.get().status != "done" and time.monotonic() < deadline:
            time.sleep(0.2)
    report.refresh_from_db()
    assert report.status == "done"
    assert openpyxl.load_workbook(io.BytesIO(bytes(report.data))).sheetnames
    assert not Patient.objects.exists()


def test_the_demo_has_oversight_users(regions):
    from portal.demo import load_demo_staff

    _, accounts = load_demo_staff()
    names = {username: bureau for username, _, bureau in accounts}
    assert "河池市医疗保障局" in names["supervisor_451200"]
    assert "柳州市医疗保障局" in names["supervisor_450200"]
    assert names["supervisor_450000"] == "广西壮族自治区医疗保障局"


def test_the_sweep_queues_a_lost_report_again(figures, hechi_supervisor):
    from django.utils import timezone

    from cases.services.reports import queued, report_request

    month = statistics.add_months(statistics.month_start(facts.today()), -1)
    lost = report_request(by=hechi_supervisor, area=hechi_supervisor.bureau.county, month=month)
    dead = report_request(by=hechi_supervisor, area=hechi_supervisor.bureau.county, month=month)
    long_ago = timezone.now() - timezone.timedelta(hours=2)
    MonthlyReport.objects.filter(pk=lost.pk).update(created_at=long_ago)
    MonthlyReport.objects.filter(pk=dead.pk).update(status="building", created_at=long_ago)
    assert set(queued()) == {lost.pk, dead.pk}
    report_build(dead.pk)
    assert MonthlyReport.objects.get(pk=dead.pk).status == "done"


# Every URL without an object id, for 河池's supervisor: (GET status).
OVERSIGHT_PAGES = {
    ("home", ""): 302,
    ("patient_search", ""): 200,
    ("patient_search", "?q=韦"): 200,
    ("patient_search", "?export=csv"): 200,
    ("patient_search", "?export=xlsx"): 200,
    ("patient_register", ""): 403,
    ("import_list", ""): 403,
    ("import_template", ""): 403,
    ("patient_receipts", ""): 200,
    ("patient_receipts", "?filing_status=active"): 200,
    ("review_queue", ""): 403,
    ("review_queue", "?export=csv"): 403,
    ("expiring", ""): 200,
    ("expiring", "?export=csv"): 200,
    ("settlement", ""): 200,
    ("institution_finder", "?destination=440100&disease=M03900"): 200,
    ("institution_autocomplete", "?q=H44"): 200,
    ("policy", ""): 200,
    ("inbox", ""): 200,
    ("inbox_read_all", ""): 405,
    ("move_list", ""): 200,
    ("move_new", ""): 403,
    ("statistics", ""): 200,
    ("statistics", "?area=451202&table=diseases&export=csv"): 200,
    ("statistics", "?table=counties&export=xlsx"): 200,
    ("report_list", ""): 200,
    ("exchange_export", ""): 200,
    ("exchange_export", "?kind=person&fmt=csv"): 200,
    ("exchange_export", "?kind=qualification&fmt=csv"): 200,
    ("exchange_export", "?kind=filing&fmt=xlsx"): 200,
    ("reconciliation_list", ""): 403,
}


def test_every_page_has_an_oversight_entry():
    from tests.test_permission_matrix import PAGES

    assert set(OVERSIGHT_PAGES) == set(PAGES)


@pytest.mark.parametrize(("name", "query"), sorted(OVERSIGHT_PAGES))
def test_oversight_pages_never_show_another_prefecture(
    name, query, case, liuzhou_case, client_for, hechi_supervisor
):
    statistics.refresh(facts.today())
    client = client_for(hechi_supervisor)
    response = client.get(reverse(name) + query)
    assert response.status_code == OVERSIGHT_PAGES[name, query], (name, query)
    if response.status_code == 200 and "spreadsheetml" not in response.get("Content-Type", ""):
        body = b"".join(response) if response.streaming else response.content
        text = body.decode("utf-8-sig")
        for hidden in (liuzhou_case.name, liuzhou_case.masked_cert_number):
            assert hidden not in text, (name, query)
    # Posting to a page that reads refuses nothing it should not: no case record changes.
    before = _state()
    client.post(reverse(name) + query, {"q": "韦"})
    assert _state() == before
