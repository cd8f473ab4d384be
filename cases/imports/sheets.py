"""The import workbook's five sheets and their columns: the headings are a contract that
clerks and other systems write to (keep them; optional columns go after them), and each
column's parser turns what a clerk's spreadsheet holds into what the services take.

A parser gets the cell as read (text, a number, or a date for a date-formatted Excel
cell) and returns the value or raises ``CellError`` with the rule it breaks."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cases import rules
from institutions.models import Disease, Institution, Region


class CellError(ValueError):
    """A cell that cannot be read as its column requires."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message
        super().__init__(f"{rule}：{message}")


def text(value: Any) -> str:
    """A cell as text: NFKC-normalised (full-width digits and letters), trimmed, no
    control characters; a whole number typed into a number cell loses its ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    cleaned = unicodedata.normalize("NFKC", str(value)).strip()
    return "".join(c for c in cleaned if c >= " " and c != "\x7f")


EARLIEST_YEAR = 1900  # as ID-1's birth dates: anything earlier is a typing error
DATE_FORMS = [
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})\.(?P<m>\d{1,2})\.(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日?$"),
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
]


def parse_date(value: Any) -> dt.date | None:
    """An Excel date, or text as 2025-03-01, 2025/3/1, 2025.3.1, 2025年3月1日, 20250301
    (a time of day, as Excel or a database export adds it, is ignored)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raw = text(value)
    if not raw:
        return None
    raw = re.sub(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "", raw)
    for form in DATE_FORMS:
        if match := form.match(raw):
            try:
                day = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                break
            if day.year < EARLIEST_YEAR:
                break
            return day
    raise CellError("日期", f"“{raw}”不是有效日期，请写成 2025-03-01、2025/3/1 或 2025年3月1日。")


def parse_last_day(value: Any) -> dt.date | None:
    """有效期至 as every Chinese document writes it, the last valid day, returned as the
    portal's half-open end (the first day no longer covered)."""
    last = parse_date(value)
    return None if last is None else rules.end_after(last)


def choice(kind: type[rules.Choice], rule: str, what: str) -> Callable[[Any], str]:
    """A choice given by its code or its Chinese label."""
    by_label = {label: value for value, label in kind.choices}
    codes = {value for value, _ in kind.choices}

    def parse(value: Any) -> str:
        raw = text(value)
        if not raw:
            return ""
        if raw in codes:
            return raw
        if raw in by_label:
            return str(by_label[raw])
        known = "、".join(f"{v}（{label}）" for v, label in kind.choices)
        raise CellError(rule, f"“{raw}”不是有效的{what}，可填：{known}。")

    return parse


class Lookups:
    """Reference data for one import, read once and kept: regions, diseases, and the
    institutions named so far."""

    def __init__(self) -> None:
        self.regions = {r.code: r for r in Region.objects.all()}
        self.region_names: dict[str, list[Region]] = {}
        for region in self.regions.values():
            # 金城江区, 广西壮族自治区河池市金城江区, and 河池市金城江区 as clerks write it.
            province = self.regions.get(region.code[:2] + "0000")
            short = region.full_name
            if province is not None and region.code != province.code:
                short = short.removeprefix(province.name)
            for name in {region.name, region.full_name, short}:
                self.region_names.setdefault(name, []).append(region)
        diseases = list(Disease.objects.all())
        self.diseases = {d.code: d for d in diseases}
        self.disease_names = {d.name: d for d in diseases}
        self.institutions: dict[str, Institution | None] = {}

    def region(self, value: Any, *, rule: str, what: str) -> Region | None:
        raw = text(value)
        if not raw:
            return None
        if raw in self.regions:
            return self.regions[raw]
        found = [r for r in self.region_names.get(raw, []) if r.active] or self.region_names.get(
            raw, []
        )
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            codes = "、".join(f"{r.code} {r.full_name}" for r in found[:5])
            raise CellError(rule, f"{what}“{raw}”有重名（{codes}），请填写区划代码。")
        raise CellError(rule, f"没有{what}“{raw}”，请填写6位区划代码或完整名称。")

    def disease(self, code: Any, name: Any) -> Disease:
        raw_code, raw_name = text(code).upper(), text(name)
        if raw_code:
            if raw_code not in self.diseases:
                raise CellError("ID-4", f"没有病种编码“{raw_code}”。")
            disease = self.diseases[raw_code]
            if raw_name and raw_name != disease.name:
                raise CellError(
                    "ID-4", f"病种编码{raw_code}是“{disease.name}”，与病种名称“{raw_name}”不符。"
                )
            return disease
        if raw_name:
            if raw_name not in self.disease_names:
                raise CellError("ID-4", f"没有名称为“{raw_name}”的病种，请填写病种编码。")
            return self.disease_names[raw_name]
        raise CellError("ID-4", "请填写病种编码或病种名称。")

    def institution(self, code: Any, name: Any = "") -> Institution | None:
        raw_code, raw_name = text(code).upper(), text(name)
        key = raw_code or f"name:{raw_name}"
        if not raw_code and not raw_name:
            return None
        if key not in self.institutions:
            if raw_code:
                self.institutions[key] = (
                    Institution.objects.select_related("location").filter(code=raw_code).first()
                )
            else:
                named = list(
                    Institution.objects.select_related("location").filter(name=raw_name)[:2]
                )
                if len(named) > 1:
                    raise CellError("ID-3", f"名称为“{raw_name}”的机构不止一家，请填写机构编码。")
                self.institutions[key] = named[0] if named else None
        found = self.institutions[key]
        if found is None:
            shown = raw_code or raw_name
            raise CellError("ID-3", f"没有编码或名称为“{shown}”的定点医药机构。")
        if raw_code and raw_name and raw_name != found.name:
            raise CellError(
                "ID-3", f"机构编码{raw_code}是“{found.name}”，与机构名称“{raw_name}”不符。"
            )
        return found


@dataclass(frozen=True)
class Column:
    heading: str
    required: bool = False
    note: str = ""
    example: str = ""


@dataclass(frozen=True)
class Sheet:
    name: str
    key: str  # the sheet's name in the code: patients, qualifications, ...
    columns: list[Column]
    optional: list[Column] = field(default_factory=list)
    note: str = ""

    @property
    def headings(self) -> list[str]:
        return [c.heading for c in self.columns]

    @property
    def all_columns(self) -> list[Column]:
        return [*self.columns, *self.optional]


def _labels(kind: type[rules.Choice]) -> str:
    return "、".join(f"{value}（{label}）" for value, label in kind.choices)


DATE_NOTE = "日期可写作 2025-03-01、2025/3/1、2025年3月1日 或 20250301，也可以是 Excel 日期。"
LAST_DAY_NOTE = "有效期至：最后有效的一天（含当日），与纸质证明的写法相同。"

PATIENTS = Sheet(
    "参保人",
    "patients",
    [
        Column(
            "证件类型",
            note=f"不填为居民身份证；可填 {_labels(rules.CertType)}",
            example="居民身份证",
        ),
        Column(
            "证件号码",
            True,
            "18位居民身份证号；15位旧号码自动转换为18位（ID-1）",
            "451202198001011233",
        ),
        Column("姓名", True, example="韦示例"),
        Column("险种", True, f"可填 {_labels(rules.InsuranceType)}", "390"),
        Column(
            "参保地",
            note="不填为本经办机构所在县区；可填6位区划代码或名称（ID-6）",
            example="451202",
        ),
        Column("联系电话", example="13800001111"),
        Column("联系地址", example="金城江区新建路1号"),
    ],
)
QUALIFICATIONS = Sheet(
    "门特资格",
    "qualifications",
    [
        Column(
            "证件号码", True, "参保人证件号码（须已在本局登记或在参保人表中）", "451202198001011233"
        ),
        Column("病种编码", note="病种编码与病种名称至少填一项（ID-4）", example="M03900"),
        Column("病种名称", example="高血压病"),
        Column("申请日期", True, DATE_NOTE, "2025-02-20"),
        Column("诊断机构编码", True, "定点医疗机构编码（ID-3）", "H45120200001"),
        Column("诊断日期", True, "不晚于申请日期（QL-5）", "2025-02-18"),
        Column("诊断医师", True, example="李医生"),
        Column("认定日期", note="状态为已认定时必填，不早于申请日期（QL-1）", example="2025-03-01"),
        Column(
            "有效期至",
            note=f"可不填，按病种有效期计算（QL-3）；填写时须与计算结果一致。{LAST_DAY_NOTE}",
        ),
        Column(
            "状态",
            True,
            "已认定 或 待复核；含已认定资格的导入须由另一名复核人员确认（QL-1）",
            "已认定",
        ),
    ],
)
SELECTIONS = Sheet(
    "选点",
    "selections",
    [
        Column("证件号码", True, example="451202198001011233"),
        Column(
            "机构编码",
            note="机构编码与机构名称至少填一项；名称须唯一（ID-3）",
            example="H45120200001",
        ),
        Column("机构名称"),
        Column("开始日期", True, DATE_NOTE, "2025-03-01"),
        Column("终止日期", note="已终止的选点填写最后有效的一天（含当日），并填写终止原因（SL-6）"),
        Column("终止原因"),
    ],
)
FILINGS = Sheet(
    "跨省备案",
    "filings",
    [
        Column("证件号码", True, example="451202198001011233"),
        Column("备案类型", True, f"可填 {_labels(rules.FilingType)}", "临时备案"),
        Column(
            "人员类别", True, f"可填 {_labels(rules.FilingSubtype)}（FL-2）", "其他临时外出就医"
        ),
        Column("就医地", True, "广西以外的省或地级市：区划代码或名称（FL-1）", "440100"),
        Column("开始日期", True, DATE_NOTE, "2025-03-01"),
        Column(
            "有效期至",
            note=f"长期备案不填；临时备案不填为6个月（FL-3）。{LAST_DAY_NOTE}",
            example="2025-08-31",
        ),
        Column(
            "办理渠道", note=f"不填为经办窗口；可填 {_labels(rules.Channel)}", example="经办窗口"
        ),
        Column(
            "备案日期",
            note="不填为开始日期；开始日期早于备案日期为补办（FL-7）",
            example="2025-03-01",
        ),
    ],
    optional=[
        Column(
            "备案材料",
            note=f"用“、”分隔；不填视为已按FL-5收齐该人员类别所需材料。可填 {_labels(rules.Material)}",
        ),
        Column("转诊证明编号", note="人员类别为异地转诊时填写所依据的转诊证明编号"),
    ],
)
LETTERS = Sheet(
    "转诊证明",
    "letters",
    [
        Column("证件号码", True, example="451202198001011233"),
        Column("编号", note="转诊证明编号，不填自动编号（TL-4）"),
        Column("病种编码", True, "参保人已认定的病种（TL-2）", "M03900"),
        Column("开具机构编码", True, "参保地二级及以上定点医院（TL-1）", "H45120200001"),
        Column("转入机构编码", True, "参保地以外的定点医疗机构", "H44010600001"),
        Column("转诊原因", True, f"可填 {_labels(rules.LetterReason)}", "本地技术条件所限"),
        Column("开具日期", True, DATE_NOTE, "2025-03-05"),
        Column(
            "有效期至", note=f"可不填，按6个月计算（TL-4）；填写时须与计算结果一致。{LAST_DAY_NOTE}"
        ),
    ],
)

# In dependency order: patients first, then the records that refer to them.
SHEETS = [PATIENTS, QUALIFICATIONS, SELECTIONS, FILINGS, LETTERS]
BY_NAME = {s.name: s for s in SHEETS}
