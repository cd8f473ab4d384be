import json
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.imports import run


class Command(BaseCommand):
    help = "导入性能测试：生成一个县的档案工作簿（每人约4行），检查、导入、再导入，报告用时和内存峰值。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=10_000)
        parser.add_argument("--json", metavar="FILE", help="把结果写成 JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("生产环境不能运行导入性能测试。")
        with tempfile.TemporaryDirectory() as folder:
            result = run(options["patients"], Path(folder))
        out = result.as_dict()
        self.stdout.write(json.dumps(out, ensure_ascii=False, indent=2))
        if options.get("json"):
            Path(options["json"]).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
