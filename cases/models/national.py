"""Exchange with the national platform (cases.national): the code tables data
administrators keep, and the reconciliations a bureau runs against the platform's files."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from cases.rules import national as nx


class CodeMapping(models.Model):
    """One code value of a mapping table (NX-4): the portal's value and the platform's
    code for it. A value without a row keeps the portal's default (DEFAULT_CODES)."""

    kind = models.CharField("代码表", max_length=20, choices=list(nx.MAPPING_KINDS.items()))
    portal_value = models.CharField("本系统取值", max_length=40)
    platform_code = models.CharField("平台代码", max_length=10)
    note = models.CharField("依据/备注", max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "平台代码对照"
        verbose_name_plural = "平台代码对照"
        ordering = ["kind", "portal_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "portal_value"],
                name="code_mapping_unique_value",
                violation_error_message="NX-4：该取值已有对照代码。",
            ),
            models.UniqueConstraint(
                fields=["kind", "platform_code"],
                name="code_mapping_unique_code",
                violation_error_message="NX-4：该平台代码已对照另一个取值。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.portal_value} → {self.platform_code}"

    def clean(self) -> None:
        errors = {}
        kind = nx.PORTAL_VALUES.get(self.kind)
        if kind is not None and self.portal_value not in {str(v) for v in kind}:
            values = "、".join(f"{value}（{label}）" for value, label in kind.choices)
            errors["portal_value"] = f"NX-4：本系统取值应为以下之一：{values}。"
        if not re.fullmatch(r"[0-9A-Za-z]{1,10}", self.platform_code or ""):
            errors["platform_code"] = "NX-4：平台代码应为1–10位数字或字母。"
        if errors:
            raise ValidationError(errors)

    @property
    def portal_label(self) -> str:
        kind = nx.PORTAL_VALUES.get(self.kind)
        return str(kind.labels.get(self.portal_value, self.portal_value)) if kind else ""


class Kind(models.TextChoices):
    """The record kinds exchanged, by the platform's interface."""

    QUALIFICATION = "qualification", "门慢特病登记（2503/5301）"
    SELECTION = "selection", "定点机构（2505/5302）"
    LETTER = "letter", "转诊（2501/5304）"
    FILING = "filing", "跨省异地就医备案（out_appy_d）"


class Reconciliation(models.Model):
    """An upload of what the platform holds for a bureau, compared with the portal."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队核对"
        RUNNING = "running", "核对中"
        DONE = "done", "已核对"
        FAILED = "failed", "核对失败"

    Kind = Kind

    bureau = models.ForeignKey(
        "portal.Bureau", verbose_name="经办机构", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField("记录类别", max_length=20, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="上传人",
        on_delete=models.PROTECT,
        related_name="reconciliations",
    )
    created_at = models.DateTimeField("上传时间", auto_now_add=True)
    file_name = models.CharField("文件名", max_length=200)
    file_sha256 = models.CharField("文件SHA-256", max_length=64)
    data = models.BinaryField("文件内容")
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField("进度（%）", default=0)
    # {"matched": n, "portal_only": n, "platform_only": n, "differs": n, "adoptable": n}
    counts = models.JSONField("核对统计", default=dict, blank=True)
    error = models.CharField("失败原因", max_length=300, blank=True)
    finished_at = models.DateTimeField("核对完成时间", null=True, blank=True)
    adopted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="采用平台编号人",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    adopted_at = models.DateTimeField("采用平台编号时间", null=True, blank=True)

    class Meta:
        verbose_name = "平台数据核对"
        verbose_name_plural = "平台数据核对"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bureau", "-created_at"], name="reconciliation_by_bureau")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name}"

    @property
    def running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ReconciliationItem(models.Model):
    """One record compared: the platform's row and the portal's, in the platform's field
    names, and the fields that differ."""

    class Outcome(models.TextChoices):
        MATCHED = "matched", "一致"
        DIFFERS = "differs", "字段不一致"
        PORTAL_ONLY = "portal_only", "仅本系统有"
        PLATFORM_ONLY = "platform_only", "仅平台有"

    reconciliation = models.ForeignKey(
        Reconciliation, verbose_name="核对", on_delete=models.CASCADE, related_name="items"
    )
    outcome = models.CharField("结果", max_length=20, choices=Outcome.choices)
    line = models.PositiveIntegerField("文件行号", null=True, blank=True)
    record_id = models.BigIntegerField("本系统记录", null=True, blank=True)
    patient_id = models.BigIntegerField("参保人", null=True, blank=True)
    platform = models.JSONField("平台数据", default=dict, blank=True)
    portal = models.JSONField("本系统数据", default=dict, blank=True)
    differences = models.JSONField("不一致字段", default=list, blank=True)
    # The platform's identifiers this record could take (NX-1, NX-2).
    adoptable = models.BooleanField("可采用平台编号", default=False)

    class Meta:
        verbose_name = "核对明细"
        verbose_name_plural = "核对明细"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["reconciliation", "outcome", "id"], name="reconciliation_items")
        ]

    def __str__(self) -> str:
        return f"{self.reconciliation_id}/{self.pk} {self.outcome}"
