"""Registering patients (ID-1, ID-5, ID-6)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from pypinyin import Style, pinyin

from cases import access, rules
from cases.facts import today as local_today
from cases.models import InsuredPeriod, Patient
from cases.services import PolicyRefusal, lock_patient, refuse_if, save_as
from institutions.models import Region
from portal.models import Bureau, User


@dataclass
class Registration:
    patient: Patient
    warnings: list[str] = field(default_factory=list)


def name_pinyin(name: str) -> tuple[str, str]:
    """Full pinyin and initials, ``|``-separated over every reading of the surname
    (a heteronym surname such as 单 is found as dan, shan and chan)."""
    if not name:
        return "", ""
    surname = pinyin(name[0], style=Style.NORMAL, heteronym=True)[0]
    given = [p[0] for p in pinyin(name[1:], style=Style.NORMAL)] if len(name) > 1 else []
    fulls, initials = [], []
    for reading in surname:
        parts = [reading, *given]
        fulls.append("".join(parts).lower())
        initials.append("".join(p[0] for p in parts if p).lower())
    return "|".join(dict.fromkeys(fulls)), "|".join(dict.fromkeys(initials))


@transaction.atomic
def patient_register(
    *,
    by: User,
    cert_type: str,
    cert_number: str,
    name: str,
    insurance_type: str,
    region_code: str | None = None,
    phone: str = "",
    address: str = "",
    today: dt.date | None = None,
    bureau: Bureau | None = None,
) -> Registration:
    """Register a patient of the user's bureau (or of ``bureau``, for an import a data
    administrator runs for it). The insured county defaults to the bureau's county
    (ID-6)."""
    today = today or local_today()
    phone = rules.normalize_phone(phone)
    bureau = bureau or by.bureau
    given = rules.normalize_cert_number(cert_number)
    # ID-1: a first-generation 15-digit number is recorded converted to 18 digits.
    number = rules.resident_number(cert_type, given)
    converted = number != given
    name = name.strip()
    region_code = (region_code or (bureau.county_id if bureau else "")).strip()
    region = Region.objects.filter(code=region_code).first()

    violations = rules.check_certificate(cert_type, number, today)
    violations += rules.check_patient(
        name=name,
        insurance_type=insurance_type,
        region_code=region.code if region else None,
        region_is_active_county=bool(
            region and region.active and region.level == Region.Level.COUNTY
        ),
        bureau_county=bureau.county_id if bureau else None,
        phone=phone,
    )
    if not violations:
        violations += rules.check_not_registered(
            registered=access.across_bureaus(
                Patient.objects.filter(cert_type=cert_type, cert_number=number), "ID-1"
            ).exists()
        )
    if violations or region is None or bureau is None:
        raise PolicyRefusal(violations)

    warnings = []
    patient = Patient(
        cert_type=cert_type,
        cert_number=number,
        name=name,
        insurance_type=insurance_type,
        region=region,
        bureau=bureau,
        phone=phone,
        address=address.strip()[:200],
    )
    _identify(patient, number)
    if cert_type == rules.CertType.RESIDENT_ID:
        known = Region.objects.filter(code=number[:6]).exists()
        if warning := rules.id_prefix_warning(number, known):
            warnings.append(warning)
    patient.name_pinyin, patient.name_initials = name_pinyin(name)
    if converted:
        note = "ID-1：15位身份证号已按规则转换为18位登记"
        warnings.append(f"{note}：{number}。")
        patient._change_reason = note  # type: ignore[attr-defined]  # in the history
    try:
        with transaction.atomic():
            save_as(patient, by)
    except IntegrityError as exc:
        # Two clerks registering the same person at once: the database decides.
        raise PolicyRefusal(
            [rules.Violation("ID-1", "该证件号码的参保人已登记。", "cert_number")]
        ) from exc
    # The insured county since registration (MV-6: a move dates the next one).
    save_as(InsuredPeriod(patient=patient, region=region, bureau=bureau), by)
    return Registration(patient, warnings)


def _identify(patient: Patient, number: str) -> None:
    """The certificate number, and for a resident ID the birth date and sex it holds."""
    patient.cert_number = number
    if patient.cert_type == rules.CertType.RESIDENT_ID:
        patient.birth_date = rules.id_birth_date(number)
        patient.sex = rules.id_sex(number)


@transaction.atomic
def patient_correct(
    *,
    by: User,
    patient: Patient,
    name: str,
    phone: str = "",
    address: str = "",
    cert_number: str | None = None,
    reason: str = "",
    today: dt.date | None = None,
) -> Patient:
    """Correct a patient's name, phone and address; the certificate number only by a
    reviewer, with the reason (ID-1). The history keeps the earlier values and the reason."""
    patient = lock_patient(patient, by)
    name, phone = name.strip(), rules.normalize_phone(phone)
    number = patient.cert_number
    if cert_number is not None:
        number = rules.resident_number(patient.cert_type, cert_number)
    changed = number != patient.cert_number
    violations = rules.check_correction(
        certificate_changed=changed, by_reviewer=access.may_review(by), reason=reason
    )
    violations += rules.check_name(name) + rules.check_phone(phone)
    if changed:
        violations += rules.check_certificate(patient.cert_type, number, today or local_today())
        if not violations:
            others = Patient.objects.filter(cert_type=patient.cert_type, cert_number=number)
            violations += rules.check_not_registered(
                registered=access.across_bureaus(others, "ID-1").exists()
            )
    violations += rules.check_not_moved_out(patient.moved_out_on is not None)
    refuse_if(violations)
    patient.name, patient.phone, patient.address = name, phone, address.strip()[:200]
    patient.name_pinyin, patient.name_initials = name_pinyin(name)
    if changed:
        _identify(patient, number)
    patient._change_reason = reason.strip()[:100] or "更正"  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            save_as(patient, by)
    except IntegrityError as exc:
        raise PolicyRefusal(
            [rules.Violation("ID-1", "该证件号码的参保人已登记。", "cert_number")]
        ) from exc
    return patient


def find_registered(cert_type: str, cert_number: str) -> Patient | None:
    """The patient already registered under this certificate, if any (any bureau)."""
    number = rules.resident_number(cert_type, cert_number)
    registered = Patient.objects.filter(cert_type=cert_type, cert_number=number)
    return access.across_bureaus(registered, "ID-1: one registration per certificate").first()
