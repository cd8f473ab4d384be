"""Synthetic province-scale data for benchmarks (`seed_scale`, with bench.settings).

Rows go in with PostgreSQL COPY, generated on the fly: patients spread over every
Guangxi county with valid ID numbers and Chinese names, about two qualifications and two
selections each, filings with end dates spread over the year, transfer letters, and
designated institutions. The database constraints still hold: every row is one a clerk
could have recorded (in-city selections in distinct slots, non-overlapping periods), and
records whose end has passed are already expired, as the daily job leaves them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from pypinyin import Style, pinyin

from cases import rules
from institutions.models import Disease, Institution, Region
from portal.models import Bureau, Role, User
from portal.services import user_sync_role

SURNAMES = "韦覃黄蓝莫陆梁蒙廖罗李王张刘陈杨吴周韩曾单潘谢卢何冯邓苏"
GIVEN = "华明芳军丽强敏平秀英伟静玲桂林兰春海红建国志勇新荣金凤云文萍霞燕丹宁彬"


@dataclass
class ScaleReport:
    patients: int = 0
    qualifications: int = 0
    selections: int = 0
    filings: int = 0
    letters: int = 0
    institutions: int = 0

    def __str__(self) -> str:
        return (
            f"参保人 {self.patients}，资格 {self.qualifications}，选点 {self.selections}，"
            f"备案 {self.filings}，转诊证明 {self.letters}，新增机构 {self.institutions}"
        )


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        quoted = ", ".join(f'"{c}"' for c in columns)  # "end" is a reserved word
        with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def _next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608 - fixed names
        return int(cursor.fetchone()[0])


def _reset_sequence(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
            f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
        )


CASE_TABLES = [
    "cases_patient",
    "cases_qualification",
    "cases_selection",
    "cases_filing",
    "cases_transferletter",
]


@contextmanager
def constraints_deferred(tables: Sequence[str]) -> Iterator[None]:
    """Drop the tables' secondary indexes, unique, exclusion and foreign-key constraints for
    a bulk load and recreate them afterwards from their own definitions.

    Building an index once over millions of rows is several times faster than maintaining
    it row by row, and a foreign key is then checked by one join instead of a trigger per
    row. Recreating validates every row, so the load is held to the same rules. CHECK
    constraints stay in place (they are cheap per row). Runs inside the caller's
    transaction: a failure leaves the schema as it was.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks may block ALTER
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u', 'x')",
            [list(tables)],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
            "WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for table, name, _definition in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
        # The rows carry their bureau already (the trigger would look each one up).
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    yield
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        for _name, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in sorted(constraints, key=lambda c: "FOREIGN" in c[2]):
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


class Seeder:
    def __init__(self, patients: int, seed: int = 3) -> None:
        self.n = patients
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.counties = list(
            Region.objects.filter(code__startswith="45", level=Region.Level.COUNTY, active=True)
            .order_by("code")
            .values_list("code", "prefecture_id")
        )
        self.outside = list(
            Region.objects.filter(level=Region.Level.PREFECTURE, active=True)
            .exclude(code__startswith="45")
            .values_list("code", flat=True)
        )
        self.diseases = list(Disease.objects.filter(active=True).values_list("pk", flat=True))
        self.surname_pinyin = {
            c: [r.lower() for r in pinyin(c, style=Style.NORMAL, heteronym=True)[0]]
            for c in SURNAMES
        }
        self.given_pinyin = {c: pinyin(c, style=Style.NORMAL)[0][0] for c in GIVEN}

    # --- reference rows the seed needs ---------------------------------------------------

    def bureaus_and_staff(self) -> dict[str, tuple[int, int, int]]:
        """county -> (bureau id, clerk id, reviewer id), created where missing."""
        staff: dict[str, tuple[int, int, int]] = {}
        for county, _prefecture in self.counties:
            region = Region.objects.get(code=county)
            bureau, _ = Bureau.objects.get_or_create(
                county=region, defaults={"name": f"{region.full_name}医疗保障局"}
            )
            clerk, _ = User.objects.get_or_create(
                username=f"scale_clerk_{county}", defaults={"role": Role.CLERK, "bureau": bureau}
            )
            reviewer, _ = User.objects.get_or_create(
                username=f"scale_reviewer_{county}",
                defaults={"role": Role.REVIEWER, "bureau": bureau},
            )
            for user in (clerk, reviewer):  # the role's group and its permissions
                user_sync_role(user=user)
            staff[county] = (bureau.pk, clerk.pk, reviewer.pk)
        return staff

    def institutions(self, count: int) -> tuple[dict[str, list[int]], list[int], int]:
        """In-city institutions per Guangxi prefecture, and ones outside Guangxi."""
        existing = set(Institution.objects.values_list("code", flat=True))
        rows = []
        per_county = max(2, count // (len(self.counties) + len(self.outside)))
        start_id = _next_id("institutions_institution")
        next_id = start_id
        for county, _prefecture in self.counties:
            for serial in range(per_county):
                code = f"H{county}{80000 + serial:05d}"
                if code not in existing:
                    rows.append(
                        (
                            next_id,
                            code,
                            f"规模测试医院{county}{serial}",
                            county,
                            "",
                            2 + serial % 2,
                            "未定",
                            True,
                            None,
                            None,
                            serial == 0,
                        )
                    )
                    next_id += 1
        outside_counties = dict(
            Region.objects.filter(
                prefecture_id__in=self.outside, level=Region.Level.COUNTY, active=True
            )
            .order_by("code")
            .values_list("prefecture_id", "code")
        )
        for county in outside_counties.values():
            for serial in range(per_county):
                code = f"H{county}{80000 + serial:05d}"
                if code not in existing:
                    rows.append(
                        (
                            next_id,
                            code,
                            f"规模测试医院{county}{serial}",
                            county,
                            "",
                            3,
                            "甲",
                            True,
                            None,
                            None,
                            False,
                        )
                    )
                    next_id += 1
        created = _copy(
            "institutions_institution",
            [
                "id",
                "code",
                "name",
                "location_id",
                "address",
                "level",
                "grade",
                "designated",
                "designated_from",
                "designated_until",
                "transfer_issuer",
            ],
            rows,
        )
        _reset_sequence("institutions_institution")
        by_prefecture: dict[str, list[int]] = {}
        outside: list[int] = []
        seeded = Institution.objects.filter(name__startswith="规模测试医院")
        for pk, location, prefecture in seeded.values_list(
            "pk", "location_id", "location__prefecture_id"
        ):
            if location.startswith("45"):
                by_prefecture.setdefault(prefecture or location, []).append(pk)
            else:
                outside.append(pk)
        return by_prefecture, outside, created

    # --- case rows -----------------------------------------------------------------------

    def _name(self) -> tuple[str, str, str]:
        surname = self.rng.choice(SURNAMES)
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2))))
        given_py = [self.given_pinyin[c] for c in given]
        fulls = ["".join([s, *given_py]) for s in self.surname_pinyin[surname]]
        initials = ["".join(p[0] for p in [s, *given_py]) for s in self.surname_pinyin[surname]]
        return surname + given, "|".join(dict.fromkeys(fulls)), "|".join(dict.fromkeys(initials))

    def patient_rows(
        self, first_id: int, staff: dict[str, tuple[int, int, int]]
    ) -> Iterator[tuple[Any, ...]]:
        per_county = len(self.counties)
        for i in range(self.n):
            county, _prefecture = self.counties[i % per_county]
            # Unique within the county: the birth date and sequence come from the index.
            index = i // per_county
            birth = dt.date(1940, 1, 1) + dt.timedelta(days=(index // 1000) * 37 % 21900)
            body = f"{county}{birth:%Y%m%d}{index % 1000:03d}"
            number = body + rules.resident_id_check_char(body)
            name, full, initials = self._name()
            yield (
                first_id + i,
                "resident_id",
                number,
                name,
                full,
                initials,
                birth,
                "M" if int(number[16]) % 2 else "F",
                f"13{self.rng.randrange(10**9):09d}",
                "",
                self.rng.choice(("310", "390")),
                county,
                staff[county][0],
                self.now,
            )

    def seed(self) -> ScaleReport:
        report = ScaleReport()
        staff = self.bureaus_and_staff()
        in_city, outside, report.institutions = self.institutions(max(60, self.n // 100))
        # Institution ids with their county, for the IDs used below.
        first_patient = _next_id("cases_patient")
        with constraints_deferred(CASE_TABLES):
            self._cases(report, first_patient, staff, in_city, outside)
        for table in CASE_TABLES:
            _reset_sequence(table)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return report

    def _cases(
        self,
        report: ScaleReport,
        first_patient: int,
        staff: dict[str, tuple[int, int, int]],
        in_city: dict[str, list[int]],
        outside: list[int],
    ) -> None:
        report.patients = _copy(
            "cases_patient",
            [
                "id",
                "cert_type",
                "cert_number",
                "name",
                "name_pinyin",
                "name_initials",
                "birth_date",
                "sex",
                "phone",
                "address",
                "insurance_type",
                "region_id",
                "bureau_id",
                "created_at",
            ],
            self.patient_rows(first_patient, staff),
        )
        report.qualifications = self._qualifications(first_patient, staff, in_city)
        report.selections = self._selections(first_patient, staff, in_city)
        report.filings = self._filings(first_patient, staff)
        report.letters = self._letters(first_patient, staff, in_city, outside)

    def _county(self, i: int) -> tuple[str, str]:
        return self.counties[i % len(self.counties)]

    def _qualifications(
        self, first: int, staff: dict[str, tuple[int, int, int]], in_city: dict[str, list[int]]
    ) -> int:
        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.n):
                county, prefecture = self._county(i)
                _bureau, clerk, reviewer = staff[county]
                diseases = self.rng.sample(self.diseases, 2)
                for k, disease in enumerate(diseases):
                    if k and self.rng.random() < 0.1:
                        continue
                    applied = self.today - dt.timedelta(days=self.rng.randrange(30, 1500))
                    until = None
                    if self.rng.random() < 0.3:
                        until = applied + dt.timedelta(days=self.rng.randrange(200, 800))
                    institution = in_city[prefecture][0]
                    # As the daily job leaves them: a validity that has ended is expired.
                    status = "expired" if until is not None and until <= self.today else "approved"
                    yield (
                        staff[county][0],
                        first + i,
                        disease,
                        status,
                        applied,
                        institution,
                        applied,
                        "规模测试医师",
                        clerk,
                        reviewer,
                        applied,
                        "",
                        applied,
                        until,
                        "window",
                        "",
                        "",
                        "",
                        "",
                    )

        return _copy(
            "cases_qualification",
            [
                "bureau_id",
                "patient_id",
                "disease_id",
                "status",
                "applied_on",
                "diagnosis_institution_id",
                "diagnosis_date",
                "diagnosis_doctor",
                "recorded_by_id",
                "reviewed_by_id",
                "decided_on",
                "decision_note",
                "valid_from",
                "valid_until",
                "channel",
                "agent_name",
                "agent_cert_number",
                "agent_phone",
                "agent_relation",
            ],
            rows(),
        )

    def _selections(
        self, first: int, staff: dict[str, tuple[int, int, int]], in_city: dict[str, list[int]]
    ) -> int:
        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.n):
                county, prefecture = self._county(i)
                choices = in_city[prefecture]
                picked = self.rng.sample(choices, min(2, len(choices)))
                start = self.today - dt.timedelta(days=self.rng.randrange(1, 1000))
                for slot, institution in enumerate(picked, start=1):
                    yield (
                        first + i,
                        institution,
                        slot,
                        start,
                        None,
                        "",
                        "in_city",
                        None,
                        None,
                        staff[county][1],
                    )

        return _copy(
            "cases_selection",
            [
                "patient_id",
                "institution_id",
                "slot",
                "start",
                "end",
                "end_reason",
                "scope",
                "basis_filing_id",
                "basis_letter_id",
                "created_by_id",
            ],
            rows(),
        )

    def _filings(self, first: int, staff: dict[str, tuple[int, int, int]]) -> int:
        count = max(1, self.n // 3)

        def rows() -> Iterator[tuple[Any, ...]]:
            for j in range(count):
                i = (j * 3) % self.n
                county, _prefecture = self._county(i)
                end = self.today + dt.timedelta(days=self.rng.randrange(-30, 335))
                start = rules.add_months(end, -6)
                yield (
                    staff[county][0],
                    first + i,
                    "temporary",
                    self.rng.choice(("other", "emergency")),
                    self.rng.choice(self.outside),
                    start,
                    end,
                    start,
                    False,
                    None,
                    ["identity", "emergency_certificate"],
                    None,
                    "expired" if end <= self.today else "active",
                    None,
                    "",
                    None,
                    staff[county][1],
                    "window",
                    "",
                    "",
                    "",
                    "",
                )

        return _copy(
            "cases_filing",
            [
                "bureau_id",
                "patient_id",
                "type",
                "subtype",
                "destination_id",
                "start",
                "end",
                "filed_on",
                "retroactive",
                "treatment_start",
                "materials",
                "transfer_letter_id",
                "status",
                "cancelled_on",
                "cancel_reason",
                "replaced_by_id",
                "created_by_id",
                "channel",
                "agent_name",
                "agent_cert_number",
                "agent_phone",
                "agent_relation",
            ],
            rows(),
        )

    def _letters(
        self,
        first: int,
        staff: dict[str, tuple[int, int, int]],
        in_city: dict[str, list[int]],
        outside: list[int],
    ) -> int:
        count = max(1, self.n // 15)
        disease = self.diseases[0]
        stamp = self.now.strftime("%y%m%d%H%M%S")

        def rows() -> Iterator[tuple[Any, ...]]:
            for j in range(count):
                i = (j * 15 + 1) % self.n
                county, prefecture = self._county(i)
                issued = self.today - dt.timedelta(days=self.rng.randrange(0, 200))
                end = rules.add_months(issued, 6)
                yield (
                    staff[county][0],
                    f"ZS{stamp}{j:08d}",
                    first + i,
                    disease,
                    in_city[prefecture][0],
                    self.rng.choice(outside),
                    "technical",
                    "",
                    issued,
                    end,
                    "expired" if end <= self.today else "active",
                    staff[county][1],
                )

        return _copy(
            "cases_transferletter",
            [
                "bureau_id",
                "serial",
                "patient_id",
                "disease_id",
                "issuer_id",
                "receiver_id",
                "reason",
                "reason_text",
                "issued_on",
                "end",
                "status",
                "created_by_id",
            ],
            rows(),
        )


@transaction.atomic
def seed_scale(patients: int) -> ScaleReport:
    return Seeder(patients).seed()
