"""Transfer letters (转诊证明): issue (TL-1..5)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from cases import access, facts, rules
from cases.models import Patient, TransferLetter
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


def next_serial(patient: Patient, issued_on: dt.date) -> str:
    """TL-4's next serial for the patient's county and the issue date."""
    county = facts.patient_county(patient, issued_on)  # the insured county then (MV-6)
    prefix = rules.serial_prefix(county, issued_on)
    count = access.across_bureaus(
        TransferLetter.objects.filter(serial__startswith=prefix), "TL-4 serials"
    ).count()
    return rules.next_serial(county, issued_on, count)


@transaction.atomic
def letter_issue(
    *,
    by: User,
    patient: Patient,
    disease: Disease,
    issuer: Institution,
    receiver: Institution,
    reason: str,
    issued_on: dt.date,
    reason_text: str = "",
    serial: str = "",
) -> TransferLetter:
    patient = lock_patient(patient, by, "region")
    params = parameters_on(issued_on)
    issuer_loaded = facts.require_institution(issuer.pk)
    receiver_loaded = facts.require_institution(receiver.pk)
    violations = rules.check_letter(
        patient_prefecture=facts.patient_prefecture(patient, issued_on),
        issuer=facts.institution_facts(issuer_loaded),
        receiver=facts.institution_facts(receiver_loaded),
        reason=reason,
        reason_text=reason_text,
        issued_on=issued_on,
        disease=disease.code,
        qualifications=facts.patient_qualifications(patient),
        params=params,
        today=facts.today(),
    )
    serial = serial.strip() or next_serial(patient, issued_on)
    taken = access.across_bureaus(TransferLetter.objects.filter(serial=serial), "TL-4 serials")
    violations += rules.check_serial(taken=taken.exists())
    violations += rules.check_not_moved_out(patient.moved_out_on is not None)
    refuse_if(violations)
    period = rules.letter_period(issued_on, params)
    letter = TransferLetter(
        serial=serial,
        patient=patient,
        disease=disease,
        issuer=issuer_loaded,
        receiver=receiver_loaded,
        reason=reason,
        reason_text=reason_text.strip()[:200],
        issued_on=issued_on,
        end=period.end or issued_on,
        created_by=by,
    )
    try:
        with transaction.atomic():
            save_as(letter, by)
    except IntegrityError as exc:
        raise PolicyRefusal(
            [rules.Violation("TL-4", "转诊证明编号已存在，请重试。", "serial")]
        ) from exc
    reminders_may_be_due(patient.pk)
    return letter
