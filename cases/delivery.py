"""Delivering reminders (RM-4): one Delivery per recipient and channel, each claimed with
a conditional UPDATE before it is sent, so a delivery runs once even when its message is
handed out twice (a worker lost mid-task, a sweep re-enqueuing it).

Channels: the portal inbox (every clerk of the patient's bureau), e-mail to those clerks
with an address (Django's e-mail backend), and SMS to the patient through a pluggable
gateway whose default writes to the SmsOutbox table (no external call).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Iterable
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from cases import rules
from cases.models import Delivery, Notification, Reminder, SmsOutbox
from portal.models import Role, User
from portal.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

RECIPIENT_ROLES = (Role.CLERK, Role.REVIEWER, Role.BUREAU_ADMIN)
RECORD_LABELS = {
    "filing": "临时跨省异地就医备案",
    "transfer_letter": "转诊证明",
    "qualification": "门特认定资格",
}


class TransientDeliveryError(Exception):
    """Worth another try later (server down, timeout)."""


class PermanentDeliveryError(Exception):
    """Will never succeed (address refused); recorded as failed and shown."""


class SmsGateway(Protocol):
    def send(self, delivery: Delivery, text: str) -> None: ...


class OutboxSmsGateway:
    """The default: the message waits in SmsOutbox for the bureau's SMS platform."""

    def send(self, delivery: Delivery, text: str) -> None:
        SmsOutbox.objects.get_or_create(
            delivery=delivery, defaults={"phone": delivery.address, "text": text[:500]}
        )


def sms_gateway() -> SmsGateway:
    gateway: SmsGateway = import_string(settings.SMS_GATEWAY)()
    return gateway


# --- creating deliveries ------------------------------------------------------------------


def _record_key(reminder: Reminder) -> str:
    if reminder.filing_id:
        return "filing"
    if reminder.transfer_letter_id:
        return "transfer_letter"
    return "qualification"


def message(reminder: Reminder) -> tuple[str, str]:
    """Title and text of a reminder, in Chinese."""
    record = RECORD_LABELS[_record_key(reminder)]
    if reminder.filing_id and reminder.stage == rules.ReminderStage.LOCK_LIFTED:
        record = "长期跨省异地就医备案"
    patient = reminder.patient
    last_day = rules.last_day(reminder.record_end)
    if reminder.stage == rules.ReminderStage.LOCK_LIFTED:
        title = f"{patient.name}的{record}已满6个月，可以办理变更或取消"
        text = (
            f"【门特提醒】参保人{patient.name}的{record}自{reminder.record_end}起可办理变更或取消。"
        )
    elif reminder.stage == rules.ReminderStage.EXPIRED:
        title = f"{patient.name}的{record}已到期"
        text = f"【门特提醒】参保人{patient.name}的{record}有效期至{last_day}，已到期。"
    else:
        title = f"{patient.name}的{record}将于{reminder.stage}天后到期"
        text = (
            f"【门特提醒】参保人{patient.name}的{record}有效期至{last_day}，"
            f"请及时办理续期或重新备案。"
        )
    return title, text


DELIVERY_COLUMNS = [
    "reminder_id",
    "channel",
    "address",
    "user_id",
    "status",
    "attempts",
    "created_at",
    "last_error",
]


def create_deliveries(reminders: Iterable[Reminder]) -> list[int]:
    """Delivery rows for every pending reminder; returns the ids still to be sent.

    The reminders are ones this run has just created (INSERT … ON CONFLICT gave them to
    this run alone), so none has a delivery yet and the rows go in with COPY: a catch-up
    run makes hundreds of thousands of them.
    """
    pending = [r for r in reminders if r.status == Reminder.Status.PENDING]
    if not pending:
        return []
    bureau_ids = {r.bureau_id for r in pending}
    staff: dict[int, list[tuple[int, str]]] = {}
    for user_id, bureau_id, email in User.objects.filter(
        bureau_id__in=bureau_ids, role__in=RECIPIENT_ROLES, is_active=True
    ).values_list("pk", "bureau_id", "email"):
        staff.setdefault(bureau_id, []).append((user_id, email))
    now = timezone.now()
    rows = []
    for reminder in pending:
        clerks = staff.get(reminder.bureau_id, [])
        users_by_email = {email: user_id for user_id, email in clerks if email}
        for target in rules.reminder_recipients(
            clerks=clerks, patient_phone=reminder.patient.phone
        ):
            recipient: int | None = None
            if target.channel == Delivery.Channel.INBOX:
                recipient = int(target.address)
            elif target.channel == Delivery.Channel.EMAIL:
                recipient = users_by_email.get(target.address)
            rows.append(
                (reminder.pk, target.channel, target.address, recipient, "pending", 0, now, "")
            )
    columns = ", ".join(DELIVERY_COLUMNS)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(f"COPY {Delivery._meta.db_table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return list(
        Delivery.objects.filter(
            reminder_id__in=[r.pk for r in pending], status=Delivery.Status.PENDING
        ).values_list("pk", flat=True)
    )


# --- sending one delivery -----------------------------------------------------------------


def claim(delivery_id: int, stale_after: dt.timedelta) -> Delivery | None:
    """Take the delivery if nobody holds it; a claim older than ``stale_after`` belongs to a
    worker that died (the task time limit is shorter), so it may be taken over."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        Q(status=Delivery.Status.PENDING)
        | Q(status=Delivery.Status.SENDING, claimed_at__lt=now - stale_after),
        pk=delivery_id,
    ).update(status=Delivery.Status.SENDING, claimed_at=now)
    if claimed != 1:
        return None
    return Delivery.objects.select_related("reminder__patient").get(pk=delivery_id)


def send(delivery: Delivery) -> None:
    title, text = message(delivery.reminder)
    if delivery.channel == Delivery.Channel.INBOX:
        Notification.objects.get_or_create(
            user_id=delivery.user_id or int(delivery.address),
            reminder=delivery.reminder,
            defaults={"patient": delivery.reminder.patient, "title": title, "body": text},
        )
    elif delivery.channel == Delivery.Channel.EMAIL:
        try:
            send_mail(title, text, None, [delivery.address], fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"收件地址被拒绝：{exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"邮件服务器暂不可用：{exc}") from exc
    else:
        sms_gateway().send(delivery, text)


def mark_sent(delivery: Delivery) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.SENT, sent_at=timezone.now(), attempts=delivery.attempts + 1
        )
        _settle_reminder(delivery.reminder_id)


def release(delivery_id: int, error: str, *, permanent: bool) -> None:
    """After a failed attempt: back to pending for a retry, or failed for good."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempts += 1
        delivery.last_error = error[:500]
        delivery.status = Delivery.Status.FAILED if permanent else Delivery.Status.PENDING
        delivery.claimed_at = None
        delivery.save(update_fields=["attempts", "last_error", "status", "claimed_at"])
        if permanent:
            _settle_reminder(delivery.reminder_id)


def _settle_reminder(reminder_id: int) -> None:
    statuses = set(
        Delivery.objects.filter(reminder_id=reminder_id).values_list("status", flat=True)
    )
    if statuses <= {Delivery.Status.SENT}:
        Reminder.objects.filter(pk=reminder_id, status=Reminder.Status.PENDING).update(
            status=Reminder.Status.SENT, sent_at=timezone.now()
        )
    elif Delivery.Status.FAILED in statuses and not statuses & {
        Delivery.Status.PENDING,
        Delivery.Status.SENDING,
    }:
        Reminder.objects.filter(pk=reminder_id).update(status=Reminder.Status.FAILED)


def deliver(delivery_id: int) -> str:
    """Send one delivery once. Returns what happened; raises TransientDeliveryError after
    releasing the claim, so the task can retry with backoff."""
    delivery = claim(delivery_id, dt.timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT))
    if delivery is None:
        return "not claimed"
    try:
        send(delivery)
    except PermanentDeliveryError as exc:
        release(delivery_id, str(exc), permanent=True)
        return "failed"
    except TransientDeliveryError as exc:
        release(delivery_id, str(exc), permanent=False)
        raise
    except Exception as exc:
        # An unexpected error is treated as transient: retried, then recorded.
        release(delivery_id, f"{type(exc).__name__}: {exc}", permanent=False)
        raise TransientDeliveryError(str(exc)) from exc
    mark_sent(delivery)
    return "sent"


def give_up(delivery_id: int, error: str) -> None:
    """Retries exhausted: record the failure permanently."""
    release(delivery_id, f"多次重试后仍失败：{error}", permanent=True)


def stale_or_lost(now: dt.datetime | None = None) -> list[int]:
    """Deliveries whose message may have been lost: pending for a while (the broker was
    down when they were enqueued) or held by a worker that died."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.DELIVERY_REQUEUE_AFTER)
    claim_timeout = dt.timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT)
    return list(
        Delivery.objects.filter(
            Q(status=Delivery.Status.PENDING, created_at__lt=now - grace)
            | Q(status=Delivery.Status.SENDING, claimed_at__lt=now - claim_timeout)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:5000]
    )


ENQUEUE_CHUNK = 500  # deliveries per message: a catch-up run may create hundreds of thousands


def enqueue(delivery_ids: Iterable[int]) -> None:
    """Send the deliveries through the worker once the transaction commits, a chunk per
    message (each delivery is still claimed and sent on its own)."""
    # cases.tasks imports this module to run the deliveries: a cycle.
    from cases.tasks import deliver_reminder, deliver_reminders  # noqa: PLC0415

    ids = list(delivery_ids)
    if len(ids) == 1:
        enqueue_on_commit(deliver_reminder, ids[0])
        return
    for start in range(0, len(ids), ENQUEUE_CHUNK):
        enqueue_on_commit(deliver_reminders, ids[start : start + ENQUEUE_CHUNK])


def status_counts() -> dict[str, Any]:
    """For the status page: deliveries by status and the oldest one still pending."""
    counts = dict(
        Delivery.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    oldest = Delivery.objects.filter(status=Delivery.Status.PENDING).aggregate(m=Min("created_at"))
    return {
        "pending": counts.get(Delivery.Status.PENDING, 0) + counts.get(Delivery.Status.SENDING, 0),
        "sent": counts.get(Delivery.Status.SENT, 0),
        "failed": counts.get(Delivery.Status.FAILED, 0),
        "oldest_pending": oldest["m"],
        "recent_failures": list(
            Delivery.objects.filter(status=Delivery.Status.FAILED)
            .select_related("reminder__patient")
            .order_by("-pk")[:10]
        ),
    }
