"""Selected institutions (选点): add and end (SL-1..6)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from cases import access, facts, rules
from cases.models import Filing, Patient, Selection, TransferLetter
from cases.services import PolicyRefusal, lock_patient, refuse_if, save_as
from institutions.models import Institution
from institutions.parameters import parameters_on
from portal.models import User


@dataclass
class SelectionResult:
    selection: Selection
    notices: list[str] = field(default_factory=list)


@transaction.atomic
def selection_add(
    *, by: User, patient: Patient, institution: Institution, start: dt.date
) -> SelectionResult:
    """Select an institution from ``start`` (open-ended); the scope is computed (SL-3)."""
    # The lock serialises concurrent selections of one patient (SL-1); the database's
    # count trigger (migration 0008) is the backstop on every other write path.
    patient = lock_patient(patient, by, "region")
    loaded = facts.require_institution(institution.pk)
    check = rules.check_selection(
        patient_prefecture=facts.patient_prefecture(patient, start),
        institution=facts.institution_facts(loaded),
        start=start,
        existing=facts.patient_selections(patient),
        bases=facts.patient_bases(patient),
        params=parameters_on(start),
    )
    refuse_if(check.violations + rules.check_not_moved_out(patient.moved_out_on is not None))
    selection = Selection(
        patient=patient,
        institution=loaded,
        slot=check.slot,
        start=start,
        scope=check.scope,
        created_by=by,
    )
    if check.basis is not None:
        if check.basis.kind == "filing":
            selection.basis_filing = access.under_patient(Filing.objects.all(), patient).get(
                pk=check.basis.id
            )
        else:
            selection.basis_letter = access.under_patient(
                TransferLetter.objects.all(), patient
            ).get(pk=check.basis.id)
    try:
        with transaction.atomic():
            save_as(selection, by)
    except IntegrityError as exc:
        raise PolicyRefusal(
            [
                rules.Violation(
                    "SL-1", "选点机构已达上限或该机构已被选择，请刷新后重试。", "institution"
                )
            ]
        ) from exc
    return SelectionResult(selection, check.notices)


@transaction.atomic
def selection_end(*, by: User, selection: Selection, end: dt.date, reason: str) -> Selection:
    """End a selection on ``end`` (the first day it no longer applies) with a reason (SL-6)."""
    lock_patient(selection.patient_id, by)
    selection = access.under_patient(Selection.objects.all(), selection.patient_id).get(
        pk=selection.pk
    )
    refuse_if(
        rules.check_selection_end(
            start=selection.start, current_end=selection.end, end=end, reason=reason
        )
    )
    selection.end = end
    selection.end_reason = reason.strip()[:200]
    save_as(selection, by)
    return selection
