"""A bureau's workbook imported in a real browser (Debian's Chromium driven by
Playwright) with a real Celery worker on Redis: upload, watch the progress bar move, read
the bad rows, download the workbook with its 错误说明, confirm, and see it imported."""

from __future__ import annotations

import io
import os
import time

import openpyxl
import pytest
from celery.contrib.testing.worker import start_worker

from cases.imports import engine
from cases.models import CaseImport, Patient
from portal.celery import app
from tests.browser.test_journey import CHROMIUM, browser_page, login  # noqa: F401 - fixture
from tests.cases.test_imports import PATIENT
from tests.factories import resident_id

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]
PATIENTS = 450  # three groups of the engine: the bar has somewhere to move


def workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "参保人"
    sheet.append(list(PATIENT))
    for i in range(PATIENTS):
        sheet.append(["居民身份证", resident_id(birth="19600101"), f"韦示例{i}", "390"])
    sheet.append(["居民身份证", resident_id(birth="19600102"), "覃错例", "999"])  # ID-5
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_upload_watch_the_progress_download_the_errors_and_import(
    browser_page,  # noqa: F811
    live_server,
    clerk,
    tmp_path,
    monkeypatch,
    settings,
):
    page, problems = browser_page
    settings.CASES_IMPORT_GROUP = 200  # three groups: the bar has somewhere to move
    # A group of 200 patients takes a fraction of a second here; as on a county's real
    # archive, each takes longer than the page's one-second poll, so the bar is seen moving.
    group = engine._group

    def paced(*args, **kwargs):
        group(*args, **kwargs)
        time.sleep(1.5)

    monkeypatch.setattr(engine, "_group", paced)
    base = live_server.url
    upload = tmp_path / "金城江区档案.xlsx"
    upload.write_bytes(workbook())
    seen: list[dict[str, object]] = []

    def progress(response):
        if "/progress/" in response.url and response.ok:
            try:
                seen.append(response.json())
            except Exception:  # the page reloaded before the body was read
                return

    page.on("response", progress)

    login(page, base, "clerk")
    page.click("nav >> text=导入记录")
    page.set_input_files("input[name=file]", str(upload))
    page.click("text=上传并检查")
    # No worker yet: the import waits in the queue, its bar at zero.
    page.wait_for_selector("text=排队检查")
    assert page.locator("#import-bar").get_attribute("value") == "0"

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        page.wait_for_selector("text=有错误的行（1）", timeout=120_000)
        assert any(s["running"] and 0 < s["checked"] < s["total"] for s in seen), seen
        assert "ID-5：“999”不是有效的险种" in page.inner_text("main")

        with page.expect_download() as download:
            page.click("text=下载工作簿（含错误说明）")
        saved = tmp_path / "errors.xlsx"
        download.value.save_as(saved)
        sheet = openpyxl.load_workbook(saved)["参保人"]
        assert sheet.cell(PATIENTS + 2, 8).value.startswith("ID-5")

        page.click("text=确认导入无误的行")
        page.wait_for_selector("text=已导入", timeout=120_000)
    assert Patient.objects.count() == PATIENTS
    assert CaseImport.objects.get().counts["参保人"]["created"] == PATIENTS
    assert problems == []
