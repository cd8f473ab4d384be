"""How the import engine writes a row's records once the row's cells are read.

Two writers take the same calls and reach the same conclusions:

- ``ServiceWriter`` calls the services a clerk's forms call, one row at a time, each row's
  writes in their own savepoint (the reference path, and the fallback);
- ``cases.imports.batch.BatchWriter`` keeps a group of patients' records in memory, asks
  the same pure rules (``cases.rules``) about each row, and writes the group at its end
  with ``COPY`` (the fast path).

A writer refuses a row by raising ``PolicyRefusal`` (a rule), ``RowRefused`` (a cell that
disagrees with what the rules computed) or ``DataError`` (a value the database cannot
hold); the engine turns each into the row's outcome.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from django.db import transaction
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from cases import access, rules
from cases.models import Filing, Patient, Qualification, Selection, TransferLetter
from cases.services import reminder_checks_batched, reminders_may_be_due
from cases.services.filings import filing_create
from cases.services.letters import letter_issue
from cases.services.patients import patient_register
from cases.services.qualifications import qualification_apply, qualification_approve
from cases.services.selections import selection_add, selection_end
from institutions.models import Disease, Institution, Region
from portal.models import Bureau, User

# --- where a history entry came from ----------------------------------------------------------

_origin: contextvars.ContextVar[str | None] = contextvars.ContextVar("import_origin", default=None)


@contextmanager
def origin(reason: str) -> Iterator[None]:
    """Within: every history entry written says it came from this import and row."""
    token = _origin.set(reason)
    try:
        yield
    finally:
        _origin.reset(token)


def change_reason(own: str = "") -> str:
    """The history's change reason for a write under ``origin``: the import and row,
    then the write's own reason (e.g. ID-1's conversion)."""
    reason = _origin.get()
    if reason:
        return f"{reason}；{own}" if own else reason
    return own


@receiver(pre_create_historical_record)
def _record_origin(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    """A record written by an import says so in its history: which import, which row."""
    if _origin.get():
        own = getattr(history_instance, "history_change_reason", None) or ""
        history_instance.history_change_reason = change_reason(own)


class RowRefused(Exception):
    def __init__(self, rule: str, message: str, column: str = "") -> None:
        self.rule, self.message, self.column = rule, message, column
        super().__init__(message)


# --- what makes a record the one a row describes (a re-import finds it) ---------------------------

Key = tuple[object, ...]


def qualification_key(
    patient: int, disease: int, status: str, decided_on: dt.date | None, applied_on: dt.date
) -> Key | None:
    """An approval by its date; an application waiting for review by its date."""
    if status in rules.HELD:
        return ("qualification", patient, disease, "approved", decided_on)
    if status == rules.QualificationStatus.SUBMITTED:
        return ("qualification", patient, disease, "submitted", applied_on)
    return None


def selection_key(patient: int, institution: int, start: dt.date) -> Key:
    return ("selection", patient, institution, start)


def filing_key(patient: int, type: str, destination: str, start: dt.date) -> Key:
    return ("filing", patient, type, destination, start)


def letter_keys(
    patient: int, serial: str, receiver: int, issued_on: dt.date, disease: int
) -> set[Key]:
    """A letter by its serial, or (a row without one) by receiver, issue date and disease."""
    return {("letter", patient, serial), ("letter", patient, receiver, issued_on, disease)}


# --- checks of cells against what the rules computed ---------------------------------------------


def check_given_validity(computed: dt.date | None, given: dt.date | None) -> None:
    """QL-3: an 有效期至 filled in must be the one the disease's validity gives."""
    if given is not None and given != computed:
        shown = f"{rules.last_day(computed)}" if computed else "长期有效（不填）"
        raise RowRefused("QL-3", f"按病种有效期计算，有效期至应为 {shown}。", "有效期至")


def check_given_letter_end(computed: dt.date, given: dt.date | None) -> None:
    """TL-4: a letter is valid for six months from its issue date."""
    if given is not None and given != computed:
        message = f"转诊证明有效期6个月，有效期至应为 {rules.last_day(computed)}。"
        raise RowRefused("TL-4", message, "有效期至")


# --- the writer's calls ------------------------------------------------------------------------


class Writer(Protocol):
    def start_group(self, patients: dict[str, Patient], rows: Sequence[Any]) -> set[Key]:
        """A group of patients begins; ``patients`` are the bureau's, by certificate.
        The natural keys of the records they already have."""

    def registered(self, cert_type: str, number: str) -> Patient | None:
        """The patient registered under this certificate at any bureau (ID-1)."""

    def register(
        self,
        *,
        cert_type: str,
        number: str,
        name: str,
        insurance_type: str,
        region: Region | None,
        phone: str,
        address: str,
    ) -> Patient: ...

    def qualification(
        self,
        *,
        patient: Patient,
        disease: Disease,
        applied_on: dt.date,
        institution: Institution | None,
        diagnosed: dt.date | None,
        doctor: str,
        decided_on: dt.date | None,
        valid_until: dt.date | None,
    ) -> None:
        """Apply; with ``decided_on``, approve too (by the reviewer)."""

    def selection(
        self,
        *,
        patient: Patient,
        institution: Institution,
        start: dt.date,
        end: dt.date | None,
        end_reason: str,
    ) -> list[str]:
        """Select, and end when ``end`` is given; the rules' notices."""

    def letter_by_serial(self, patient: Patient, serial: str) -> TransferLetter | None: ...

    def filing(
        self,
        *,
        patient: Patient,
        type: str,
        subtype: str,
        destination: Region,
        start: dt.date,
        end: dt.date | None,
        filed_on: dt.date,
        channel: str,
        materials: list[str],
        letter: TransferLetter | None,
    ) -> None: ...

    def letter(
        self,
        *,
        patient: Patient,
        disease: Disease,
        issuer: Institution,
        receiver: Institution,
        reason: str,
        issued_on: dt.date,
        serial: str,
        given_end: dt.date | None,
    ) -> TransferLetter: ...

    def finish_group(self) -> None:
        """The group's rows are done: write what is pending."""


def known_records(ids: list[int]) -> set[Key]:
    """The natural keys of what these patients (reached through the access layer) already
    have (four queries)."""
    if not ids:
        return set()

    def of(model: Any) -> Any:
        return access.under_patients(model.objects.all(), ids)

    known: set[Key] = set()
    for values in of(Qualification).values_list(
        "patient_id", "disease_id", "status", "decided_on", "applied_on"
    ):
        if (key := qualification_key(*values)) is not None:
            known.add(key)
    for values in of(Selection).values_list("patient_id", "institution_id", "start"):
        known.add(selection_key(*values))
    for values in of(Filing).values_list("patient_id", "type", "destination_id", "start"):
        known.add(filing_key(*values))
    for values in of(TransferLetter).values_list(
        "patient_id", "serial", "receiver_id", "issued_on", "disease_id"
    ):
        known |= letter_keys(*values)
    return known


@contextmanager
def row_savepoint() -> Iterator[None]:
    """A row's writes: rolled back if the row is refused, and so are the reminder checks
    its services asked for."""
    with transaction.atomic(), reminder_checks_batched() as due:
        yield
    for patient_id in due:
        reminders_may_be_due(patient_id)  # into the group's checks


class ServiceWriter:
    """Each row through the services, in its own savepoint: a refused row rolls back alone."""

    def __init__(self, *, user: User, reviewer: User, bureau: Bureau) -> None:
        self.user, self.reviewer, self.bureau = user, reviewer, bureau

    def start_group(self, patients: dict[str, Patient], rows: Sequence[Any]) -> set[Key]:
        return known_records([p.pk for p in patients.values()])

    def finish_group(self) -> None:
        pass

    def registered(self, cert_type: str, number: str) -> Patient | None:
        found = Patient.objects.filter(cert_type=cert_type, cert_number=number)
        return access.across_bureaus(found, "import: ID-1").first()

    def register(
        self,
        *,
        cert_type: str,
        number: str,
        name: str,
        insurance_type: str,
        region: Region | None,
        phone: str,
        address: str,
    ) -> Patient:
        with row_savepoint():
            return patient_register(
                by=self.user,
                bureau=self.bureau,
                cert_type=cert_type,
                cert_number=number,
                name=name,
                insurance_type=insurance_type,
                region_code=region.code if region else None,
                phone=phone,
                address=address,
            ).patient

    def qualification(
        self,
        *,
        patient: Patient,
        disease: Disease,
        applied_on: dt.date,
        institution: Institution | None,
        diagnosed: dt.date | None,
        doctor: str,
        decided_on: dt.date | None,
        valid_until: dt.date | None,
    ) -> None:
        with row_savepoint():
            qualification = qualification_apply(
                by=self.user,
                patient=patient,
                disease=disease,
                applied_on=applied_on,
                diagnosis_institution=institution,
                diagnosis_date=diagnosed,
                diagnosis_doctor=doctor,
            )
            if decided_on is not None:
                qualification = qualification_approve(
                    by=self.reviewer, qualification=qualification, decided_on=decided_on
                )
                check_given_validity(qualification.valid_until, valid_until)

    def selection(
        self,
        *,
        patient: Patient,
        institution: Institution,
        start: dt.date,
        end: dt.date | None,
        end_reason: str,
    ) -> list[str]:
        with row_savepoint():
            result = selection_add(
                by=self.user, patient=patient, institution=institution, start=start
            )
            if end is not None:
                selection_end(by=self.user, selection=result.selection, end=end, reason=end_reason)
        return result.notices

    def letter_by_serial(self, patient: Patient, serial: str) -> TransferLetter | None:
        return access.under_patient(TransferLetter.objects.filter(serial=serial), patient).first()

    def filing(
        self,
        *,
        patient: Patient,
        type: str,
        subtype: str,
        destination: Region,
        start: dt.date,
        end: dt.date | None,
        filed_on: dt.date,
        channel: str,
        materials: list[str],
        letter: TransferLetter | None,
    ) -> None:
        with row_savepoint():
            filing_create(
                by=self.user,
                patient=patient,
                type=type,
                subtype=subtype,
                destination=destination,
                start=start,
                end=end,
                filed_on=filed_on,
                channel=channel,
                materials=materials,
                transfer_letter=letter,
            )

    def letter(
        self,
        *,
        patient: Patient,
        disease: Disease,
        issuer: Institution,
        receiver: Institution,
        reason: str,
        issued_on: dt.date,
        serial: str,
        given_end: dt.date | None,
    ) -> TransferLetter:
        with row_savepoint():
            letter = letter_issue(
                by=self.user,
                patient=patient,
                disease=disease,
                issuer=issuer,
                receiver=receiver,
                reason=reason,
                issued_on=issued_on,
                serial=serial,
            )
            check_given_letter_end(letter.end, given_end)
        return letter
