import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.scale import seed_scale


class Command(BaseCommand):
    help = (
        "为性能测试生成大规模合成数据（PostgreSQL COPY）：参保人分布于广西全部县区，"
        "约每人2项资格、2个选点，备案为参保人数的1/3，转诊证明为1/15。应在空库上运行。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=10_000)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("生产环境不能生成合成数据。")
        if options["patients"] < 1:
            raise CommandError("--patients 至少为 1")
        started = time.monotonic()
        report = seed_scale(options["patients"])
        self.stdout.write(f"{report}（用时 {time.monotonic() - started:.1f} 秒）")
