"""Writes on case records: one keyword-only, atomic function per action.

Every service validates through cases.rules and refuses with *every* violated rule
(PolicyRefusal), leaving the database unchanged; every save records a history entry
with the acting user.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import models

from cases import access
from cases.models import Patient, ReminderCheck
from cases.rules import Violation
from cases.tasks import check_patient_reminders, check_reminders_of
from portal.models import User
from portal.queue import enqueue_on_commit


class PolicyRefusal(Exception):
    """A request that breaks one or more policy rules; nothing was saved."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__("；".join(str(v) for v in self.violations))

    @property
    def rules(self) -> list[str]:
        return [v.rule for v in self.violations]


def refuse_if(violations: Sequence[Violation]) -> None:
    if violations:
        raise PolicyRefusal(violations)


def lock_patient(patient: Patient | int, by: User, *related: str) -> Patient:
    """The patient's row, locked for this write: writes on one case are serialised. A user
    of a bureau that no longer keeps the case (it moved while the page was open, MV-1) is
    refused; a data administrator importing for a bureau has no bureau of their own."""
    rows = access.under_patient(
        Patient.objects.select_for_update().select_related(*related), patient
    )
    try:
        locked = rows.get()
    except Patient.DoesNotExist:
        # Waiting for the lock, PostgreSQL rechecks the join against the row's new version:
        # a move committed meanwhile changed its county, so the joined row no longer
        # matches. Read it again, as it is now.
        locked = rows.all().get()
    if by.bureau_id is not None and locked.bureau_id != by.bureau_id:
        raise PolicyRefusal([Violation("MV-1", "该参保人已转由其他经办机构经办，请刷新后重试。")])
    return locked


def save_as(instance: models.Model, by: User, **kwargs: Any) -> None:
    """Save with the acting user on the history record (requests set it too; commands,
    tasks and the scenario runner rely on this)."""
    instance._history_user = by  # type: ignore[attr-defined]
    instance.save(**kwargs)


# Patients whose reminders a batch (an import) checks once at its end; None: each write
# records its own check, as requests do.
_batched: ContextVar[set[int] | None] = ContextVar("reminder_checks_batched", default=None)


@contextmanager
def reminder_checks_batched() -> Iterator[set[int]]:
    """Within: reminders_may_be_due only notes the patient; the caller records the checks
    (``record_reminder_checks``) when its transaction is about to commit."""
    noted: set[int] = set()
    token = _batched.set(noted)
    try:
        yield noted
    finally:
        _batched.reset(token)


def record_reminder_checks(patient_ids: set[int]) -> None:
    """One reminder check per patient, in the caller's transaction (the outbox below), and
    one task for them all."""
    ids = sorted(patient_ids)
    if not ids:
        return
    ReminderCheck.objects.bulk_create([ReminderCheck(patient_id=pk) for pk in ids])
    enqueue_on_commit(check_reminders_of, ids)


def reminders_may_be_due(patient_id: int) -> None:
    """A dated record changed: check the patient's reminders once this commits.

    The ReminderCheck row is written in the same transaction (a transactional outbox), so
    a broker outage cannot lose it: the save succeeds, and the periodic sweep sends the
    check once the broker is back.
    """

    batched = _batched.get()
    if batched is not None:
        batched.add(patient_id)
        return
    ReminderCheck.objects.create(patient_id=patient_id)
    enqueue_on_commit(check_patient_reminders, patient_id)
