"""The monthly report's workbook (月报): one sheet per table of cases.statistics, in the
layout a bureau sends upward — title, area, period, 制表单位, 制表日期, then the table."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from cases.statistics import Statistics, Table
from portal.spreadsheets import display_width, escape_cell

TITLE = Font(bold=True, size=14)
BOLD = Font(bold=True)
# Characters a sheet's name may not hold, and its length (Excel).
SHEET_NAME_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", ""))
SHEET_NAME_LENGTH = 31


def period_label(first: dt.date, last: dt.date) -> str:
    if first == last:
        return f"{last.year}年{last.month}月"
    return f"{first.year}年{first.month}月至{last.year}年{last.month}月"


def file_name(area_name: str, month: dt.date) -> str:
    return f"门特月报_{area_name}_{month:%Y%m}.xlsx"


def workbook(
    statistics: Statistics,
    *,
    area_name: str,
    made_by: str,
    made_on: dt.date,
    progress: Callable[[int], None] = lambda _: None,
) -> bytes:
    """The report as XLSX bytes; ``progress`` is told the percentage after each sheet."""
    criteria = statistics.criteria
    run = statistics.run
    period = period_label(criteria.first, criteria.last)
    if run is not None:
        period += f"（数据截至 {run.as_of:%Y-%m-%d}）"
    filters = []
    if criteria.disease is not None:
        filters.append(f"病种：{criteria.disease.code} {criteria.disease.name}")
    if criteria.insurance_type:
        filters.append(f"险种：{criteria.insurance_type}")
    book = openpyxl.Workbook(write_only=True)
    for index, table in enumerate(statistics.tables, start=1):
        sheet = book.create_sheet(_sheet_name(index, table))
        _widths(sheet, table)  # before any row: a write-only sheet writes them first
        title = WriteOnlyCell(sheet, value=f"{area_name}门诊特殊慢性病业务月报：{table.title}")
        title.font = TITLE
        sheet.append([title])
        sheet.append([f"统计地区：{area_name}"])
        sheet.append([f"统计期：{period}"])
        sheet.append([f"制表单位：{made_by}"])
        sheet.append([f"制表日期：{made_on:%Y-%m-%d}"])
        if filters:
            sheet.append(["；".join(filters)])
        sheet.append([])
        _table(sheet, table)
        progress(10 + 90 * index // len(statistics.tables))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(index: int, table: Table) -> str:
    name = f"{index} {table.title}".translate(SHEET_NAME_FORBIDDEN)
    return name.replace("（", "-").replace("）", "")[:SHEET_NAME_LENGTH]


def _widths(sheet: WriteOnlyWorksheet, table: Table) -> None:
    """Columns as wide as their Chinese text (a CJK character is two columns)."""
    widths = [4 + display_width(h) for h in table.headers]
    for row in table.rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], 4 + display_width(str(value)))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(40, width)


def _table(sheet: WriteOnlyWorksheet, table: Table) -> None:
    cells = []
    for heading in table.headers:
        cell = WriteOnlyCell(sheet, value=heading)
        cell.font = BOLD
        cells.append(cell)
    sheet.append(cells)
    for row in table.rows:
        sheet.append([escape_cell(value) for value in row])
    if table.note:
        sheet.append([])
        sheet.append([f"注：{table.note}"])
