"""Imports of a bureau's existing case records from its workbooks (cases.imports).

An import is a record of its own: who uploaded which file (name, hash, the bytes), what
its dry run found and what it imported, each row staged with its outcome. It is scoped
by bureau (cases.access.imports)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CaseImport(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "排队检查"
        CHECKING = "checking", "检查中"
        CHECKED = "checked", "已检查，待确认导入"
        AWAITING_REVIEW = "awaiting_review", "待复核人确认"
        CONFIRMED = "confirmed", "排队导入"
        IMPORTING = "importing", "导入中"
        IMPORTED = "imported", "已导入"
        FAILED = "failed", "处理失败"

    bureau = models.ForeignKey(
        "portal.Bureau", verbose_name="经办机构", on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="上传人",
        on_delete=models.PROTECT,
        related_name="case_imports",
    )
    created_at = models.DateTimeField("上传时间", auto_now_add=True)
    file_name = models.CharField("文件名", max_length=200)
    file_sha256 = models.CharField("文件SHA-256", max_length=64)
    data = models.BinaryField("文件内容")
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField("数据行数", default=0)
    checked_rows = models.PositiveIntegerField("已检查行数", default=0)
    imported_rows = models.PositiveIntegerField("已导入行数", default=0)
    # Per sheet: {"rows": n, "ok": n, "refused": n, "created": n, "unchanged": n}
    counts = models.JSONField("分表统计", default=dict, blank=True)
    has_approvals = models.BooleanField("含已认定资格", default=False)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="确认导入人",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="复核人",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Saved with every group of rows: a run whose worker died stops moving (the sweep).
    updated_at = models.DateTimeField("最后进展", auto_now=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    failure = models.TextField("失败原因", blank=True)

    class Meta:
        verbose_name = "导入记录"
        verbose_name_plural = "导入记录"
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["bureau", "-created_at"], name="import_bureau_recent")]
        permissions = [("import_cases", "导入门特业务档案")]

    def __str__(self) -> str:
        return f"导入 #{self.pk} {self.file_name}"

    @property
    def refused_rows(self) -> int:
        return sum(sheet.get("refused", 0) for sheet in self.counts.values())

    @property
    def running(self) -> bool:
        """Checking or importing, or waiting for a worker to."""
        return self.status in RUNNING

    @property
    def percent(self) -> int:
        done = self.imported_rows if self.status == self.Status.IMPORTING else self.checked_rows
        return round(100 * done / self.total_rows) if self.total_rows else 0


RUNNING = (
    CaseImport.Status.QUEUED,
    CaseImport.Status.CHECKING,
    CaseImport.Status.CONFIRMED,
    CaseImport.Status.IMPORTING,
)


KEY_LENGTH = 40  # longer than any certificate number (ID-1 refuses such a row)


class ImportRow(models.Model):
    """One data row of an import's workbook, as read, and what became of it."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "待检查"
        OK = "ok", "可导入"
        REFUSED = "refused", "有错误"
        CREATED = "created", "已导入"
        UNCHANGED = "unchanged", "已存在，未变更"

    case_import = models.ForeignKey(CaseImport, on_delete=models.CASCADE, related_name="rows")
    sheet = models.CharField("工作表", max_length=20)
    number = models.PositiveIntegerField("行号")
    # The certificate number the row belongs to (18 digits after ID-1's conversion): rows
    # are checked and imported patient by patient, every sheet of one patient together.
    key = models.CharField("证件号码", max_length=KEY_LENGTH, blank=True)
    cells = models.JSONField("单元格")
    outcome = models.CharField(
        "结果", max_length=20, choices=Outcome.choices, default=Outcome.PENDING
    )
    rule = models.CharField("规则", max_length=40, blank=True)
    column = models.CharField("列", max_length=20, blank=True)
    message = models.TextField("错误说明", blank=True)
    note = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "导入行"
        verbose_name_plural = "导入行"
        indexes = [
            models.Index(fields=["case_import", "key"], name="import_row_key"),
            models.Index(fields=["case_import", "outcome"], name="import_row_outcome"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["case_import", "sheet", "number"], name="import_row_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sheet} 第{self.number}行"
