"""Patients who move (参保地变更, MV-1..MV-6): the insured county as a dated history, and
the requests by which a case passes from one bureau to another."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from cases.models.records import Patient, half_open
from cases.models.scoping import ScopedModel


class MoveRequest(ScopedModel):
    """MV-1: a receiving bureau asks for a patient; the owning bureau answers."""

    class Status(models.TextChoices):
        PENDING = "pending", "待答复"
        ACCEPTED = "accepted", "已接受"
        REFUSED = "refused", "已拒绝"

    patient = models.ForeignKey(
        Patient, verbose_name="参保人", on_delete=models.PROTECT, related_name="move_requests"
    )
    from_bureau = models.ForeignKey(
        "portal.Bureau", verbose_name="转出经办机构", on_delete=models.PROTECT, related_name="+"
    )
    to_bureau = models.ForeignKey(
        "portal.Bureau", verbose_name="转入经办机构", on_delete=models.PROTECT, related_name="+"
    )
    region = models.ForeignKey(
        "institutions.Region",
        verbose_name="新参保地",
        on_delete=models.PROTECT,
        related_name="+",
    )
    effective = models.DateField("生效日期")
    voucher = models.CharField("转移接续凭证号", max_length=50)
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="申请人", on_delete=models.PROTECT, related_name="+"
    )
    requested_on = models.DateField("申请日期")
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="答复人",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    answered_on = models.DateField("答复日期", null=True, blank=True)
    refusal_reason = models.CharField("拒绝理由", max_length=200, blank=True)
    reminded_on = models.DateField("催办日期", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "转入申请"
        verbose_name_plural = "转入申请"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="pending"),
                name="move_one_pending",
                violation_error_message="MV-2：该参保人已有一份待答复的转入申请。",
            ),
            models.CheckConstraint(
                condition=~Q(from_bureau=F("to_bureau")), name="move_between_two_bureaus"
            ),
        ]
        indexes = [
            models.Index(fields=["from_bureau", "status"], name="move_owner_queue"),
            models.Index(fields=["to_bureau", "status"], name="move_requester_queue"),
        ]

    def __str__(self) -> str:
        return f"转入申请 #{self.pk}"


class InsuredPeriod(ScopedModel):
    """MV-6: the patient's insured county from ``start`` (empty: since registration)
    until ``end`` (empty: still), and the bureau that kept the case then."""

    patient = models.ForeignKey(
        Patient, verbose_name="参保人", on_delete=models.PROTECT, related_name="insured_periods"
    )
    region = models.ForeignKey(
        "institutions.Region", verbose_name="参保地", on_delete=models.PROTECT, related_name="+"
    )
    bureau = models.ForeignKey(
        "portal.Bureau", verbose_name="经办机构", on_delete=models.PROTECT, related_name="+"
    )
    start = models.DateField("起始日期", null=True, blank=True)
    end = models.DateField("终止日期", null=True, blank=True, help_text="不再适用的第一天。")
    move = models.ForeignKey(
        MoveRequest,
        verbose_name="转入申请",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "参保地记录"
        verbose_name_plural = "参保地记录"
        ordering = ["patient", F("start").asc(nulls_first=True)]
        constraints = [
            ExclusionConstraint(
                name="insured_period_no_overlap",
                expressions=[
                    (F("patient"), RangeOperators.EQUAL),
                    (half_open("start", "end"), RangeOperators.OVERLAPS),
                ],
                violation_error_message="MV-2：参保地记录的期间不能重叠。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.region_id}"
