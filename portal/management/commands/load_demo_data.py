from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import statistics
from cases.demo import load_demo_cases
from institutions.demo import load_demo_institutions
from portal.demo import DEMO_PASSWORD, load_demo_staff


class Command(BaseCommand):
    help = "载入示例数据（经办机构、人员、定点机构），供演示与开发。可重复执行。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet-accounts", action="store_true", help="不打印示例账户列表")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("生产环境（PORTAL_ENV=production）不能载入示例数据。")
        staff_report, accounts = load_demo_staff()
        self.stdout.write(str(staff_report))
        self.stdout.write(str(load_demo_institutions()))
        self.stdout.write(str(load_demo_cases()))
        run = statistics.refresh()
        self.stdout.write(f"统计数据：{run.rows} 行，截至 {run.as_of}")
        if not options["quiet_accounts"]:
            self.stdout.write(f"\n示例账户（密码均为 {DEMO_PASSWORD}）：")
            shown = [
                a
                for a in accounts
                if a[0].endswith(("451202", "450202"))
                or a[0].startswith("supervisor_")
                or "_" not in a[0]
            ]
            for username, role, bureau in shown:
                self.stdout.write(f"  {username:<20} {role:<10} {bureau}")
            self.stdout.write(
                f"  其余 {len(accounts) - len(shown)} 个账户按 clerk_/reviewer_ 加县区代码命名。"
            )
