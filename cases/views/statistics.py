"""统计分析 and 月报: the figures of the user's area (a county, a prefecture or Guangxi),
read from the summary table (cases.statistics), and the monthly reports built from it."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from cases import access, charts, facts, statistics
from cases.forms import ReportForm, StatisticsForm
from cases.models import MonthlyReport
from cases.services.reports import ReportRefused, report_request
from cases.views.common import EXPORT_FORMATS, StaffRequest, View, spreadsheet, workbook
from portal import replica
from portal.audit import record_export


def statistician(view: View) -> View:
    """Pages for those who see their area's statistics (cases.view_statistics)."""

    @wraps(view)
    def wrapper(request: StaffRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.may_see_statistics(request.user):
            raise PermissionDenied("您没有查看统计分析的权限。")
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@statistician
def statistics_page(request: StaffRequest) -> HttpResponse:
    months = statistics.window(facts.today())
    form = StatisticsForm(request.user, request.GET, months)
    figures = None
    if form.is_valid():
        criteria = form.criteria()
        figures = replica.on_replica(lambda: statistics.tables(criteria))
        fmt, name = request.GET.get("export", ""), request.GET.get("table", "")
        if fmt in EXPORT_FORMATS:
            return _export(request, figures, name, fmt)
    query = request.GET.copy()
    query.pop("export", None)
    query.pop("table", None)
    return render(
        request,
        "cases/statistics.html",
        {
            "form": form,
            "figures": figures,
            "sections": [
                (
                    t,
                    charts.svg(charts.bars(t.chart, t.series), t.title) if t.chart else "",
                    charts.table(t.headers, t.rows, f"table-{t.name}"),
                )
                for t in (figures.tables if figures else [])
            ],
            "query": query.urlencode(),
        },
    )


def _export(
    request: StaffRequest, figures: statistics.Statistics, name: str, fmt: str
) -> HttpResponse:
    try:
        table = figures.table(name)
    except StopIteration:
        raise Http404("没有这张统计表") from None
    criteria = figures.criteria
    what = f"统计分析 {table.title} {criteria.area.name} {criteria.first:%Y%m}-{criteria.last:%Y%m}"
    record_export(request.user, what, len(table.rows), unmasked=False)
    file_name = f"{table.title}_{criteria.area.name}_{criteria.last:%Y%m}"
    return spreadsheet(table.rows, table.headers, file_name, fmt)


@statistician
def report_list(request: StaffRequest) -> HttpResponse:
    """报表记录: the bureau's monthly reports, and a form for a new one."""
    months = statistics.window(facts.today())
    form = ReportForm(request.user, months, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = report_request(
                by=request.user,
                area=form.areas[form.cleaned_data["area"]],
                month=form.cleaned_month(),
            )
        except ReportRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, "月报已开始生成。")
            return redirect("report_detail", pk=report.pk)
    reports = (
        access.reports(request.user, MonthlyReport.objects.all())
        .defer("data")
        .select_related("area", "created_by")[:200]
    )
    return render(request, "cases/reports.html", {"form": form, "reports": reports})


def _report(request: StaffRequest, pk: int) -> MonthlyReport:
    found = (
        access.reports(request.user, MonthlyReport.objects.defer("data"))
        .select_related("area", "created_by", "bureau")
        .filter(pk=access.object_id(pk))
        .first()
    )
    if found is None:
        raise Http404("月报不存在")
    return found


@statistician
def report_detail(request: StaffRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    return render(
        request,
        "cases/report_detail.html",
        {
            "report": report,
            "running": report.status
            in (MonthlyReport.Status.QUEUED, MonthlyReport.Status.BUILDING),
            "progress_url": reverse("report_progress", args=[report.pk]),
        },
    )


@statistician
def report_progress(request: StaffRequest, pk: int) -> JsonResponse:
    report = _report(request, pk)
    return JsonResponse(
        {
            "status": report.status,
            "status_label": report.get_status_display(),
            "percent": report.progress,
            "running": report.status
            in (MonthlyReport.Status.QUEUED, MonthlyReport.Status.BUILDING),
        }
    )


@statistician
def report_download(request: StaffRequest, pk: int) -> HttpResponse:
    """The workbook exactly as it was built (recorded in the audit log as an export)."""
    report = _report(request, pk)
    if report.status != MonthlyReport.Status.DONE:
        messages.info(request, "月报生成后才能下载。")
        return redirect("report_detail", pk=report.pk)
    data = MonthlyReport.objects.values_list("data", flat=True).get(pk=report.pk)
    record_export(request.user, f"月报 #{report.pk} {report.file_name}", 1, unmasked=False)
    return workbook(bytes(data or b""), report.file_name.removesuffix(".xlsx"))
