"""Exchange with the national platform: the platform's identifiers entered by a clerk,
and reconciliations (upload, compare in a Celery worker, adopt the platform's numbers).

A reconciliation changes nothing but its own rows; adopting is the one step that writes
to case records, and it writes only the platform's identifiers (NX-1, NX-2), each save
with a history entry by the user who confirmed."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from cases import access, national, rules, selectors
from cases.imports.reader import read_table
from cases.models import (
    Filing,
    Patient,
    Qualification,
    Reconciliation,
    ReconciliationItem,
    Selection,
    TransferLetter,
)
from cases.rules import Violation
from cases.rules import national as nx
from cases.services import lock_patient, refuse_if, save_as
from portal.imports import SpreadsheetRefused
from portal.models import User
from portal.queue import enqueue_on_commit

logger = logging.getLogger(__name__)
Status = Reconciliation.Status
Outcome = ReconciliationItem.Outcome

SERIAL_MODELS: dict[str, type[Any]] = {
    "qualification": Qualification,
    "selection": Selection,
    "letter": TransferLetter,
    "filing": Filing,
}
BATCH = 2000


class ReconciliationRefused(Exception):
    """A step that cannot be taken; the message is for the user."""


# --- identifiers entered by a clerk ----------------------------------------------------------


@transaction.atomic
def platform_ids_update(
    *, patient: Patient, by: User, psn_no: str, serials: dict[tuple[str, int], str]
) -> int:
    """Set the patient's psn_no and the serials of their records (kind, id → serial);
    every value is checked (NX-1, NX-2) and unique where set. Returns how many records
    changed; nothing changes when one value is refused."""
    patient = lock_patient(patient, by)
    refuse_if(rules.check_not_moved_out(patient.moved_out_on is not None))
    psn_no = nx.normalize_platform_id(psn_no)
    violations = nx.check_psn_no(psn_no)
    if (
        psn_no
        and access.across_bureaus(Patient.objects.filter(psn_no=psn_no), "psn_no is unique (NX-1)")
        .exclude(pk=patient.pk)
        .exists()
    ):
        violations.append(Violation("NX-1", "该人员编号已属于另一位参保人。", "psn_no"))
    changes: list[Any] = []
    for kind, model in SERIAL_MODELS.items():
        wanted = {
            pk: nx.normalize_platform_id(raw) for (k, pk), raw in serials.items() if k == kind
        }
        if not wanted:
            continue
        records = access.under_patient(model.objects.filter(pk__in=list(wanted)), patient)
        changed = [r for r in records if r.trt_dcla_detl_sn != wanted[r.pk]]
        # The serials another record already holds (NX-2), in one query per kind.
        taken = set(
            access.across_bureaus(
                model.objects.filter(trt_dcla_detl_sn__in=[wanted[r.pk] for r in changed])
                .exclude(trt_dcla_detl_sn="")
                .exclude(pk__in=[r.pk for r in changed]),
                "serial is unique (NX-2)",
            ).values_list("trt_dcla_detl_sn", flat=True)
        )
        given = [wanted[r.pk] for r in changed if wanted[r.pk]]
        taken |= {serial for serial in given if given.count(serial) > 1}  # twice in one form
        for record in changed:
            serial, field = wanted[record.pk], f"{kind}_{record.pk}"
            found = nx.check_serial(serial, field)
            if not found and serial in taken:
                found = [Violation("NX-2", "该平台流水号已用于另一条记录。", field)]
            violations += found
            record.trt_dcla_detl_sn = serial
            changes.append(record)
    refuse_if(violations)
    if psn_no != patient.psn_no:
        patient.psn_no = psn_no
        save_as(patient, by, update_fields=["psn_no"])
        changes.append(patient)
    for record in changes:
        if not isinstance(record, Patient):
            save_as(record, by, update_fields=["trt_dcla_detl_sn"])
    return len(changes)


# --- reconciliation ------------------------------------------------------------------------------


def reconciliation_request(*, by: User, kind: str, file_name: str, data: bytes) -> Reconciliation:
    """Keep an uploaded platform file for the user's bureau and queue its comparison."""
    from cases.tasks import run_reconciliation  # noqa: PLC0415 - the task calls back here

    if not access.may_record(by) or by.bureau is None:
        raise ReconciliationRefused("只有县级经办机构的工作人员可以核对平台数据。")
    if kind not in national.LAYOUTS or kind == national.PERSON:
        raise ReconciliationRefused("请选择记录类别。")
    with transaction.atomic():
        reconciliation = Reconciliation.objects.create(
            bureau=by.bureau,
            kind=kind,
            created_by=by,
            file_name=file_name[:200],
            file_sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        )
        enqueue_on_commit(run_reconciliation, reconciliation.pk)
    return reconciliation


def reconciliation_run(reconciliation_id: int) -> None:
    """Compare a queued upload with the bureau's records; taken by one worker only."""
    taken = Reconciliation.objects.filter(pk=reconciliation_id, status=Status.QUEUED).update(
        status=Status.RUNNING, progress=1, finished_at=None
    )
    if not taken:
        return
    reconciliation = Reconciliation.objects.get(pk=reconciliation_id)
    try:
        counts = _compare(reconciliation)
    except SpreadsheetRefused as refusal:
        _fail(reconciliation_id, str(refusal))
        return
    except Exception as exc:
        logger.exception("reconciliation %s failed", reconciliation_id)
        _fail(reconciliation_id, f"核对时出错：{exc}")
        return
    Reconciliation.objects.filter(pk=reconciliation_id).update(
        status=Status.DONE, progress=100, counts=counts, error="", finished_at=timezone.now()
    )


def _fail(reconciliation_id: int, message: str) -> None:
    ReconciliationItem.objects.filter(reconciliation_id=reconciliation_id).delete()
    Reconciliation.objects.filter(pk=reconciliation_id).update(
        status=Status.FAILED, error=message[:300], finished_at=timezone.now()
    )


def _platform_rows(layout: national.Layout, data: bytes) -> list[tuple[int, dict[str, str]]]:
    rows = []
    for row in read_table(data, layout.sheet):
        values = {name: national.platform_value(name, value) for name, value in row.cells.items()}
        rows.append((row.number, values))
    return rows


def _compare(reconciliation: Reconciliation) -> dict[str, int]:
    layout = national.LAYOUTS[reconciliation.kind]
    platform = _platform_rows(layout, bytes(reconciliation.data))
    progress(reconciliation.pk, 20)
    bureau_id = reconciliation.bureau_id
    codes = national.code_tables()
    builder = national.ROW_BUILDERS[reconciliation.kind]
    portal = [
        national.PortalRecord(record.pk, record.patient_id, builder(record, codes, True))
        for record in selectors.exchange_of_bureau(bureau_id, reconciliation.kind).iterator(
            chunk_size=BATCH
        )
    ]
    progress(reconciliation.pk, 50)
    people_rows = access.of_bureau(
        bureau_id, Patient.objects.all(), "national reconciliation"
    ).values_list("pk", "psn_no", "cert_number")
    psn_no_of = {pk: psn_no for pk, psn_no, _ in people_rows if psn_no}
    file_psn_nos = {row["psn_no"] for _, row in platform if row.get("psn_no")}
    file_serials = {row["trt_dcla_detl_sn"] for _, row in platform if row.get("trt_dcla_detl_sn")}
    people = national.People(
        by_psn_no={psn_no: pk for pk, psn_no in psn_no_of.items()},
        by_certno={cert: pk for pk, _, cert in people_rows},
        psn_no_of=psn_no_of,
        taken_psn_nos=frozenset(
            access.across_bureaus(
                Patient.objects.filter(psn_no__in=file_psn_nos).exclude(bureau_id=bureau_id),
                "psn_no is unique (NX-1)",
            ).values_list("psn_no", flat=True)
        ),
    )
    model = SERIAL_MODELS[reconciliation.kind]
    serials_elsewhere = frozenset(
        access.across_bureaus(
            model.objects.filter(trt_dcla_detl_sn__in=file_serials), "serial is unique (NX-2)"
        ).values_list("trt_dcla_detl_sn", flat=True)
    )
    counts = dict.fromkeys(Outcome.values, 0) | {"adoptable": 0}
    ReconciliationItem.objects.filter(reconciliation=reconciliation).delete()
    batch: list[ReconciliationItem] = []
    total, done = max(len(platform) + len(portal), 1), 0
    for compared in national.reconcile(layout, platform, portal, people, serials_elsewhere):
        counts[compared.outcome] += 1
        counts["adoptable"] += compared.adoptable
        record = compared.record
        batch.append(
            ReconciliationItem(
                reconciliation=reconciliation,
                outcome=compared.outcome,
                line=compared.line,
                record_id=record.record_id if record else None,
                patient_id=record.patient_id if record else None,
                platform=national.shown(compared.platform),
                portal=national.shown(record.row) if record else {},
                differences=compared.differences,
                adoptable=compared.adoptable,
            )
        )
        if len(batch) >= BATCH:
            ReconciliationItem.objects.bulk_create(batch)
            done += len(batch)
            progress(reconciliation.pk, 50 + 49 * done // total)
            batch = []
    ReconciliationItem.objects.bulk_create(batch)
    return counts


def progress(reconciliation_id: int, percent: int) -> None:
    Reconciliation.objects.filter(pk=reconciliation_id).update(progress=min(percent, 99))


def _adoptable(reconciliation: Reconciliation) -> Iterator[ReconciliationItem]:
    return (
        ReconciliationItem.objects.filter(reconciliation=reconciliation, adoptable=True)
        .only("record_id", "patient_id", "platform", "portal")
        .iterator(chunk_size=BATCH)
    )


def reconciliation_adopt(*, by: User, reconciliation: Reconciliation) -> dict[str, int]:
    """Take the platform's serials and psn_nos into the matched records (one confirmed
    step, with history). A record changed since the comparison, or a number taken
    meanwhile, is skipped and counted."""
    if not access.may_record(by) or by.bureau_id != reconciliation.bureau_id:
        raise ReconciliationRefused("只能采用本经办机构核对结果中的平台编号。")
    if reconciliation.status != Status.DONE:
        raise ReconciliationRefused("核对完成后才能采用平台编号。")
    if reconciliation.adopted_at is not None:
        raise ReconciliationRefused("该核对结果的平台编号已采用过。")
    model = SERIAL_MODELS[reconciliation.kind]
    serials: dict[int, tuple[str, str]] = {}
    psn_nos: dict[int, tuple[str, str]] = {}
    for item in _adoptable(reconciliation):
        platform_serial = item.platform.get("trt_dcla_detl_sn", "")
        if platform_serial and platform_serial != item.portal.get("trt_dcla_detl_sn", ""):
            serials[item.record_id or 0] = (
                item.portal.get("trt_dcla_detl_sn", ""),
                platform_serial,
            )
        psn_no = item.platform.get("psn_no", "")
        if psn_no and item.patient_id and psn_no != item.portal.get("psn_no", ""):
            psn_nos[item.patient_id] = (item.portal.get("psn_no", ""), psn_no)
    result = {"serials": 0, "psn_nos": 0, "skipped": 0}
    try:
        with transaction.atomic():
            locked = Reconciliation.objects.select_for_update().get(pk=reconciliation.pk)
            if locked.adopted_at is not None:
                raise ReconciliationRefused("该核对结果的平台编号已采用过。")
            result["serials"], skipped = _adopt_serials(model, reconciliation, serials, by)
            result["psn_nos"], skipped_people = _adopt_psn_nos(reconciliation, psn_nos, by)
            result["skipped"] = skipped + skipped_people
            locked.adopted_by, locked.adopted_at = by, timezone.now()
            locked.counts = {**locked.counts, "adopted": result}
            locked.save(update_fields=["adopted_by", "adopted_at", "counts"])
    except IntegrityError:
        raise ReconciliationRefused(
            "平台编号已被其他记录占用（可能有人同时修改），请重新核对后再采用。"
        ) from None
    return result


def _adopt_serials(
    model: type[Any],
    reconciliation: Reconciliation,
    serials: dict[int, tuple[str, str]],
    by: User,
) -> tuple[int, int]:
    source = selectors.EXCHANGE_SOURCES[reconciliation.kind]
    records = access.of_bureau(
        reconciliation.bureau_id,
        model.objects.filter(pk__in=list(serials)).select_for_update(of=("self",)),
        "adopting the platform's serials",
        source.bureau_field,
    )
    changed = []
    for record in records:
        before, after = serials[record.pk]
        if record.trt_dcla_detl_sn == before:
            record.trt_dcla_detl_sn = after
            changed.append(record)
    bulk_update_with_history(
        changed,
        model,
        ["trt_dcla_detl_sn"],
        batch_size=BATCH,
        default_user=by,
        manager=access.of_bureau(
            reconciliation.bureau_id, model.objects.all(), "adopting", source.bureau_field
        ),
    )
    return len(changed), len(serials) - len(changed)


def _adopt_psn_nos(
    reconciliation: Reconciliation, psn_nos: dict[int, tuple[str, str]], by: User
) -> tuple[int, int]:
    patients = access.of_bureau(
        reconciliation.bureau_id,
        Patient.objects.filter(pk__in=list(psn_nos)).select_for_update(),
        "adopting the platform's psn_no",
    )
    changed = []
    for patient in patients:
        before, after = psn_nos[patient.pk]
        if patient.psn_no == before:
            patient.psn_no = after
            changed.append(patient)
    bulk_update_with_history(
        changed,
        Patient,
        ["psn_no"],
        batch_size=BATCH,
        default_user=by,
        manager=access.of_bureau(reconciliation.bureau_id, Patient.objects.all(), "adopting"),
    )
    return len(changed), len(psn_nos) - len(changed)


def queued() -> list[int]:
    """Comparisons waiting longer than a minute, and those whose worker died, queued
    again."""
    now = timezone.now()
    stalled = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    Reconciliation.objects.filter(status=Status.RUNNING, created_at__lt=stalled).update(
        status=Status.QUEUED
    )
    waiting = Reconciliation.objects.filter(
        status=Status.QUEUED, created_at__lt=now - dt.timedelta(minutes=1)
    )
    return list(waiting.values_list("pk", flat=True)[:100])
