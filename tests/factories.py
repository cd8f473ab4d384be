"""Test data made through the portal's own services (factories in one place)."""

from __future__ import annotations

import datetime as dt
import itertools

from cases import facts
from cases.models import Patient, Qualification
from cases.rules import resident_id_check_char
from cases.services.patients import patient_register
from cases.services.qualifications import qualification_apply, qualification_approve
from institutions.models import Disease, Institution, NetworkedSettlement
from portal.models import User

_serial = itertools.count(1)


def resident_id(prefix: str = "451202", birth: str = "19800101") -> str:
    body = f"{prefix}{birth}{next(_serial) % 1000:03d}"
    return body + resident_id_check_char(body)


def institution(
    code: str,
    *,
    level: int = 2,
    networked: tuple[str, ...] = (),
    cross_province: tuple[str, ...] = (),
    transfer_issuer: bool = False,
    **extra: object,
) -> Institution:
    obj, _ = Institution.objects.update_or_create(
        code=code,
        defaults={
            "name": f"示例医院{code[-5:]}",
            "location_id": code[1:7],
            "level": level,
            "transfer_issuer": transfer_issuer,
            **extra,
        },
    )
    for disease_code in set(networked) | set(cross_province):
        NetworkedSettlement.objects.update_or_create(
            institution=obj,
            disease=Disease.objects.get(code=disease_code),
            defaults={
                "in_region": disease_code in networked,
                "cross_province": disease_code in cross_province,
            },
        )
    return obj


def patient(clerk: User, *, name: str = "韦示例", day: dt.date = dt.date(2025, 1, 2)) -> Patient:
    return patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number=resident_id(clerk.bureau.county_id),
        name=name,
        insurance_type="390",
        today=day,
    ).patient


def qualification(
    clerk: User,
    reviewer: User,
    patient: Patient,
    disease: str = "M03900",
    day: dt.date = dt.date(2025, 1, 2),
) -> Qualification:
    code = f"H{patient.region_id}00001"
    diagnosing = Institution.objects.filter(code=code).first() or institution(code, level=3)
    with facts.as_of(day):
        applied = qualification_apply(
            by=clerk,
            patient=patient,
            disease=Disease.objects.get(code=disease),
            applied_on=day,
            diagnosis_institution=diagnosing,
            diagnosis_date=day,
            diagnosis_doctor="李医生",
        )
        return qualification_approve(by=reviewer, qualification=applied, decided_on=day)


def case_file(clerk: User, reviewer: User, day: dt.date) -> dict[str, object]:
    """A patient with one record of every kind: an approved qualification, a selection,
    a temporary filing to Guangzhou and a cross-province transfer letter."""
    from cases.services.filings import filing_create
    from cases.services.letters import letter_issue
    from cases.services.selections import selection_add
    from institutions.models import Region

    with facts.as_of(day):
        home = institution("H45120200001", level=3, transfer_issuer=True, networked=("M03900",))
        guangzhou = institution("H44010600001", level=3, cross_province=("M03900",))
        p = patient(clerk, day=day)
        approved = qualification(clerk, reviewer, p, day=day)
        selection = selection_add(by=clerk, patient=p, institution=home, start=day).selection
        filing = filing_create(
            by=clerk,
            patient=p,
            type="temporary",
            subtype="other",
            destination=Region.objects.get(code="440100"),
            start=day,
            materials=["identity"],
        )
        letter = letter_issue(
            by=clerk,
            patient=p,
            disease=approved.disease,
            issuer=home,
            receiver=guangzhou,
            reason="technical",
            issued_on=day,
        )
    return {
        "home": home,
        "guangzhou": guangzhou,
        "patient": p,
        "qualification": approved,
        "selection": selection,
        "filing": filing,
        "letter": letter,
    }
