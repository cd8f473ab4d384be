"""python manage.py import_cases FILE --bureau <county code> --user <username>
[--reviewer <username>] [--dry-run] [--errors OUT.xlsx]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import access
from cases.imports import engine, reader, workbooks
from cases.models import CaseImport
from cases.services.imports import import_upload
from portal.imports import SpreadsheetRefused
from portal.models import Bureau, User

OUTCOMES = [("ok", "可导入"), ("created", "已导入"), ("unchanged", "已存在"), ("refused", "有错误")]


class Command(BaseCommand):
    help = (
        "从工作簿（XLSX，或每表一个 CSV）导入一个经办机构的门特业务档案，"
        "按与窗口录入相同的规则逐行检查；有被拒绝的行时以非零状态退出。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--bureau", required=True, help="经办机构所在县区的区划代码")
        parser.add_argument("--user", required=True, help="以其名义导入的本局工作人员用户名")
        parser.add_argument("--reviewer", help="含已认定资格时：本局另一名复核人员的用户名（QL-1）")
        parser.add_argument("--dry-run", action="store_true", help="只检查，不导入")
        parser.add_argument("--errors", metavar="OUT.xlsx", help="写出带“错误说明”列的工作簿")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在：{path}")
        user, bureau = self._user(options["user"], options["bureau"])
        reviewer = self._reviewer(options.get("reviewer"), user, bureau)
        try:
            reader.check_size(path.stat().st_size)
        except SpreadsheetRefused as refusal:
            raise CommandError(str(refusal)) from None
        case_import = import_upload(
            by=user, file_name=path.name, data=path.read_bytes(), bureau=bureau
        )
        engine.stage(case_import)
        if case_import.status == CaseImport.Status.FAILED:
            raise CommandError(case_import.failure)
        apply = not options["dry_run"]
        if apply and case_import.has_approvals and reviewer is None:
            raise CommandError(
                "文件中有已认定的门特资格：请用 --reviewer 指定本局另一名复核人员（QL-1）。"
            )
        case_import.status = CaseImport.Status.IMPORTING if apply else CaseImport.Status.CHECKING
        case_import.save(update_fields=["status"])
        engine.run(case_import, apply=apply, user=user, reviewer=reviewer)
        case_import.status = CaseImport.Status.IMPORTED if apply else CaseImport.Status.CHECKED
        case_import.save(update_fields=["status"])
        self._report(case_import)
        if options.get("errors"):
            Path(options["errors"]).write_bytes(workbooks.errors(case_import))
            self.stdout.write(f"错误说明工作簿：{options['errors']}")
        if case_import.refused_rows:
            raise CommandError(f"{case_import.refused_rows} 行有错误，未导入。", returncode=1)

    def _user(self, username: str, county: str) -> tuple[User, Bureau]:
        """The importing user and the bureau: a bureau's own staff, or a data
        administrator for any bureau."""
        user = User.objects.select_related("bureau").filter(username=username).first()
        if user is None or not user.is_active:
            raise CommandError(f"没有用户 {username}。")
        bureau = Bureau.objects.filter(county_id=county).first()
        if bureau is None or not bureau.keeps_cases:
            raise CommandError(f"没有区划代码为 {county} 的经办机构。")
        if user.bureau_id is not None and user.bureau_id != bureau.pk:
            raise CommandError(f"用户 {username} 不属于区划代码为 {county} 的经办机构。")
        if not access.may_import(user):
            raise CommandError(f"用户 {username} 没有导入业务档案的权限。")
        return user, bureau

    def _reviewer(self, username: str | None, user: User, bureau: Bureau) -> User | None:
        if not username:
            return None
        reviewer = User.objects.select_related("bureau").filter(username=username).first()
        if reviewer is None or not access.may_review(reviewer):
            raise CommandError(f"{username} 不是复核人员。")
        if reviewer.bureau_id != bureau.pk or reviewer.pk == user.pk:
            raise CommandError("复核人须是同一经办机构的另一名工作人员（QL-1）。")
        return reviewer

    def _report(self, case_import: CaseImport) -> None:
        self.stdout.write(
            f"导入 #{case_import.pk} {case_import.file_name}：共 {case_import.total_rows} 行"
        )
        for sheet, counts in case_import.counts.items():
            parts = "，".join(
                f"{label} {counts[key]}" for key, label in OUTCOMES if counts.get(key)
            )
            self.stdout.write(f"  {sheet}：{counts.get('rows', 0)} 行（{parts}）")
