import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bench.fixtures import prepare


class Command(BaseCommand):
    help = "为性能测试准备会话与样本输入（JSON），写入 PATH。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("clerks", type=int)
        parser.add_argument("samples", type=int)
        parser.add_argument("path")

    def handle(self, *args: Any, **options: Any) -> None:
        with open(options["path"], "w", encoding="utf-8") as out:
            json.dump(prepare(options["clerks"], options["samples"]), out, ensure_ascii=False)
