"""The workbooks an import hands to clerks: the template to fill, and the file back with
an 错误说明 column on every refused row, to fix in Excel and upload again."""

from __future__ import annotations

import io

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from cases.imports.sheets import SHEETS, Sheet
from cases.models.imports import CaseImport, ImportRow
from portal.spreadsheets import display_width

ERRORS = "错误说明"
NOTES = "填写说明"
BOLD = Font(bold=True)
REFUSED = PatternFill("solid", fgColor="FDE2E1")


def _width(text: str) -> float:
    """Columns wide enough for Chinese text (a CJK character is two columns)."""
    return min(60, 4 + display_width(text))


def _heading(sheet: WriteOnlyWorksheet, headings: list[str], widths: list[float]) -> None:
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    cells = []
    for heading in headings:
        cell = WriteOnlyCell(sheet, value=heading)
        cell.font = BOLD
        cells.append(cell)
    sheet.append(cells)


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    """A cell that is text whatever it holds: a value starting with ``=`` is never
    written as a formula, and ID numbers and codes never become 4.51E+17."""
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    cell.number_format = "@"
    return cell


def template() -> bytes:
    """The five sheets with their headings and an example row, and a notes sheet that
    explains each column and the codes it accepts."""
    book = openpyxl.Workbook(write_only=True)
    for spec in SHEETS:
        sheet = book.create_sheet(spec.name)
        columns = spec.all_columns
        _heading(
            sheet,
            [c.heading for c in columns],
            [max(_width(c.heading), _width(c.example)) for c in columns],
        )
        sheet.append([_text_cell(sheet, c.example) for c in columns])
    notes = book.create_sheet(NOTES)
    _heading(notes, ["工作表", "列", "必填", "说明"], [12, 16, 6, 100])
    for spec in SHEETS:
        for column in spec.all_columns:
            optional = column in spec.optional
            note = column.note + ("（可选列）" if optional else "")
            row = [spec.name, column.heading, "是" if column.required else "", note]
            cells = [WriteOnlyCell(notes, value=v) for v in row]
            cells[3].alignment = Alignment(wrap_text=True)
            notes.append(cells)
    notes.append([])
    for line in GENERAL_NOTES:
        notes.append(["", "", "", line])
    return _save(book)


GENERAL_NOTES = [
    "每个工作表第一行为列标题，请勿修改；可在最后增加其他列，导入时忽略。",
    "先检查（试导入），全部行的错误一并列出；下载“错误说明”工作簿，在 Excel 中更正后整份重新上传。",
    "同一文件可以重复导入：已导入的记录不会重复登记（参保人按证件号码，门特资格按病种和认定日期，"
    "选点按机构和开始日期，备案按类型、就医地和开始日期，转诊证明按编号）。",
    "也可以每张表另存为一个 CSV 文件（UTF-8 或 GB18030 编码），文件名包含工作表名。",
]


def errors(case_import: CaseImport) -> bytes:
    """The uploaded rows, sheet by sheet, each with its 错误说明 (empty when the row is
    fine): the clerk fixes the marked rows and uploads the whole workbook again."""
    book = openpyxl.Workbook(write_only=True)
    rows = ImportRow.objects.filter(case_import=case_import)
    for spec in SHEETS:
        staged = rows.filter(sheet=spec.name).order_by("number")
        if not staged.exists():
            continue
        _error_sheet(book.create_sheet(spec.name), spec, staged.iterator(chunk_size=2000))
    if not book.worksheets:
        book.create_sheet(SHEETS[0].name).append(SHEETS[0].headings)
    return _save(book)


def _error_sheet(sheet: WriteOnlyWorksheet, spec: Sheet, rows: object) -> None:
    columns = [c.heading for c in spec.all_columns]
    _heading(sheet, [*columns, ERRORS], [*(_width(h) + 8 for h in columns), 60])
    for row in rows:  # type: ignore[attr-defined]
        cells = [_text_cell(sheet, row.cells.get(h, "")) for h in columns]
        message = row.message if row.outcome == ImportRow.Outcome.REFUSED else ""
        error = _text_cell(sheet, message)
        if message:
            error.fill = REFUSED
        cells.append(error)
        sheet.append(cells)


def _save(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
