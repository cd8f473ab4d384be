"""Reading an import file: an XLSX workbook with the five sheets, or one CSV per sheet.

What a file may cost is bounded before and while it is read: its size, for an XLSX the
size its ZIP members declare unpacked and how many there are (portal.imports), and the
number of data rows. openpyxl parses the XML through defusedxml (installed), so an
external entity or an entity-expansion bomb is refused, and reads formulas as the values
Excel cached (``data_only``): nothing in a file is ever evaluated."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openpyxl
from django.conf import settings

from cases.imports.sheets import BY_NAME, SHEETS, Sheet, text
from portal.imports import SpreadsheetRefused, check_archive, mib

MAX_COLUMNS = 40


@dataclass(frozen=True)
class Row:
    sheet: Sheet
    number: int  # the row number as the spreadsheet shows it (the heading is row 1)
    cells: dict[str, str]


def check_size(size: int) -> None:
    if size > settings.CASES_IMPORT_MAX_BYTES:
        raise SpreadsheetRefused(
            f"文件大小超过 {mib(settings.CASES_IMPORT_MAX_BYTES)}，无法导入；"
            "请分成几个文件分别导入。"
        )


def read(data: bytes, file_name: str) -> Iterator[Row]:
    """Every data row of the file, sheet by sheet; a file over a limit, unreadable, or
    without a recognised sheet raises SpreadsheetRefused (with a message for the clerk)."""
    check_size(len(data))
    rows = _xlsx(data) if data[:2] == b"PK" else _csv(data, file_name)
    for counted, row in enumerate(rows, start=1):
        if counted > settings.CASES_IMPORT_MAX_ROWS:
            raise SpreadsheetRefused(
                f"数据超过 {settings.CASES_IMPORT_MAX_ROWS:,} 行，无法一次导入；"
                "请分成几个文件分别导入。"
            )
        yield row


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime) and value.time() != dt.time.min:
        return value.strftime("%Y-%m-%d %H:%M:%S")  # a catalogue's invd_time (NX-5)
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    return text(value)


def _rows(sheet: Sheet, lines: Iterator[tuple[Any, ...]]) -> Iterator[Row]:
    heading_row = next(lines, None)
    headings = [text(h) for h in (heading_row or ())][:MAX_COLUMNS]
    missing = [c.heading for c in sheet.columns if c.heading not in headings]
    if missing:
        raise SpreadsheetRefused(
            f"工作表“{sheet.name}”缺少列：{'、'.join(missing)}。请使用导入模板的列标题。"
        )
    wanted = {h: i for i, h in enumerate(headings) if h in {c.heading for c in sheet.all_columns}}
    for number, line in enumerate(lines, start=2):
        values = list(line[:MAX_COLUMNS])
        cells = {h: _cell(values[i]) if i < len(values) else "" for h, i in wanted.items()}
        if any(cells.values()):
            yield Row(sheet, number, cells)


def _xlsx(data: bytes) -> Iterator[Row]:
    check_archive(data, settings.CASES_IMPORT_MAX_UNPACKED_BYTES)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or hostile file
        raise SpreadsheetRefused(
            "无法读取该工作簿（文件损坏或含有不安全的内容），请另存为 XLSX 后重新上传。"
        ) from exc
    try:
        found = [BY_NAME[name] for name in book.sheetnames if name in BY_NAME]
        if not found:
            names = "、".join(s.name for s in SHEETS)
            raise SpreadsheetRefused(f"工作簿中没有可导入的工作表，工作表名须为：{names}。")
        for sheet in sorted(found, key=SHEETS.index):
            try:
                yield from _rows(sheet, book[sheet.name].iter_rows(values_only=True))
            except SpreadsheetRefused:
                raise
            except Exception as exc:
                raise SpreadsheetRefused(
                    f"无法读取工作表“{sheet.name}”（文件损坏或含有不安全的内容）。"
                ) from exc
    finally:
        book.close()


def decode(data: bytes) -> str:
    """CSV text: UTF-8 with or without BOM, else GB18030 (what Excel saves on a Chinese
    Windows)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise SpreadsheetRefused(
            "无法识别文件的编码，请另存为 UTF-8 或 GB18030 编码的 CSV。"
        ) from None


def _csv(data: bytes, file_name: str) -> Iterator[Row]:
    """One CSV is one sheet: the one its file name names, else the one whose headings it
    has."""
    lines = csv.reader(io.StringIO(decode(data), newline=""))
    try:
        first = next(lines, None)
    except csv.Error:
        first = None
    headings = [text(h) for h in first or ()]
    named = [s for s in SHEETS if s.name in file_name]
    by_headings = [s for s in SHEETS if set(s.headings) <= set(headings)]
    candidates = named or by_headings
    if not candidates:
        names = "、".join(s.name for s in SHEETS)
        raise SpreadsheetRefused(
            f"无法判断该 CSV 属于哪张表：请以表名（{names}）命名文件，并使用模板的列标题。"
        )
    # Several sheets share a heading set's subset (证件号码…): the one with most headings.
    sheet = max(candidates, key=lambda s: len(set(s.headings) & set(headings)))

    def rest() -> Iterator[tuple[Any, ...]]:
        yield tuple(headings)
        try:
            for line in lines:
                yield tuple(line)
        except csv.Error as exc:
            raise SpreadsheetRefused(f"CSV 格式有误：{exc}") from exc

    yield from _rows(sheet, rest())


def read_table(data: bytes, sheet: Sheet) -> Iterator[Row]:
    """Every data row of a one-table file laid out as ``sheet`` (a file the national
    platform or its 1309 download produced: CSV, or XLSX whose first worksheet holds the
    table), within the same limits as an import."""
    check_size(len(data))
    rows = _xlsx_first(data, sheet) if data[:2] == b"PK" else _csv_table(data, sheet)
    for counted, row in enumerate(rows, start=1):
        if counted > settings.CASES_IMPORT_MAX_ROWS:
            raise SpreadsheetRefused(
                f"数据超过 {settings.CASES_IMPORT_MAX_ROWS:,} 行，无法一次读取；请分成几个文件。"
            )
        yield row


def _xlsx_first(data: bytes, sheet: Sheet) -> Iterator[Row]:
    check_archive(data, settings.CASES_IMPORT_MAX_UNPACKED_BYTES)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or hostile file
        raise SpreadsheetRefused(
            "无法读取该工作簿（文件损坏或含有不安全的内容），请另存为 XLSX 后重新上传。"
        ) from exc
    try:
        if not book.sheetnames:
            raise SpreadsheetRefused("工作簿中没有工作表。")
        name = sheet.name if sheet.name in book.sheetnames else book.sheetnames[0]
        try:
            yield from _rows(sheet, _field_names(book[name].iter_rows(values_only=True)))
        except SpreadsheetRefused:
            raise
        except Exception as exc:
            raise SpreadsheetRefused(
                f"无法读取工作表“{name}”（文件损坏或含有不安全的内容）。"
            ) from exc
    finally:
        book.close()


def _csv_table(data: bytes, sheet: Sheet) -> Iterator[Row]:
    lines = csv.reader(io.StringIO(decode(data), newline=""))

    def all_lines() -> Iterator[tuple[Any, ...]]:
        try:
            for line in lines:
                yield tuple(line)
        except csv.Error as exc:
            raise SpreadsheetRefused(f"CSV 格式有误：{exc}") from exc

    yield from _rows(sheet, _field_names(all_lines()))


def _field_names(lines: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The platform's field names in lower case, as a database export may capitalise them."""
    first = next(lines, None)
    if first is None:
        return
    yield tuple(text(h).lower() for h in first)
    yield from lines
