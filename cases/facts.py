"""Plain facts for the rules module, read from the database in a few queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import Prefetch
from django.utils import timezone

from cases import access, rules
from cases.models import Filing, InsuredPeriod, Patient, Qualification, Selection, TransferLetter
from institutions.models import Disease, Institution, NetworkedSettlement, Region


def institution_facts(institution: Institution) -> rules.InstitutionFacts:
    """Needs the institution's location (select_related) and, for settlement, its
    networked settlements prefetched as ``networked_settlements``."""
    settlements = list(institution.networked_settlements.all())
    return rules.InstitutionFacts(
        code=institution.code,
        county=institution.location_id,
        prefecture=institution.location.prefecture_id or institution.location_id,
        level=institution.level,
        designated=institution.designated,
        designated_from=institution.designated_from,
        designated_until=institution.designated_until,
        transfer_issuer=institution.transfer_issuer,
        networked_in_region=frozenset(s.disease.code for s in settlements if s.in_region),
        networked_cross_province=frozenset(s.disease.code for s in settlements if s.cross_province),
    )


# Reference data kept while a long run reads it over and over (an import): institutions
# and diseases do not change under it. None: read each time, as requests do.
_reference: ContextVar[dict[tuple[str, int], object] | None] = ContextVar(
    "facts_reference", default=None
)


@contextmanager
def reference_kept() -> Iterator[None]:
    """Within: each institution and disease is read from the database once."""
    token = _reference.set({})
    try:
        yield
    finally:
        _reference.reset(token)


def require_institution(pk: int) -> Institution:
    """An institution with what the rules need: location and networked lists."""
    kept = _reference.get()
    if kept is not None and ("institution", pk) in kept:
        return kept["institution", pk]  # type: ignore[return-value]
    institution = (
        Institution.objects.select_related("location")
        .prefetch_related(_networked_prefetch())
        .get(pk=pk)
    )
    if kept is not None:
        kept["institution", pk] = institution
    return institution


def _networked_prefetch() -> Prefetch[str]:
    return Prefetch(
        "networked_settlements",
        queryset=NetworkedSettlement.objects.select_related("disease"),
    )


def disease_facts(disease: Disease) -> rules.DiseaseFacts:
    kept = _reference.get()
    if kept is not None and ("disease", disease.pk) in kept:
        return kept["disease", disease.pk]  # type: ignore[return-value]
    facts = _disease_facts(disease)
    if kept is not None:
        kept["disease", disease.pk] = facts
    return facts


def _disease_facts(disease: Disease) -> rules.DiseaseFacts:
    return rules.DiseaseFacts(
        code=disease.code,
        name=disease.name,
        active=disease.active,
        cross_province=disease.cross_province,
        validity=disease.validity,
        validity_months=disease.validity_months,
        for_employee=disease.for_employee,
        for_resident=disease.for_resident,
        exclusive_with=frozenset(d.code for d in disease.exclusive_with.all()),
        **disease.catalogue_facts(),  # type: ignore[arg-type]
    )


def region_facts(region: Region | None) -> rules.RegionFacts | None:
    if region is None:
        return None
    return rules.RegionFacts(region.code, region.level, region.active)


def patient_prefecture(patient: Patient, day: dt.date | None = None) -> str:
    """The prefecture of the patient's insured county; on ``day``, of the county in force
    then (MV-6). The history is read only for a day before the latest move or after a
    move out of Guangxi: any other day is the current county's."""
    span = _span_on(patient, day)
    if span is not None:
        return span.prefecture
    return patient.region.prefecture_id or patient.region_id


def patient_county(patient: Patient, day: dt.date | None = None) -> str:
    """The patient's insured county; on ``day``, the one in force then (MV-6)."""
    span = _span_on(patient, day)
    return span.county if span is not None else patient.region_id


def _span_on(patient: Patient, day: dt.date | None) -> rules.InsuredSpan | None:
    if day is None or _current_on(patient, day):
        return None
    return rules.insured_on(insured_spans(patient), day)


def _current_on(patient: Patient, day: dt.date) -> bool:
    since, out = patient.insured_since, patient.moved_out_on
    return (since is None or day >= since) and (out is None or day < out)


def insured_spans(patient: Patient) -> list[rules.InsuredSpan]:
    periods = access.under_patient(InsuredPeriod.objects.select_related("region"), patient)
    return [
        rules.InsuredSpan(
            county=p.region_id,
            prefecture=p.region.prefecture_id or p.region_id,
            start=p.start,
            end=p.end,
        )
        for p in periods
    ]


def qualification_facts(qualifications: Iterable[Qualification]) -> list[rules.QualificationFacts]:
    return [
        rules.QualificationFacts(
            id=q.pk,
            disease=q.disease.code,
            status=q.status,
            applied_on=q.applied_on,
            valid_from=q.valid_from,
            valid_until=q.valid_until,
        )
        for q in qualifications
    ]


def patient_qualifications(patient: Patient) -> list[rules.QualificationFacts]:
    return qualification_facts(
        access.under_patient(Qualification.objects.select_related("disease"), patient)
    )


def selection_facts(selections: Iterable[Selection]) -> list[rules.SelectionFacts]:
    return [
        rules.SelectionFacts(
            id=s.pk,
            institution=s.institution.code,
            slot=s.slot,
            period=rules.Period(s.start, s.end),
        )
        for s in selections
    ]


def patient_selections(patient: Patient) -> list[rules.SelectionFacts]:
    return selection_facts(
        access.under_patient(Selection.objects.select_related("institution"), patient)
    )


def filing_fact(filing: Filing) -> rules.FilingFacts:
    return rules.FilingFacts(
        id=filing.pk,
        kind="filing",
        type=filing.type,
        destination=filing.destination_id,
        period=rules.Period(filing.start, filing.end),
        status=filing.status,
    )


def letter_fact(letter: TransferLetter) -> rules.FilingFacts | None:
    """The letter as a filing (TL-5), when it is cross-province; needs receiver__location."""
    location = letter.receiver.location
    return rules.letter_as_filing(
        letter_id=letter.pk,
        receiver_county=location.code,
        receiver_prefecture=location.prefecture_id or location.code,
        period=rules.Period(letter.issued_on, letter.end),
    )


def patient_bases(patient: Patient, *, include_letters: bool = True) -> list[rules.FilingFacts]:
    """Every filing, and every cross-province transfer letter, of the patient."""
    bases = [filing_fact(f) for f in access.under_patient(Filing.objects.all(), patient)]
    if include_letters:
        letters = access.under_patient(
            TransferLetter.objects.select_related("receiver__location"), patient
        )
        bases += [basis for letter in letters if (basis := letter_fact(letter)) is not None]
    return bases


_today_override: ContextVar[dt.date | None] = ContextVar("today_override", default=None)


def today() -> dt.date:
    """Today in Asia/Shanghai (the project's time zone), unless a caller such as the
    scenario runner or the reminder command runs "as of" another date."""
    override = _today_override.get()
    if override is not None:
        return override

    return timezone.localdate()


@contextmanager
def as_of(day: dt.date) -> Iterator[None]:
    token = _today_override.set(day)
    try:
        yield
    finally:
        _today_override.reset(token)
