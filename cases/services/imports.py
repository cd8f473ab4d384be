"""Imports of a bureau's case records (cases.imports): upload, check, confirm, review and
import, each a step of the ``CaseImport`` record. The engine does the rows; these steps
keep the record's state, and who did what, right."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cases import access
from cases.imports import engine
from cases.models import CaseImport
from portal.models import User

Status = CaseImport.Status


class ImportRefused(Exception):
    """A step that cannot be taken now; the message is for the user."""


def import_upload(*, by: User, file_name: str, data: bytes) -> CaseImport:
    """Record an uploaded file for the user's bureau; it is read and checked by
    ``import_check`` (a Celery task for the portal)."""
    if by.bureau is None:
        raise ImportRefused("只有经办机构的工作人员才能导入本局的业务档案。")
    return CaseImport.objects.create(
        bureau=by.bureau,
        created_by=by,
        file_name=file_name[:200],
        file_sha256=engine.file_hash(data),
        data=data,
    )


def import_check(case_import: CaseImport) -> CaseImport:
    """Read the file and check every row (the dry run): nothing is imported."""
    _set(case_import, Status.CHECKING)
    engine.stage(case_import)
    if case_import.status == Status.FAILED:
        return case_import
    engine.run(case_import, apply=False, user=case_import.created_by)
    _set(case_import, Status.CHECKED, finished=True)
    return case_import


@transaction.atomic
def import_confirm(*, by: User, case_import: CaseImport) -> CaseImport:
    """The uploader's go-ahead after the dry run. With approved qualifications the batch
    waits for a reviewer of the bureau (QL-1); otherwise it is queued for import."""
    case_import = _locked(case_import)
    if case_import.status != Status.CHECKED:
        raise ImportRefused("该导入不在待确认状态。")
    if by.pk != case_import.created_by_id:
        raise ImportRefused("只有上传该文件的工作人员才能确认导入。")
    case_import.confirmed_by = by
    case_import.status = Status.AWAITING_REVIEW if case_import.has_approvals else Status.QUEUED
    case_import.save(update_fields=["confirmed_by", "status"])
    return case_import


@transaction.atomic
def import_review(*, by: User, case_import: CaseImport) -> CaseImport:
    """A reviewer of the bureau, not the uploader, takes the batch's approvals as theirs
    (QL-1) and queues it for import."""
    case_import = _locked(case_import)
    if case_import.status != Status.AWAITING_REVIEW:
        raise ImportRefused("该导入不在待复核状态。")
    if not access.may_review(by) or by.bureau_id != case_import.bureau_id:
        raise ImportRefused("QL-1：只有本局的复核人员才能确认含已认定资格的导入。")
    if by.pk == case_import.created_by_id:
        raise ImportRefused("QL-1：复核人不能是上传该文件的经办人（双人复核）。")
    case_import.reviewer = by
    case_import.status = Status.QUEUED
    case_import.save(update_fields=["reviewer", "status"])
    return case_import


def import_apply(case_import: CaseImport) -> CaseImport:
    """Import every row that holds (again checked: the records may have changed since
    the dry run); a refused row changes nothing."""
    _set(case_import, Status.IMPORTING)
    engine.run(
        case_import,
        apply=True,
        user=case_import.created_by,
        reviewer=case_import.reviewer,
    )
    _set(case_import, Status.IMPORTED, finished=True)
    return case_import


def _locked(case_import: CaseImport) -> CaseImport:
    return CaseImport.objects.select_for_update().get(pk=case_import.pk)


def _set(case_import: CaseImport, status: str, *, finished: bool = False) -> None:
    case_import.status = status
    fields = ["status"]
    if finished:
        case_import.finished_at = timezone.now()
        fields.append("finished_at")
    case_import.save(update_fields=fields)
