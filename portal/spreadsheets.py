"""Spreadsheet formats for imports and exports (django-import-export).

Chinese Excel writes CSV in GB18030 and reads UTF-8 only with a byte-order mark, so CSV
imports accept both encodings and exports carry the mark. Every exported cell that a
spreadsheet would read as a formula is escaped with a leading apostrophe (OWASP CSV
injection), not merely stripped of its "=".
"""

from __future__ import annotations

import io
import unicodedata
from typing import Any

import openpyxl
import tablib
from django.conf import settings
from import_export.formats import base_formats
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

from portal.imports import check_archive, check_row_count, too_many_rows

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_dataset(dataset: tablib.Dataset) -> None:
    rows = [[escape_cell(cell) for cell in row] for row in dataset]
    del dataset[:]
    for row in rows:
        dataset.append(row)


def decode_csv(data: bytes | str) -> str:
    """Decode CSV bytes written by Excel: UTF-8 (with or without BOM), else GB18030."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


class CSV(base_formats.CSV):
    def is_binary(self) -> bool:
        # Hand the raw bytes to create_dataset, which picks the encoding itself.
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:

        # The file's size is bounded before it is read (portal.imports); the rows here.
        dataset = tablib.import_set(decode_csv(in_stream), format="csv", **kwargs)
        check_row_count(dataset.height)
        return dataset

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> str:
        escape_dataset(dataset)
        exported: str = dataset.export("csv", **kwargs)
        return "\ufeff" + exported


class XLSX(base_formats.XLSX):
    def create_dataset(self, in_stream: Any) -> tablib.Dataset:
        """The first sheet, streamed: rows and columns are counted while reading and the
        reading stops at the limits (portal.imports), whatever the sheet claims."""

        check_archive(in_stream)
        book = openpyxl.load_workbook(io.BytesIO(in_stream), read_only=True, data_only=True)
        try:
            rows = book.active.iter_rows(values_only=True, max_col=settings.IMPORT_MAX_COLUMNS)
            dataset = tablib.Dataset()
            headers = next(rows, None)
            if headers is None:
                return dataset
            while headers and headers[-1] is None:
                headers = headers[:-1]
            dataset.headers = list(headers)
            width = len(headers)
            for number, row in enumerate(rows, start=1):
                if number > settings.IMPORT_MAX_ROWS:
                    raise too_many_rows()
                values = list(row[:width]) + [None] * (width - len(row))
                if any(value is not None for value in values):
                    dataset.append(values)
            return dataset
        finally:
            book.close()

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> Any:

        escape_dataset(dataset)
        # Control characters cannot be stored in XLSX at all; drop them rather than fail.
        rows = [
            [ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in row]
            for row in dataset
        ]
        headers = list(dataset.headers or [])
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet(dataset.title or "Sheet1")
        for index, width in enumerate(column_widths([headers, *rows]), start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        if headers:
            sheet.append(headers)
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def display_width(value: object) -> int:
    """Columns a value takes: a Chinese character two, anything else one."""
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def column_widths(rows: list[list[Any]], least: int = 8, most: int = 60) -> list[int]:
    """Widths fit for the widest value of each column (Chinese text counted double)."""
    count = max((len(row) for row in rows), default=0)
    return [
        min(most, max(least, max((display_width(r[i]) for r in rows if i < len(r)), default=0) + 2))
        for i in range(count)
    ]


FORMATS = [XLSX, CSV]
