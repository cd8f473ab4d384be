"""The import engine: a file is staged row by row (``stage``), then checked (``run`` with
``apply=False``, the dry run) and imported (``apply=True``) by the same rules as a
clerk's forms.

Rows are taken patient by patient — every sheet's rows of a group of patients in one
transaction, in dependency order (the patient, the qualifications, then the transfer
letters, filings and selections that refer to them). The engine reads each row's cells;
a writer (``cases.imports.writers``) checks and writes its records: the batch writer
(``cases.imports.batch``) for the group at once in memory and with COPY, the services
one row at a time in a savepoint, as the reference and for a group the database
refuses. A refused row changes nothing; the dry run writes nothing. The outcome of every
row (created, already there, or refused with its rule, column and a Chinese sentence) is
kept on its ``ImportRow`` and the progress on the ``CaseImport`` after each group, so a
page can watch it and a reload finds it.

Importing the same file again changes nothing: each sheet has a natural key (the
certificate number; patient + disease + approval date; patient + institution + start;
patient + type + destination + start; the letter's serial, or patient + receiver +
issue date), and a row whose record exists is reported as already there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from cases import access, facts, rules
from cases.imports import reader
from cases.imports.batch import BatchWriter
from cases.imports.sheets import (
    FILINGS,
    LETTERS,
    PATIENTS,
    QUALIFICATIONS,
    SELECTIONS,
    SHEETS,
    CellError,
    Lookups,
    choice,
    parse_date,
    parse_last_day,
    text,
)
from cases.imports.writers import (
    Key,
    RowRefused,
    ServiceWriter,
    Writer,
    filing_key,
    letter_keys,
    origin,
    qualification_key,
    selection_key,
)
from cases.models import Patient
from cases.models.imports import KEY_LENGTH, CaseImport, ImportRow
from cases.services import PolicyRefusal, record_reminder_checks, reminder_checks_batched
from institutions import parameters
from portal.imports import SpreadsheetRefused
from portal.models import Bureau, User

logger = logging.getLogger(__name__)
STAGE_BATCH = 2_000
# Dependency order: what a row refers to is imported before it.
ORDER = [PATIENTS, QUALIFICATIONS, LETTERS, FILINGS, SELECTIONS]

Outcome = ImportRow.Outcome
RULE_ID = re.compile(r"^[A-Z]{2}-\d+$")

# --- staging --------------------------------------------------------------------------------


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def patient_key(cells: dict[str, str]) -> str:
    """The certificate number a row belongs to, as the patient is registered (ID-1: a
    first-generation number in its 18-digit form)."""
    number = rules.normalize_cert_number(cells.get("证件号码", ""))
    if len(number) == rules.FIRST_GENERATION_LENGTH and number.isdigit():
        return rules.upgrade_first_generation(number)
    return number[:KEY_LENGTH]  # a longer one is no certificate's: ID-1 refuses the row


def stage(case_import: CaseImport) -> None:
    """Read the file into its ImportRows (streamed, in batches) and count them. A file
    that cannot be read marks the import failed with the reason."""
    ImportRow.objects.filter(case_import=case_import).delete()  # a check started over
    batch: list[tuple[object, ...]] = []
    total = 0
    approvals = False
    approved = rules.QualificationStatus.APPROVED
    pending = ImportRow.Outcome.PENDING.value
    try:
        for row in reader.read(bytes(case_import.data), case_import.file_name):
            batch.append(
                (
                    case_import.pk,
                    row.sheet.name,
                    row.number,
                    patient_key(row.cells),
                    json.dumps(row.cells, ensure_ascii=False),
                    pending,
                )
            )
            status = row.cells.get("状态", "")
            approvals = approvals or (
                row.sheet is QUALIFICATIONS and status in (approved.value, approved.label)
            )
            total += 1
            if len(batch) >= STAGE_BATCH:
                _copy_rows(batch)
                batch = []
        _copy_rows(batch)
    except SpreadsheetRefused as refusal:
        ImportRow.objects.filter(case_import=case_import).delete()
        fail(case_import, str(refusal))
        return
    case_import.total_rows = total
    case_import.has_approvals = approvals
    case_import.save(update_fields=["total_rows", "has_approvals", "updated_at"])


STAGED = ("case_import_id", "sheet", "number", "key", "cells", "outcome")


def _copy_rows(rows: list[tuple[object, ...]]) -> None:
    """Staged rows in with COPY: several times faster than an INSERT of as many rows."""
    if not rows:
        return
    columns = ", ".join(f'"{c}"' for c in STAGED)
    blank = ", ".join(f'"{c}"' for c in ("rule", "column", "message", "note"))
    with connection.cursor() as cursor:
        raw = cursor.cursor
        # The blank text columns have no database default; COPY writes them as ''.
        sql = f"COPY {ImportRow._meta.db_table} ({columns}, {blank}) FROM STDIN"
        with raw.copy(sql) as copy:
            for row in rows:
                copy.write_row((*row, "", "", "", ""))


def fail(case_import: CaseImport, reason: str) -> None:
    case_import.status = CaseImport.Status.FAILED
    case_import.failure = reason
    case_import.finished_at = timezone.now()
    case_import.save(update_fields=["status", "failure", "finished_at", "updated_at"])


# --- one row ----------------------------------------------------------------------------------


@dataclass
class Context:
    """What the rows of one run share: who imports, the reviewer of approvals, the
    reference data, and the patients of the group being processed."""

    user: User
    reviewer: User
    lookups: Lookups
    import_id: int
    bureau: Bureau
    writer: Writer
    patients: dict[str, Patient] = field(default_factory=dict)
    refused_patients: dict[str, int] = field(default_factory=dict)
    # The natural keys of the group's records already there (read once per group, and
    # added to as rows are imported): a row found here is skipped without a query.
    known: set[Key] = field(default_factory=set)

    def cell(self, row: ImportRow, heading: str, parse: Callable[[Any], Any]) -> Any:
        try:
            return parse(row.cells.get(heading, ""))
        except CellError as error:
            raise RowRefused(error.rule, error.message, heading) from None

    def required(self, row: ImportRow, heading: str, parse: Callable[[Any], Any]) -> Any:
        value = self.cell(row, heading, parse)
        if value in (None, ""):
            raise RowRefused("必填", f"请填写“{heading}”。", heading)
        return value

    def patient(self, row: ImportRow) -> Patient:
        if row.key in self.patients:
            return self.patients[row.key]
        if row.key in self.refused_patients:
            line = self.refused_patients[row.key]
            raise RowRefused(
                "ID-1", f"该参保人在参保人表第{line}行有错误，请先更正该行。", "证件号码"
            )
        raise RowRefused(
            "ID-6",
            "本经办机构没有登记该证件号码的参保人：请在参保人表中填写，或由参保地经办机构导入。",
            "证件号码",
        )


# Which column a service's refusal points at, per sheet (the form field → the heading).
FIELDS = {
    PATIENTS.name: {
        "cert_number": "证件号码",
        "cert_type": "证件类型",
        "name": "姓名",
        "insurance_type": "险种",
        "region": "参保地",
        "phone": "联系电话",
    },
    QUALIFICATIONS.name: {
        "disease": "病种编码",
        "applied_on": "申请日期",
        "diagnosis_institution": "诊断机构编码",
        "diagnosis_date": "诊断日期",
        "diagnosis_doctor": "诊断医师",
        "decided_on": "认定日期",
    },
    SELECTIONS.name: {
        "institution": "机构编码",
        "start": "开始日期",
        "end": "终止日期",
        "end_reason": "终止原因",
    },
    FILINGS.name: {
        "type": "备案类型",
        "subtype": "人员类别",
        "destination": "就医地",
        "start": "开始日期",
        "end": "有效期至",
        "channel": "办理渠道",
        "materials": "备案材料",
        "transfer_letter": "转诊证明编号",
    },
    LETTERS.name: {
        "serial": "编号",
        "disease": "病种编码",
        "issuer": "开具机构编码",
        "receiver": "转入机构编码",
        "reason": "转诊原因",
        "issued_on": "开具日期",
    },
}

insurance = choice(rules.InsuranceType, "ID-5", "险种")
cert_type = choice(rules.CertType, "ID-1", "证件类型")
filing_type = choice(rules.FilingType, "FL-2", "备案类型")
subtype = choice(rules.FilingSubtype, "FL-2", "人员类别")
channel = choice(rules.Channel, "FL-6", "办理渠道")
reason = choice(rules.LetterReason, "TL-3", "转诊原因")
material = choice(rules.Material, "FL-5", "备案材料")
status = choice(rules.QualificationStatus, "QL-1", "状态")


def import_patient(ctx: Context, row: ImportRow) -> tuple[str, str]:
    kind = ctx.cell(row, "证件类型", cert_type) or rules.CertType.RESIDENT_ID
    number = ctx.required(row, "证件号码", text)
    mine = ctx.patients.get(row.key)
    if mine is not None and mine.cert_type == kind:
        return Outcome.UNCHANGED, ""
    existing = ctx.writer.registered(kind, row.key)
    if existing is not None:
        if existing.bureau_id != ctx.bureau.pk:
            raise RowRefused(
                "ID-1",
                "该证件号码的参保人已在其他经办机构登记，请联系参保地经办机构。",
                "证件号码",
            )
        ctx.patients[row.key] = existing
        return Outcome.UNCHANGED, ""
    region = ctx.cell(row, "参保地", lambda v: ctx.lookups.region(v, rule="ID-6", what="参保地"))
    name = ctx.required(row, "姓名", text)
    insured = ctx.required(row, "险种", insurance)
    patient = ctx.writer.register(
        cert_type=kind,
        number=number,
        name=name,
        insurance_type=insured,
        region=region,
        phone=ctx.cell(row, "联系电话", text),
        address=ctx.cell(row, "联系地址", text),
    )
    ctx.patients[row.key] = patient
    converted = patient.cert_number != rules.normalize_cert_number(number)
    note = f"ID-1：15位证件号码已转换为 {patient.cert_number}" if converted else ""
    return Outcome.CREATED, note


def import_qualification(ctx: Context, row: ImportRow) -> tuple[str, str]:
    patient = ctx.patient(row)
    try:
        disease = ctx.lookups.disease(row.cells.get("病种编码"), row.cells.get("病种名称"))
    except CellError as error:
        raise RowRefused(error.rule, error.message, "病种编码") from None
    applied_on = ctx.required(row, "申请日期", parse_date)
    state = ctx.required(row, "状态", status)
    if state not in (rules.QualificationStatus.APPROVED, rules.QualificationStatus.SUBMITTED):
        raise RowRefused("QL-1", "状态只能是“已认定”或“待复核”。", "状态")
    approved = state == rules.QualificationStatus.APPROVED
    decided_on = ctx.cell(row, "认定日期", parse_date)
    if approved and decided_on is None:
        raise RowRefused("QL-1", "状态为已认定时须填写认定日期。", "认定日期")
    valid_until = ctx.cell(row, "有效期至", parse_last_day)
    key = qualification_key(patient.pk, disease.pk, state, decided_on, applied_on)
    if key is None or key in ctx.known:
        return Outcome.UNCHANGED, ""
    ctx.writer.qualification(
        patient=patient,
        disease=disease,
        applied_on=applied_on,
        institution=ctx.cell(row, "诊断机构编码", ctx.lookups.institution),
        diagnosed=ctx.cell(row, "诊断日期", parse_date),
        doctor=ctx.cell(row, "诊断医师", text),
        decided_on=decided_on if approved else None,
        valid_until=valid_until,
    )
    ctx.known.add(key)
    return Outcome.CREATED, ""


def import_selection(ctx: Context, row: ImportRow) -> tuple[str, str]:
    patient = ctx.patient(row)
    try:
        institution = ctx.lookups.institution(row.cells.get("机构编码"), row.cells.get("机构名称"))
    except CellError as error:
        raise RowRefused(error.rule, error.message, "机构编码") from None
    if institution is None:
        raise RowRefused("ID-3", "请填写机构编码或机构名称。", "机构编码")
    start = ctx.required(row, "开始日期", parse_date)
    end = ctx.cell(row, "终止日期", parse_last_day)
    end_reason = ctx.cell(row, "终止原因", text)
    key = selection_key(patient.pk, institution.pk, start)
    if key in ctx.known:
        return Outcome.UNCHANGED, ""
    notices = ctx.writer.selection(
        patient=patient, institution=institution, start=start, end=end, end_reason=end_reason
    )
    ctx.known.add(key)
    return Outcome.CREATED, "；".join(notices)


def import_filing(ctx: Context, row: ImportRow) -> tuple[str, str]:
    patient = ctx.patient(row)
    kind = ctx.required(row, "备案类型", filing_type)
    category = ctx.required(row, "人员类别", subtype)
    destination = ctx.required(
        row, "就医地", lambda v: ctx.lookups.region(v, rule="FL-1", what="就医地")
    )
    start = ctx.required(row, "开始日期", parse_date)
    key = filing_key(patient.pk, kind, destination.pk, start)
    if key in ctx.known:
        return Outcome.UNCHANGED, ""
    listed = ctx.cell(row, "备案材料", text)
    note = ""
    if listed:
        parts = listed.replace("，", "、").replace(",", "、").split("、")
        try:
            materials = [material(m) for m in parts if m.strip()]
        except CellError as error:
            raise RowRefused(error.rule, error.message, "备案材料") from None
    else:
        materials = [str(m) for m in rules.materials_for(category)]
        if materials:
            note = "备案材料未填，按FL-5视为已收齐"
    letter = None
    if serial := ctx.cell(row, "转诊证明编号", text):
        letter = ctx.writer.letter_by_serial(patient, serial)
        if letter is None:
            raise RowRefused("FL-5", f"该参保人没有编号为 {serial} 的转诊证明。", "转诊证明编号")
    ctx.writer.filing(
        patient=patient,
        type=kind,
        subtype=category,
        destination=destination,
        start=start,
        end=ctx.cell(row, "有效期至", parse_last_day),
        filed_on=ctx.cell(row, "备案日期", parse_date) or start,
        channel=ctx.cell(row, "办理渠道", channel) or rules.Channel.WINDOW,
        materials=materials,
        letter=letter,
    )
    ctx.known.add(key)
    return Outcome.CREATED, note


def import_letter(ctx: Context, row: ImportRow) -> tuple[str, str]:
    patient = ctx.patient(row)
    serial = ctx.cell(row, "编号", text)
    try:
        disease = ctx.lookups.disease(row.cells.get("病种编码"), "")
    except CellError as error:
        raise RowRefused(error.rule, error.message, "病种编码") from None
    issuer = ctx.required(row, "开具机构编码", ctx.lookups.institution)
    receiver_ = ctx.required(row, "转入机构编码", ctx.lookups.institution)
    issued_on = ctx.required(row, "开具日期", parse_date)
    key = (
        ("letter", patient.pk, serial)
        if serial
        else ("letter", patient.pk, receiver_.pk, issued_on, disease.pk)
    )
    if key in ctx.known:
        return Outcome.UNCHANGED, ""
    letter = ctx.writer.letter(
        patient=patient,
        disease=disease,
        issuer=issuer,
        receiver=receiver_,
        reason=ctx.required(row, "转诊原因", reason),
        issued_on=issued_on,
        serial=serial,
        given_end=ctx.cell(row, "有效期至", parse_last_day),
    )
    ctx.known |= letter_keys(patient.pk, letter.serial, receiver_.pk, issued_on, disease.pk)
    return Outcome.CREATED, "" if serial else f"编号 {letter.serial}"


IMPORTERS: dict[str, Callable[[Context, ImportRow], tuple[str, str]]] = {
    PATIENTS.name: import_patient,
    QUALIFICATIONS.name: import_qualification,
    SELECTIONS.name: import_selection,
    FILINGS.name: import_filing,
    LETTERS.name: import_letter,
}


def process(ctx: Context, row: ImportRow, *, apply: bool) -> None:
    """Check (and write) one row; its outcome goes on the row."""
    sheet_fields = FIELDS[row.sheet]
    try:
        # The writer takes a row's writes only once the row is read and not already
        # there; a refusal or an error leaves the group's other rows as they are.
        with origin(f"导入 #{ctx.import_id} {row.sheet} 第{row.number}行"):
            outcome, note = IMPORTERS[row.sheet](ctx, row)
    except RowRefused as refused:
        cited = RULE_ID.match(refused.rule) is not None
        row.outcome, row.rule, row.column = Outcome.REFUSED, refused.rule, refused.column
        row.message = f"{refused.rule}：{refused.message}" if cited else refused.message
        row.note = ""
    except DataError:
        # A value the rules let through but the database cannot hold: the row's
        # savepoint is rolled back and the row refused, the run goes on.
        logger.warning("import %s: %s row %s not storable", ctx.import_id, row.sheet, row.number)
        row.outcome, row.rule, row.column, row.note = Outcome.REFUSED, "", "", ""
        row.message = "该行有无法保存的内容（过长或含有不支持的字符），请检查后重新导入。"
    except PolicyRefusal as refusal:
        first = refusal.violations[0] if refusal.violations else None
        row.outcome = Outcome.REFUSED
        row.rule = ",".join(dict.fromkeys(v.rule for v in refusal.violations))[:40]
        row.column = sheet_fields.get(first.field or "", "") if first else ""
        row.message = "；".join(str(v) for v in refusal.violations)
        row.note = ""
    else:
        if outcome == Outcome.CREATED and not apply:
            outcome = Outcome.OK
        row.outcome, row.rule, row.column, row.message, row.note = outcome, "", "", "", note[:200]
    if row.outcome == Outcome.REFUSED and row.sheet == PATIENTS.name:
        ctx.refused_patients.setdefault(row.key, row.number)


# --- a run ------------------------------------------------------------------------------------


class _DryRun(Exception):
    """Rolls back a group's writes in a dry run."""


def stand_in_reviewer(bureau: Bureau) -> User:
    """The reviewer an approval is checked with in a dry run made before the reviewer is
    known: never the importing user (QL-1), never saved — the dry run's writes are
    rolled back, and PostgreSQL checks the reference only at a commit that never comes."""
    return User(pk=-1, username="reviewer-to-be", bureau=bureau)


Path = Literal["batch", "services"]


def run(
    case_import: CaseImport,
    *,
    apply: bool,
    user: User,
    reviewer: User | None = None,
    path: Path = "batch",
) -> CaseImport:
    """Check (``apply=False``) or import every staged row; the counts and the outcome of
    each row are saved as it goes. Approved qualifications are imported only with a
    reviewer other than ``user`` (QL-1).

    ``path`` "batch" (the default) checks a group in memory and writes it with COPY,
    falling back to the services for a group whose writes the database refuses;
    "services" takes every row through the services (the reference path)."""
    if apply and case_import.has_approvals and reviewer is None:
        raise ValueError("an import with approved qualifications needs a reviewer (QL-1)")
    with facts.reference_kept(), parameters.kept():
        return _run(case_import, apply=apply, user=user, reviewer=reviewer, path=path)


def _run(
    case_import: CaseImport, *, apply: bool, user: User, reviewer: User | None, path: Path
) -> CaseImport:
    reviewer = reviewer or stand_in_reviewer(case_import.bureau)
    lookups = Lookups()
    services = ServiceWriter(user=user, reviewer=reviewer, bureau=case_import.bureau)
    writer: Writer = services
    if path == "batch":
        writer = BatchWriter(
            apply=apply, user=user, reviewer=reviewer, bureau=case_import.bureau, lookups=lookups
        )
    ctx = Context(
        user=user,
        reviewer=reviewer,
        lookups=lookups,
        import_id=case_import.pk,
        bureau=case_import.bureau,
        writer=writer,
    )
    rows = ImportRow.objects.filter(case_import=case_import)
    keys = list(rows.exclude(key="").order_by("key").values_list("key", flat=True).distinct())
    done = 0
    counts: dict[str, dict[str, int]] = {s.name: defaultdict(int) for s in SHEETS}
    # Rows without a certificate number cannot belong to a patient.
    keyless = list(rows.filter(key=""))
    for row in keyless:
        row.outcome, row.rule, row.column = Outcome.REFUSED, "必填", "证件号码"
        row.message = "请填写“证件号码”。"
    save_outcomes(keyless)
    done += _count(counts, keyless)
    order = {s.name: i for i, s in enumerate(ORDER)}
    size = settings.CASES_IMPORT_GROUP  # patients per transaction
    for start in range(0, len(keys), size):
        group = keys[start : start + size]
        batch = sorted(rows.filter(key__in=group), key=lambda r: (r.key, order[r.sheet], r.number))
        with transaction.atomic():
            try:
                with transaction.atomic(), reminder_checks_batched() as due:
                    try:
                        with transaction.atomic():
                            _group(ctx, writer, group, batch, apply=apply)
                    except (IntegrityError, DataError):
                        if writer is services:
                            raise
                        # The database refused the group's writes (a concurrent write the
                        # group's reads did not see): the group again, row by row.
                        logger.warning("import %s: a group taken row by row", case_import.pk)
                        due.clear()
                        _group(ctx, services, group, batch, apply=apply)
                    if not apply:
                        raise _DryRun
                    record_reminder_checks(due)
            except _DryRun:
                pass
            save_outcomes(batch)
            done += _count(counts, batch)
            if apply:
                case_import.imported_rows = done
            else:
                case_import.checked_rows = done
            case_import.counts = {name: dict(c) for name, c in counts.items() if c}
            case_import.save(
                update_fields=["checked_rows", "imported_rows", "counts", "updated_at"]
            )
    case_import.counts = {name: dict(c) for name, c in counts.items() if c}
    case_import.save(update_fields=["counts", "updated_at"])
    return case_import


def _group(
    ctx: Context, writer: Writer, group: list[str], rows: list[ImportRow], *, apply: bool
) -> None:
    """One group's rows, in order, through ``writer``."""
    mine = access.of_bureau(
        ctx.bureau.pk, Patient.objects.filter(cert_number__in=group), f"import #{ctx.import_id}"
    )
    if apply:
        mine = mine.select_for_update()  # nobody changes their cases under the group
    ctx.writer = writer
    ctx.patients = {p.cert_number: p for p in mine}
    ctx.known = writer.start_group(ctx.patients, rows)
    ctx.refused_patients = {}
    for row in rows:
        process(ctx, row, apply=apply)
    if apply:
        writer.finish_group()


def save_outcomes(rows: list[ImportRow]) -> None:
    """What became of each row: the plain outcomes (most rows) in one UPDATE each, the
    rows with a message or a note in one pipelined round trip."""
    plain: dict[str, list[int]] = defaultdict(list)
    detailed = []
    for r in rows:
        if r.rule or r.column or r.message or r.note:
            detailed.append((r.outcome, r.rule, r.column, r.message, r.note, r.pk))
        else:
            plain[r.outcome].append(r.pk)
    table = ImportRow._meta.db_table
    with connection.cursor() as cursor:
        for outcome, ids in plain.items():
            cursor.execute(
                f"UPDATE {table} SET outcome = %s, rule = '', \"column\" = '', "  # noqa: S608 - the model's own table
                "message = '', note = '' WHERE id = ANY(%s)",
                [outcome, ids],
            )
        if detailed:
            cursor.executemany(
                f"UPDATE {table} SET outcome = %s, rule = %s, "  # noqa: S608 - the model's own table
                '"column" = %s, message = %s, note = %s WHERE id = %s',
                detailed,
            )


def _count(counts: dict[str, Any], rows: list[ImportRow]) -> int:
    for row in rows:
        sheet = counts[row.sheet]
        sheet["rows"] += 1
        sheet[row.outcome] += 1
    return len(rows)
