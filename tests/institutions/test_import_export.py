"""Import and export of reference data through the admin (XLSX and CSV)."""

from __future__ import annotations

import io

import openpyxl
import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from institutions.models import Disease, Institution, NetworkedSettlement
from institutions.resources import InstitutionResource
from portal.spreadsheets import CSV, FORMATS, XLSX

pytestmark = pytest.mark.django_db

HEADERS = [
    "机构编码",
    "机构名称",
    "所在县区代码",
    "地址",
    "医院等级",
    "等次",
    "定点",
    "可开具转诊证明",
]
XLSX_INDEX = FORMATS.index(XLSX)
CSV_INDEX = FORMATS.index(CSV)

# A few bad rows, each with a different reason, at these 1-based data row numbers.
BAD_ROWS = {
    7: ["H4512020000X", "编码格式错误医院", "451202", "", 2, "甲", "是", "否"],
    1234: ["H45020200001", "编码与县区不符医院", "451202", "", 2, "甲", "是", "否"],
    15000: ["H99999900001", "县区不存在医院", "999999", "", 2, "甲", "是", "否"],
    29999: ["H45120299999", "等级错误医院", "451202", "", 5, "甲", "是", "否"],
}


def institution_rows(count: int) -> list[list[object]]:
    counties = ["451202", "451203", "450202", "450203", "440103"]
    rows = []
    for number in range(1, count + 1):
        if number in BAD_ROWS:
            rows.append(BAD_ROWS[number])
            continue
        county = counties[number % len(counties)]
        rows.append(
            [f"H{county}{number:05d}", f"导入示例医院{number}", county, "", 2, "乙", "是", "否"]
        )
    return rows


def xlsx_file(rows: list[list[object]]) -> SimpleUploadedFile:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile("institutions.xlsx", buffer.getvalue())


def import_url(model: str) -> str:
    return reverse(f"admin:institutions_{model}_import")


def dry_run(client, model: str, upload: SimpleUploadedFile, format_index: int):
    return client.post(import_url(model), {"format": format_index, "import_file": upload})


def confirm(client, model: str, dry_run_response):
    form = dry_run_response.context["confirm_form"]
    return client.post(reverse(f"admin:institutions_{model}_process_import"), form.initial)


@pytest.mark.slow
def test_xlsx_import_of_30000_institutions_dry_run_then_good_rows(client_for, data_admin):
    client = client_for(data_admin)
    before = Institution.objects.count()

    response = dry_run(client, "institution", xlsx_file(institution_rows(30_000)), XLSX_INDEX)

    assert response.status_code == 200
    result = response.context["result"]
    assert sorted(row.number for row in result.invalid_rows) == sorted(BAD_ROWS)
    body = response.content.decode()
    assert "ID-3" in body
    assert "区划代码“999999”不存在" in body
    assert Institution.objects.count() == before, "a dry run imports nothing"

    response = confirm(client, "institution", response)
    assert response.status_code == 302
    assert Institution.objects.count() == before + 30_000 - len(BAD_ROWS)
    assert not Institution.objects.filter(name__in=[r[1] for r in BAD_ROWS.values()]).exists()
    imported = Institution.objects.get(code="H45120200005")
    assert imported.history.first().history_user == data_admin


def test_gb18030_csv_imports_correctly(client_for, data_admin):
    text = "\n".join(
        [
            ",".join(HEADERS),
            "H45120200077,河池市金城江区示例骨科医院,451202,金城江区新建路1号,2,乙,是,否",
        ]
    )
    upload = SimpleUploadedFile("机构.csv", text.encode("gb18030"))
    client = client_for(data_admin)
    response = dry_run(client, "institution", upload, CSV_INDEX)
    assert not response.context["result"].has_validation_errors()
    confirm(client, "institution", response)
    institution = Institution.objects.get(code="H45120200077")
    assert institution.name == "河池市金城江区示例骨科医院"
    assert institution.address == "金城江区新建路1号"


def test_utf8_csv_with_bom_imports_correctly(client_for, data_admin):
    text = ",".join(HEADERS) + "\nH45120200078,金城江区示例口腔医院,451202,,1,未定,是,否\n"
    upload = SimpleUploadedFile("机构.csv", ("\ufeff" + text).encode("utf-8"))
    client = client_for(data_admin)
    confirm(client, "institution", dry_run(client, "institution", upload, CSV_INDEX))
    assert Institution.objects.get(code="H45120200078").name == "金城江区示例口腔医院"


def test_file_with_only_bad_rows_cannot_be_confirmed(client_for, data_admin):
    client = client_for(data_admin)
    response = dry_run(client, "institution", xlsx_file([BAD_ROWS[7]]), XLSX_INDEX)
    assert "confirm_form" not in response.context


def test_networked_settlement_list_imports_by_codes(client_for, data_admin):
    institution = Institution.objects.create(
        code="H45120200079", name="示例医院", location_id="451202"
    )
    text = (
        "机构编码,病种编码,区内联网结算,跨省联网结算\n"
        "H45120200079,M03900,是,否\n"
        "H45120200079,M99999,是,否\n"
    )
    upload = SimpleUploadedFile("联网.csv", text.encode("utf-8"))
    client = client_for(data_admin)
    response = dry_run(client, "networkedsettlement", upload, CSV_INDEX)
    assert [row.number for row in response.context["result"].invalid_rows] == [2]
    assert "病种编码“M99999”不存在" in response.content.decode()
    confirm(client, "networkedsettlement", response)
    settlement = NetworkedSettlement.objects.get(institution=institution)
    assert settlement.disease == Disease.objects.get(code="M03900")
    assert settlement.in_region
    assert not settlement.cross_province


def test_export_escapes_formulae_and_round_trips(regions):
    Institution.objects.create(code="H45120200080", name="=HYPERLINK(1)", location_id="451202")
    Institution.objects.create(code="H45120200081", name="@SUM(A1)", location_id="451202")
    dataset = InstitutionResource().export()
    csv_text = CSV().export_data(dataset)
    assert csv_text.startswith("\ufeff机构编码")
    assert "'=HYPERLINK(1)" in csv_text
    assert "'@SUM(A1)" in csv_text

    xlsx = XLSX().export_data(InstitutionResource().export())
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).active
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "'=HYPERLINK(1)" in names

    # An export imported again changes nothing.
    again = tablib.Dataset().load(csv_text.lstrip("\ufeff"), format="csv")
    result = InstitutionResource().import_data(again, dry_run=True)
    assert not result.has_validation_errors()
    assert result.totals["new"] == 0


def test_admin_export_downloads_xlsx(client_for, data_admin):
    response = client_for(data_admin).post(
        reverse("admin:institutions_disease_export"),
        {
            "format": XLSX_INDEX,
            "resource": 0,
            **{f"diseaseresource_{f}": "on" for f in ["code", "name", "cross_province"]},
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert next(sheet.iter_rows(values_only=True))[:2] == ("病种编码", "病种名称")


# --- limits (portal.imports) ---------------------------------------------------------------


def zip_bomb() -> SimpleUploadedFile:
    """An XLSX-shaped archive whose sheet unpacks to 200 MB (about 200 KB packed)."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            chunk = b"<row><c><v>0</v></c></row>" * 40_000
            for _ in range(200 * 1024 * 1024 // len(chunk)):
                sheet.write(chunk)
    return SimpleUploadedFile("bomb.xlsx", buffer.getvalue())


def test_a_zip_bomb_is_refused_from_its_directory(client_for, data_admin):
    from portal.models import PendingImport

    upload = zip_bomb()
    assert len(upload) < 2 * 1024 * 1024
    response = dry_run(client_for(data_admin), "institution", upload, XLSX_INDEX)
    assert response.status_code == 200
    assert "解压后超过" in response.content.decode()
    assert not PendingImport.objects.exists()


def test_an_oversized_file_is_refused(client_for, data_admin, settings):
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    text = ",".join(HEADERS) + "\n" + ("H45120200077,x,451202,,2,乙,是,否\n" * 40_000)
    assert len(text.encode()) > settings.IMPORT_MAX_BYTES
    upload = SimpleUploadedFile("big.csv", text.encode())
    response = dry_run(client_for(data_admin), "institution", upload, CSV_INDEX)
    assert "文件大小超过 1 MB" in response.content.decode()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_too_many_rows_are_refused_while_reading(client_for, data_admin, settings, fmt):
    settings.IMPORT_MAX_ROWS = 100
    rows = institution_rows(101)
    if fmt == "xlsx":
        upload, index = xlsx_file(rows), XLSX_INDEX
    else:
        lines = [",".join(HEADERS), *(",".join(str(c) for c in row) for row in rows)]
        upload, index = SimpleUploadedFile("many.csv", "\n".join(lines).encode()), CSV_INDEX
    response = dry_run(client_for(data_admin), "institution", upload, index)
    assert "数据超过 100 行" in response.content.decode()
    assert not Institution.objects.filter(name="导入示例医院1").exists()


def good_csv() -> SimpleUploadedFile:
    text = ",".join(HEADERS) + "\nH45120200077,河池市金城江区示例骨科医院,451202,,2,乙,是,否\n"
    return SimpleUploadedFile("good.csv", text.encode())


def test_the_upload_waits_in_the_database_for_its_uploader_only(client_for, data_admin):
    from portal.models import PendingImport
    from tests.conftest import make_user

    client = client_for(data_admin)
    response = dry_run(client, "institution", good_csv(), CSV_INDEX)
    pending = PendingImport.objects.get()
    assert pending.user == data_admin
    assert response.context["confirm_form"].initial["import_file_name"] == pending.name

    # Another data administrator cannot confirm it.
    other = make_user("dataadmin2", "data_admin", None)
    refused = confirm(client_for(other), "institution", response)
    assert refused.status_code == 302
    assert not Institution.objects.filter(code="H45120200077").exists()

    # Its uploader can, and the upload is gone afterwards.
    assert confirm(client, "institution", response).status_code == 302
    assert Institution.objects.filter(code="H45120200077").exists()
    assert not PendingImport.objects.exists()


def test_a_confirmation_of_a_missing_or_malformed_upload_gets_a_message(client_for, data_admin):
    client = client_for(data_admin)
    url = reverse("admin:institutions_institution_process_import")
    base = {"original_file_name": "x.csv", "resource": "0"}
    for data in (
        {**base, "import_file_name": "0" * 32, "format": str(CSV_INDEX)},
        {**base, "import_file_name": "../../etc/passwd", "format": str(CSV_INDEX)},
        {**base, "import_file_name": "0" * 32, "format": "99"},
        {**base, "import_file_name": "0" * 32, "format": "x"},
    ):
        response = client.post(url, data, follow=True)
        assert response.status_code == 200, data
        body = response.content.decode()
        assert "请重新上传" in body, data


def test_unconfirmed_uploads_are_purged(client_for, data_admin):
    import datetime as dt

    from django.utils import timezone

    from portal.imports import purge_pending
    from portal.models import PendingImport

    dry_run(client_for(data_admin), "institution", good_csv(), CSV_INDEX)
    assert purge_pending() == 0
    assert purge_pending(timezone.now() + dt.timedelta(hours=25)) == 1
    assert not PendingImport.objects.exists()
