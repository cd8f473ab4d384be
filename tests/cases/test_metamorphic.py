"""Metamorphic tests of POLICY.md's Dates principle: an answer for a date comes from the
records' dates alone.

Hypothesis generates histories of one patient — qualifications, selections (some ended),
temporary filings (some cancelled), a long-term filing, transfer letters — and enters
them on PostgreSQL through the services, each "as of" its own date:

1. in date order: the baseline. Records refused there are left out, so what remains is a
   history the rules accept as a whole;
2. in another order (records a later one depends on first: qualifications, then filings
   and letters, then selections; within each group the ended or cancelled ones by date,
   then the open-ended ones in random order): every record is accepted again, the
   stored periods are the same, and so is every settlement answer for every date;
3. in that other order with the daily job run at random points in between (on dates
   that only move forward): again every record is accepted and no answer changes.

Each history runs in savepoints that are rolled back.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import facts, rules
from cases.models import Filing, Patient, Qualification, Selection, TransferLetter
from cases.reminders import run_job
from cases.services import PolicyRefusal
from cases.services.filings import filing_cancel, filing_create
from cases.services.letters import letter_issue
from cases.services.patients import patient_register
from cases.services.qualifications import qualification_apply, qualification_approve
from cases.services.selections import selection_add, selection_end
from institutions.models import Disease, Institution, Region
from institutions.parameters import parameters_on
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = int(os.environ.get("METAMORPHIC_EXAMPLES", "200"))
ORIGIN = dt.date(2024, 1, 1)
SPAN = 720  # days of history
CHECK_EVERY = 30  # days between the dates whose settlement answers are compared
DISEASES = ("M03900", "M00201")  # open-ended, and 12 months (QL-3)
HOME = "H45120200001"  # in the patient's city, issues transfer letters
IN_CITY = ("H45120200001", "H45120200002", "H45120200003")
IN_REGION = ("H45010300001",)
GUANGZHOU = "H44010600001"  # cross-province: needs a filing or a letter (SL-4)
INSTITUTIONS = (*IN_CITY, *IN_REGION, GUANGZHOU)


def day(offset: int) -> dt.date:
    return ORIGIN + dt.timedelta(days=offset)


@dataclass(frozen=True)
class Record:
    kind: str  # qualification | selection | temporary | long_term | letter
    date: dt.date  # approval, start or issue
    what: str = ""  # disease, institution or destination
    until: dt.date | None = None  # selection end, or cancellation of a filing

    @property
    def group(self) -> int:
        """Entry order across groups: what a later record may depend on comes first."""
        return {"qualification": 0, "temporary": 1, "long_term": 1, "letter": 1}.get(self.kind, 2)


offsets = st.integers(min_value=0, max_value=SPAN)
qualification = st.builds(
    lambda d, o: Record("qualification", day(o), d), st.sampled_from(DISEASES), offsets
)
selection = st.builds(
    lambda i, o, length: Record(
        "selection", day(o), i, day(o + length) if length is not None else None
    ),
    st.sampled_from(INSTITUTIONS),
    offsets,
    st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
)
temporary = st.builds(
    lambda dest, o, cancel: Record(
        "temporary", day(o), dest, day(o + cancel) if cancel is not None else None
    ),
    st.sampled_from(["440100", "440300"]),
    offsets,
    st.one_of(st.none(), st.integers(min_value=0, max_value=200)),
)
long_term = st.builds(
    lambda o, cancel: Record(
        "long_term", day(o), "440100", day(o + cancel) if cancel is not None else None
    ),
    offsets,
    st.one_of(st.none(), st.integers(min_value=150, max_value=400)),
)
letter = st.builds(lambda o: Record("letter", day(o), "M03900"), offsets)
histories = st.tuples(
    st.lists(qualification, max_size=2, unique_by=lambda r: r.what),
    st.lists(selection, max_size=6),
    st.lists(temporary, max_size=3),
    st.lists(long_term, max_size=1),
    st.lists(letter, max_size=2),
).map(lambda parts: [r for part in parts for r in part])


@pytest.fixture
def world(clerk, reviewer, regions):
    Disease.objects.filter(code="M00201").update(validity="months", validity_months=12)
    factories.institution(HOME, level=3, transfer_issuer=True, networked=DISEASES)
    for code in IN_CITY[1:] + IN_REGION:
        factories.institution(code, networked=DISEASES)
    factories.institution(GUANGZHOU, level=3, cross_province=DISEASES)
    return {
        "clerk": clerk,
        "reviewer": reviewer,
        "institutions": {i.code: i for i in Institution.objects.filter(code__in=INSTITUTIONS)},
        "diseases": {d.code: d for d in Disease.objects.filter(code__in=DISEASES)},
        "regions": {r.code: r for r in Region.objects.filter(code__in=["440100", "440300"])},
    }


def enter(record: Record, patient: Patient, world: dict[str, Any]) -> bool:
    """Enter one paper record through the services; whether it was accepted."""
    clerk, reviewer = world["clerk"], world["reviewer"]
    try:
        with transaction.atomic(), facts.as_of(record.date):
            if record.kind == "qualification":
                applied = qualification_apply(
                    by=clerk,
                    patient=patient,
                    disease=world["diseases"][record.what],
                    applied_on=record.date,
                    diagnosis_institution=world["institutions"][HOME],
                    diagnosis_date=record.date,
                    diagnosis_doctor="李医生",
                )
                qualification_approve(by=reviewer, qualification=applied, decided_on=record.date)
            elif record.kind == "selection":
                made = selection_add(
                    by=clerk,
                    patient=patient,
                    institution=world["institutions"][record.what],
                    start=record.date,
                ).selection
                if record.until is not None:
                    with facts.as_of(record.until):
                        selection_end(by=clerk, selection=made, end=record.until, reason="变更")
            elif record.kind in ("temporary", "long_term"):
                subtype = "other" if record.kind == "temporary" else "retired_resettled"
                filed = filing_create(
                    by=clerk,
                    patient=patient,
                    type=record.kind,
                    subtype=subtype,
                    destination=world["regions"][record.what],
                    start=record.date,
                    filed_on=record.date,
                    materials=rules.materials_for(subtype),
                )
                if record.until is not None:
                    with facts.as_of(record.until):
                        filing_cancel(by=clerk, filing=filed, day=record.until)
            else:
                letter_issue(
                    by=clerk,
                    patient=patient,
                    disease=world["diseases"][record.what],
                    issuer=world["institutions"][HOME],
                    receiver=world["institutions"][GUANGZHOU],
                    reason="technical",
                    issued_on=record.date,
                )
    except PolicyRefusal:
        return False
    return True


def stored(patient: Patient) -> dict[str, list[tuple[Any, ...]]]:
    """The records' dates as stored (not their ids, slot numbers or the job's marks)."""
    return {
        "qualifications": sorted(
            Qualification.objects.filter(patient=patient).values_list(
                "disease_id", "valid_from", "valid_until"
            )
        ),
        "selections": sorted(
            Selection.objects.filter(patient=patient).values_list("institution_id", "start", "end")
        ),
        "filings": sorted(
            (t, d, s, e or dt.date.max)
            for t, d, s, e in Filing.objects.filter(patient=patient).values_list(
                "type", "destination_id", "start", "end"
            )
        ),
        "letters": sorted(
            TransferLetter.objects.filter(patient=patient).values_list("issued_on", "end")
        ),
    }


def answers(patient: Patient, world: dict[str, Any]) -> dict[tuple[Any, ...], Any]:
    """Every settlement answer for every checked date, institution and disease: the
    facts are read once and the pure rules (rules.check_settlement, what the settlement
    check evaluates) asked for each date."""
    patient = Patient.objects.select_related("region").get(pk=patient.pk)
    qualifications = facts.qualification_facts(
        Qualification.objects.filter(patient=patient).select_related("disease")
    )
    selections = facts.selection_facts(
        Selection.objects.filter(patient=patient).select_related("institution")
    )
    bases = facts.patient_bases(patient)
    prefecture = facts.patient_prefecture(patient)
    institutions = {
        code: facts.institution_facts(facts.require_institution(i.pk))
        for code, i in world["institutions"].items()
    }
    diseases = {code: facts.disease_facts(d) for code, d in world["diseases"].items()}
    found = {}
    for offset in range(0, SPAN + 400, CHECK_EVERY):
        when = day(offset)
        params = parameters_on(when)
        for code, institution in institutions.items():
            for disease_code, disease in diseases.items():
                answer = rules.check_settlement(
                    day=when,
                    disease=disease,
                    institution=institution,
                    patient_prefecture=prefecture,
                    qualifications=[q for q in qualifications if q.disease == disease_code],
                    selections=[s for s in selections if s.institution == code],
                    bases=bases,
                    params=params,
                )
                found[(when, code, disease_code)] = (
                    answer.outcome,
                    sorted(v.rule for v in answer.failed),
                )
    return found


def replay(
    records: list[Record], world: dict[str, Any], jobs: list[dt.date] = ()
) -> tuple[list[bool], dict[str, Any], dict[tuple[Any, ...], Any]]:
    """Enter ``records`` in this order for a new patient (running the daily job on each
    of ``jobs`` after the record at the same index), and read back what was stored and
    every answer; all in a savepoint that is rolled back."""
    with transaction.atomic():
        with facts.as_of(ORIGIN):
            patient = patient_register(
                by=world["clerk"],
                cert_type="resident_id",
                cert_number="451202198001011233",
                name="韦示例",
                insurance_type="390",
                today=ORIGIN,
            ).patient
        accepted = []
        for index, record in enumerate(records):
            accepted.append(enter(record, patient, world))
            if index < len(jobs):
                with facts.as_of(jobs[index]):
                    run_job(jobs[index], keep=True)
        result = accepted, stored(patient), answers(patient, world)
        transaction.set_rollback(True)
    return result


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories, seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_answers_follow_dates_not_entry_order_or_the_daily_job(world, history, seed):
    chronological = sorted(history, key=lambda r: (r.date, r.group, r.kind, r.what))
    accepted, baseline_stored, baseline = replay(chronological, world)
    consistent = [r for r, ok in zip(chronological, accepted, strict=True) if ok]

    rng = random.Random(seed)
    # An ended selection or cancelled filing is entered as a clerk enters one from paper:
    # made open-ended on its start, then ended. Made open-ended it may meet a record
    # that only its final period avoids, so within each group those go first, by date;
    # every open-ended record is then entered in any order.
    shuffled = sorted(
        consistent,
        key=lambda r: (r.group, r.until is None, r.date if r.until else day(rng.randrange(SPAN))),
    )
    again, shuffled_stored, shuffled_answers = replay(shuffled, world)
    assert all(again), [r for r, ok in zip(shuffled, again, strict=True) if not ok]
    assert shuffled_stored == baseline_stored
    assert shuffled_answers == baseline

    jobs = sorted(day(rng.randrange(0, SPAN + 400)) for _ in shuffled)
    with_jobs, _, job_answers = replay(shuffled, world, jobs)
    assert all(with_jobs), [r for r, ok in zip(shuffled, with_jobs, strict=True) if not ok]
    assert job_answers == baseline
