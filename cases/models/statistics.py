"""Statistics for oversight (统计分析) and the monthly reports built from them (月报).

``Figure`` is a summary table: per month, county bureau, disease and insurance type, the
count of one measure (active qualifications at the month's end, approvals in the month,
…). The daily job rebuilds it from the records' dates (cases.statistics.refresh), so a
page or a report over all of Guangxi sums a few thousand rows instead of counting
millions. ``MonthlyReport`` keeps each report's workbook as it was built, so last
month's report downloads again unchanged.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Measure(models.TextChoices):
    """What a figure counts. A stock is counted on the month's as-of day (its last day,
    or the day of the refresh for the current month); a flow over the month's days."""

    QUALIFICATIONS = "qualifications", "有效门特资格"
    APPROVED = "approved", "新认定"
    REJECTED = "rejected", "未通过"
    REVIEW_DAYS = "review_days", "复核用时（天）"
    SELECTIONS = "selections", "有效选点"
    FILINGS = "filings", "有效跨省备案"
    EXPIRING = "expiring", "即将到期"
    REMINDERS_SENT = "reminders_sent", "提醒已送达"
    REMINDERS_FAILED = "reminders_failed", "提醒发送失败"


STOCKS = (Measure.QUALIFICATIONS, Measure.SELECTIONS, Measure.FILINGS, Measure.EXPIRING)
FLOWS = (
    Measure.APPROVED,
    Measure.REJECTED,
    Measure.REVIEW_DAYS,
    Measure.REMINDERS_SENT,
    Measure.REMINDERS_FAILED,
)


class Figure(models.Model):
    """One count of the summary table. ``key`` refines the measure: the selection's
    scope, a filing's destination province and type (``450000:temporary``), the days a
    review took, what is expiring and within how many days (``filing:30``). A figure
    without a disease is either one that has none (selections, filings, reminders) or the
    total over the diseases of one that has (cases.statistics._TOTALS)."""

    month = models.DateField("月份")
    bureau = models.ForeignKey(
        "portal.Bureau", verbose_name="经办机构", on_delete=models.CASCADE, related_name="+"
    )
    disease = models.ForeignKey(
        "institutions.Disease",
        verbose_name="病种",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    insurance_type = models.CharField("险种", max_length=3)
    measure = models.CharField("指标", max_length=20, choices=Measure.choices)
    key = models.CharField("分项", max_length=40, blank=True)
    value = models.PositiveIntegerField("数量")

    class Meta:
        verbose_name = "统计数据"
        verbose_name_plural = "统计数据"
        permissions = [("view_statistics", "查看统计分析与月报")]
        indexes = [
            models.Index(
                fields=["measure", "month", "bureau"],
                include=["disease", "insurance_type", "key", "value"],
                name="figure_by_measure",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.measure} {self.key} {self.value}"


class StatisticsRun(models.Model):
    """One rebuild of the summary table: how fresh the figures are."""

    as_of = models.DateField("数据截至")
    started_at = models.DateTimeField("开始时间")
    finished_at = models.DateTimeField("完成时间")
    first_month = models.DateField("最早月份")
    rows = models.PositiveIntegerField("行数")

    class Meta:
        verbose_name = "统计刷新"
        verbose_name_plural = "统计刷新"
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"{self.as_of} {self.finished_at:%Y-%m-%d %H:%M}"


class MonthlyReport(models.Model):
    """A monthly report (月报) of one area for one month, as it was built."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队生成"
        BUILDING = "building", "生成中"
        DONE = "done", "已生成"
        FAILED = "failed", "生成失败"

    bureau = models.ForeignKey(
        "portal.Bureau",
        verbose_name="制表单位",
        on_delete=models.PROTECT,
        related_name="reports",
    )
    area = models.ForeignKey(
        "institutions.Region", verbose_name="统计地区", on_delete=models.PROTECT, related_name="+"
    )
    month = models.DateField("统计月份")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="制表人",
        on_delete=models.PROTECT,
        related_name="reports",
    )
    created_at = models.DateTimeField("申请时间", auto_now_add=True)
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField("进度（%）", default=0)
    as_of = models.DateField("数据截至", null=True, blank=True)
    finished_at = models.DateTimeField("生成时间", null=True, blank=True)
    file_name = models.CharField("文件名", max_length=200, blank=True)
    file_sha256 = models.CharField("文件SHA-256", max_length=64, blank=True)
    data = models.BinaryField("文件内容", null=True, blank=True)
    error = models.CharField("失败原因", max_length=300, blank=True)

    class Meta:
        verbose_name = "月报"
        verbose_name_plural = "月报"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bureau", "-created_at"], name="report_by_bureau")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.month:%Y-%m}"
