"""The platform's 门慢特病 disease catalogue (the 1309 download) and its per-scheme table,
imported with a dry run (NX-5).

Each row of the download is one disease in one catalogue version (``ver``), in force
from ``efft_time`` until ``invd_time``; every version is kept (DiseaseListing), so a
check for an earlier day uses the catalogue in force that day. The per-scheme table
says until when (``enddate``, last valid day) a disease applies to each insurance type.

The dry run names what the import would do to the portal's catalogue today: diseases
added, changed (name, or a version not yet loaded) and withdrawn (no longer valid in the
version in force), with every unreadable row; nothing is written while a row is bad.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from cases import rules
from cases.imports.reader import read_table
from cases.imports.sheets import Column, Sheet, text
from cases.rules import national as nx
from institutions.models import Disease, DiseaseListing, DiseaseScheme
from portal.models import User

CATALOGUE = Sheet(
    name="1309",
    key="catalogue",
    columns=[
        Column(name, required=True)
        for name in ("opsp_dise_code", "opsp_dise_name", "vali_flag", "efft_time", "ver")
    ],
    optional=[
        Column(name)
        for name in (
            "opsp_dise_majcls_code",
            "opsp_dise_majcls_name",
            "opsp_dise_subd_clss_name",
            "admdvs",
            "invd_time",
            "ver_name",
        )
    ],
)
SCHEMES = Sheet(
    name="insutype",
    key="schemes",
    columns=[Column(name, required=True) for name in ("opsp_dise_code", "insutype")],
    optional=[Column("enddate")],
)

_MOMENT = re.compile(
    r"^(?P<y>\d{4})[-/.]?(?P<m>\d{1,2})[-/.]?(?P<d>\d{1,2})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?(?:\.\d+)?)?$"
)


class CatalogueError(ValueError):
    pass


def moment(value: str, what: str) -> dt.date | None:
    """efft_time / invd_time as a day boundary (NX-5: 23:59:59 means from the next day)."""
    raw = text(value)
    if not raw:
        return None
    match = _MOMENT.match(raw)
    if not match:
        raise CatalogueError(f"{what}“{raw}”不是有效的日期时间。")
    try:
        when = dt.datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            int(match["S"] or 0),
            tzinfo=dt.UTC,  # a wall-clock time: only its day and whether it ends one count
        )
    except ValueError:
        raise CatalogueError(f"{what}“{raw}”不是有效的日期时间。") from None
    return nx.moment_in(when)


@dataclass(frozen=True)
class Entry:
    """One row of the 1309 download."""

    code: str
    name: str
    majcls_code: str
    majcls_name: str
    subd_clss_name: str
    admdvs: str
    valid: bool
    efft_time: dt.date
    invd_time: dt.date | None
    ver: str
    ver_name: str

    @property
    def listing(self) -> nx.Listing:
        return nx.Listing(self.ver, self.valid, rules.Period(self.efft_time, self.invd_time))


@dataclass
class Plan:
    """What importing the files would change, as of ``today``."""

    today: dt.date
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    schemes: dict[str, list[tuple[str, dt.date | None]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    unchanged: int = 0
    names: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.entries)


def _entry(cells: dict[str, str]) -> Entry:
    code = text(cells.get("opsp_dise_code")).upper()
    for violation in rules.check_disease_code(code):
        raise CatalogueError(f"病种代码“{code}”：{violation.message}")
    name = text(cells.get("opsp_dise_name"))
    if not name:
        raise CatalogueError("缺少病种名称（opsp_dise_name）。")
    flag = text(cells.get("vali_flag"))
    if flag not in ("0", "1"):
        raise CatalogueError(f"有效标志（vali_flag）应为1或0，不是“{flag}”。")
    efft = moment(cells.get("efft_time", ""), "生效时间（efft_time）")
    if efft is None:
        raise CatalogueError("缺少生效时间（efft_time）。")
    invd = moment(cells.get("invd_time", ""), "失效时间（invd_time）")
    if invd is not None and invd < efft:
        raise CatalogueError("失效时间早于生效时间。")
    ver = text(cells.get("ver"))
    if not ver or len(ver) > 30:  # noqa: PLR2004 - the column's length
        raise CatalogueError("版本号（ver）应为1–30个字符。")
    admdvs = text(cells.get("admdvs"))
    if admdvs and not re.fullmatch(r"\d{6}", admdvs):
        raise CatalogueError(f"医保区划（admdvs）“{admdvs}”应为6位数字。")
    return Entry(
        code=code,
        name=name[:100],
        majcls_code=text(cells.get("opsp_dise_majcls_code"))[:20],
        majcls_name=text(cells.get("opsp_dise_majcls_name"))[:100],
        subd_clss_name=text(cells.get("opsp_dise_subd_clss_name"))[:100],
        admdvs=admdvs,
        valid=flag == "1",
        efft_time=efft,
        invd_time=invd,
        ver=ver,
        ver_name=text(cells.get("ver_name"))[:100],
    )


def in_force(entries: list[Entry], day: dt.date) -> Entry | None:
    """The newest version whose period covers ``day``."""
    covering = [e for e in entries if e.listing.period.covers(day)]
    return max(covering, key=lambda e: (e.efft_time, e.ver)) if covering else None


def plan(catalogue: bytes, schemes: bytes | None, today: dt.date) -> Plan:
    """Read both files (SpreadsheetRefused for a file that cannot be read) and compare
    them with the portal's catalogue. Nothing is written."""
    result = Plan(today)
    entries: dict[str, list[Entry]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for row in read_table(catalogue, CATALOGUE):
        try:
            entry = _entry(row.cells)
        except CatalogueError as error:
            result.errors.append(f"病种目录第{row.number}行：{error}")
            continue
        if (entry.code, entry.ver) in seen:
            result.errors.append(f"病种目录第{row.number}行：{entry.code} 版本 {entry.ver} 重复。")
            continue
        seen.add((entry.code, entry.ver))
        entries[entry.code].append(entry)
    result.entries = dict(entries)
    if schemes is not None:
        result.schemes = _schemes(schemes, result)
    existing = {d.code: d for d in Disease.objects.filter(code__in=list(entries))}
    loaded = set(
        DiseaseListing.objects.filter(disease__code__in=list(entries)).values_list(
            "disease__code", "ver"
        )
    )
    for code, versions in sorted(result.entries.items()):
        current = in_force(versions, today)
        result.names[code] = (current or max(versions, key=lambda e: e.efft_time)).name
        listed = current is not None and current.valid
        disease = existing.get(code)
        if disease is None:
            result.added.append(code)
        elif disease.active and not listed:
            result.withdrawn.append(code)
        elif (
            (current is not None and current.name != disease.name)
            or listed != disease.active
            or any((code, e.ver) not in loaded for e in versions)
        ):
            result.changed.append(code)
        else:
            result.unchanged += 1
    return result


def _schemes(data: bytes, result: Plan) -> dict[str, list[tuple[str, dt.date | None]]]:
    found: dict[str, list[tuple[str, dt.date | None]]] = defaultdict(list)
    for row in read_table(data, SCHEMES):
        code = text(row.cells.get("opsp_dise_code")).upper()
        insutype = text(row.cells.get("insutype"))
        where = f"适用险种表第{row.number}行"
        if code not in result.entries:
            result.errors.append(f"{where}：病种 {code} 不在病种目录文件中。")
            continue
        if insutype not in {str(v) for v in rules.InsuranceType}:
            result.errors.append(f"{where}：险种（insutype）应为310或390，不是“{insutype}”。")
            continue
        try:
            last = moment(row.cells.get("enddate", ""), "结束日期（enddate）")
        except CatalogueError as error:
            result.errors.append(f"{where}：{error}")
            continue
        found[code].append((insutype, nx.end_in(last)))
    return dict(found)


@transaction.atomic
def apply(result: Plan, by: User) -> None:
    """Write the plan: each disease, every version of it, its per-scheme table; each
    disease's change recorded in its history with ``by``."""
    if not result.ok:
        raise CatalogueError("文件有错误，不能导入。")
    existing = {
        d.code: d for d in Disease.objects.select_for_update().filter(code__in=list(result.entries))
    }
    for code, versions in result.entries.items():
        current = in_force(versions, result.today)
        listed = current is not None and current.valid
        disease = existing.get(code) or Disease(code=code, note="医保信息平台1309病种目录")
        disease.name = result.names[code]
        disease.active = listed
        schemes = result.schemes.get(code)
        if schemes:
            now = {t for t, end in schemes if end is None or result.today < end}
            if now:
                disease.for_employee = rules.InsuranceType.EMPLOYEE in now
                disease.for_resident = rules.InsuranceType.RESIDENT in now
        disease._history_user = by  # type: ignore[attr-defined]
        disease.save()
        for entry in versions:
            DiseaseListing.objects.update_or_create(
                disease=disease,
                ver=entry.ver,
                defaults={
                    "ver_name": entry.ver_name,
                    "name": entry.name,
                    "majcls_code": entry.majcls_code,
                    "majcls_name": entry.majcls_name,
                    "subd_clss_name": entry.subd_clss_name,
                    "admdvs": entry.admdvs,
                    "valid": entry.valid,
                    "efft_time": entry.efft_time,
                    "invd_time": entry.invd_time,
                },
            )
        if schemes is not None:
            DiseaseScheme.objects.filter(disease=disease).delete()
            DiseaseScheme.objects.bulk_create(
                [DiseaseScheme(disease=disease, insutype=t, end=end) for t, end in schemes]
            )
        _keep_on_row(disease)


def _keep_on_row(disease: Disease) -> None:
    """The versions and schemes as the check reads them with the disease (NX-5)."""

    def iso(day: dt.date | None) -> str | None:
        return day.isoformat() if day else None

    listings = [
        [entry.ver, entry.valid, iso(entry.efft_time), iso(entry.invd_time)]
        for entry in DiseaseListing.objects.filter(disease=disease).order_by("efft_time", "ver")
    ]
    schemes = [
        [scheme.insutype, iso(scheme.end)]
        for scheme in DiseaseScheme.objects.filter(disease=disease).order_by("insutype")
    ]
    Disease.objects.filter(pk=disease.pk).update(
        platform_catalogue={"listings": listings, "schemes": schemes}
    )
