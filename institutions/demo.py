"""Demo institutions for `make run`: fifty, in four Guangxi cities and five other provinces.

Names are marked 示例 (example); codes are valid (ID-3: the letter, the county's
division code, a serial). Counties come from the loaded division table, so this needs
load_reference_data first.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from institutions.models import Disease, Institution, NetworkedSettlement, Region
from institutions.reference import LoadReport

# Prefecture-level places that get demo institutions, and whether they are in Guangxi.
DEMO_PREFECTURES = [
    "451200",  # 河池市
    "450200",  # 柳州市
    "450100",  # 南宁市
    "450300",  # 桂林市
    "440100",  # 广州市
    "440300",  # 深圳市
    "430100",  # 长沙市
    "110000",  # 北京市
    "310000",  # 上海市
    "530100",  # 昆明市
]

# (suffix, level, grade, transfer issuer, counties used: first N)
KINDS = [
    ("示例第一人民医院", 3, "甲", True, 1),
    ("示例中医医院", 2, "甲", True, 1),
    ("示例人民医院", 2, "乙", False, 1),
    ("示例社区卫生服务中心", 1, "未定", False, 1),
]
IN_REGION_DISEASES = ["M03900", "M01600", "M00503", "M07803", "M07804", "M05300", "M04600"]


@dataclass(frozen=True)
class DemoInstitution:
    code: str
    name: str
    location: Region
    level: int
    grade: str
    transfer_issuer: bool


def _plan() -> list[DemoInstitution]:
    plan: list[DemoInstitution] = []
    for prefecture_code in DEMO_PREFECTURES:
        prefecture = Region.objects.get(code=prefecture_code)
        counties = list(
            Region.objects.filter(prefecture=prefecture, level=Region.Level.COUNTY, active=True)
            .exclude(code=prefecture_code)
            .order_by("code")[:3]
        )
        city = prefecture.name
        for index, (suffix, level, grade, issuer, spread) in enumerate(KINDS, start=1):
            for county in counties[:spread]:
                place = city if level == 3 else f"{city}{county.name}"
                plan.append(
                    DemoInstitution(
                        code=f"H{county.code}{index:02d}{len(plan) % 1000:03d}",
                        name=f"{place}{suffix}",
                        location=county,
                        level=level,
                        grade=grade,
                        transfer_issuer=issuer,
                    )
                )
        pharmacy_county = counties[0]
        plan.append(
            DemoInstitution(
                code=f"P{pharmacy_county.code}90{len(plan) % 1000:03d}",
                name=f"{city}示例大药房",
                location=pharmacy_county,
                level=1,
                grade="未定",
                transfer_issuer=False,
            )
        )
    return plan


@transaction.atomic
def load_demo_institutions() -> LoadReport:
    report = LoadReport("示例定点机构")
    diseases = {d.code: d for d in Disease.objects.all()}
    cross_province = [d for d in diseases.values() if d.cross_province]
    for item in _plan():
        institution, created = Institution.objects.get_or_create(
            code=item.code,
            defaults={
                "name": item.name,
                "location": item.location,
                "address": f"{item.location.full_name}示例路{int(item.code[-3:]) + 1}号",
                "level": item.level,
                "grade": item.grade,
                "transfer_issuer": item.transfer_issuer,
            },
        )
        if not created:
            report.unchanged += 1
            continue
        report.created += 1
        if item.code.startswith("P"):
            continue
        if item.location.in_guangxi:
            wanted = [diseases[c] for c in IN_REGION_DISEASES if c in diseases]
            if item.level >= 2:
                wanted = [d for d in diseases.values() if d.active]
            for disease in wanted:
                NetworkedSettlement.objects.create(
                    institution=institution, disease=disease, in_region=True
                )
        elif item.level >= 2:
            for disease in cross_province:
                NetworkedSettlement.objects.create(
                    institution=institution, disease=disease, cross_province=True
                )
    return report
