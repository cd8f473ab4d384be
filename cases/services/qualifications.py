"""Qualifications (门特资格认定): apply, approve, reject, cancel (QL-1..5)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from cases import access, facts, rules
from cases.models import Patient, Qualification
from cases.services import (
    PolicyRefusal,
    lock_patient,
    refuse_if,
    reminders_may_be_due,
    save_as,
)
from institutions.models import Disease, Institution
from institutions.parameters import parameters_on
from portal.models import User


def _lock(patient: Patient, by: User) -> Patient:
    # Serialises writes on one patient's case so concurrent checks see each other.
    return lock_patient(patient, by, "region")


@transaction.atomic
def qualification_apply(
    *,
    by: User,
    patient: Patient,
    disease: Disease,
    applied_on: dt.date,
    diagnosis_institution: Institution | None,
    diagnosis_date: dt.date | None,
    diagnosis_doctor: str,
    channel: str = "window",
    agent: rules.Agent | None = None,
) -> Qualification:
    """Record a SUBMITTED application; a renewal when an approval ends within RM-3's window."""
    patient = _lock(patient, by)
    agent = agent or rules.Agent()
    params = parameters_on(applied_on)
    existing = facts.patient_qualifications(patient)
    violations = rules.check_application(
        disease=facts.disease_facts(disease),
        insurance_type=patient.insurance_type,
        applied_on=applied_on,
        diagnosis_date=diagnosis_date,
        diagnosis_institution=diagnosis_institution.code if diagnosis_institution else None,
        diagnosis_doctor=diagnosis_doctor,
        existing=existing,
        params=params,
        today=facts.today(),
        birth_date=patient.birth_date,
    )
    violations += rules.check_agent(channel, agent)
    violations += rules.check_not_moved_out(patient.moved_out_on is not None)
    refuse_if(violations)
    renewed = rules.renewal_target(disease.code, applied_on, existing, params)
    assert diagnosis_date is not None  # noqa: S101 - QL-5 refused a missing date
    assert diagnosis_institution is not None  # noqa: S101 - QL-5 refused a missing one
    qualification = Qualification(
        patient=patient,
        disease=disease,
        applied_on=applied_on,
        diagnosis_institution=diagnosis_institution,
        diagnosis_date=diagnosis_date,
        diagnosis_doctor=diagnosis_doctor.strip(),
        recorded_by=by,
        channel=channel,
        agent_name=agent.name,
        agent_cert_number=agent.cert_number,
        agent_phone=agent.phone,
        agent_relation=agent.relation,
        renewal_of_id=renewed.id if renewed else None,
    )
    save_as(qualification, by)
    return qualification


def _decision_violations(
    qualification: Qualification, by: User, decided_on: dt.date
) -> list[rules.Violation]:
    return rules.check_decision(
        status=qualification.status,
        applied_on=qualification.applied_on,
        decided_on=decided_on,
        recorded_by=qualification.recorded_by_id,
        reviewer=by.pk,
        today=facts.today(),
    )


@transaction.atomic
def qualification_approve(
    *, by: User, qualification: Qualification, decided_on: dt.date, note: str = ""
) -> Qualification:
    """QL-1 four-eyes approval; computes the validity (QL-3), refuses overlaps (QL-2, QL-4)."""
    patient = _lock(qualification.patient, by)
    qualification = access.under_patient(
        Qualification.objects.select_related("disease", "renewal_of"), patient
    ).get(pk=qualification.pk)
    disease = facts.disease_facts(qualification.disease)
    existing = facts.patient_qualifications(patient)
    renewed = next((q for q in existing if q.id == qualification.renewal_of_id), None)
    if renewed is not None and not renewed.held:
        renewed = None
    period = rules.approval_period(disease=disease, decided_on=decided_on, renewed=renewed)
    violations = _decision_violations(qualification, by, decided_on)
    violations += rules.check_approval(
        disease=disease, qualification_id=qualification.pk, period=period, existing=existing
    )
    refuse_if(violations)
    qualification.status = Qualification.Status.APPROVED
    qualification.reviewed_by = by
    qualification.decided_on = decided_on
    qualification.decision_note = note.strip()[:200]
    qualification.valid_from = period.start
    qualification.valid_until = period.end
    try:
        with transaction.atomic():
            save_as(qualification, by)
    except IntegrityError as exc:
        raise PolicyRefusal(
            [rules.Violation("QL-2", "同一病种不能同时有两个有效的认定资格。")]
        ) from exc
    if qualification.valid_until is not None:
        reminders_may_be_due(patient.pk)
    return qualification


@transaction.atomic
def qualification_reject(
    *, by: User, qualification: Qualification, decided_on: dt.date, reason: str
) -> Qualification:
    _lock(qualification.patient, by)
    qualification = access.under_patient(Qualification.objects.all(), qualification.patient_id).get(
        pk=qualification.pk
    )
    violations = _decision_violations(qualification, by, decided_on)
    violations += rules.check_rejection(reason)
    refuse_if(violations)
    qualification.status = Qualification.Status.REJECTED
    qualification.reviewed_by = by
    qualification.decided_on = decided_on
    qualification.decision_note = reason.strip()[:200]
    save_as(qualification, by)
    return qualification


@transaction.atomic
def qualification_cancel(
    *, by: User, qualification: Qualification, day: dt.date, reason: str
) -> Qualification:
    """QL-1: an APPROVED qualification may be cancelled; it ends on ``day``."""
    _lock(qualification.patient, by)
    qualification = access.under_patient(Qualification.objects.all(), qualification.patient_id).get(
        pk=qualification.pk
    )
    refuse_if(
        rules.check_cancellation(
            status=qualification.status,
            valid_from=qualification.valid_from,
            valid_until=qualification.valid_until,
            day=day,
            reason=reason,
        )
    )
    qualification.status = Qualification.Status.CANCELLED
    if qualification.valid_until is None or day < qualification.valid_until:
        qualification.valid_until = day
    qualification.decision_note = reason.strip()[:200]
    save_as(qualification, by)
    return qualification
