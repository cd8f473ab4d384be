"""Monthly reports (月报): requested on the page, built by a Celery worker, kept as built."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases import access, facts, reports, statistics
from cases.models import MonthlyReport
from institutions.models import Region
from portal import replica
from portal.models import User
from portal.queue import enqueue_on_commit

logger = logging.getLogger(__name__)
Status = MonthlyReport.Status


class ReportRefused(Exception):
    """A report that cannot be made; the message is for the user."""


def report_request(*, by: User, area: Region, month: dt.date) -> MonthlyReport:
    """Queue the report of ``area`` (one the user may see) for ``month``."""
    from cases.tasks import build_report  # noqa: PLC0415 - the task calls back into here

    if by.bureau is None or not access.statistics_areas(by).filter(pk=area.pk).exists():
        raise ReportRefused("只能生成本机构所辖地区的月报。")
    if month not in statistics.window(facts.today()):
        raise ReportRefused("统计月份超出统计数据保存的范围。")
    with transaction.atomic():
        report = MonthlyReport.objects.create(
            bureau=by.bureau, area=area, month=month, created_by=by
        )
        enqueue_on_commit(build_report, report.pk)
    return report


def report_build(report_id: int) -> None:
    """Build a queued report from the summary table; taken by one worker only."""
    taken = MonthlyReport.objects.filter(pk=report_id, status=Status.QUEUED).update(
        status=Status.BUILDING, progress=1, finished_at=None
    )
    if not taken:
        return
    report = MonthlyReport.objects.select_related("area", "bureau").get(pk=report_id)

    def progress(percent: int) -> None:
        MonthlyReport.objects.filter(pk=report_id).update(progress=min(percent, 99))

    try:
        criteria = statistics.Criteria(area=report.area, first=report.month, last=report.month)
        figures = replica.on_replica(lambda: statistics.tables(criteria))
        progress(10)
        data = reports.workbook(
            figures,
            area_name=report.area.full_name,
            made_by=report.bureau.name,
            made_on=facts.today(),
            progress=progress,
        )
    except Exception as exc:
        logger.exception("monthly report %s failed", report_id)
        MonthlyReport.objects.filter(pk=report_id).update(
            status=Status.FAILED, error=str(exc)[:300], finished_at=timezone.now()
        )
        return
    MonthlyReport.objects.filter(pk=report_id).update(
        status=Status.DONE,
        progress=100,
        data=data,
        file_name=reports.file_name(report.area.name, report.month),
        file_sha256=hashlib.sha256(data).hexdigest(),
        as_of=figures.run.as_of if figures.run else None,
        finished_at=timezone.now(),
    )


def queued() -> list[int]:
    """Reports waiting longer than a minute (their message lost with a broker outage), and
    reports whose worker died while building them, queued again."""
    now = timezone.now()
    stalled = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    MonthlyReport.objects.filter(status=Status.BUILDING, created_at__lt=stalled).update(
        status=Status.QUEUED
    )
    waiting = MonthlyReport.objects.filter(
        status=Status.QUEUED, created_at__lt=now - dt.timedelta(minutes=1)
    )
    return list(waiting.values_list("pk", flat=True)[:100])
