from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import scenarios


class Command(BaseCommand):
    help = "运行政策情景（YAML），每个情景在回滚的事务中执行。PATH 为文件或目录。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")

    def handle(self, *args: Any, **options: Any) -> None:
        results = []
        for result in scenarios.run_paths(options["paths"]):
            results.append(result)
            self.stdout.write(result.line())
        self.stdout.write(scenarios.summary(results))
        if any(r.status != "PASS" for r in results) or not results:
            raise CommandError("policy scenarios failed", returncode=1)
