from typing import Any

from django.core.management.base import BaseCommand

from institutions import reference


class Command(BaseCommand):
    help = (
        "载入基础数据：全国行政区划（含历史代码）、门特病种种子目录、政策参数默认值。可重复执行。"
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for report in reference.load_all():
            self.stdout.write(str(report))
        self.stdout.write(reference.SEED_NOTE.replace("种子数据", "门特病种种子目录"))
