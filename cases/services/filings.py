"""Cross-province filings (跨省异地就医备案): create, cancel, change (FL-1..10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from cases import access, facts, rules
from cases.models import Filing, Patient, TransferLetter
from cases.services import (
    PolicyRefusal,
    lock_patient,
    refuse_if,
    reminders_may_be_due,
    save_as,
)
from institutions.models import Region
from institutions.parameters import parameters_on
from portal.models import User


def _letter_facts(letter: TransferLetter | None, patient: Patient) -> rules.LetterFacts | None:
    if letter is None:
        return None
    receiver = facts.require_institution(letter.receiver_id)
    return rules.LetterFacts(
        id=letter.pk,
        patient_matches=letter.patient_id == patient.pk,
        receiver=facts.institution_facts(receiver),
        period=rules.Period(letter.issued_on, letter.end),
    )


@transaction.atomic
def filing_create(
    *,
    by: User,
    patient: Patient,
    type: str,
    subtype: str,
    destination: Region | None,
    start: dt.date,
    end: dt.date | None = None,
    filed_on: dt.date | None = None,
    channel: str = "window",
    agent: rules.Agent | None = None,
    materials: Iterable[str] = (),
    transfer_letter: TransferLetter | None = None,
    treatment_start: dt.date | None = None,
) -> Filing:
    """Record a filing. A temporary filing ends at start + 6 months unless a later end is
    given (FL-3); a start before the filing date makes it a late filing (FL-7)."""
    patient = lock_patient(patient, by)
    filed_on = filed_on or facts.today()
    agent = agent or rules.Agent()
    request = rules.FilingRequest(
        type=type,
        subtype=subtype,
        destination=facts.region_facts(destination),
        start=start,
        end=end,
        filed_on=filed_on,
        channel=channel,
        agent=agent,
        materials=frozenset(materials),
        letter=_letter_facts(transfer_letter, patient),
    )
    check = rules.check_filing(
        request,
        existing=facts.patient_bases(patient, include_letters=False),
        params=parameters_on(start),
    )
    refuse_if(check.violations + rules.check_not_moved_out(patient.moved_out_on is not None))
    assert destination is not None  # noqa: S101 - FL-1 refuses a missing destination
    filing = Filing(
        patient=patient,
        type=type,
        subtype=subtype,
        destination=destination,
        start=check.start,
        end=check.end,
        filed_on=filed_on,
        retroactive=check.retroactive,
        treatment_start=treatment_start or (check.start if check.retroactive else None),
        channel=channel,
        agent_name=agent.name,
        agent_cert_number=agent.cert_number,
        agent_phone=agent.phone,
        agent_relation=agent.relation,
        materials=sorted(set(materials)),
        transfer_letter=transfer_letter if subtype == "transfer" else None,
        created_by=by,
    )
    try:
        with transaction.atomic():
            save_as(filing, by)
    except IntegrityError as exc:
        raise PolicyRefusal(
            [rules.Violation("FL-8", "与参保人已有的备案冲突，请刷新后重试。")]
        ) from exc
    reminders_may_be_due(patient.pk)
    return filing


def _end_filing(filing: Filing, *, by: User, day: dt.date, status: str, reason: str) -> None:
    filing.status = status
    filing.cancelled_on = day
    filing.cancel_reason = reason.strip()[:200]
    # FL-10: the cancellation date becomes the end date (never lengthening a filing).
    if filing.end is None or day < filing.end:
        filing.end = max(day, filing.start)
    save_as(filing, by)


@transaction.atomic
def filing_cancel(*, by: User, filing: Filing, day: dt.date, reason: str = "") -> Filing:
    lock_patient(filing.patient_id, by)
    filing = access.under_patient(Filing.objects.all(), filing.patient_id).get(pk=filing.pk)
    refuse_if(
        rules.check_filing_cancel(
            type=filing.type,
            status=filing.status,
            start=filing.start,
            end=filing.end,
            day=day,
            params=parameters_on(day),
        )
    )
    _end_filing(filing, by=by, day=day, status=Filing.Status.CANCELLED, reason=reason or "取消备案")
    return filing


@transaction.atomic
def filing_change(
    *,
    by: User,
    filing: Filing,
    day: dt.date,
    destination: Region | None,
    subtype: str | None = None,
    materials: Iterable[str] = (),
    reason: str = "",
    channel: str = "window",
    agent: rules.Agent | None = None,
) -> Filing:
    """Change a filing (e.g. a new destination): the old one ends as CHANGED on ``day``
    and a new one starts that day. FL-4: a long-term filing only after its lock."""
    lock_patient(filing.patient_id, by)
    filing = access.under_patient(Filing.objects.all(), filing.patient_id).get(pk=filing.pk)
    refuse_if(
        rules.check_filing_cancel(
            type=filing.type,
            status=filing.status,
            start=filing.start,
            end=filing.end,
            day=day,
            params=parameters_on(day),
            action="变更",
        )
    )
    _end_filing(filing, by=by, day=day, status=Filing.Status.CHANGED, reason=reason or "变更备案")
    new = filing_create(
        by=by,
        patient=filing.patient,
        type=filing.type,
        subtype=subtype or filing.subtype,
        destination=destination,
        start=day,
        filed_on=day,
        channel=channel,
        agent=agent,
        materials=materials,
        transfer_letter=filing.transfer_letter,
    )
    filing.replaced_by = new
    save_as(filing, by, update_fields=["replaced_by"])
    return new
