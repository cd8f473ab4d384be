"""Exchange with the national platform (cases.national, NX-1..NX-5): the platform's
identifiers on the records, the national-format export, reconciliation against the
platform's files and adopting its numbers, and the 2001 fields of the settlement check."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import facts, national, rules
from cases.models import (
    CodeMapping,
    Filing,
    Patient,
    Qualification,
    Reconciliation,
    ReconciliationItem,
    Selection,
    TransferLetter,
)
from cases.rules import national as nx
from cases.services.national import (
    ReconciliationRefused,
    reconciliation_adopt,
    reconciliation_request,
    reconciliation_run,
)
from cases.tasks import run_reconciliation
from portal.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 3, 1)
KINDS = ["qualification", "selection", "letter", "filing"]


# --- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "enddate"),
    [
        (dt.date(2025, 3, 1), "2025-02-28"),  # a month end
        (dt.date(2024, 3, 1), "2024-02-29"),  # a leap year's
        (dt.date(2026, 1, 1), "2025-12-31"),  # a year end
        (None, ""),  # open-ended
    ],
)
def test_nx3_an_end_leaves_as_the_last_valid_day_and_comes_back(end, enddate):
    assert nx.end_out(end) == enddate
    day = dt.date.fromisoformat(enddate) if enddate else None
    assert nx.end_in(day) == end


def test_nx3_catalogue_times_end_a_day_at_midnight():
    assert nx.moment_in(dt.datetime(2025, 6, 30, 23, 59, 59)) == dt.date(2025, 7, 1)
    assert nx.moment_in(dt.datetime(2025, 7, 1, 0, 0, 0)) == dt.date(2025, 7, 1)
    assert nx.moment_in(None) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("45000000000000000012", True), ("4500", False), ("45-0000000001", False)],
)
def test_nx1_psn_no_format(value, ok):
    assert (not nx.check_psn_no(value)) is ok
    if not ok:
        assert nx.check_psn_no(value)[0].rule == "NX-1"


def test_nx2_serial_format():
    assert not nx.check_serial("")
    assert not nx.check_serial("SN2025030100001")
    assert nx.check_serial("sn 1")[0].rule == "NX-2"
    assert nx.normalize_platform_id(" sn 20250301 ") == "SN20250301"


def test_nx4_code_tables_default_and_override():
    tables = nx.CodeTables({"rloc_rea": {"other": "99"}})
    assert tables.out("rloc_rea", "other") == "99"
    assert tables.out("rloc_rea", "transfer") == nx.DEFAULT_CODES["rloc_rea"]["transfer"]
    assert tables.out("gend", "F") == "2"
    assert tables.back("rloc_rea", "99") == "other"
    assert tables.back("rloc_rea", "zz") is None


def test_nx5_the_newest_version_in_force_decides():
    first = nx.Listing("V1", True, rules.Period(dt.date(2020, 1, 1), None))
    withdrawn = nx.Listing("V2", False, rules.Period(dt.date(2025, 1, 1), None))
    assert nx.listed_on([first, withdrawn], dt.date(2024, 12, 31))
    assert not nx.listed_on([first, withdrawn], dt.date(2025, 1, 1))
    assert not nx.listed_on([first], dt.date(2019, 12, 31))


def test_the_2001_answer_follows_the_outcome():
    period = rules.Period(dt.date(2025, 1, 2), dt.date(2027, 1, 2))
    direct = nx.platform_check(rules.Outcome.DIRECT, period, [])
    assert (direct.trt_enjymnt_flag, direct.begndate, direct.enddate) == (
        "1",
        "2025-01-02",
        "2027-01-01",
    )
    refused = nx.platform_check(
        rules.Outcome.NOT_COVERED, None, [rules.Violation("ST-1", "没有资格。")]
    )
    assert refused.trt_enjymnt_flag == "0"
    assert refused.trt_chk_rslt == "ST-1 没有资格。"
    assert (refused.begndate, refused.enddate) == ("", "")


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def case(clerk, reviewer):
    return factories.case_file(clerk, reviewer, TODAY)


def rows_of(kind: str, user) -> list[dict[str, str]]:
    """The bureau's records of ``kind`` as the national-format export writes them."""
    codes = national.code_tables()
    return [
        national.ROW_BUILDERS[kind](record, codes, True) for record in national_records(kind, user)
    ]


def national_records(kind: str, user):
    from cases import selectors

    return selectors.exchange_for(user, kind)


def csv_file(kind: str, rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(national.LAYOUTS[kind].fields))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_file(kind: str, rows: list[dict[str, str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    fields = list(national.LAYOUTS[kind].fields)
    sheet.append([f.upper() for f in fields])  # a database export's capitals
    for row in rows:
        sheet.append([row[f] for f in fields])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def reconciled(user, kind: str, data: bytes, name: str = "5301.csv") -> Reconciliation:
    reconciliation = reconciliation_request(by=user, kind=kind, file_name=name, data=data)
    reconciliation_run(reconciliation.pk)  # what the Celery task does
    reconciliation.refresh_from_db()
    return reconciliation


def outcomes(reconciliation: Reconciliation) -> dict[str, int]:
    return {k: v for k, v in reconciliation.counts.items() if k in ReconciliationItem.Outcome}


# --- export ------------------------------------------------------------------------------------


def test_the_export_writes_the_platforms_fields_and_dates(case, client_for, bureau_admin):
    client = client_for(bureau_admin)
    for kind in ["person", *KINDS]:
        response = client.get(reverse("exchange_export"), {"kind": kind, "fmt": "csv"})
        assert response.status_code == 200, kind
        lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert lines[0] == list(national.LAYOUTS[kind].fields), kind
        assert len(lines) == 2, kind
    qualification = rows_of("qualification", bureau_admin)[0]
    assert qualification["opsp_dise_code"] == "M03900"
    assert qualification["begndate"] == "2025-03-01"
    assert qualification["enddate"] == ""  # open-ended (QL-3)
    letter = rows_of("letter", bureau_admin)[0]
    assert letter["enddate"] == "2025-08-31"  # six months, the last valid day (TL-3)
    assert letter["reflin_medins_no"] == case["guangzhou"].code
    filing = rows_of("filing", bureau_admin)[0]
    assert filing["rloc_admdvs"] == "440100"
    assert filing["rloc_rea"] == "23"  # the default for 其他临时外出就医
    assert AuditEvent.objects.filter(user=bureau_admin, action="export").count() == 5


def test_the_mapping_tables_kept_in_the_admin_are_applied(case, client_for, bureau_admin):
    CodeMapping.objects.update_or_create(
        kind="rloc_rea", portal_value="other", defaults={"platform_code": "2"}
    )
    CodeMapping.objects.update_or_create(
        kind="dcla_souc", portal_value="window", defaults={"platform_code": "A1"}
    )
    filing = rows_of("filing", bureau_admin)[0]
    assert (filing["rloc_rea"], filing["dcla_souc"]) == ("2", "A1")
    response = client_for(bureau_admin).get(
        reverse("exchange_export"), {"kind": "filing", "fmt": "xlsx"}
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert dict(zip(header, values, strict=True))["rloc_rea"] == "2"


def test_a_mapping_row_names_a_value_the_portal_has():
    mapping = CodeMapping(kind="gend", portal_value="X", platform_code="9")
    with pytest.raises(ValidationError) as refused:
        mapping.full_clean()
    assert "NX-4" in str(refused.value)


def test_the_export_is_filtered_by_period_and_by_changes(case, clerk, bureau_admin):
    from cases import selectors

    assert selectors.exchange_for(clerk, "letter", first=dt.date(2025, 8, 31)).count() == 1
    assert selectors.exchange_for(clerk, "letter", first=dt.date(2025, 9, 1)).count() == 0
    assert selectors.exchange_for(clerk, "letter", last=dt.date(2025, 2, 28)).count() == 0
    changed = selectors.exchange_for(clerk, "qualification", changed_since=dt.date.today())
    assert changed.count() == 1
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert selectors.exchange_for(clerk, "qualification", changed_since=tomorrow).count() == 0


def test_the_export_masks_numbers_for_a_clerk_without_unmasking(case, client_for, clerk):
    response = client_for(clerk).get(reverse("exchange_export"), {"kind": "person", "fmt": "csv"})
    text = response.content.decode("utf-8-sig")
    assert case["patient"].cert_number not in text
    assert case["patient"].masked_cert_number in text


def test_the_export_form_refuses_a_bad_period(client_for, clerk):
    response = client_for(clerk).get(
        reverse("exchange_export"),
        {"kind": "filing", "fmt": "csv", "first": "2025-03-01", "last": "2025-02-01"},
    )
    assert response.status_code == 200
    assert "期间止不能早于期间起" in response.content.decode()


def test_an_export_over_the_limit_asks_for_a_narrower_period(case, client_for, clerk, settings):
    settings.NATIONAL_EXPORT_MAX_ROWS = 0
    response = client_for(clerk).get(reverse("exchange_export"), {"kind": "person", "fmt": "csv"})
    assert response.status_code == 200
    assert "超过一次导出的上限" in response.content.decode()


def test_the_export_is_the_bureaus_or_the_areas(
    case, client_for, other_clerk, hechi_supervisor, liuzhou_supervisor
):
    def names(user) -> str:
        response = client_for(user).get(
            reverse("exchange_export"), {"kind": "person", "fmt": "csv"}
        )
        assert response.status_code == 200
        return response.content.decode("utf-8-sig")

    mine = case["patient"].name
    assert mine in names(hechi_supervisor)
    assert mine not in names(other_clerk)
    assert mine not in names(liuzhou_supervisor)


# --- reconciliation --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_everything_matches(kind, case, bureau_admin):
    data = csv_file(kind, rows_of(kind, bureau_admin))
    reconciliation = reconciled(bureau_admin, kind, data)
    assert reconciliation.status == "done", reconciliation.error
    assert outcomes(reconciliation) == {
        "matched": 1,
        "differs": 0,
        "portal_only": 0,
        "platform_only": 0,
    }


def test_an_xlsx_with_capitalised_field_names_is_read(case, bureau_admin):
    data = xlsx_file("selection", rows_of("selection", bureau_admin))
    reconciliation = reconciled(bureau_admin, "selection", data, "5302.xlsx")
    assert reconciliation.counts["matched"] == 1, reconciliation.error


def test_each_kind_of_difference_is_found(case, clerk, reviewer, bureau_admin):
    second = factories.qualification(clerk, reviewer, case["patient"], disease="M01600")
    rows = rows_of("qualification", bureau_admin)
    by_disease = {r["opsp_dise_code"]: r for r in rows}
    changed = {**by_disease["M03900"], "enddate": "2026-12-31"}  # an end on the platform only
    stranger = {
        **by_disease["M03900"],
        "psn_no": "45000000000000009999",
        "certno": factories.resident_id(),
        "trt_dcla_detl_sn": "SN9999",
    }
    # M01600 is missing from the platform's file.
    reconciliation = reconciled(
        bureau_admin, "qualification", csv_file("qualification", [changed, stranger])
    )
    assert outcomes(reconciliation) == {
        "matched": 0,
        "differs": 1,
        "portal_only": 1,
        "platform_only": 1,
    }
    differs = ReconciliationItem.objects.get(outcome="differs")
    assert differs.differences == ["enddate"]
    assert (differs.platform["enddate"], differs.portal["enddate"]) == ("2026-12-31", "")
    assert ReconciliationItem.objects.get(outcome="portal_only").record_id == second.pk


def test_a_record_whose_start_differs_is_matched_and_shown(case, bureau_admin):
    row = {**rows_of("selection", bureau_admin)[0], "begndate": "2025-03-02"}
    reconciliation = reconciled(bureau_admin, "selection", csv_file("selection", [row]))
    assert outcomes(reconciliation)["differs"] == 1
    assert ReconciliationItem.objects.get().differences == ["begndate"]


def test_a_serial_matches_whatever_else_changed(case, bureau_admin):
    Selection.objects.filter(pk=case["selection"].pk).update(trt_dcla_detl_sn="SN0001")
    row = {
        **rows_of("selection", bureau_admin)[0],
        "fixmedins_code": "H45120200099",
        "begndate": "2025-04-01",
    }
    reconciliation = reconciled(bureau_admin, "selection", csv_file("selection", [row]))
    item = ReconciliationItem.objects.get(reconciliation=reconciliation)
    assert item.outcome == "differs"
    assert item.differences == ["fixmedins_code", "begndate"]


def test_adopting_takes_the_platforms_numbers_in_one_confirmed_step(case, client_for, bureau_admin):
    row = {
        **rows_of("qualification", bureau_admin)[0],
        "psn_no": "45000000000000000012",
        "trt_dcla_detl_sn": "SN2025030100001",
    }
    reconciliation = reconciled(bureau_admin, "qualification", csv_file("qualification", [row]))
    assert reconciliation.counts["adoptable"] == 1
    client = client_for(bureau_admin)
    url = reverse("reconciliation_adopt", args=[reconciliation.pk])
    unconfirmed = client.post(url, {})
    assert unconfirmed.status_code == 302
    assert Qualification.objects.get(pk=case["qualification"].pk).trt_dcla_detl_sn == ""
    client.post(url, {"confirm": "on"})
    qualification = Qualification.objects.get(pk=case["qualification"].pk)
    patient = Patient.objects.get(pk=case["patient"].pk)
    assert qualification.trt_dcla_detl_sn == "SN2025030100001"
    assert patient.psn_no == "45000000000000000012"
    # Nothing else changed, and each change is in the history with the user.
    assert qualification.valid_until is None
    assert qualification.history.latest().history_user == bureau_admin
    assert patient.history.latest().history_user == bureau_admin
    reconciliation.refresh_from_db()
    assert reconciliation.counts["adopted"] == {"serials": 1, "psn_nos": 1, "skipped": 0}
    with pytest.raises(ReconciliationRefused):
        reconciliation_adopt(by=bureau_admin, reconciliation=reconciliation)
    # The records now carry the numbers: a second comparison matches by serial.
    again = reconciled(bureau_admin, "qualification", csv_file("qualification", [row]))
    assert again.counts["matched"] == 1
    assert again.counts["adoptable"] == 0


def test_a_record_changed_since_the_comparison_is_skipped(case, bureau_admin):
    row = {**rows_of("filing", bureau_admin)[0], "trt_dcla_detl_sn": "SN1"}
    row["trt_dcla_detl_sn"] = "SN100001"
    reconciliation = reconciled(bureau_admin, "filing", csv_file("filing", [row]))
    Filing.objects.filter(pk=case["filing"].pk).update(trt_dcla_detl_sn="SN200002")
    result = reconciliation_adopt(by=bureau_admin, reconciliation=reconciliation)
    assert result == {"serials": 0, "psn_nos": 0, "skipped": 1}
    assert Filing.objects.get(pk=case["filing"].pk).trt_dcla_detl_sn == "SN200002"


def test_a_serial_held_by_another_record_is_not_adoptable(case, clerk, reviewer, bureau_admin):
    other = factories.patient(clerk, name="蓝示例")
    held = factories.qualification(clerk, reviewer, other)
    Qualification.objects.filter(pk=held.pk).update(trt_dcla_detl_sn="SN777777")
    mine = next(
        r for r in rows_of("qualification", bureau_admin) if r["psn_name"] == case["patient"].name
    )
    row = {**mine, "trt_dcla_detl_sn": "SN777777"}
    reconciliation = reconciled(bureau_admin, "qualification", csv_file("qualification", [row]))
    assert reconciliation.counts["adoptable"] == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"psn_no,foo\n1,2\n", "缺少列"),
        (b"PK\x03\x04not really a zip", "不是有效的 XLSX"),
        ("psn_no,opsp_dise_code\n".encode("utf-16"), "编码"),
        (b"", "缺少列"),
    ],
)
def test_a_malformed_file_fails_with_a_message(data, message, case, bureau_admin):
    reconciliation = reconciled(bureau_admin, "qualification", data)
    assert reconciliation.status == "failed"
    assert message in reconciliation.error
    assert not ReconciliationItem.objects.exists()


def test_hostile_values_are_kept_as_text_and_shown_escaped(case, client_for, bureau_admin):
    row = {
        **rows_of("qualification", bureau_admin)[0],
        "enddate": "<script>alert(1)</script>",
        "begndate": '=HYPERLINK("x")',
    }
    reconciliation = reconciled(bureau_admin, "qualification", csv_file("qualification", [row]))
    assert reconciliation.status == "done"
    page = client_for(bureau_admin).get(
        reverse("reconciliation_detail", args=[reconciliation.pk]), {"outcome": "differs"}
    )
    text = page.content.decode()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text


def test_the_upload_page_queues_a_worker_and_reports_progress(
    case, client_for, bureau_admin, django_capture_on_commit_callbacks
):
    data = csv_file("letter", rows_of("letter", bureau_admin))
    client = client_for(bureau_admin)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("reconciliation_list"),
            {"kind": "letter", "file": SimpleUploadedFile("5304.csv", data)},
        )
    reconciliation = Reconciliation.objects.get()
    assert response["Location"] == reverse("reconciliation_detail", args=[reconciliation.pk])
    assert len(callbacks) == 1  # the task, sent once the upload is committed
    progress = client.get(reverse("reconciliation_progress", args=[reconciliation.pk])).json()
    assert progress["running"] is True
    run_reconciliation(reconciliation.pk)
    progress = client.get(reverse("reconciliation_progress", args=[reconciliation.pk])).json()
    assert (progress["running"], progress["percent"]) == (False, 100)
    listing = client.get(reverse("reconciliation_list")).content.decode()
    assert "5304.csv" in listing


def test_an_oversized_upload_is_refused_next_to_the_field(client_for, bureau_admin, settings):
    settings.CASES_IMPORT_MAX_BYTES = 10
    response = client_for(bureau_admin).post(
        reverse("reconciliation_list"),
        {"kind": "letter", "file": SimpleUploadedFile("5304.csv", b"x" * 100)},
    )
    assert response.status_code == 200
    assert "文件大小超过" in response.content.decode()
    assert not Reconciliation.objects.exists()


def test_a_reconciliation_is_its_bureaus_own(case, client_for, bureau_admin, other_clerk):
    reconciliation = reconciled(bureau_admin, "letter", csv_file("letter", []))
    outsider = client_for(other_clerk)
    for name in ("reconciliation_detail", "reconciliation_progress", "reconciliation_adopt"):
        url = reverse(name, args=[reconciliation.pk])
        assert outsider.get(url).status_code == 404
        assert outsider.post(url, {"confirm": "on"}).status_code == 404
    assert "5301.csv" not in outsider.get(reverse("reconciliation_list")).content.decode()
    with pytest.raises(ReconciliationRefused):
        reconciliation_adopt(by=other_clerk, reconciliation=reconciliation)


def test_the_comparison_never_reads_another_bureaus_records(case, bureau_admin, other_clerk):
    theirs = factories.patient(other_clerk, name="覃他局")
    Patient.objects.filter(pk=theirs.pk).update(psn_no="45000000000000000077")
    row = {**rows_of("qualification", bureau_admin)[0], "psn_no": "45000000000000000077"}
    row["certno"] = theirs.cert_number
    reconciliation = reconciled(bureau_admin, "qualification", csv_file("qualification", [row]))
    assert outcomes(reconciliation)["platform_only"] == 1
    assert outcomes(reconciliation)["portal_only"] == 1


def test_the_page_costs_the_same_queries_whatever_the_rows(
    case, clerk, reviewer, client_for, bureau_admin
):
    def queries(n: int) -> int:
        rows = [
            {
                **rows_of("qualification", bureau_admin)[0],
                "certno": "",
                "psn_no": f"4500000000{i:010d}",
            }
            for i in range(n)
        ]
        reconciliation = reconciled(bureau_admin, "qualification", csv_file("qualification", rows))
        assert reconciliation.counts["platform_only"] == n
        client = client_for(bureau_admin)
        url = reverse("reconciliation_detail", args=[reconciliation.pk])
        client.get(url, {"outcome": "platform_only"})  # the session, warmed
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, {"outcome": "platform_only"})
        assert response.status_code == 200
        return len(captured)

    assert queries(3) == queries(45)


# --- identifiers entered by a clerk -----------------------------------------------------------


def test_a_clerk_enters_the_platforms_numbers_with_format_checks(case, client_for, clerk):
    client = client_for(clerk)
    url = reverse("platform_ids", args=[case["patient"].pk])
    q, f = case["qualification"], case["filing"]
    bad = client.post(url, {"psn_no": "123", f"qualification_{q.pk}": "sn 1"})
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "NX-1" in text
    assert "NX-2" in text
    assert Patient.objects.get(pk=case["patient"].pk).psn_no == ""
    good = client.post(
        url,
        {
            "psn_no": "45000000000000000012",
            f"qualification_{q.pk}": "SN100000001",
            f"filing_{f.pk}": " sn100000002 ",
        },
    )
    assert good.status_code == 302
    assert Qualification.objects.get(pk=q.pk).trt_dcla_detl_sn == "SN100000001"
    assert Filing.objects.get(pk=f.pk).trt_dcla_detl_sn == "SN100000002"
    assert Filing.objects.get(pk=f.pk).history.latest().history_user == clerk
    page = client.get(reverse("patient_detail", args=[case["patient"].pk])).content.decode()
    assert "45000000000000000012" in page
    assert "SN100000001" in page


def test_the_numbers_are_unique_across_bureaus(case, client_for, clerk, other_clerk):
    theirs = factories.patient(other_clerk, name="覃他局")
    Patient.objects.filter(pk=theirs.pk).update(psn_no="45000000000000000012")
    letter = TransferLetter.objects.get(pk=case["letter"].pk)
    TransferLetter.objects.filter(pk=letter.pk).update(trt_dcla_detl_sn="SN555555")
    response = client_for(clerk).post(
        reverse("platform_ids", args=[case["patient"].pk]),
        {"psn_no": "45000000000000000012", f"filing_{case['filing'].pk}": "SN555555"},
    )
    text = response.content.decode()
    assert "该人员编号已属于另一位参保人" in text
    # Serials are unique per kind: a letter's serial may be a filing's.
    assert "NX-2" not in text


def test_patients_are_found_by_psn_no_and_by_a_records_serial(case, client_for, clerk):
    Patient.objects.filter(pk=case["patient"].pk).update(psn_no="45000000000000000012")
    Selection.objects.filter(pk=case["selection"].pk).update(trt_dcla_detl_sn="SN424242")
    client = client_for(clerk)
    for term in ("45000000000000000012", "SN424242"):
        response = client.post(reverse("patient_search"), {"q": term})
        page = client.get(response["Location"]).content.decode()
        assert case["patient"].name in page, term


def test_the_settlement_check_shows_the_2001_fields(case, client_for, clerk):
    with facts.as_of(TODAY):
        response = client_for(clerk).get(
            reverse("settlement"),
            {
                "pid": case["patient"].pk,
                "disease": case["qualification"].disease_id,
                "institution": case["home"].code,
                "day": TODAY.isoformat(),
            },
        )
    text = response.content.decode()
    assert response.context["answer"].outcome == rules.Outcome.DIRECT
    assert "trt_enjymnt_flag" in text
    platform = response.context["platform"]
    assert (platform.trt_enjymnt_flag, platform.begndate, platform.enddate) == (
        "1",
        "2025-03-01",
        "",
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_round_trip_through_the_pages(fmt, case, client_for, bureau_admin):
    """Each kind exported from the export page and uploaded on the reconciliation page
    as it was downloaded: everything matches."""
    client = client_for(bureau_admin)
    for kind in KINDS:
        exported = client.get(reverse("exchange_export"), {"kind": kind, "fmt": fmt})
        assert exported.status_code == 200, kind
        client.post(
            reverse("reconciliation_list"),
            {"kind": kind, "file": SimpleUploadedFile(f"{kind}.{fmt}", exported.content)},
        )
        reconciliation = Reconciliation.objects.latest("pk")
        run_reconciliation(reconciliation.pk)
        reconciliation.refresh_from_db()
        assert reconciliation.status == "done", (kind, reconciliation.error)
        assert outcomes(reconciliation)["matched"] == 1, kind
        assert sum(outcomes(reconciliation).values()) == 1, kind


def test_a_moved_out_patients_numbers_are_read_only(case, clerk):
    from cases.services import PolicyRefusal
    from cases.services.national import platform_ids_update

    Patient.objects.filter(pk=case["patient"].pk).update(moved_out_on=TODAY)
    with pytest.raises(PolicyRefusal) as refused:
        platform_ids_update(
            patient=Patient.objects.get(pk=case["patient"].pk),
            by=clerk,
            psn_no="45000000000000000012",
            serials={},
        )
    assert refused.value.rules == ["MV-5"]


def test_one_serial_for_two_records_in_one_form_is_refused(case, client_for, clerk, reviewer):
    first = case["qualification"]
    second = factories.qualification(clerk, reviewer, case["patient"], disease="M01600")
    response = client_for(clerk).post(
        reverse("platform_ids", args=[case["patient"].pk]),
        {f"qualification_{first.pk}": "SN300001", f"qualification_{second.pk}": "SN300001"},
    )
    assert response.status_code == 200
    assert "该平台流水号已用于另一条记录" in response.content.decode()
    assert not Qualification.objects.filter(trt_dcla_detl_sn="SN300001").exists()


def test_the_database_refuses_a_malformed_number(case):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=case["patient"].pk).update(psn_no="not a number")
    with pytest.raises(IntegrityError), transaction.atomic():
        Filing.objects.filter(pk=case["filing"].pk).update(trt_dcla_detl_sn="x")
