"""Thin Celery tasks: they take ids, call the reminder and delivery functions, and retry."""

from __future__ import annotations

import contextlib
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction

from cases import delivery, facts, reminders, statistics
from cases.models import Patient, ReminderCheck
from portal.queue import enqueue_now


@shared_task(name="cases.tasks.run_daily_reminders", ignore_result=True)
def run_daily_reminders() -> str:
    return reminders.run_job(facts.today()).summary()


@shared_task(
    name="cases.tasks.deliver_reminder",
    bind=True,
    ignore_result=True,
    max_retries=settings.DELIVERY_MAX_RETRIES,
)
def deliver_reminder(self: Task[..., Any], delivery_id: int) -> str:
    try:
        return delivery.deliver(delivery_id)
    except delivery.TransientDeliveryError as exc:
        if self.request.retries >= (self.max_retries or 0):
            delivery.give_up(delivery_id, str(exc))
            return "gave up"
        # Exponential backoff: 30 s, 60 s, 2 min, … up to about half an hour.
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 1800)) from exc


@shared_task(name="cases.tasks.deliver_reminders", ignore_result=True)
def deliver_reminders(delivery_ids: list[int]) -> str:
    """A chunk of one run's deliveries; one that fails for now is retried on its own, with
    backoff (and if even that cannot be enqueued, it stays pending for the sweep)."""
    sent = 0
    for delivery_id in delivery_ids:
        try:
            if delivery.deliver(delivery_id) == "sent":
                sent += 1
        except delivery.TransientDeliveryError:
            # If even this cannot be enqueued (broker down), the sweep finds it pending.
            with contextlib.suppress(Exception):
                deliver_reminder.apply_async((delivery_id,), countdown=30)
    return f"sent {sent} of {len(delivery_ids)}"


@shared_task(name="cases.tasks.check_patient_reminders", ignore_result=True)
def check_patient_reminders(patient_id: int) -> None:
    """A patient's records changed: anything already due goes out now, not tomorrow."""
    with transaction.atomic():
        # One check per patient at a time (the row lock the services take too); the
        # checks taken here are deleted by id, so a newer one written meanwhile survives.
        if not Patient.objects.select_for_update().filter(pk=patient_id).exists():
            return
        taken = list(
            ReminderCheck.objects.filter(patient_id=patient_id).values_list("pk", flat=True)
        )
        if not taken:
            return
        reminders.check_patients(facts.today(), [patient_id])
        ReminderCheck.objects.filter(pk__in=taken).delete()


@shared_task(name="cases.tasks.check_reminders_of", ignore_result=True)
def check_reminders_of(patient_ids: list[int]) -> None:
    """Several patients' records changed at once (a group of an import): as
    ``check_patient_reminders``, in one transaction and one pass of the job's check."""
    with transaction.atomic():
        # Locked in id order, as the services lock one patient: no deadlock between them.
        locked = list(
            Patient.objects.select_for_update()
            .filter(pk__in=patient_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        taken = list(
            ReminderCheck.objects.filter(patient_id__in=locked).values_list("pk", flat=True)
        )
        if not taken:
            return
        reminders.check_patients(facts.today(), locked)
        ReminderCheck.objects.filter(pk__in=taken).delete()


@shared_task(
    name="cases.tasks.check_import",
    ignore_result=True,
    time_limit=settings.CASES_IMPORT_TIME_LIMIT,
    soft_time_limit=settings.CASES_IMPORT_TIME_LIMIT - 60,
)
def check_import(import_id: int) -> None:
    from cases.services import imports  # noqa: PLC0415 - the services enqueue these tasks

    imports.import_check(import_id)


@shared_task(
    name="cases.tasks.apply_import",
    ignore_result=True,
    time_limit=settings.CASES_IMPORT_TIME_LIMIT,
    soft_time_limit=settings.CASES_IMPORT_TIME_LIMIT - 60,
)
def apply_import(import_id: int) -> None:
    from cases.services import imports  # noqa: PLC0415

    imports.import_apply(import_id)


IMPORT_TASKS = {"check": check_import, "apply": apply_import}


@shared_task(name="cases.tasks.build_report", ignore_result=True)
def build_report(report_id: int) -> None:
    from cases.services import reports as report_services  # noqa: PLC0415

    report_services.report_build(report_id)


@shared_task(
    name="cases.tasks.refresh_statistics",
    ignore_result=True,
    # Reads every case table once: about a minute at province scale (docs/benchmarks.md).
    time_limit=settings.STATISTICS_TIME_LIMIT,
    soft_time_limit=settings.STATISTICS_TIME_LIMIT - 60,
)
def refresh_statistics() -> str:
    run = statistics.refresh(facts.today())
    return f"{run.rows} figures as of {run.as_of}"


@shared_task(name="cases.tasks.sweep", ignore_result=True)
def sweep() -> None:
    """Enqueue again what a broker outage or a dead worker left behind."""
    from cases.services import imports, national  # noqa: PLC0415
    from cases.services import reports as report_services  # noqa: PLC0415

    imports.requeue_stalled()
    for report_id in report_services.queued():
        enqueue_now(build_report, report_id)
    for reconciliation_id in national.queued():
        enqueue_now(run_reconciliation, reconciliation_id)
    for import_id, phase in imports.queued():
        enqueue_now(IMPORT_TASKS[phase], import_id)
    for delivery_id in delivery.stale_or_lost():
        enqueue_now(deliver_reminder, delivery_id)
    patient_ids = set(ReminderCheck.objects.values_list("patient_id", flat=True)[:5000])
    for patient_id in patient_ids:
        enqueue_now(check_patient_reminders, patient_id)


@shared_task(name="cases.tasks.run_reconciliation", ignore_result=True)
def run_reconciliation(reconciliation_id: int) -> None:
    from cases.services import national  # noqa: PLC0415

    national.reconciliation_run(reconciliation_id)
