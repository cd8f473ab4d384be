"""Demo patients for `make run`: a few hundred, across the demo bureaus, with records in
every state, some ending in the coming weeks so that reminders have content.

Everything is created through the services, "as of" the date it happened, so the demo
data obeys the same rules as a clerk's work. Names are marked 示例.
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from cases import facts, rules
from cases.models import Patient, Qualification
from cases.services import PolicyRefusal
from cases.services.filings import filing_create
from cases.services.letters import letter_issue
from cases.services.patients import patient_register
from cases.services.qualifications import (
    qualification_apply,
    qualification_approve,
    qualification_reject,
)
from cases.services.selections import selection_add
from institutions.models import Disease, Institution, Region
from institutions.reference import LoadReport
from portal.models import Bureau, Role, User

SURNAMES = "韦覃黄蓝莫陆梁蒙廖罗李王张刘陈杨吴周韩曾单"
GIVEN = ["", "华", "明", "芳", "军", "丽", "强", "敏", "平", "秀"]
COMMON_DISEASES = ["M03900", "M01600", "M05300", "M04600", "M00201", "M06900", "M07803"]
PATIENTS_PER_BUREAU = 14


def _resident_id(rng: random.Random, county: str, serial: int) -> str:
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 60 * 365))
    body = f"{county}{birth:%Y%m%d}{serial % 1000:03d}"
    return body + rules.resident_id_check_char(body)


def _staff(bureau: Bureau) -> tuple[User, User]:
    clerk = User.objects.filter(bureau=bureau, role=Role.CLERK).first()
    reviewer = User.objects.filter(bureau=bureau, role=Role.REVIEWER).first()
    if clerk is None or reviewer is None:
        raise RuntimeError(f"{bureau} has no demo clerk and reviewer; run load_demo_staff first")
    return clerk, reviewer


def _pick(rng: random.Random, items: list[Institution]) -> Institution:
    return items[rng.randrange(len(items))]


class DemoCases:
    def __init__(self, today: dt.date, seed: int = 2025) -> None:
        self.today = today
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not security
        self.diseases = {d.code: d for d in Disease.objects.filter(code__in=COMMON_DISEASES)}
        institutions = list(
            Institution.objects.select_related("location").filter(code__startswith="H")
        )
        self.local: dict[str, list[Institution]] = {}
        for institution in institutions:
            self.local.setdefault(institution.location.prefecture_id or "", []).append(institution)
        self.outside = [i for i in institutions if not i.location_id.startswith("45")]
        self.serial = 0
        self.created = 0

    def run(self, bureaus: list[Bureau]) -> None:
        for bureau in bureaus:
            clerk, reviewer = _staff(bureau)
            for _ in range(PATIENTS_PER_BUREAU):
                self.serial += 1
                try:
                    with transaction.atomic():
                        self.patient_story(bureau, clerk, reviewer)
                        self.created += 1
                except PolicyRefusal:
                    # A random story that breaks a rule is simply not told.
                    continue

    def days_ago(self, days: int) -> dt.date:
        return self.today - dt.timedelta(days=days)

    def patient_story(self, bureau: Bureau, clerk: User, reviewer: User) -> None:
        rng = self.rng
        registered = self.days_ago(rng.randrange(200, 900))
        name = rng.choice(SURNAMES) + "示例" + rng.choice(GIVEN)
        with facts.as_of(registered):
            patient = patient_register(
                by=clerk,
                cert_type="resident_id",
                cert_number=_resident_id(rng, bureau.county_id, self.serial),
                name=name,
                insurance_type=rng.choice(["310", "390"]),
                phone=f"138{rng.randrange(10**8):08d}",
                address=f"{bureau.county.full_name}示例街道{rng.randrange(1, 200)}号",
            ).patient
        prefecture = patient.region.prefecture_id or ""
        local = self.local.get(prefecture) or [i for v in self.local.values() for i in v]
        hospital = max(local, key=lambda i: i.level)
        disease = self.diseases[rng.choice(COMMON_DISEASES)]
        applied = registered + dt.timedelta(days=rng.randrange(1, 30))

        state = rng.random()
        qualification = self.apply(clerk, patient, disease, hospital, applied)
        if state < 0.12:
            return  # waiting for review
        if state < 0.18:
            with facts.as_of(applied):
                qualification_reject(
                    by=reviewer,
                    qualification=qualification,
                    decided_on=applied,
                    reason="材料不全（示例）",
                )
            return
        with facts.as_of(applied):
            qualification_approve(by=reviewer, qualification=qualification, decided_on=applied)

        start = applied + dt.timedelta(days=1)
        with facts.as_of(start):
            selection_add(by=clerk, patient=patient, institution=_pick(rng, local), start=start)
            if rng.random() < 0.3:
                elsewhere = [
                    i
                    for p, v in self.local.items()
                    if p != prefecture and p.startswith("45")
                    for i in v
                ]
                selection_add(
                    by=clerk, patient=patient, institution=_pick(rng, elsewhere), start=start
                )
        if state < 0.55:
            return
        try:
            with transaction.atomic():
                if state < 0.75:
                    self.temporary_filing(clerk, patient, rng.randrange(-20, 45))
                elif state < 0.9:
                    self.long_term_filing(clerk, patient, registered)
                else:
                    self.transfer_letter(clerk, patient, disease, hospital, rng.randrange(-10, 40))
        except PolicyRefusal:
            pass  # e.g. a letter dated before the qualification (TL-3): leave it out

    def apply(
        self, clerk: User, patient: Patient, disease: Disease, hospital: Institution, day: dt.date
    ) -> Qualification:
        with facts.as_of(day):
            return qualification_apply(
                by=clerk,
                patient=patient,
                disease=disease,
                applied_on=day,
                diagnosis_institution=hospital,
                diagnosis_date=day - dt.timedelta(days=3),
                diagnosis_doctor="示例医师",
            )

    def temporary_filing(self, clerk: User, patient: Patient, ends_in_days: int) -> None:
        """A temporary filing that ends ``ends_in_days`` from today, with a selection there."""
        target = _pick(self.rng, self.outside)
        end = self.today + dt.timedelta(days=ends_in_days)
        start = rules.add_months(end, -6)
        destination = self._destination(target)
        with facts.as_of(start):
            filing_create(
                by=clerk,
                patient=patient,
                type="temporary",
                subtype=self.rng.choice(["other", "emergency"]),
                destination=destination,
                start=start,
                filed_on=start,
                channel=self.rng.choice(["app", "mini_program", "window", "phone"]),
                materials=["identity", "emergency_certificate"],
            )
            selection_add(by=clerk, patient=patient, institution=target, start=start)

    def long_term_filing(self, clerk: User, patient: Patient, registered: dt.date) -> None:
        target = _pick(self.rng, self.outside)
        start = registered + dt.timedelta(days=40)
        with facts.as_of(start):
            filing_create(
                by=clerk,
                patient=patient,
                type="long_term",
                subtype="long_term_resident",
                destination=self._destination(target),
                start=start,
                filed_on=start,
                channel="window",
                materials=["identity", "commitment_letter"],
            )
            selection_add(by=clerk, patient=patient, institution=target, start=start)

    def transfer_letter(
        self,
        clerk: User,
        patient: Patient,
        disease: Disease,
        issuer: Institution,
        ends_in_days: int,
    ) -> None:
        receiver = _pick(self.rng, self.outside)
        end = self.today + dt.timedelta(days=ends_in_days)
        issued = rules.add_months(end, -6)
        with facts.as_of(issued):
            letter_issue(
                by=clerk,
                patient=patient,
                disease=disease,
                issuer=issuer,
                receiver=receiver,
                reason=self.rng.choice(["technical", "equipment"]),
                issued_on=issued,
            )

    @staticmethod
    def _destination(institution: Institution) -> Region:
        location = institution.location
        return Region.objects.get(code=location.prefecture_id or location.province_code)


def load_demo_cases(today: dt.date | None = None) -> LoadReport:
    report = LoadReport("示例参保人")
    demo = Patient.objects.filter(name__contains="示例")
    if demo.exists():
        report.unchanged = demo.count()
        return report
    bureaus = list(
        Bureau.objects.filter(staff__role=Role.CLERK).distinct().select_related("county")
    )
    builder = DemoCases(today or facts.today())
    builder.run(bureaus)
    report.created = builder.created
    return report
