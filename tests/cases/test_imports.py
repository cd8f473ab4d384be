"""Importing a bureau's records from its workbook (cases.imports): every column's parsing,
each rule refusing a row with its ID, the error workbook round trip, idempotent
re-import, 15-digit conversion, scoping, hostile files and CSV in GB18030."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from cases import facts
from cases.imports import engine, reader, workbooks
from cases.imports.sheets import BY_NAME, CellError, parse_date, parse_last_day
from cases.models import (
    CaseImport,
    Filing,
    ImportRow,
    Patient,
    Qualification,
    ReminderCheck,
    Selection,
    TransferLetter,
)
from portal.imports import SpreadsheetRefused
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 12, 1)
ID = "451202198001011233"
ID2 = "451202199002020013"
ID3 = "45120219700303002X"
FIRST_GENERATION = "451202850707002"  # 15 digits, 1985-07-07: 45120219850707002X


@pytest.fixture(autouse=True)
def _today():
    with facts.as_of(TODAY):
        yield


@pytest.fixture
def hospitals(regions):
    return {
        "home": factories.institution(
            "H45120200001",
            level=3,
            transfer_issuer=True,
            networked=("M03900",),
            name="金城江区人民医院",
        ),
        "home2": factories.institution("H45120200002", networked=("M03900",)),
        "guangzhou": factories.institution("H44010600001", level=3, cross_province=("M03900",)),
    }


PATIENT = {
    "证件类型": "居民身份证",
    "证件号码": ID,
    "姓名": "韦示例",
    "险种": "390",
    "参保地": "",
    "联系电话": "13800001111",
    "联系地址": "金城江区新建路1号",
}
QUALIFICATION = {
    "证件号码": ID,
    "病种编码": "M03900",
    "病种名称": "",
    "申请日期": "2025/3/1",
    "诊断机构编码": "H45120200001",
    "诊断日期": "2025年2月20日",
    "诊断医师": "李医生",
    "认定日期": "20250305",
    "有效期至": "",
    "状态": "已认定",
}
SELECTION = {
    "证件号码": ID,
    "机构编码": "H45120200001",
    "机构名称": "",
    "开始日期": "2025-03-10",
    "终止日期": "",
    "终止原因": "",
}
FILING = {
    "证件号码": ID,
    "备案类型": "临时备案",
    "人员类别": "其他临时外出就医",
    "就医地": "广州市",
    "开始日期": "2025-04-01",
    "有效期至": "2025-09-30",
    "办理渠道": "",
    "备案日期": "",
}
LETTER = {
    "证件号码": ID,
    "编号": "",
    "病种编码": "M03900",
    "开具机构编码": "H45120200001",
    "转入机构编码": "H44010600001",
    "转诊原因": "本地技术条件所限",
    "开具日期": "2025-05-06",
    "有效期至": "",
}


def xlsx(**sheets: list[dict[str, object]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        headings = list(rows[0]) if rows else BY_NAME[name].headings
        sheet.append(headings)
        for row in rows:
            sheet.append([row.get(h) for h in headings])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def full_book(**overrides: list[dict[str, object]]) -> bytes:
    sheets = {
        "参保人": [PATIENT],
        "门特资格": [QUALIFICATION],
        "选点": [SELECTION],
        "跨省备案": [FILING],
        "转诊证明": [LETTER],
    }
    sheets.update(overrides)
    return xlsx(**sheets)


def upload(user, data: bytes, name: str = "金城江区门特档案.xlsx") -> CaseImport:
    case_import = CaseImport.objects.create(
        bureau=user.bureau,
        created_by=user,
        file_name=name,
        file_sha256=engine.file_hash(data),
        data=data,
    )
    engine.stage(case_import)
    return case_import


def check(user, data: bytes, **kwargs) -> CaseImport:
    case_import = upload(user, data, **kwargs)
    return engine.run(case_import, apply=False, user=user)


def refused(case_import: CaseImport) -> list[tuple[str, int, str, str, str]]:
    rows = ImportRow.objects.filter(case_import=case_import, outcome="refused")
    return [
        (r.sheet, r.number, r.column, r.rule, r.message) for r in rows.order_by("sheet", "number")
    ]


# --- columns ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2025-03-01",
        "2025/3/1",
        "2025.3.1",
        "2025年3月1日",
        "20250301",
        20250301,
        dt.datetime(2025, 3, 1, 0, 0),
        "2025-03-01 00:00:00",
        "２０２５－０３－０１",
    ],
)
def test_every_date_form_clerks_write(value):
    assert parse_date(value) == dt.date(2025, 3, 1)


@pytest.mark.parametrize("value", ["2025-02-30", "3/1/2025", "昨天", "1899-12-31", "2025013"])
def test_a_date_that_is_not_one_is_refused_with_the_forms_it_may_take(value):
    with pytest.raises(CellError, match="2025年3月1日"):
        parse_date(value)


def test_an_end_date_is_the_last_valid_day_converted_to_the_first_day_not_covered():
    assert parse_last_day("2025-09-30") == dt.date(2025, 10, 1)
    assert parse_last_day("2025年12月31日") == dt.date(2026, 1, 1)
    assert parse_last_day("") is None


# --- the whole workbook -----------------------------------------------------------------------


def test_a_full_workbook_checks_clean_then_imports_every_record(clerk, reviewer, hospitals):
    data = full_book()
    checked = check(clerk, data)
    assert refused(checked) == []
    assert checked.counts["参保人"] == {"rows": 1, "ok": 1}
    assert {sheet: c["ok"] for sheet, c in checked.counts.items()} == {
        "参保人": 1,
        "门特资格": 1,
        "选点": 1,
        "跨省备案": 1,
        "转诊证明": 1,
    }
    assert not Patient.objects.exists()  # the dry run changed nothing
    assert not Qualification.history.exists()

    engine.run(checked, apply=True, user=clerk, reviewer=reviewer)
    patient = Patient.objects.get()
    assert (patient.name, patient.phone, patient.region_id) == ("韦示例", "13800001111", "451202")
    qualification = Qualification.objects.get()
    assert (qualification.status, qualification.recorded_by, qualification.reviewed_by) == (
        "approved",
        clerk,
        reviewer,
    )
    assert qualification.decided_on == dt.date(2025, 3, 5)
    filing = Filing.objects.get()
    assert filing.end == dt.date(2025, 10, 1)  # 有效期至 2025-09-30, inclusive
    assert filing.destination_id == "440100"
    assert filing.materials == ["identity"]  # FL-5's, noted on the row
    assert Selection.objects.get().institution.code == "H45120200001"
    assert TransferLetter.objects.get().end == dt.date(2025, 11, 6)
    history = patient.history.get()
    assert history.history_user == clerk
    assert history.history_change_reason == f"导入 #{checked.pk} 参保人 第2行"
    assert checked.counts["门特资格"] == {"rows": 1, "created": 1}
    # One reminder check for the patient's dated records, written with the group.
    assert list(ReminderCheck.objects.values_list("patient_id", flat=True)) == [patient.pk]


def test_reimporting_the_same_file_changes_nothing(clerk, reviewer, hospitals):
    data = full_book()
    first = upload(clerk, data)
    engine.run(first, apply=True, user=clerk, reviewer=reviewer)
    before = {
        m.__name__: m.history.count()
        for m in (Patient, Qualification, Selection, Filing, TransferLetter)
    }
    again = upload(clerk, data)
    engine.run(again, apply=True, user=clerk, reviewer=reviewer)
    assert again.counts == {
        s: {"rows": 1, "unchanged": 1}
        for s in ("参保人", "门特资格", "选点", "跨省备案", "转诊证明")
    }
    after = {
        m.__name__: m.history.count()
        for m in (Patient, Qualification, Selection, Filing, TransferLetter)
    }
    assert after == before


def test_codes_or_chinese_labels_and_names_are_both_accepted(clerk, reviewer, hospitals):
    data = full_book(
        参保人=[{**PATIENT, "险种": "城乡居民基本医疗保险", "参保地": "河池市金城江区"}],
        门特资格=[{**QUALIFICATION, "病种编码": "", "病种名称": "高血压病"}],
        选点=[{**SELECTION, "机构编码": "", "机构名称": "金城江区人民医院"}],
        跨省备案=[{**FILING, "就医地": "440100", "备案类型": "temporary"}],
    )
    assert refused(check(clerk, data)) == []


def test_a_first_generation_number_is_converted_and_the_conversion_shown(clerk, hospitals):
    data = full_book(
        参保人=[{**PATIENT, "证件号码": FIRST_GENERATION}],
        门特资格=[{**QUALIFICATION, "证件号码": FIRST_GENERATION, "状态": "待复核"}],
        选点=[],
        跨省备案=[],
        转诊证明=[],
    )
    checked = check(clerk, data)
    assert refused(checked) == []
    row = ImportRow.objects.get(case_import=checked, sheet="参保人")
    assert row.note == "ID-1：15位证件号码已转换为 45120219850707002X"
    assert ImportRow.objects.get(case_import=checked, sheet="门特资格").outcome == "ok"


def test_each_rule_refuses_its_row_with_its_id_column_and_a_chinese_sentence(clerk, hospitals):
    data = full_book(
        参保人=[
            {**PATIENT, "证件号码": "451202198001011234"},  # ID-1 check digit
            {**PATIENT, "证件号码": ID2, "险种": "999"},  # ID-5
            {**PATIENT, "证件号码": ID3, "参保地": "450202"},  # ID-6
        ],
        门特资格=[
            {**QUALIFICATION, "证件号码": ID2, "诊断日期": "2025-03-09"},  # QL-5 (no patient)
        ],
        选点=[],
        跨省备案=[
            {**FILING, "证件号码": "451202198001011234", "就医地": "南宁市"},
        ],
        转诊证明=[],
    )
    found = refused(check(clerk, data))
    by_row = {(sheet, number): (column, rule) for sheet, number, column, rule, _ in found}
    assert by_row[("参保人", 2)] == ("证件号码", "ID-1")
    assert by_row[("参保人", 3)] == ("险种", "ID-5")
    assert by_row[("参保人", 4)][1] == "ID-6"
    assert by_row[("门特资格", 2)] == ("证件号码", "ID-1")  # its patient's row is wrong
    messages = {m for *_, m in found}
    assert any(m.startswith("ID-5：“999”不是有效的险种") for m in messages)


def test_rules_of_the_records_refuse_with_their_ids(clerk, reviewer, hospitals):
    data = full_book(
        门特资格=[
            QUALIFICATION,
            {**QUALIFICATION, "病种编码": "M01600", "诊断日期": "2025-03-09"},  # QL-5: late
            {**QUALIFICATION, "病种编码": "M04600", "有效期至": "2025-01-01"},  # QL-3 mismatch
        ],
        选点=[{**SELECTION, "终止日期": "2025-04-01"}],  # SL-6: an end without a reason
        跨省备案=[{**FILING, "就医地": "450100"}],  # FL-1: inside Guangxi
        转诊证明=[{**LETTER, "有效期至": "2025-12-31"}],  # TL-4: six months
    )
    found = {(sheet, rule) for sheet, _, _, rule, _ in refused(check(clerk, data))}
    assert ("门特资格", "QL-5") in found
    assert ("门特资格", "QL-3") in found
    assert ("选点", "SL-6") in found
    assert ("跨省备案", "FL-1") in found
    assert ("转诊证明", "TL-4") in found


def test_the_fourth_selection_is_refused_by_sl_1(clerk, hospitals):
    extra = [factories.institution(f"H4512020001{i}") for i in range(3)]
    rows = [{**SELECTION, "机构编码": i.code} for i in (hospitals["home"], *extra)]
    found = refused(check(clerk, full_book(选点=rows, 跨省备案=[], 转诊证明=[])))
    assert [(sheet, number, rule) for sheet, number, _, rule, _ in found] == [("选点", 5, "SL-1")]


def test_rows_of_another_bureaus_patient_are_refused(clerk, other_clerk, hospitals):
    theirs = factories.patient(other_clerk, name="覃他局")
    data = full_book(
        参保人=[{**PATIENT, "证件号码": theirs.cert_number}],
        门特资格=[{**QUALIFICATION, "证件号码": theirs.cert_number}],
        选点=[],
        跨省备案=[],
        转诊证明=[],
    )
    found = refused(check(clerk, data))
    assert [(s, rule) for s, _, _, rule, _ in found] == [("参保人", "ID-1"), ("门特资格", "ID-1")]
    assert "其他经办机构" in found[0][4]


def test_a_row_refers_to_a_patient_the_bureau_has_not_registered(clerk, hospitals):
    data = xlsx(门特资格=[QUALIFICATION])
    found = refused(check(clerk, data))
    assert [(s, c, rule) for s, _, c, rule, _ in found] == [("门特资格", "证件号码", "ID-6")]


# --- the error workbook ------------------------------------------------------------------------


def test_the_error_workbook_round_trip_fix_and_upload_again(clerk, reviewer, hospitals):
    data = full_book(参保人=[PATIENT, {**PATIENT, "证件号码": ID2, "险种": "999"}])
    checked = check(clerk, data)
    book = openpyxl.load_workbook(io.BytesIO(workbooks.errors(checked)))
    sheet = book["参保人"]
    headings = [c.value for c in sheet[1]]
    assert headings[-1] == "错误说明"
    assert sheet.cell(2, len(headings)).value is None
    assert sheet.cell(3, len(headings)).value.startswith("ID-5")
    assert sheet.cell(3, 2).value == ID2  # an ID number stays text
    sheet.cell(3, headings.index("险种") + 1).value = "390"  # the clerk's fix
    fixed = io.BytesIO()
    book.save(fixed)
    again = check(clerk, fixed.getvalue())
    assert refused(again) == []
    assert again.counts["参保人"] == {"rows": 2, "ok": 2}


def test_the_template_has_the_contract_headings_an_example_and_notes():
    book = openpyxl.load_workbook(io.BytesIO(workbooks.template()))
    assert book.sheetnames == ["参保人", "门特资格", "选点", "跨省备案", "转诊证明", "填写说明"]
    assert [c.value for c in book["参保人"][1]] == [
        "证件类型",
        "证件号码",
        "姓名",
        "险种",
        "参保地",
        "联系电话",
        "联系地址",
    ]
    assert [c.value for c in book["转诊证明"][1]] == [
        "证件号码",
        "编号",
        "病种编码",
        "开具机构编码",
        "转入机构编码",
        "转诊原因",
        "开具日期",
        "有效期至",
    ]
    assert book["参保人"]["B2"].value == ID
    notes = [row[3] for row in book["填写说明"].iter_rows(values_only=True)]
    assert any("15位" in (n or "") for n in notes)


def test_the_template_imports_as_it_is(clerk, reviewer, hospitals):
    checked = check(clerk, workbooks.template())
    assert refused(checked) == []


# --- files: CSV, limits, hostile ------------------------------------------------------------


def csv_bytes(rows: list[dict[str, str]], encoding: str) -> bytes:
    headings = list(rows[0])
    lines = [",".join(headings)] + [",".join(str(r[h]) for h in headings) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8", "utf-8-sig"])
def test_a_csv_per_sheet_in_each_encoding(clerk, encoding):
    checked = check(clerk, csv_bytes([PATIENT], encoding), name="参保人.csv")
    assert checked.counts == {"参保人": {"rows": 1, "ok": 1}}
    assert ImportRow.objects.get(case_import=checked).cells["姓名"] == "韦示例"


def test_a_csv_is_recognised_by_its_headings(clerk):
    rows = list(reader.read(csv_bytes([PATIENT], "utf-8"), "export.csv"))
    assert [r.sheet.name for r in rows] == ["参保人"]


def test_missing_headings_and_unknown_files_are_refused_with_a_message(clerk):
    bad = upload(clerk, xlsx(参保人=[{"证件号码": ID, "名字": "韦"}]))
    assert bad.status == "failed"
    assert "缺少列：证件类型、姓名、险种" in bad.failure
    assert not ImportRow.objects.filter(case_import=bad).exists()
    with pytest.raises(SpreadsheetRefused, match="没有可导入的工作表"):
        list(reader.read(xlsx(Sheet1=[{"a": 1}]), "x.xlsx"))


def test_size_and_row_limits(clerk, settings):
    settings.CASES_IMPORT_MAX_ROWS = 2
    data = full_book(参保人=[PATIENT, {**PATIENT, "证件号码": ID2}])
    with pytest.raises(SpreadsheetRefused, match="数据超过 2 行"):
        list(reader.read(data, "x.xlsx"))
    settings.CASES_IMPORT_MAX_BYTES = 100
    with pytest.raises(SpreadsheetRefused, match="文件大小超过"):
        list(reader.read(data, "x.xlsx"))


def test_formulas_are_read_as_their_cached_values_never_evaluated(clerk):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "参保人"
    sheet.append(list(PATIENT))
    sheet.append([*list(PATIENT.values())[:2], '=HYPERLINK("http://x","韦")', "390"])
    out = io.BytesIO()
    book.save(out)
    # openpyxl writes no cached value: the name cell reads as empty, the formula is not run.
    rows = list(reader.read(out.getvalue(), "x.xlsx"))
    assert rows[0].cells["姓名"] == ""


def _rezip(data: bytes, replace: dict[str, bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, replace.pop(item.filename, source.read(item.filename)))
        for name, content in replace.items():
            target.writestr(name, content)
    return out.getvalue()


def test_an_external_entity_in_a_workbook_is_refused(clerk, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = xlsx(参保人=[PATIENT])
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    hostile = sheet.replace(
        "<worksheet",
        f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]><worksheet',
        1,
    ).replace("韦示例", "&xxe;")
    bad = upload(clerk, _rezip(data, {"xl/worksheets/sheet1.xml": hostile.encode()}))
    assert bad.status == "failed"
    assert "不安全" in bad.failure
    assert not ImportRow.objects.filter(cells__icontains="TOP-SECRET").exists()


def test_an_entity_expansion_bomb_is_refused(clerk):
    data = xlsx(参保人=[PATIENT])
    entities = '<!ENTITY a0 "ha">' + "".join(
        f'<!ENTITY a{i} "&a{i - 1};&a{i - 1};&a{i - 1};&a{i - 1};">' for i in range(1, 12)
    )
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    hostile = sheet.replace("<worksheet", f"<!DOCTYPE x [{entities}]><worksheet", 1).replace(
        "韦示例", "&a11;"
    )
    bad = upload(clerk, _rezip(data, {"xl/worksheets/sheet1.xml": hostile.encode()}))
    assert bad.status == "failed"


def test_a_zip_bomb_is_refused_from_its_directory(clerk, settings):
    settings.CASES_IMPORT_MAX_UNPACKED_BYTES = 1024 * 1024
    data = _rezip(xlsx(参保人=[PATIENT]), {"xl/padding.bin": b"\0" * (2 * 1024 * 1024)})
    bad = upload(clerk, data)
    assert bad.status == "failed"
    assert "解压后超过" in bad.failure


# --- the command ------------------------------------------------------------------------------


def test_the_command_checks_imports_and_writes_the_error_workbook(
    clerk, reviewer, hospitals, tmp_path, capsys
):
    good = tmp_path / "good.xlsx"
    good.write_bytes(full_book())
    call_command("import_cases", str(good), bureau="451202", user="clerk", dry_run=True)
    assert not Patient.objects.exists()
    out = capsys.readouterr().out
    assert "参保人" in out
    with pytest.raises(CommandError, match="--reviewer"):
        call_command("import_cases", str(good), bureau="451202", user="clerk")
    call_command("import_cases", str(good), bureau="451202", user="clerk", reviewer="reviewer")
    assert Qualification.objects.get().reviewed_by == reviewer

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(full_book(参保人=[{**PATIENT, "证件号码": ID2, "险种": "999"}]))
    errors = tmp_path / "errors.xlsx"
    with pytest.raises(CommandError, match="1 行有错误") as exit_:
        call_command(
            "import_cases",
            str(bad),
            bureau="451202",
            user="clerk",
            dry_run=True,
            errors=str(errors),
        )
    assert exit_.value.returncode == 1
    book = openpyxl.load_workbook(errors)
    assert book["参保人"].cell(2, 8).value.startswith("ID-5")


def test_the_command_refuses_a_user_of_another_bureau(other_clerk, bureau, tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(xlsx(参保人=[PATIENT]))
    with pytest.raises(CommandError, match="不属于"):
        call_command("import_cases", str(path), bureau="451202", user="other_clerk")


def test_a_data_administrator_imports_any_bureau_from_the_command_line(data_admin, clerk, tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(xlsx(参保人=[PATIENT]))
    call_command("import_cases", str(path), bureau="451202", user="dataadmin")
    assert Patient.objects.get().bureau == clerk.bureau


def test_a_value_the_database_cannot_hold_refuses_its_row_only(clerk, reviewer, hospitals):
    data = full_book(
        门特资格=[{**QUALIFICATION, "诊断医师": "李" * 60}],  # longer than the column
        选点=[],
        跨省备案=[],
        转诊证明=[],
    )
    case_import = upload(clerk, data)
    engine.run(case_import, apply=True, user=clerk, reviewer=reviewer)
    assert [(s, n) for s, n, *_ in refused(case_import)] == [("门特资格", 2)]
    assert "无法保存" in refused(case_import)[0][4]
    assert Patient.objects.count() == 1
    assert not Qualification.objects.exists()
