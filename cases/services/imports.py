"""Imports of a bureau's case records (cases.imports): upload, check, confirm, review and
import, each a step of the ``CaseImport`` record. The engine does the rows; these steps
keep the record's state, and who did what, right.

A check or an import is taken by one worker only (``_claim``: the status moves from
queued to running in one UPDATE). A run whose worker died stops making progress; the
sweep (``requeue_stalled``) queues it again: a check starts over, an import goes on
where it was, since re-importing what is already there changes nothing."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases import access
from cases.imports import engine
from cases.models import CaseImport
from portal.models import Bureau, User

logger = logging.getLogger(__name__)
Status = CaseImport.Status


class ImportRefused(Exception):
    """A step that cannot be taken now; the message is for the user."""


def import_upload(
    *, by: User, file_name: str, data: bytes, bureau: Bureau | None = None
) -> CaseImport:
    """Record an uploaded file for the user's bureau (a data administrator names the
    bureau), queued to be read and checked."""
    if not access.may_import(by):
        raise ImportRefused("您没有导入业务档案的权限。")
    if by.bureau is not None and bureau is not None and bureau.pk != by.bureau_id:
        raise ImportRefused("只能导入本经办机构的业务档案。")
    bureau = by.bureau or bureau
    if bureau is None:
        raise ImportRefused("请选择导入哪个经办机构的业务档案。")
    if not bureau.keeps_cases:
        raise ImportRefused("只能导入县级经办机构的业务档案。")
    return CaseImport.objects.create(
        bureau=bureau,
        created_by=by,
        file_name=file_name[:200],
        file_sha256=engine.file_hash(data),
        data=data,
    )


def import_check(import_id: int) -> None:
    """Read the file and check every row (the dry run): nothing is imported."""
    case_import = _claim(import_id, Status.QUEUED, Status.CHECKING)
    if case_import is None:
        return
    with _failing_on_error(case_import):
        engine.stage(case_import)
        if case_import.status == Status.FAILED:
            return
        engine.run(case_import, apply=False, user=case_import.created_by)
        _finish(case_import, Status.CHECKED)


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
    case_import.status = Status.AWAITING_REVIEW if case_import.has_approvals else Status.CONFIRMED
    case_import.save(update_fields=["confirmed_by", "status", "updated_at"])
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
    case_import.status = Status.CONFIRMED
    case_import.save(update_fields=["reviewer", "status", "updated_at"])
    return case_import


def import_apply(import_id: int) -> None:
    """Import every row that holds, each checked again (the records may have changed
    since the dry run); a refused row changes nothing."""
    case_import = _claim(import_id, Status.CONFIRMED, Status.IMPORTING)
    if case_import is None:
        return
    with _failing_on_error(case_import):
        engine.run(
            case_import,
            apply=True,
            user=case_import.created_by,
            reviewer=case_import.reviewer,
        )
        _finish(case_import, Status.IMPORTED)


def queued() -> list[tuple[int, str]]:
    """Imports waiting for a worker: (id, "check" or "apply")."""
    waiting = CaseImport.objects.filter(status__in=(Status.QUEUED, Status.CONFIRMED))
    return [
        (pk, "check" if status == Status.QUEUED else "apply")
        for pk, status in waiting.values_list("pk", "status")
    ]


def requeue_stalled(now: dt.datetime | None = None) -> int:
    """Runs that made no progress for CASES_IMPORT_STALLED seconds lost their worker:
    queue them again (a check from the start, an import where it was)."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.CASES_IMPORT_STALLED)
    stalled = CaseImport.objects.filter(updated_at__lt=cutoff)
    checks = stalled.filter(status=Status.CHECKING).update(
        status=Status.QUEUED, checked_rows=0, updated_at=timezone.now()
    )
    imports = stalled.filter(status=Status.IMPORTING).update(
        status=Status.CONFIRMED, updated_at=timezone.now()
    )
    return checks + imports


def _claim(import_id: int, waiting: str, running: str) -> CaseImport | None:
    taken = CaseImport.objects.filter(pk=import_id, status=waiting).update(
        status=running, updated_at=timezone.now()
    )
    if not taken:
        return None  # another worker has it, or it is not waiting
    return (
        CaseImport.objects.select_related("bureau", "created_by__bureau", "reviewer")
        .defer("data")
        .get(pk=import_id)
    )


class _failing_on_error:  # noqa: N801 - used as a context manager
    """An unexpected error marks the import failed (and is logged), never left running."""

    def __init__(self, case_import: CaseImport) -> None:
        self.case_import = case_import

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> bool:
        if error is None or not isinstance(error, Exception):
            return False
        logger.exception("import %s failed", self.case_import.pk, exc_info=error)
        engine.fail(self.case_import, "处理时发生错误，请重新上传；如仍失败请联系系统管理员。")
        return True


def _locked(case_import: CaseImport) -> CaseImport:
    return CaseImport.objects.select_for_update().defer("data").get(pk=case_import.pk)


def _finish(case_import: CaseImport, status: str) -> None:
    case_import.status = status
    case_import.finished_at = timezone.now()
    case_import.save(update_fields=["status", "finished_at", "updated_at"])
