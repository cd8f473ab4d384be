import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cases import facts, statistics
from cases.models import MonthlyReport
from cases.services.reports import report_build
from institutions.models import Region
from portal.models import User


class Command(BaseCommand):
    help = "统计性能测试：重建统计汇总表并生成全区上月月报，计时，写入 PATH（JSON）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        run = statistics.refresh(facts.today())
        refresh_seconds = time.monotonic() - started
        # The task's own code path, for the region's last complete month.
        supervisor = User.objects.select_related("bureau").get(
            username="bench_supervisor_450000", bureau__isnull=False
        )
        assert supervisor.bureau is not None  # noqa: S101 - for the type checker
        month = statistics.add_months(facts.today().replace(day=1), -1)
        report = MonthlyReport.objects.create(
            bureau=supervisor.bureau,
            area=Region.objects.get(code="450000"),
            month=month,
            created_by=supervisor,
        )
        started = time.monotonic()
        report_build(report.pk)
        report_seconds = time.monotonic() - started
        report.refresh_from_db()
        result = {
            "refresh_seconds": refresh_seconds,
            "figures": run.rows,
            "report_seconds": report_seconds,
            "report_status": report.status,
            "report_bytes": len(report.data or b""),
        }
        with open(options["path"], "w", encoding="utf-8") as out:
            json.dump(result, out)
