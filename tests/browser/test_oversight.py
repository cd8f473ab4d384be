"""河池市医疗保障局 in a real browser: its supervisor lands on the area's statistics with
their charts, finds a 金城江区 patient (masked, read-only), gets 404 for a 柳州 patient,
and has the monthly report built by a Celery worker and downloads it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker

from cases import facts, statistics
from portal.celery import app
from tests import factories
from tests.browser.test_journey import CHROMIUM, browser_page, logout, submit  # noqa: F401
from tests.conftest import PASSWORD, make_bureau, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_prefecture_supervisor_reads_its_area_and_builds_the_monthly_report(
    browser_page,  # noqa: F811
    live_server,
    clerk,
    reviewer,
    other_clerk,
):
    page, problems = browser_page
    base = live_server.url
    today = facts.today()
    case = factories.case_file(clerk, reviewer, today)
    patient = case["patient"]
    theirs = factories.patient(other_clerk, name="覃柳州")
    statistics.refresh(today)
    make_user("hechi", "supervisor", make_bureau("451200"))

    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "hechi")
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url(f"{base}/statistics/")
    assert page.locator("svg.chart").count() >= 5
    main = page.inner_text("main")
    assert "有效门特资格（按县区）" in main
    assert "金城江区" in main
    assert "数据截至" in main

    # The area's patient: found, masked, nothing to change.
    page.click("text=参保人")
    page.fill("input[name=q]", patient.name)
    submit(page)
    page.click(f"text={patient.name}")
    page.wait_for_url(f"{base}/patients/{patient.pk}/")
    main = page.inner_text("main")
    assert patient.masked_cert_number in main
    assert patient.cert_number not in main
    assert page.locator("main form").count() == 0
    response = page.goto(f"{base}/patients/{theirs.pk}/")
    assert response is not None
    assert response.status == 404

    # The monthly report, built by a worker while the page follows it.
    page.goto(f"{base}/reports/")
    page.select_option("select[name=area]", "451200")
    submit(page)
    page.wait_for_selector("text=排队生成")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        page.wait_for_selector("text=已生成", timeout=120_000)
    with page.expect_download() as download:
        page.click("a.btn-primary:has-text('下载')")
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert len(book.sheetnames) == 7
    assert book.worksheets[0]["A4"].value == "制表单位：广西壮族自治区河池市医疗保障局"
    logout(page)
    expected = {
        f"HTTP 404: {base}/patients/{theirs.pk}/",
        "console: Failed to load resource: the server responded with a status of 404 (Not Found)",
    }
    assert [p for p in problems if p not in expected] == []
