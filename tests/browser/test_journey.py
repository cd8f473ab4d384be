"""A clerk's whole journey in a real browser (Debian's Chromium driven by Playwright):
register → apply → review → select three institutions → refused fourth → file
cross-province → select there → settlement check DIRECT → print the receipt.

Any console error or failed request fails the test. Screenshots of the dashboard, the
patient page and the settlement answer are written to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import factories
from tests.conftest import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]


@pytest.fixture
def browser_page(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own database
    # calls are still synchronous, which Django otherwise refuses inside a loop.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.on(
            "console",
            lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        # A request the browser itself aborts because the page moved on is not a failure.
        page.on(
            "requestfailed",
            lambda r: (
                None
                if "ERR_ABORTED" in (r.failure or "")
                else problems.append(f"failed: {r.url} {r.failure}")
            ),
        )
        page.on(
            "response",
            lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
        )
        page.set_default_timeout(15_000)
        try:
            yield page, problems
        finally:
            # What the browser showed last, for whoever reads a failure.
            failure = Path(__file__).resolve().parents[2] / "var" / "browser-last-page.png"
            failure.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(failure), full_page=True)
            browser.close()


def submit(page):
    # The navigation bar's logout is a form too: press the page's own button.
    page.locator("main form button[type=submit]").first.click()


def login(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url(f"{base}/")


def logout(page):
    page.click("text=退出登录")
    page.wait_for_selector("text=工作人员登录")


def select(page, base, patient_url, code):
    page.goto(f"{patient_url}selections/new/")
    page.fill("input[name=institution]", code)
    submit(page)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_clerk_journey(browser_page, live_server, clerk, reviewer, regions):
    page, problems = browser_page
    base = live_server.url
    for code, networked, cross in [
        ("H45120200001", ("M03900",), ()),
        ("H45120200002", ("M03900",), ()),
        ("H45120300001", ("M03900",), ()),
        ("H45010300001", ("M03900",), ()),
        ("H44010600001", (), ("M03900",)),
    ]:
        factories.institution(code, level=3, networked=networked, cross_province=cross)

    # Register a patient.
    login(page, base, "clerk")
    page.click("text=登记参保人")
    page.fill("input[name=cert_number]", "451202198001011233")
    page.fill("input[name=name]", "韦示例")
    page.select_option("select[name=insurance_type]", "390")
    page.fill("input[name=phone]", "13800001111")
    submit(page)
    page.wait_for_selector("text=已登记参保人韦示例")
    assert page.is_visible("text=1980-01-01 出生")
    patient_url = page.url

    # Apply for a qualification.
    page.click("text=申请门特资格")
    page.select_option("select[name=disease]", label="M03900 高血压病")
    page.fill("input[name=diagnosis_institution]", "H45120200001")
    page.fill("input[name=diagnosis_doctor]", "李医生")
    submit(page)
    page.wait_for_selector("text=等待另一名工作人员复核")
    logout(page)

    # A second clerk reviews it.
    login(page, base, "reviewer")
    page.click("text=复核队列")
    page.click("table >> text=复核")
    page.check("input[value=approve]")
    submit(page)
    page.wait_for_selector("text=已认定通过")
    logout(page)

    # Three selections, and the fourth is refused with SL-1 next to the field.
    login(page, base, "clerk")
    for code in ("H45120200001", "H45120200002", "H45120300001"):
        select(page, base, patient_url, code)
        page.wait_for_selector("text=已选定")
    select(page, base, patient_url, "H45010300001")
    error = page.locator(".invalid-feedback, .alert-danger").filter(has_text="SL-1")
    assert error.count() >= 1
    assert "选点机构已达上限" in error.first.inner_text()

    # End one, file cross-province, select there.
    page.goto(patient_url)
    page.locator("[data-slot='3'] >> text=终止").click()
    page.fill("input[name=end_reason]", "参保人到广州长期就医")
    submit(page)
    page.wait_for_selector("text=选点已终止")
    page.click("text=办理跨省备案")
    page.select_option("select[name=type]", "temporary")
    page.select_option("select[name=subtype]", "other")
    page.select_option("select[name=destination]", "440100")
    submit(page)
    page.wait_for_selector("text=备案已办理")
    select(page, base, patient_url, "H44010600001")
    page.wait_for_selector("text=已选定")
    page.goto(patient_url)
    assert page.locator(".slot-cross_province").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "patient.png"), full_page=True)

    # Settlement check: DIRECT (the patient page's button fills in the patient).
    page.click("main >> text=结算核验")
    page.fill("input[name=institution]", "H44010600001")
    page.select_option("select[name=disease]", label="M03900 高血压病")
    submit(page)
    page.wait_for_selector("[data-outcome=direct]")
    assert "可直接结算" in page.inner_text("#settlement-answer")
    page.screenshot(path=str(SCREENSHOTS / "settlement.png"), full_page=True)

    # Print the filing receipt.
    page.goto(patient_url)
    page.click("text=回执")
    page.wait_for_selector("text=跨省异地就医备案回执")
    page.emulate_media(media="print")
    assert not page.is_visible("nav")
    page.emulate_media(media="screen")

    # The patient list: recently opened, sorted by name, receipts of the filed printed at once.
    page.goto(f"{base}/patients/")
    assert page.locator("nav[aria-labelledby=recent-heading] >> text=韦示例").count() == 1
    page.click("thead >> text=姓名")
    assert page.get_attribute("th[aria-sort]", "aria-sort") == "ascending"
    page.select_option("select[name=filing_status]", "active")
    page.click("form >> text=查询")
    page.wait_for_selector("text=共 1 人")
    page.click("text=批量打印备案回执")
    page.wait_for_selector("text=共 1 份")
    assert page.locator(".print-sheet").count() == 1

    page.goto(f"{base}/")
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert problems == []
