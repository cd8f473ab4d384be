import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import facts, reminders


class Command(BaseCommand):
    help = "运行每日到期提醒任务（与定时任务相同）；--date 指定业务日期，默认今天（北京时间）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        day = facts.today()
        if options["date"]:
            try:
                day = dt.date.fromisoformat(options["date"])
            except ValueError as exc:
                raise CommandError("日期格式应为 YYYY-MM-DD") from exc
        started = time.monotonic()
        with facts.as_of(day):
            report = reminders.run_job(day)
        self.stdout.write(f"{report.summary()}（用时 {time.monotonic() - started:.1f} 秒）")
