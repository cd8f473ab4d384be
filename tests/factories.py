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
