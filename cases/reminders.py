"""The daily reminder job (RM-1..5): find due stages, record them once, expire records.

Runs in bulk: each kind of record is read in chunks of ids (constant memory), the due
stages are computed by the pure rules, reminder rows are inserted with
``ignore_conflicts`` against the unique (record, stage) constraints, so two runs at once,
or a run repeated, create each reminder once. Only rows this run inserted are handed to
delivery, chunk by chunk, and sent after the transaction commits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Case, Count, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from cases import delivery, masking, rules
from cases.models import (
    Filing,
    JobRun,
    MoveRequest,
    Notification,
    Qualification,
    Reminder,
    TransferLetter,
)
from institutions.parameters import parameters_on
from portal.models import User

CHUNK = 2000
INSERT_BATCH = 1000  # rows per INSERT, well under PostgreSQL's 65,535 parameters


@dataclass
class RunReport:
    """What a run did. ``created`` holds the new reminders themselves only when the run
    keeps them (a few patients' check, tests); the daily job hands each chunk to delivery
    and keeps the counts, so its memory does not grow with the number of records."""

    day: dt.date
    keep: bool = True
    created: list[Reminder] = field(default_factory=list)
    expired: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    pending_count: int = 0
    superseded_count: int = 0
    expired_count: int = 0
    on_created: Callable[[list[Reminder]], None] | None = None
    moves_reminded: int = 0

    def add(self, reminders: list[Reminder]) -> None:
        for reminder in reminders:
            if reminder.status == Reminder.Status.PENDING:
                self.pending_count += 1
            else:
                self.superseded_count += 1
        if self.keep:
            self.created += reminders
        if self.on_created is not None and reminders:
            self.on_created(reminders)

    def add_expired(self, key: str, ids: list[int]) -> None:
        self.expired_count += len(ids)
        if self.keep:
            self.expired[key] += ids

    @property
    def to_send(self) -> list[Reminder]:
        return [r for r in self.created if r.status == Reminder.Status.PENDING]

    def summary(self) -> str:
        return (
            f"{self.day}：新提醒 {self.pending_count}，被取代 {self.superseded_count}，"
            f"到期标记 {self.expired_count}"
        )


def _chunks(queryset: models.QuerySet[Any]) -> Iterator[list[Any]]:
    """Keyset pagination by id: memory stays constant whatever the number of rows."""
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).order_by("pk")[:CHUNK])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def _temporary_filings(day: dt.date, horizon: int) -> models.QuerySet[Filing]:
    # FL-6: a transfer filing is reminded through its letter only.
    return (
        Filing.objects.filter(
            status=Filing.Status.ACTIVE,
            type=Filing.Type.TEMPORARY,
            end__lte=day + dt.timedelta(days=horizon),
        )
        .exclude(subtype=Filing.Subtype.TRANSFER)
        .select_related("patient")
    )


def _letters(day: dt.date, horizon: int) -> models.QuerySet[TransferLetter]:
    return TransferLetter.objects.filter(
        status=TransferLetter.Status.ACTIVE, end__lte=day + dt.timedelta(days=horizon)
    ).select_related("patient")


def _qualifications(day: dt.date, horizon: int) -> models.QuerySet[Qualification]:
    return Qualification.objects.filter(
        status=Qualification.Status.APPROVED,
        valid_until__isnull=False,
        valid_until__lte=day + dt.timedelta(days=horizon),
    ).select_related("patient")


def _still_due(
    queryset: models.QuerySet[Any],
    key: str,
    end_field: str,
    stages_days: Sequence[int],
    day: dt.date,
) -> models.QuerySet[Any]:
    """Only the records with a stage due by ``day`` that has no reminder yet: the same
    answer as rules.due_stages, asked of the database, so that a day with nothing new
    reads nothing (a reminder is only ever recorded for a stage that was due)."""
    stages = sorted(stages_days)
    whens = [When(**{f"{end_field}__lte": day}, then=Value(len(stages) + 1))]
    whens += [
        When(**{f"{end_field}__lte": day + dt.timedelta(days=days)}, then=Value(len(stages) - i))
        for i, days in enumerate(stages)
    ]
    done = (
        Reminder.objects.filter(
            **{key: OuterRef("pk")}, stage__in=[*map(str, stages), rules.ReminderStage.EXPIRED]
        )
        .values(key)
        .annotate(n=Count("pk"))
        .values("n")
    )
    still_due: models.QuerySet[Any] = queryset.alias(
        due_count=Case(*whens, default=Value(0)),
        done_count=Coalesce(Subquery(done), Value(0)),
    ).filter(due_count__gt=F("done_count"))
    return still_due


def _done_stages(key: str, ids: list[int]) -> dict[int, set[str]]:
    done: dict[int, set[str]] = defaultdict(set)
    for record_id, stage in Reminder.objects.filter(**{f"{key}_id__in": ids}).values_list(
        f"{key}_id", "stage"
    ):
        done[record_id].add(stage)
    return done


def _renewed(ids: list[int]) -> set[int]:
    """RM-3: qualifications with a renewal approved in time get no more reminders."""
    return set(
        Qualification.objects.filter(
            renewal_of_id__in=ids, status=Qualification.Status.APPROVED
        ).values_list("renewal_of_id", flat=True)
    )


def _stage_records(
    report: RunReport,
    *,
    key: str,
    model: Any,
    records: list[Any],
    end_of: Callable[[Any], dt.date],
    stages_days: Sequence[int],
    expired_status: str,
    silent: Collection[int] = (),
) -> None:
    day = report.day
    done = _done_stages(key, [r.pk for r in records])
    rows: list[Reminder] = []
    expire_ids: list[int] = []
    for record in records:
        end = end_of(record)
        due = rules.due_stages(end=end, stages_days=stages_days, today=day, done=done[record.pk])
        if day >= end:
            expire_ids.append(record.pk)
        if due.send is None or record.pk in silent:
            continue
        common = {
            key: record,
            "patient": record.patient,  # loaded with the record: delivery needs the phone
            "bureau_id": record.patient.bureau_id,
            "record_end": end,
        }
        for stage in due.superseded:
            rows.append(
                Reminder(
                    stage=stage,
                    due_on=rules.stage_day(end, stage),
                    status=Reminder.Status.SUPERSEDED,
                    **common,
                )
            )
        rows.append(
            Reminder(
                stage=due.send,
                due_on=rules.stage_day(end, due.send),
                status=Reminder.Status.PENDING,
                **common,
            )
        )
    report.add(_insert(rows))
    if expire_ids:
        expired_now = list(
            model.objects.filter(pk__in=expire_ids)
            .exclude(status=expired_status)
            .values_list("pk", flat=True)
        )
        model.objects.filter(pk__in=expired_now).update(status=expired_status)
        report.add_expired(key, expired_now)


INSERT_COLUMNS = [
    "filing_id",
    "transfer_letter_id",
    "qualification_id",
    "patient_id",
    "bureau_id",
    "stage",
    "due_on",
    "record_end",
    "status",
]


def _insert(rows: list[Reminder]) -> list[Reminder]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: the reminders this run created, as the
    given objects with their new ids (no second read).

    The unique (record, stage) constraints decide between concurrent runs; a row another
    run already holds is skipped, so it is neither created twice nor reported twice.
    """
    if len(rows) > INSERT_BATCH:
        return _insert(rows[:INSERT_BATCH]) + _insert(rows[INSERT_BATCH:])
    if not rows:
        return []
    table = Reminder._meta.db_table
    placeholders = ", ".join(
        "(" + ", ".join(["%s"] * len(INSERT_COLUMNS)) + ", now())" for _ in rows
    )
    params: list[Any] = []
    for row in rows:
        params += [
            row.filing_id,
            row.transfer_letter_id,
            row.qualification_id,
            row.patient_id,
            row.bureau_id,
            row.stage,
            row.due_on,
            row.record_end,
            row.status,
        ]
    sql = (
        f"INSERT INTO {table} ({', '.join(INSERT_COLUMNS)}, created_at) "  # noqa: S608 - fixed names
        f"VALUES {placeholders} ON CONFLICT DO NOTHING "
        "RETURNING id, created_at, filing_id, transfer_letter_id, qualification_id, stage"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = {tuple(row[2:]): row[:2] for row in cursor.fetchall()}
    created = []
    for row in rows:
        found = inserted.get(
            (row.filing_id, row.transfer_letter_id, row.qualification_id, row.stage)
        )
        if found is not None:
            row.pk, row.created_at = found
            row._state.adding = False
            created.append(row)
    return sorted(created, key=attrgetter("pk"))


@transaction.atomic
def run_reminders(
    day: dt.date,
    patient_ids: list[int] | None = None,
    on_created: Callable[[list[Reminder]], None] | None = None,
    keep: bool | None = None,
) -> RunReport:
    """Everything due on ``day`` (Asia/Shanghai); safe to run again or concurrently.
    ``patient_ids`` limits the run to those patients' records. With ``on_created``, each
    chunk of new reminders goes there and the report keeps only counts (unless ``keep``)."""
    report = RunReport(
        day, keep=on_created is None if keep is None else keep, on_created=on_created
    )
    scope = {} if patient_ids is None else {"patient_id__in": patient_ids}
    params = parameters_on(day)
    record_stages = params.reminder_stages_days
    qual_stages = params.reassessment_stages_days

    # (reminder key, model, records due soon, end date, stages, expired status)
    sources = [
        (
            "filing",
            Filing,
            _temporary_filings(day, max(record_stages)),
            "end",
            record_stages,
            Filing.Status.EXPIRED,
        ),
        (
            "transfer_letter",
            TransferLetter,
            _letters(day, max(record_stages)),
            "end",
            record_stages,
            TransferLetter.Status.EXPIRED,
        ),
        (
            "qualification",
            Qualification,
            _qualifications(day, max(qual_stages)),
            "valid_until",
            qual_stages,
            Qualification.Status.EXPIRED,
        ),
    ]
    for key, model, records, end_field, stages_days, expired_status in sources:
        due = _still_due(records.filter(**scope), key, end_field, stages_days, day).only(
            "id", "patient_id", end_field, "patient__bureau_id", "patient__phone"
        )
        for batch in _chunks(due):
            _stage_records(
                report,
                key=key,
                model=model,
                records=batch,
                end_of=attrgetter(end_field),
                stages_days=stages_days,
                expired_status=expired_status,
                # RM-3: a qualification renewed in time gets no more reminders.
                silent=_renewed([r.pk for r in batch]) if model is Qualification else (),
            )
    _lock_lifted(report, params, scope)
    return report


def _lock_lifted(report: RunReport, params: Any, scope: dict[str, Any]) -> None:
    """RM-2: one notice the day a long-term filing's lock lifts (late if missed)."""
    day = report.day
    # Every start whose lock has lifted by ``day`` (month-end clipping included).
    latest_start = rules.latest_start_before(day, params.long_term_lock_months)
    # By the dates: a filing still running on its lift day gets the notice, even if it was
    # cancelled or changed later, before a run that had been missed.
    candidates = (
        Filing.objects.filter(type=Filing.Type.LONG_TERM, start__lte=latest_start)
        .filter(**scope)
        .exclude(reminders__stage=rules.ReminderStage.LOCK_LIFTED)
        .select_related("patient")
    )
    for batch in _chunks(candidates):
        rows = []
        for filing in batch:
            lifts = rules.lock_lift_day(filing.start, params)
            if lifts > day or (filing.end is not None and filing.end <= lifts):
                continue
            rows.append(
                Reminder(
                    filing=filing,
                    patient=filing.patient,
                    bureau_id=filing.patient.bureau_id,
                    stage=rules.ReminderStage.LOCK_LIFTED,
                    due_on=lifts,
                    record_end=lifts,
                    status=Reminder.Status.PENDING,
                )
            )
        report.add(_insert(rows))


# --- the job --------------------------------------------------------------------------------


def run_job(day: dt.date, keep: bool = False) -> RunReport:
    """The daily job: due stages and expiries, deliveries for each new reminder, sent by
    the worker after commit (a rollback sends nothing). Recorded for the status page."""

    def deliver(created: list[Reminder]) -> None:
        delivery.enqueue(delivery.create_deliveries(created))

    run = JobRun.objects.create(day=day)
    with transaction.atomic():
        report = run_reminders(day, on_created=deliver, keep=keep)
        report.moves_reminded = remind_unanswered_moves(day)
    run.finished_at = timezone.now()
    run.summary = report.summary()[:300]
    run.save(update_fields=["finished_at", "summary"])
    return report


def remind_unanswered_moves(day: dt.date) -> int:
    """MV-1: a transfer request the owning bureau has not answered within MOVE_ANSWER_DAYS
    is reminded to that bureau's staff, once (marked in the same transaction, rows taken
    by one run at a time)."""
    days = parameters_on(day).move_answer_days
    due = (
        MoveRequest.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            status=MoveRequest.Status.PENDING,
            reminded_on__isnull=True,
            requested_on__lte=day - dt.timedelta(days=days),
        )
        .select_related("patient", "to_bureau")
    )
    moves = list(due)
    if not moves:
        return 0
    staff: dict[int, list[int]] = defaultdict(list)
    for user_id, bureau_id in User.objects.filter(
        bureau_id__in={m.from_bureau_id for m in moves},
        role__in=delivery.RECIPIENT_ROLES,
        is_active=True,
    ).values_list("pk", "bureau_id"):
        staff[bureau_id].append(user_id)
    notices = []
    for move in moves:
        patient = move.patient
        shown = f"{masking.mask_name(patient.name)}（{patient.masked_cert_number}）"
        for user_id in staff[move.from_bureau_id]:
            notices.append(
                Notification(
                    user_id=user_id,
                    patient=patient,
                    title=f"转入申请待答复：{shown}",
                    body=f"{move.to_bureau.name}于 {move.requested_on} 申请转入参保人{shown}，"
                    f"已超过 {days} 天未答复，请尽快接受或拒绝（MV-1）。",
                )
            )
        move.reminded_on = day
    Notification.objects.bulk_create(notices)
    MoveRequest.objects.bulk_update(moves, ["reminded_on"])
    return len(moves)


def check_patients(day: dt.date, patient_ids: list[int]) -> RunReport:
    """The same job for a few patients whose records just changed (the outbox)."""

    with transaction.atomic():
        report = run_reminders(day, patient_ids=patient_ids)
        delivery.enqueue(delivery.create_deliveries(report.created))
    return report
