"""Exchange with the national platform: the platform's numbers on a patient's records,
the national-format export, and reconciliations against the platform's files."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import cached_property

from cases import access, national, selectors
from cases.forms import (
    AdoptForm,
    ExchangeExportForm,
    PlatformIdsForm,
    ReconciliationForm,
    show_refusal,
)
from cases.imports.reader import check_size
from cases.models import Reconciliation, ReconciliationItem
from cases.services import PolicyRefusal
from cases.services.national import (
    ReconciliationRefused,
    platform_ids_update,
    reconciliation_adopt,
    reconciliation_request,
)
from cases.views.common import StaffRequest, bureau_staff, export_name, recorder, spreadsheet
from portal import replica
from portal.audit import record_export
from portal.imports import SpreadsheetRefused

ITEMS_PER_PAGE = 50


class CountedPaginator(Paginator[ReconciliationItem]):
    """Pages of a list whose size is already known (the reconciliation's counts)."""

    def __init__(self, object_list: Any, per_page: int, total: int) -> None:
        super().__init__(object_list, per_page)
        self.total = total

    @cached_property
    def count(self) -> int:
        return self.total


@bureau_staff
@recorder
def platform_ids(request: StaffRequest, pk: int) -> HttpResponse:
    """平台编号: the patient's psn_no and each record's trt_dcla_detl_sn."""
    case = selectors.case_file(request.user, pk)
    patient = case.patient
    records: list[tuple[str, Any, str]] = [
        ("qualification", q, f"门特认定 {q.disease.name}（{q.get_status_display()}）")
        for q in case.qualifications
    ]
    records += [
        ("selection", s, f"选点 {s.slot}号 {s.institution.name}（{s.start} 起）")
        for s in case.selections
    ]
    records += [
        ("filing", f, f"备案 {f.get_type_display()} {f.destination.name}（{f.start} 起）")
        for f in case.filings
    ]
    records += [("letter", t, f"转诊证明 {t.serial}") for t in case.letters]
    form = PlatformIdsForm(
        request.POST or None, records=records, initial={"psn_no": patient.psn_no}
    )
    if request.method == "POST" and form.is_valid():
        try:
            changed = platform_ids_update(
                patient=patient,
                by=request.user,
                psn_no=form.cleaned_data["psn_no"],
                serials=form.serials(),
            )
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        except IntegrityError:
            # Taken by another clerk between the check and the save (the unique constraints).
            form.add_error(None, "NX-1/NX-2：编号刚被其他记录占用，请刷新后重试。")
        else:
            messages.success(request, f"平台编号已保存（{changed} 项变更）。")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "cases/form.html",
        {"form": form, "patient": patient, "title": "登记医保信息平台编号"},
    )


@bureau_staff
def exchange_export(request: StaffRequest) -> HttpResponse:
    """国家平台格式导出: the user's bureau's (or area's) records in the platform's field
    names, one kind per file."""
    form = ExchangeExportForm(request.GET if "kind" in request.GET else None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        kind = data["kind"]
        records = selectors.exchange_for(
            request.user,
            kind,
            first=data["first"],
            last=data["last"],
            changed_since=data["changed_since"],
        )
        total = replica.on_replica(records.count)
        if total > settings.NATIONAL_EXPORT_MAX_ROWS:
            form.add_error(
                None,
                f"共 {total:,} 条记录，超过一次导出的上限 "
                f"{settings.NATIONAL_EXPORT_MAX_ROWS:,} 条，请缩小期间或按变更日期分次导出。",
            )
        else:
            return _export_file(request, kind, records, data["fmt"])
    return render(request, "cases/exchange_export.html", {"form": form})


def _export_file(request: StaffRequest, kind: str, records: Any, fmt: str) -> HttpResponse:
    layout = national.LAYOUTS[kind]
    unmask = access.unmasked(request, f"国家平台格式导出 {layout.label}")
    codes = national.code_tables()
    build = national.ROW_BUILDERS[kind]
    rows = replica.on_replica(
        lambda: [
            [row[name] for name in layout.fields]
            for row in (
                build(record, codes, unmask) for record in records.iterator(chunk_size=2000)
            )
        ]
    )
    record_export(request.user, f"国家平台格式 {layout.label}", len(rows), unmasked=unmask)
    return spreadsheet(rows, list(layout.fields), export_name(request.user, layout.file_stem), fmt)


def _reconciliation(request: StaffRequest, pk: int) -> Reconciliation:
    found = (
        access.reconciliations(request.user, Reconciliation.objects.defer("data"))
        .select_related("created_by", "adopted_by")
        .filter(pk=access.object_id(pk))
        .first()
    )
    if found is None:
        raise Http404("核对记录不存在")
    return found


@bureau_staff
@recorder
def reconciliation_list(request: StaffRequest) -> HttpResponse:
    """平台数据核对: upload a platform file; the bureau's earlier reconciliations."""
    form = ReconciliationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            check_size(upload.size)
            reconciliation = reconciliation_request(
                by=request.user,
                kind=form.cleaned_data["kind"],
                file_name=upload.name,
                data=upload.read(),
            )
        except (SpreadsheetRefused, ReconciliationRefused) as refusal:
            form.add_error("file", str(refusal))
        else:
            messages.success(request, "文件已上传，正在核对。")
            return redirect("reconciliation_detail", pk=reconciliation.pk)
    reconciliations = access.reconciliations(
        request.user, Reconciliation.objects.defer("data").select_related("created_by")
    )[:100]
    return render(
        request,
        "cases/reconciliations.html",
        {"form": form, "reconciliations": reconciliations},
    )


@bureau_staff
@recorder
def reconciliation_detail(request: StaffRequest, pk: int) -> HttpResponse:
    reconciliation = _reconciliation(request, pk)
    layout = national.LAYOUTS[reconciliation.kind]
    outcomes = ReconciliationItem.Outcome
    shown = request.GET.get("outcome", "")
    if shown not in outcomes.values:
        shown = outcomes.DIFFERS
    items = ReconciliationItem.objects.filter(
        reconciliation=reconciliation, outcome=shown
    ).order_by("id")
    counts = reconciliation.counts or {}
    page = CountedPaginator(items, ITEMS_PER_PAGE, int(counts.get(shown, 0))).get_page(
        request.GET.get("page")
    )
    fields = ["psn_name", "psn_no", "trt_dcla_detl_sn", *layout.compared]
    rows = [
        {
            "item": item,
            "cells": [
                (
                    national.FIELD_LABELS[name],
                    item.platform.get(name, ""),
                    item.portal.get(name, ""),
                    name in item.differences,
                )
                for name in fields
            ],
        }
        for item in page.object_list
    ]
    return render(
        request,
        "cases/reconciliation_detail.html",
        {
            "reconciliation": reconciliation,
            "layout": layout,
            "tabs": [(value, label, counts.get(value, 0)) for value, label in outcomes.choices],
            "shown": shown,
            "page": page,
            "rows": rows,
            "adopt_form": AdoptForm(),
            "progress_url": reverse("reconciliation_progress", args=[reconciliation.pk]),
        },
    )


@bureau_staff
@recorder
def reconciliation_progress(request: StaffRequest, pk: int) -> JsonResponse:
    reconciliation = _reconciliation(request, pk)
    return JsonResponse(
        {
            "status": reconciliation.status,
            "status_label": reconciliation.get_status_display(),
            "percent": reconciliation.progress,
            "running": reconciliation.running,
        }
    )


@bureau_staff
@recorder
def reconciliation_adopt_view(request: StaffRequest, pk: int) -> HttpResponse:
    reconciliation = _reconciliation(request, pk)
    if request.method != "POST":
        return redirect("reconciliation_detail", pk=reconciliation.pk)
    form = AdoptForm(request.POST)
    if not form.is_valid():
        messages.error(request, "请勾选确认后再采用平台编号。")
        return redirect("reconciliation_detail", pk=reconciliation.pk)
    try:
        result = reconciliation_adopt(by=request.user, reconciliation=reconciliation)
    except ReconciliationRefused as refusal:
        messages.error(request, str(refusal))
    else:
        skipped = (
            f"，{result['skipped']} 项因记录已变更或编号已被占用而跳过" if result["skipped"] else ""
        )
        messages.success(
            request,
            f"已采用平台流水号 {result['serials']} 条、人员编号 {result['psn_nos']} 个{skipped}。",
        )
    return redirect("reconciliation_detail", pk=reconciliation.pk)
