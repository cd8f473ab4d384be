"""Importing the bureau's existing records (cases.imports): upload, watch the check,
read the errors, download them as a workbook, confirm, and (for approvals) review."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from cases import access
from cases.imports import reader, workbooks
from cases.imports.engine import RULE_ID
from cases.imports.sheets import SHEETS
from cases.masking import mask_cert_number
from cases.models import CaseImport, ImportRow
from cases.services.imports import ImportRefused, import_confirm, import_review, import_upload
from cases.tasks import apply_import, check_import
from cases.views.common import StaffRequest, export_name, importer, workbook
from portal.audit import record_export
from portal.imports import SpreadsheetRefused
from portal.models import Bureau, User
from portal.queue import enqueue_on_commit

ERRORS_PAGE = 50


class UploadForm(forms.Form):
    """The file; and for a data administrator, whose records it holds."""

    bureau = forms.ModelChoiceField(
        queryset=Bureau.objects.filter(county__level=3)
        .select_related("county")
        .order_by("county_id"),
        label="经办机构",
        empty_label="请选择经办机构",
    )
    file = forms.FileField(
        label="导入文件",
        help_text="XLSX 工作簿（参保人、门特资格、选点、跨省备案、转诊证明五张表），"
        "或某一张表的 CSV 文件（UTF-8 或 GB18030 编码）。",
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user.bureau_id is not None:
            del self.fields["bureau"]  # the staff of a bureau import their own

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        name = upload.name or ""
        if not name.lower().endswith((".xlsx", ".csv")):
            raise forms.ValidationError("只能导入 .xlsx 或 .csv 文件。")
        try:
            reader.check_size(upload.size or 0)
        except SpreadsheetRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None
        return upload


def _get(request: StaffRequest, pk: int) -> CaseImport:
    # The file itself (up to CASES_IMPORT_MAX_BYTES) is never read by a page.
    imports = access.imports(request.user, CaseImport.objects.defer("data"))
    found = imports.select_related("bureau", "created_by", "reviewer").filter(pk=pk).first()
    if found is None:
        raise Http404("没有这个导入记录。")
    return found


@importer
def import_list(request: StaffRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            case_import = import_upload(
                by=request.user,
                file_name=upload.name,
                data=upload.read(),
                bureau=form.cleaned_data.get("bureau"),
            )
        except ImportRefused as refusal:
            form.add_error("file", str(refusal))
        else:
            enqueue_on_commit(check_import, case_import.pk)
            messages.success(request, "文件已上传，正在检查；可以离开此页，稍后在导入记录中查看。")
            return redirect("import_detail", pk=case_import.pk)
    imports = (
        access.imports(request.user, CaseImport.objects.all())
        .select_related("created_by", "reviewer")
        .defer("data")
    )
    page = Paginator(imports, 20).get_page(request.GET.get("page"))
    return render(request, "cases/imports.html", {"form": form, "page": page})


@importer
def import_template(request: StaffRequest) -> HttpResponse:
    return workbook(workbooks.template(), "门特档案导入模板")


@importer
def import_detail(request: StaffRequest, pk: int) -> HttpResponse:
    case_import = _get(request, pk)
    refused = (
        ImportRow.objects.filter(case_import=case_import, outcome=ImportRow.Outcome.REFUSED)
        .order_by("sheet", "number")
        .only("sheet", "number", "column", "rule", "message", "cells", "key")
    )
    page = Paginator(refused, ERRORS_PAGE).get_page(request.GET.get("page"))
    unmask = access.can_unmask(request.user)
    for row in page.object_list:
        value = row.cells.get(row.column, "") if row.column else ""
        row.value = mask_cert_number(value) if row.column == "证件号码" and not unmask else value
        first = row.rule.split(",")[0]
        row.rule_id = first if RULE_ID.match(first) else ""
    notes = (
        ImportRow.objects.filter(case_import=case_import)
        .exclude(note="")
        .order_by("sheet", "number")[:20]
    )
    return render(
        request,
        "cases/import_detail.html",
        {
            "imp": case_import,
            "page": page,
            "notes": notes,
            "sheets": [(s.name, case_import.counts.get(s.name)) for s in SHEETS],
            "may_confirm": case_import.status == CaseImport.Status.CHECKED
            and case_import.created_by_id == request.user.pk,
            "may_review": case_import.status == CaseImport.Status.AWAITING_REVIEW
            and access.may_review(request.user)
            and case_import.created_by_id != request.user.pk,
            "progress_url": reverse("import_progress", args=[case_import.pk]),
        },
    )


@importer
def import_progress(request: StaffRequest, pk: int) -> JsonResponse:
    case_import = _get(request, pk)
    return JsonResponse(
        {
            "status": case_import.status,
            "status_label": case_import.get_status_display(),
            "running": case_import.running,
            "total": case_import.total_rows,
            "checked": case_import.checked_rows,
            "imported": case_import.imported_rows,
            "percent": case_import.percent,
        }
    )


@importer
def import_errors(request: StaffRequest, pk: int) -> HttpResponse:
    """The workbook back with its 错误说明 column: the clerk's own upload, in full, so that
    it can be fixed and uploaded again (recorded in the audit log as an export)."""
    case_import = _get(request, pk)
    if case_import.running or case_import.status == CaseImport.Status.FAILED:
        messages.info(request, "检查完成后才能下载错误说明。")
        return redirect("import_detail", pk=pk)
    record_export(
        request.user, f"导入 #{case_import.pk} 错误说明", case_import.refused_rows, unmasked=True
    )
    return workbook(workbooks.errors(case_import), export_name(request.user, "导入错误说明"))


@importer
def import_confirm_view(request: StaffRequest, pk: int) -> HttpResponse:
    case_import = _get(request, pk)  # another bureau's import is a 404 whatever the method
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        confirmed = import_confirm(by=request.user, case_import=case_import)
    except ImportRefused as refusal:
        messages.error(request, str(refusal))
    else:
        if confirmed.status == CaseImport.Status.AWAITING_REVIEW:
            messages.info(
                request, "文件中有已认定的门特资格，须由本局另一名复核人员确认后导入（QL-1）。"
            )
        else:
            enqueue_on_commit(apply_import, confirmed.pk)
            messages.success(request, "已确认，正在导入。")
    return redirect("import_detail", pk=pk)


@importer
def import_review_view(request: StaffRequest, pk: int) -> HttpResponse:
    case_import = _get(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        reviewed = import_review(by=request.user, case_import=case_import)
    except ImportRefused as refusal:
        messages.error(request, str(refusal))
    else:
        enqueue_on_commit(apply_import, reviewed.pk)
        messages.success(request, "已复核确认，正在导入；导入的已认定资格以您为复核人。")
    return redirect("import_detail", pk=pk)
