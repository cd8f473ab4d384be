"""The import benchmark (`bench_import`, with bench.settings): a county's archive as a
bureau would bring it — N patients over the five sheets, about four rows per patient —
checked, imported and imported again through cases.imports, with the time of each pass,
rows per second and the process's peak memory.

Each patient has a qualification (approved, so the batch needs its reviewer), an in-city
selection, and every other patient a temporary filing to Guangzhou or a transfer letter
to a hospital there."""

from __future__ import annotations

import datetime as dt
import random
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openpyxl

from cases import rules
from cases.imports import engine
from cases.imports.sheets import FILINGS, LETTERS, PATIENTS, QUALIFICATIONS, SELECTIONS
from cases.models import CaseImport
from cases.services.imports import import_upload
from institutions.models import Disease, Institution, NetworkedSettlement
from portal.models import Bureau, Role, User
from portal.services import user_create

COUNTY = "451202"  # 河池市金城江区
DISEASES = ["M03900", "M01600", "M00503", "M07803", "M07804"]
HOSPITALS = 40


@dataclass
class Pass:
    seconds: float = 0.0
    rows: int = 0
    refused: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class ImportBench:
    patients: int
    rows: int = 0
    file_bytes: int = 0
    build_seconds: float = 0.0
    check: Pass = field(default_factory=Pass)
    first_import: Pass = field(default_factory=Pass)
    reimport: Pass = field(default_factory=Pass)
    peak_rss_mb: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("check", "first_import", "reimport"):
            out[name]["rows_per_second"] = getattr(self, name).rows_per_second
        return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reference() -> tuple[User, User, list[str], list[str]]:
    """The bureau's clerk and reviewer, and institutions at home and in Guangzhou."""
    county = COUNTY
    bureau, _ = Bureau.objects.get_or_create(
        county_id=county, defaults={"name": "河池市金城江区医疗保障局"}
    )
    users = []
    for username, role in (
        ("bench_importer", Role.CLERK),
        ("bench_import_reviewer", Role.REVIEWER),
    ):
        user = User.objects.filter(username=username).first() or user_create(
            username=username,
            password="Bench-import-2026",  # noqa: S106 - a benchmark database's user
            role=role,
            bureau=bureau,
        )
        users.append(user)
    diseases = list(Disease.objects.filter(code__in=DISEASES))
    home: list[str] = []
    away: list[str] = []
    for i in range(HOSPITALS):
        for prefix, level, bucket in (("H451202", 3, home), ("H440106", 3, away)):
            code = f"{prefix}{i + 1:05d}"
            institution, _ = Institution.objects.update_or_create(
                code=code,
                defaults={
                    "name": f"导入测试医院{code}",
                    "location_id": code[1:7],
                    "level": level,
                    "transfer_issuer": prefix == "H451202",
                },
            )
            for disease in diseases:
                NetworkedSettlement.objects.update_or_create(
                    institution=institution,
                    disease=disease,
                    defaults={"in_region": True, "cross_province": True},
                )
            bucket.append(code)
    return users[0], users[1], home, away


def build_workbook(path: Path, patients: int, home: list[str], away: list[str]) -> int:
    """The archive as one XLSX (streamed: flat memory whatever N); its row count."""
    rng = random.Random(patients)  # noqa: S311 - synthetic dates, not secrets
    book = openpyxl.Workbook(write_only=True)
    sheets = {
        s.name: book.create_sheet(s.name)
        for s in (PATIENTS, QUALIFICATIONS, SELECTIONS, FILINGS, LETTERS)
    }
    for spec in (PATIENTS, QUALIFICATIONS, SELECTIONS, FILINGS, LETTERS):
        sheets[spec.name].append(spec.headings)
    rows = 0
    base = dt.date(1950, 1, 1)
    for n in range(patients):
        birth = base + dt.timedelta(days=n % 18_000)
        body = f"{COUNTY}{birth:%Y%m%d}{n // 18_000 % 1000:03d}"
        number = body + rules.resident_id_check_char(body)
        applied = dt.date(2024, 1, 2) + dt.timedelta(days=rng.randrange(300))
        decided = applied + dt.timedelta(days=rng.randrange(1, 20))
        start = decided + dt.timedelta(days=rng.randrange(1, 30))
        disease = DISEASES[n % len(DISEASES)]
        sheets[PATIENTS.name].append(
            ["居民身份证", number, f"韦测{n}", "390", "", f"138{n:08d}"[:11], "金城江区"]
        )
        sheets[QUALIFICATIONS.name].append(
            [
                number,
                disease,
                "",
                f"{applied}",
                home[n % len(home)],
                f"{applied}",
                "李医生",
                f"{decided}",
                "",
                "已认定",
            ]
        )
        sheets[SELECTIONS.name].append([number, home[n % len(home)], "", f"{start}", "", ""])
        rows += 3
        if n % 2:
            sheets[FILINGS.name].append(
                [number, "临时备案", "其他临时外出就医", "440100", f"{start}", "", "", ""]
            )
        else:
            sheets[LETTERS.name].append(
                [
                    number,
                    "",
                    disease,
                    home[n % len(home)],
                    away[n % len(away)],
                    "本地技术条件所限",
                    f"{start}",
                    "",
                ]
            )
        rows += 1
    book.save(path)
    return rows


def run(patients: int, folder: Path) -> ImportBench:
    result = ImportBench(patients=patients)
    importer, reviewer, home, away = reference()
    path = folder / f"import_{patients}.xlsx"
    started = time.monotonic()
    result.rows = build_workbook(path, patients, home, away)
    result.build_seconds = time.monotonic() - started
    result.file_bytes = path.stat().st_size
    data = path.read_bytes()

    def timed(case_import: CaseImport, *, stage: bool, apply: bool) -> Pass:
        started = time.monotonic()
        if stage:
            engine.stage(case_import)
        engine.run(case_import, apply=apply, user=importer, reviewer=reviewer if apply else None)
        seconds = time.monotonic() - started
        return Pass(seconds, case_import.total_rows, case_import.refused_rows)

    # As the portal does it: read and check (the dry run), then import the checked rows.
    upload = import_upload(by=importer, file_name=path.name, data=data)
    result.check = timed(upload, stage=True, apply=False)
    result.first_import = timed(upload, stage=False, apply=True)
    # The same file again, read and imported in one go (as `import_cases` does).
    again = import_upload(by=importer, file_name=path.name, data=data)
    result.reimport = timed(again, stage=True, apply=True)
    result.peak_rss_mb = peak_rss_mb()
    return result
