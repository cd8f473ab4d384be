"""Bounded spreadsheet imports through the admin (django-import-export).

What an upload may cost is limited before anything is parsed, and what is parsed is
streamed and cut off at the limits:

- the file's size (``IMPORT_MAX_BYTES``);
- for XLSX, a ZIP archive, the size its members declare when unpacked
  (``IMPORT_MAX_UNPACKED_BYTES``) and how many there are: a zip bomb is refused from its
  directory, and Python's zipfile never unpacks more than a member declares;
- the number of data rows (``IMPORT_MAX_ROWS``), counted while reading, and the columns
  read per row (``IMPORT_MAX_COLUMNS``).

Between the dry run and the confirmation the upload is kept in the database
(``PendingImport``), bound to the user who made it, removed once imported or refused,
and purged after ``IMPORT_PENDING_HOURS`` when left unconfirmed. A confirmation naming
an upload that is gone, another user's, or a format that does not exist gets a message,
never an error page.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import io
import uuid
import zipfile
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from import_export.forms import ImportForm
from import_export.tmp_storages import BaseStorage

from portal.models import PendingImport

_uploader: contextvars.ContextVar[Any] = contextvars.ContextVar("import_uploader", default=None)
ZIP_MAX_MEMBERS = 1_000


class SpreadsheetRefused(ValueError):
    """An upload that is over a limit or cannot be read; the message is for the user."""


def mib(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"


def check_archive(data: bytes, unpacked_limit: int | None = None) -> None:
    """Refuse an XLSX whose ZIP directory declares more than the limits unpacked."""
    limit = unpacked_limit or settings.IMPORT_MAX_UNPACKED_BYTES
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise SpreadsheetRefused("文件不是有效的 XLSX 工作簿，请确认格式后重新上传。") from None
    members = archive.infolist()
    if len(members) > ZIP_MAX_MEMBERS:
        raise SpreadsheetRefused("工作簿内部文件过多，无法导入。")
    unpacked = sum(member.file_size for member in members)
    if unpacked > limit:
        raise SpreadsheetRefused(
            f"工作簿解压后超过 {mib(limit)}，无法导入；请删除多余的工作表、格式或空白行后重试。"
        )


def too_many_rows() -> SpreadsheetRefused:
    return SpreadsheetRefused(
        f"数据超过 {settings.IMPORT_MAX_ROWS} 行，无法一次导入；请分成几个文件分别导入。"
    )


def check_row_count(count: int) -> None:
    if count > settings.IMPORT_MAX_ROWS:
        raise too_many_rows()


def check_upload(upload: Any) -> None:
    """The checks made on an uploaded file before it is read at all."""
    if upload.size > settings.IMPORT_MAX_BYTES:
        raise SpreadsheetRefused(
            f"文件大小超过 {mib(settings.IMPORT_MAX_BYTES)}，无法导入；请分成几个文件分别导入。"
        )
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    if head.startswith(b"PK"):
        check_archive(upload.read())
        upload.seek(0)


class LimitedImportForm(ImportForm):
    def clean_import_file(self) -> Any:
        upload = self.cleaned_data["import_file"]
        try:
            check_upload(upload)
        except SpreadsheetRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None
        return upload


class ImportFileGone(Exception):
    pass


class DatabaseImportStorage(BaseStorage):
    """django-import-export's temporary storage, as ``PendingImport`` rows of the user
    whose request is being served (set by SafeImportMixin)."""

    def _user(self) -> Any:
        user = _uploader.get()
        if user is None:
            raise ImproperlyUsed("DatabaseImportStorage is used outside SafeImportMixin")
        return user

    def save(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.name = uuid.uuid4().hex
        PendingImport.objects.create(name=self.name, user=self._user(), data=data)

    def read(self) -> bytes | str:
        row = PendingImport.objects.filter(name=str(self.name), user=self._user()).first()
        if row is None:
            raise ImportFileGone(self.name)
        data = bytes(row.data)
        return data if "b" in self.read_mode else data.decode(self.encoding or "utf-8")

    def remove(self) -> None:
        PendingImport.objects.filter(name=str(self.name), user=self._user()).delete()


class ImproperlyUsed(RuntimeError):
    pass


def keep_upload(user: Any, data: bytes) -> str:
    """Keep an upload between a dry run and its confirmation, bound to ``user``; its name."""
    name = uuid.uuid4().hex
    PendingImport.objects.create(name=name, user=user, data=data)
    return name


def take_upload(user: Any, name: str) -> bytes | None:
    """The upload ``user`` kept under ``name`` (removed now), or None when it is gone or
    another user's."""
    row = PendingImport.objects.filter(name=str(name)[:32], user=user).first()
    if row is None:
        return None
    data = bytes(row.data)
    row.delete()
    return data


def purge_pending(now: dt.datetime | None = None) -> int:
    """Delete uploads left unconfirmed for longer than IMPORT_PENDING_HOURS."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.IMPORT_PENDING_HOURS)
    deleted, _ = PendingImport.objects.filter(created_at__lt=cutoff).delete()
    return deleted


class SafeImportMixin:
    """For an ImportMixin admin: the limits above, the database storage, and a message
    instead of an error for a confirmation that cannot be carried out."""

    import_form_class = LimitedImportForm
    tmp_storage_class = DatabaseImportStorage

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        token = _uploader.set(request.user)
        try:
            response: HttpResponse = super().import_action(request, **kwargs)  # type: ignore[misc]
        finally:
            _uploader.reset(token)
        context = getattr(response, "context_data", None) or {}
        self.adjust_dry_run(request, context)
        form = context.get("form")
        if request.method == "POST" and context.get("confirm_form") is None and form is not None:
            # Nothing to confirm: the upload is not kept.
            upload = getattr(form, "cleaned_data", {}).get("import_file")
            name = getattr(upload, "tmp_storage_name", None)
            if name:
                PendingImport.objects.filter(name=name, user_id=request.user.pk or 0).delete()
        return response

    def adjust_dry_run(self, request: HttpRequest, context: dict[str, Any]) -> None:
        """A hook to change the dry run's page (e.g. offer a confirmation) before the
        upload is dropped for want of one."""

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not self.has_import_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        formats = self.get_import_formats()  # type: ignore[attr-defined]
        chosen = request.POST.get("format", "")
        again = HttpResponseRedirect(
            reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_import",  # type: ignore[attr-defined]
            )
        )
        if request.method == "POST" and not (chosen.isdigit() and int(chosen) < len(formats)):
            messages.error(request, "导入请求不完整，请重新上传文件。")
            return again
        token = _uploader.set(request.user)
        try:
            result: HttpResponse = super().process_import(request, **kwargs)  # type: ignore[misc]
            return result
        except ImportFileGone:
            messages.error(request, "待导入的文件已过期或不存在，请重新上传。")
            return again
        finally:
            _uploader.reset(token)

    def add_data_read_fail_error_to_form(self, form: Any, e: Exception) -> None:
        if isinstance(e, SpreadsheetRefused):
            form.add_error("import_file", str(e))
        else:
            form.add_error("import_file", "无法读取文件，请确认所选格式与文件一致（XLSX 或 CSV）。")
