"""Reminders and their delivery: the portal inbox, e-mail and the SMS outbox (RM-1..5)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from cases import rules
from cases.models.records import Filing, Patient, Qualification, TransferLetter
from cases.models.scoping import ScopedModel


class Reminder(ScopedModel):
    """One reminder stage of one record (RM-1..5); unique per (record, stage)."""

    Stage = rules.ReminderStage

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SUPERSEDED = "superseded", "已被后续提醒取代"
        SENT = "sent", "已送达"
        FAILED = "failed", "发送失败"

    # No index of their own: the unique (record, stage) constraints below lead with them.
    filing = models.ForeignKey(
        Filing,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminders",
        db_index=False,
    )
    transfer_letter = models.ForeignKey(
        TransferLetter,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminders",
        db_index=False,
    )
    qualification = models.ForeignKey(
        Qualification,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminders",
        db_index=False,
    )
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="reminders")
    bureau = models.ForeignKey("portal.Bureau", on_delete=models.PROTECT, related_name="reminders")
    stage = models.CharField("提醒阶段", max_length=20, choices=Stage.choices)
    due_on = models.DateField("应发日期")
    record_end = models.DateField("记录终止日")
    status = models.CharField("状态", max_length=20, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField("生成时间", auto_now_add=True)
    sent_at = models.DateTimeField("全部送达时间", null=True, blank=True)

    class Meta:
        verbose_name = "到期提醒"
        verbose_name_plural = "到期提醒"
        ordering = ["-due_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        filing__isnull=False,
                        transfer_letter__isnull=True,
                        qualification__isnull=True,
                    )
                    | Q(
                        filing__isnull=True,
                        transfer_letter__isnull=False,
                        qualification__isnull=True,
                    )
                    | Q(
                        filing__isnull=True,
                        transfer_letter__isnull=True,
                        qualification__isnull=False,
                    )
                ),
                name="reminder_one_record",
            ),
            models.UniqueConstraint(
                fields=["filing", "stage"], name="reminder_once_per_filing_stage"
            ),
            models.UniqueConstraint(
                fields=["transfer_letter", "stage"], name="reminder_once_per_letter_stage"
            ),
            models.UniqueConstraint(
                fields=["qualification", "stage"], name="reminder_once_per_qualification_stage"
            ),
        ]
        indexes = [models.Index(fields=["status", "due_on"], name="reminder_pending")]

    def __str__(self) -> str:
        return f"{self.get_stage_display()}（{self.due_on}）"


class Delivery(models.Model):
    """One reminder to one recipient on one channel (RM-4), claimed before it is sent."""

    Channel = rules.RecipientChannel

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已送达"
        FAILED = "failed", "发送失败"

    # Indexed by the unique (reminder, channel, address) constraint below.
    reminder = models.ForeignKey(
        Reminder, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    channel = models.CharField("渠道", max_length=10, choices=Channel.choices)
    address = models.CharField("接收方", max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    created_at = models.DateTimeField("生成时间", auto_now_add=True)
    claimed_at = models.DateTimeField("领取时间", null=True, blank=True)
    sent_at = models.DateTimeField("送达时间", null=True, blank=True)
    last_error = models.CharField("最近错误", max_length=500, blank=True)

    class Meta:
        verbose_name = "提醒投递"
        verbose_name_plural = "提醒投递"
        constraints = [
            models.UniqueConstraint(
                fields=["reminder", "channel", "address"], name="delivery_once_per_recipient"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="delivery_status")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.address}（{self.get_status_display()}）"


class Notification(ScopedModel):
    """A message in a clerk's portal inbox."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    reminder = models.ForeignKey(
        Reminder, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    title = models.CharField("标题", max_length=200)
    body = models.TextField("内容")
    created_at = models.DateTimeField("时间", auto_now_add=True)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)

    class Meta:
        verbose_name = "系统消息"
        verbose_name_plural = "系统消息"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "reminder"],
                condition=Q(reminder__isnull=False),
                name="notification_once_per_reminder",
            ),
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.title


class SmsOutbox(models.Model):
    """The default SMS gateway: messages wait here for the bureau's SMS platform."""

    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, related_name="sms")
    phone = models.CharField("手机号", max_length=20)
    text = models.CharField("短信内容", max_length=500)
    created_at = models.DateTimeField("写入时间", auto_now_add=True)

    class Meta:
        verbose_name = "短信发件箱"
        verbose_name_plural = "短信发件箱"

    def __str__(self) -> str:
        return f"{self.phone}: {self.text[:20]}"


class ReminderCheck(models.Model):
    """Transactional outbox: a patient whose records changed and whose reminders are due
    for a check. Written in the same transaction as the change, so a broker outage never
    loses it; the worker (or the periodic sweep) takes it from here."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "待检查提醒"
        verbose_name_plural = "待检查提醒"

    def __str__(self) -> str:
        return f"{self.patient_id} @ {self.created_at}"


class JobRun(models.Model):
    """One run of the daily reminder job (status page)."""

    day = models.DateField("业务日期")
    started_at = models.DateTimeField("开始时间", auto_now_add=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    summary = models.CharField("结果", max_length=300, blank=True)

    class Meta:
        verbose_name = "提醒任务运行记录"
        verbose_name_plural = "提醒任务运行记录"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.day} {self.summary}"
