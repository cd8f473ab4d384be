"""The national platform's record layouts: the portal's records written in the platform's
field names (export), and a platform file compared with the portal's records
(reconciliation). docs/national-exchange.md describes every field.

Rows here are plain dicts of strings keyed by the platform's field names; dates are
YYYY-MM-DD and ``enddate`` is the last valid day, empty when open-ended (NX-3)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cases import masking, rules
from cases.imports.sheets import CellError, Column, Sheet, parse_date, text
from cases.models import CodeMapping, Filing, Patient, Qualification, Selection, TransferLetter
from cases.models.national import Kind
from cases.rules import national as nx

PERSON = "person"

FIELD_LABELS: dict[str, str] = {
    "psn_no": "人员编号",
    "psn_cert_type": "人员证件类型",
    "certno": "证件号码",
    "psn_name": "人员姓名",
    "gend": "性别",
    "brdy": "出生日期",
    "tel": "联系电话",
    "addr": "联系地址",
    "insutype": "险种类型",
    "insu_admdvs": "参保所属医保区划",
    "opsp_dise_code": "门慢门特病种目录代码",
    "opsp_dise_name": "门慢门特病种名称",
    "ide_fixmedins_no": "鉴定定点医药机构编号",
    "ide_fixmedins_name": "鉴定定点医药机构名称",
    "hosp_ide_date": "医院鉴定日期",
    "diag_dr_codg": "诊断医师编码",
    "diag_dr_name": "诊断医师姓名",
    "begndate": "开始日期",
    "enddate": "结束日期",
    "dcla_souc": "申报来源",
    "trt_dcla_detl_sn": "待遇申报明细流水号",
    "fix_srt_no": "定点排序号",
    "fixmedins_code": "定点医药机构编号",
    "fixmedins_name": "定点医药机构名称",
    "reflin_medins_no": "转往定点医药机构编号",
    "reflin_medins_name": "转往医院名称",
    "mdtrtarea_admdvs": "就医地医保区划",
    "refl_date": "转院日期",
    "refl_rea": "转院原因",
    "rloc_admdvs": "异地就医地医保区划",
    "rloc_rea": "异地就医类型",
}

DATE_FIELDS = frozenset({"brdy", "hosp_ide_date", "begndate", "enddate", "refl_date"})


@dataclass(frozen=True)
class Layout:
    kind: str
    label: str
    file_stem: str  # the platform's interface or table, for the file name
    fields: tuple[str, ...]
    # The field that, with the person and begndate, names the record on both sides.
    key: str = ""
    # Compared in a reconciliation (names are not: the platform may spell them otherwise).
    compared: tuple[str, ...] = ()
    required: tuple[str, ...] = field(default=())

    @property
    def sheet(self) -> Sheet:
        """The columns a platform file must have (the others are read when present)."""
        return Sheet(
            name=self.file_stem,
            key=self.kind,
            columns=[Column(name, required=True) for name in self.required],
            optional=[Column(name) for name in self.fields if name not in self.required],
        )


_PERSON_ID = ("psn_no", "certno", "psn_name")

LAYOUTS: dict[str, Layout] = {
    PERSON: Layout(
        PERSON,
        "参保人员",
        "人员信息",
        (
            "psn_no",
            "psn_cert_type",
            "certno",
            "psn_name",
            "gend",
            "brdy",
            "tel",
            "addr",
            "insutype",
            "insu_admdvs",
        ),
    ),
    Kind.QUALIFICATION: Layout(
        Kind.QUALIFICATION,
        Kind.QUALIFICATION.label,
        "2503_门慢特病登记",
        (
            *_PERSON_ID,
            "insutype",
            "opsp_dise_code",
            "opsp_dise_name",
            "ide_fixmedins_no",
            "ide_fixmedins_name",
            "hosp_ide_date",
            "diag_dr_codg",
            "diag_dr_name",
            "begndate",
            "enddate",
            "dcla_souc",
            "trt_dcla_detl_sn",
        ),
        key="opsp_dise_code",
        compared=(
            "insutype",
            "opsp_dise_code",
            "ide_fixmedins_no",
            "hosp_ide_date",
            "begndate",
            "enddate",
        ),
        required=("psn_no", "opsp_dise_code", "begndate", "enddate", "trt_dcla_detl_sn"),
    ),
    Kind.SELECTION: Layout(
        Kind.SELECTION,
        Kind.SELECTION.label,
        "2505_定点机构",
        (
            *_PERSON_ID,
            "fix_srt_no",
            "fixmedins_code",
            "fixmedins_name",
            "begndate",
            "enddate",
            "trt_dcla_detl_sn",
        ),
        key="fixmedins_code",
        compared=("fix_srt_no", "fixmedins_code", "begndate", "enddate"),
        required=("psn_no", "fixmedins_code", "begndate", "enddate", "trt_dcla_detl_sn"),
    ),
    Kind.LETTER: Layout(
        Kind.LETTER,
        Kind.LETTER.label,
        "2501_转诊",
        (
            *_PERSON_ID,
            "reflin_medins_no",
            "reflin_medins_name",
            "mdtrtarea_admdvs",
            "refl_date",
            "refl_rea",
            "begndate",
            "enddate",
            "trt_dcla_detl_sn",
        ),
        key="reflin_medins_no",
        compared=("reflin_medins_no", "mdtrtarea_admdvs", "refl_date", "begndate", "enddate"),
        required=("psn_no", "reflin_medins_no", "begndate", "enddate", "trt_dcla_detl_sn"),
    ),
    Kind.FILING: Layout(
        Kind.FILING,
        Kind.FILING.label,
        "out_appy_d_跨省备案",
        (
            *_PERSON_ID,
            "insu_admdvs",
            "rloc_admdvs",
            "rloc_rea",
            "begndate",
            "enddate",
            "dcla_souc",
            "trt_dcla_detl_sn",
        ),
        key="rloc_admdvs",
        compared=("insu_admdvs", "rloc_admdvs", "rloc_rea", "begndate", "enddate"),
        required=("psn_no", "rloc_admdvs", "begndate", "enddate", "trt_dcla_detl_sn"),
    ),
}

EXPORT_KINDS = [(PERSON, LAYOUTS[PERSON].label), *Kind.choices]


def code_tables() -> nx.CodeTables:
    """The code values in force: the defaults with the administrators' rows over them."""
    overrides: dict[str, dict[str, str]] = defaultdict(dict)
    for kind, value, code in CodeMapping.objects.values_list(
        "kind", "portal_value", "platform_code"
    ):
        overrides[kind][value] = code
    return nx.CodeTables(dict(overrides))


# --- the portal's records as the platform's rows -----------------------------------------------


def _person(patient: Patient, unmask: bool) -> dict[str, str]:
    certno = patient.cert_number if unmask else masking.mask_cert_number(patient.cert_number)
    return {"psn_no": patient.psn_no, "certno": certno, "psn_name": patient.name}


def person_row(patient: Patient, codes: nx.CodeTables, unmask: bool) -> dict[str, str]:
    """Needs nothing joined: the insured county is the patient's region code."""
    return {
        **_person(patient, unmask),
        "psn_cert_type": codes.out("psn_cert_type", patient.cert_type),
        "gend": codes.out("gend", patient.sex),
        "brdy": nx.date_out(patient.birth_date),
        "tel": patient.phone if unmask else masking.mask_phone(patient.phone),
        "addr": patient.address,
        "insutype": codes.out("insutype", patient.insurance_type),
        "insu_admdvs": patient.region_id,
    }


def qualification_row(record: Qualification, codes: nx.CodeTables, unmask: bool) -> dict[str, str]:
    """Needs patient, disease and diagnosis_institution joined."""
    return {
        **_person(record.patient, unmask),
        "insutype": codes.out("insutype", record.patient.insurance_type),
        "opsp_dise_code": record.disease.code,
        "opsp_dise_name": record.disease.name,
        "ide_fixmedins_no": record.diagnosis_institution.code,
        "ide_fixmedins_name": record.diagnosis_institution.name,
        "hosp_ide_date": nx.date_out(record.diagnosis_date),
        "diag_dr_codg": "",
        "diag_dr_name": record.diagnosis_doctor,
        "begndate": nx.date_out(record.valid_from),
        "enddate": nx.end_out(record.valid_until),
        "dcla_souc": codes.out("dcla_souc", record.channel),
        "trt_dcla_detl_sn": record.trt_dcla_detl_sn,
    }


def selection_row(record: Selection, codes: nx.CodeTables, unmask: bool) -> dict[str, str]:
    """Needs patient and institution joined."""
    return {
        **_person(record.patient, unmask),
        "fix_srt_no": str(record.slot),
        "fixmedins_code": record.institution.code,
        "fixmedins_name": record.institution.name,
        "begndate": nx.date_out(record.start),
        "enddate": nx.end_out(record.end),
        "trt_dcla_detl_sn": record.trt_dcla_detl_sn,
    }


def letter_row(record: TransferLetter, codes: nx.CodeTables, unmask: bool) -> dict[str, str]:
    """Needs patient and receiver joined."""
    reason = record.reason_text or str(rules.LetterReason.labels.get(record.reason, ""))
    return {
        **_person(record.patient, unmask),
        "reflin_medins_no": record.receiver.code,
        "reflin_medins_name": record.receiver.name,
        "mdtrtarea_admdvs": record.receiver.location_id,
        "refl_date": nx.date_out(record.issued_on),
        "refl_rea": reason,
        "begndate": nx.date_out(record.issued_on),
        "enddate": nx.end_out(record.end),
        "trt_dcla_detl_sn": record.trt_dcla_detl_sn,
    }


def filing_row(record: Filing, codes: nx.CodeTables, unmask: bool) -> dict[str, str]:
    """Needs patient joined."""
    return {
        **_person(record.patient, unmask),
        "insu_admdvs": record.patient.region_id,
        "rloc_admdvs": record.destination_id,
        "rloc_rea": codes.out("rloc_rea", record.subtype),
        "begndate": nx.date_out(record.start),
        "enddate": nx.end_out(record.end),
        "dcla_souc": codes.out("dcla_souc", record.channel),
        "trt_dcla_detl_sn": record.trt_dcla_detl_sn,
    }


ROW_BUILDERS: dict[str, Any] = {
    PERSON: person_row,
    Kind.QUALIFICATION: qualification_row,
    Kind.SELECTION: selection_row,
    Kind.LETTER: letter_row,
    Kind.FILING: filing_row,
}


# --- a platform file's rows --------------------------------------------------------------------


def platform_value(name: str, raw: str) -> str:
    """A value as the portal writes it: dates as YYYY-MM-DD (an unreadable date is kept
    as written, so it shows as a difference), identifiers without spaces."""
    value = text(raw)
    if name in DATE_FIELDS and value:
        try:
            day = parse_date(value)
        except CellError:
            return value
        return nx.date_out(day)
    if name in ("psn_no", "trt_dcla_detl_sn", "certno"):
        return nx.normalize_platform_id(value)
    return value


# --- reconciliation ----------------------------------------------------------------------------


@dataclass
class PortalRecord:
    record_id: int
    patient_id: int
    row: dict[str, str]
    used: bool = False


@dataclass(frozen=True)
class Compared:
    outcome: str  # ReconciliationItem.Outcome
    line: int | None
    record: PortalRecord | None
    platform: dict[str, str]
    differences: list[str]
    adoptable: bool


@dataclass(frozen=True)
class People:
    """The bureau's patients by the platform's person identifiers."""

    by_psn_no: dict[str, int]
    by_certno: dict[str, int]
    psn_no_of: dict[int, str]
    taken_psn_nos: frozenset[str] = frozenset()  # held by patients of other bureaus

    def find(self, row: dict[str, str]) -> int | None:
        if row.get("psn_no") and row["psn_no"] in self.by_psn_no:
            return self.by_psn_no[row["psn_no"]]
        certno = rules.upgrade_first_generation(row.get("certno", ""))
        return self.by_certno.get(certno) if certno else None


def reconcile(
    layout: Layout,
    platform_rows: Iterable[tuple[int, dict[str, str]]],
    portal: Sequence[PortalRecord],
    people: People,
    serials_elsewhere: frozenset[str] = frozenset(),
) -> Iterable[Compared]:
    """Each platform row matched to at most one portal record: by the platform's serial,
    else by the person, the layout's key and begndate, else by the person and key alone
    (a record whose dates differ). What is left on either side is only there."""
    by_serial = {r.row["trt_dcla_detl_sn"]: r for r in portal if r.row["trt_dcla_detl_sn"]}
    exact: dict[tuple[int, str, str], list[PortalRecord]] = defaultdict(list)
    loose: dict[tuple[int, str], list[PortalRecord]] = defaultdict(list)
    for record in portal:
        exact[record.patient_id, record.row[layout.key], record.row["begndate"]].append(record)
        loose[record.patient_id, record.row[layout.key]].append(record)

    def free(candidates: list[PortalRecord]) -> PortalRecord | None:
        return next((r for r in candidates if not r.used), None)

    for line, row in platform_rows:
        serial = row.get("trt_dcla_detl_sn", "")
        found = by_serial.get(serial) if serial else None
        if found is not None and found.used:
            found = None
        if found is None:
            patient_id = people.find(row)
            if patient_id is not None:
                key = row.get(layout.key, "")
                found = free(exact[patient_id, key, row.get("begndate", "")]) or free(
                    loose[patient_id, key]
                )
        if found is None:
            yield Compared("platform_only", line, None, row, [], adoptable=False)
            continue
        found.used = True
        differences = [
            name for name in layout.compared if name in row and row[name] != found.row[name]
        ]
        yield Compared(
            "differs" if differences else "matched",
            line,
            found,
            row,
            differences,
            adoptable=_adoptable(row, found, people, serials_elsewhere),
        )
    for record in portal:
        if not record.used:
            yield Compared("portal_only", None, record, {}, [], adoptable=False)


def _adoptable(
    row: dict[str, str], record: PortalRecord, people: People, serials_elsewhere: frozenset[str]
) -> bool:
    """The platform's serial or psn_no would be new to the record and is well formed and
    held by no other record or patient (NX-1, NX-2)."""
    serial, psn_no = row.get("trt_dcla_detl_sn", ""), row.get("psn_no", "")
    new_serial = (
        bool(serial)
        and serial != record.row["trt_dcla_detl_sn"]
        and not nx.check_serial(serial)
        and serial not in serials_elsewhere
    )
    holder = people.by_psn_no.get(psn_no)
    new_psn_no = (
        bool(psn_no)
        and psn_no != people.psn_no_of.get(record.patient_id, "")
        and not nx.check_psn_no(psn_no)
        and holder in (None, record.patient_id)
        and psn_no not in people.taken_psn_nos
    )
    return new_serial or new_psn_no


def shown(row: dict[str, str]) -> dict[str, str]:
    """A row as the reconciliation keeps it: the certificate number masked."""
    if row.get("certno"):
        return {**row, "certno": masking.mask_cert_number(row["certno"])}
    return row
