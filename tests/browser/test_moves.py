"""A patient moves from 河池 to 柳州 in a real browser: the Liuzhou clerk meets ID-1 on the
register form and requests the patient, the Hechi clerk reads what will happen to each
record and accepts, then Liuzhou sees the case and Hechi gets 404."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from cases import facts
from cases.services.selections import selection_add
from tests import factories
from tests.browser.test_journey import CHROMIUM, browser_page, login, logout, submit  # noqa: F401
from tests.conftest import make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"),
]
NUMBER = "451202198001011233"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_liuzhou_requests_hechi_accepts_and_the_case_moves(
    browser_page,  # noqa: F811
    live_server,
    clerk,
    other_bureau,
):
    page, problems = browser_page
    base = live_server.url
    make_user("liuzhou", "clerk", other_bureau)
    home = factories.institution("H45120200001", level=3, networked=("M03900",))
    patient = factories.patient(clerk, day=dt.date(2025, 1, 2))
    with facts.as_of(dt.date(2025, 1, 10)):
        selection_add(by=clerk, patient=patient, institution=home, start=dt.date(2025, 1, 10))
    today = facts.today()

    # Liuzhou: the register form finds the number at Hechi and offers 申请转入.
    login(page, base, "liuzhou")
    page.click("text=登记参保人")
    page.fill("input[name=cert_number]", patient.cert_number)
    page.fill("input[name=name]", patient.name)
    page.select_option("select[name=insurance_type]", "390")
    submit(page)
    page.click("text=申请转入")
    assert page.input_value("input[name=cert_number]") == patient.cert_number
    page.fill("input[name=effective]", today.isoformat())
    page.fill("input[name=voucher]", "GX2026120001")
    submit(page)
    page.wait_for_selector("text=待答复")
    assert "韦*" in page.inner_text("main")
    assert patient.name not in page.inner_text("main")
    logout(page)

    # Hechi: the request on the dashboard, each record's fate, then accept.
    login(page, base, "clerk")
    page.click("#moves-to-answer li a >> nth=0")
    assert "自 " in page.inner_text("main")  # the selection's scope from the date
    page.check("input[name=decision][value=accept]")
    submit(page)
    page.wait_for_selector("text=已接受转入申请")
    response = page.goto(f"{base}/patients/{patient.pk}/")
    assert response is not None
    assert response.status == 404
    logout(page)

    # Liuzhou now keeps the case; its timeline shows the move.
    login(page, base, "liuzhou")
    page.goto(f"{base}/patients/{patient.pk}/")
    main = page.inner_text("main")
    assert "柳州市城中区" in main
    assert "参保地变更" in main
    # The one failure the browser saw is Hechi's 404 (the response, and its console line).
    expected = {
        f"HTTP 404: {base}/patients/{patient.pk}/",
        "console: Failed to load resource: the server responded with a status of 404 (Not Found)",
    }
    assert [p for p in problems if p not in expected] == []
