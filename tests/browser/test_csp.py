"""Every page type, the admin site included, loads under the strict Content Security
Policy without a single violation, and axe-core (vendored under static/vendor/axe-core)
finds no serious or critical accessibility violation on it (Debian's Chromium driven by
Playwright)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import facts, statistics
from cases.models import Notification
from cases.services.imports import import_check, import_upload
from cases.services.national import reconciliation_request, reconciliation_run
from cases.services.reports import report_build, report_request
from institutions.models import Institution, Region
from tests import factories
from tests.browser.test_journey import ARGS, CHROMIUM
from tests.cases.test_imports import ID2, PATIENT, full_book
from tests.cases.test_national import csv_file, rows_of
from tests.test_permission_matrix import ask_to_move

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
VNU = ROOT / "var" / "vnu" / "24.10.17" / "vnu.jar"  # scripts/ensure_validator.sh

AXE = "/static/vendor/axe-core/axe.min.js"
# WCAG 2.1 A and AA; an impact of serious or critical fails the page.
RUN_AXE = """
async () => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + " (" + v.nodes.length + "): " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
}
"""

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


def session_cookie(user, verified: bool) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "portal.auth.PortalBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if verified:
        device = TOTPDevice.objects.create(user=user, name="测试", confirmed=True)
        session["otp_device_id"] = device.persistent_id
    session.create()
    return session.session_key


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_page_keeps_the_csp_is_accessible_and_valid_html(
    live_server, clerk, reviewer, bureau_admin, regions, monkeypatch, tmp_path
):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    today = facts.today()
    case = factories.case_file(clerk, reviewer, today)
    patient, qualification = case["patient"], case["qualification"]
    selection, filing, letter, home = (
        case["selection"],
        case["filing"],
        case["letter"],
        case["home"],
    )
    Notification.objects.create(user=bureau_admin, patient=patient, title="提醒", body="内容")
    bureau_admin.is_superuser = True  # to reach every admin page in one session
    bureau_admin.save()

    with facts.as_of(today):
        bad_row = {**PATIENT, "证件号码": ID2, "险种": "999"}
        case_import = import_upload(
            by=clerk, file_name="档案.xlsx", data=full_book(参保人=[bad_row])
        )
        import_check(case_import.pk)
    move = ask_to_move(patient)
    statistics.refresh(today)
    report = report_request(
        by=clerk, area=Region.objects.get(code="451202"), month=today.replace(day=1)
    )
    report_build(report.pk)
    queued = report_request(
        by=clerk, area=Region.objects.get(code="451202"), month=today.replace(day=1)
    )
    row = {**rows_of("qualification", bureau_admin)[0], "enddate": "2030-12-31"}
    compared = reconciliation_request(
        by=clerk, kind="qualification", file_name="5301.csv", data=csv_file("qualification", [row])
    )
    reconciliation_run(compared.pk)
    waiting = reconciliation_request(
        by=clerk, kind="letter", file_name="5304.csv", data=b"psn_no\n"
    )

    p = f"/patients/{patient.pk}"
    pages = [
        "/imports/",
        f"/imports/{case_import.pk}/",
        "/",
        "/patients/",
        "/patients/?q=wsl",
        "/patients/?sort=-name",
        "/patients/receipts/",
        "/patients/new/",
        f"{p}/",
        f"{p}/qualifications/new/",
        f"{p}/selections/new/",
        f"{p}/filings/new/",
        f"{p}/letters/new/",
        f"{p}/edit/",
        f"{p}/print/",
        f"/qualifications/{qualification.pk}/cancel/",
        f"/filings/{filing.pk}/change/",
        "/reviews/",
        "/expiring/",
        f"/selections/{selection.pk}/end/",
        f"/filings/{filing.pk}/cancel/",
        f"/filings/{filing.pk}/receipt/",
        f"/letters/{letter.pk}/print/",
        f"/settlement/?pid={patient.pk}&institution=H45120200001&disease="
        f"{qualification.disease_id}&day={today}",
        f"/institutions/finder/?destination=440100&disease="
        f"{qualification.disease_id}&patient={patient.pk}",
        "/policy/",
        "/statistics/",
        "/statistics/?first=2026-10&last=2026-01&area=999999",
        "/reports/",
        f"/reports/{report.pk}/",
        f"/reports/{queued.pk}/",
        "/inbox/",
        f"{p}/platform-ids/",
        "/national/export/",
        "/national/export/?kind=filing&fmt=csv&first=2025-03-01&last=2025-01-01",
        "/national/reconciliations/",
        f"/national/reconciliations/{compared.pk}/",
        f"/national/reconciliations/{waiting.pk}/",
        "/moves/",
        "/moves/new/",
        f"/moves/{move.pk}/",
        f"{p}/move-out/",
        "/status/",
        "/accounts/2fa/setup/",
        "/admin/",
        "/admin/institutions/institution/",
        f"/admin/institutions/institution/{home.pk}/change/",
        f"/admin/institutions/institution/{home.pk}/history/",
        "/admin/institutions/institution/import/",
        "/admin/institutions/institution/export/",
        "/admin/institutions/region/?q=4512",
        "/admin/institutions/disease/",
        "/admin/institutions/disease/import-1309/",
        f"/admin/institutions/disease/{qualification.disease_id}/change/",
        "/admin/cases/codemapping/",
        "/admin/institutions/policyparameter/add/",
        "/admin/cases/patient/",
        f"/admin/cases/patient/{patient.pk}/change/",
        f"/admin/cases/patient/{patient.pk}/history/",
        f"/admin/cases/patient/{patient.pk}/history/"
        f"{patient.history.latest('history_id').history_id}/",
        "/admin/portal/user/",
        f"/admin/portal/user/{clerk.pk}/change/",
        "/admin/portal/auditevent/",
        "/admin/cases/moverequest/",
        f"/admin/cases/moverequest/{move.pk}/change/",
        f"/admin/cases/moverequest/{move.pk}/history/",
    ]
    violations: dict[str, list[str]] = {}
    barriers: dict[str, list[str]] = {}
    sources: dict[str, bytes] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": session_cookie(bureau_admin, verified=True),
                    "url": live_server.url,
                }
            ]
        )
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        for path in pages:
            response = page.goto(live_server.url + path)
            assert response is not None
            assert response.status < 400, (path, response.status)
            sources[path] = response.body()
            page.wait_for_load_state("load")
            found = page.evaluate("window.__cspViolations") + [
                c for c in console if "Content Security Policy" in c
            ]
            console.clear()
            if found:
                violations[path] = found
            # After the CSP check: axe's own probes set inline styles.
            page.add_script_tag(url=live_server.url + AXE)
            inaccessible = page.evaluate(RUN_AXE)
            console.clear()
            if inaccessible:
                barriers[path] = inaccessible
        browser.close()
    assert violations == {}
    assert barriers == {}
    assert invalid_html(sources, tmp_path) == {}


# Markup of the admin site that Django or django-import-export writes, not this project:
# (admin page, the checker's message as it starts). Any other error fails.
UPSTREAM_MARKUP = [
    # Django's autocomplete select of a required foreign key starts with the chosen value.
    ("/admin/institutions/institution/", "The first child “option” element of a “select”"),
    # django-import-export's import form posts to its own page with action="".
    ("/admin/institutions/institution/import/", "Bad value “” for attribute “action”"),
    # django-import-export's export fields carry the attributes its script selects by.
    ("/admin/institutions/institution/export/", "Attribute “resource-"),
    # Django's read-only password widget (a disabled <div>) and the empty choice of an
    # optional autocomplete select.
    ("/admin/portal/user/", "Attribute “disabled” not allowed on element “div”"),
    ("/admin/portal/user/", "The “aria-describedby” attribute must point"),
    ("/admin/portal/user/", "Element “option” without attribute “label” must not be empty"),
]


def upstream(path: str, message: str) -> bool:
    return any(path.startswith(page) and message.startswith(text) for page, text in UPSTREAM_MARKUP)


def invalid_html(sources: dict[str, bytes], folder: Path) -> dict[str, list[str]]:
    """The Nu HTML Checker's errors on each page's HTML as the server sent it."""
    if not VNU.exists() or shutil.which("java") is None:
        pytest.fail("the HTML checker is missing: run scripts/ensure_validator.sh")
    files = {}
    for index, (path, body) in enumerate(sources.items()):
        file = folder / f"page{index}.html"
        file.write_bytes(body)
        files[str(file)] = path
    done = subprocess.run(
        ["java", "-jar", str(VNU), "--errors-only", "--format", "json", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    errors: dict[str, list[str]] = {}
    for message in json.loads(done.stderr or done.stdout or '{"messages": []}')["messages"]:
        path = files.get(message.get("url", "").removeprefix("file:"), message.get("url", ""))
        if upstream(path, message.get("message", "")):
            continue
        errors.setdefault(path, []).append(
            f"{message.get('lastLine', '?')}: {message.get('message', '')}"
        )
    return errors
    assert Institution.objects.filter(code="H45120200001").exists()
