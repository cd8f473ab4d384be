"""What every page of the admin site shares, so that none of them can step around the
portal's promises: a bureau reaches only its own records, history is a record and never
a way to write, and personal numbers are masked unless the user may unmask them.

- An object outside the user's ``get_queryset`` is a 404. (Django's admin redirects to
  the index saying "perhaps it was deleted"; a 404 says the same and nothing more, as in
  the portal.)
- django-simple-history's pages are scoped and read-only. Its own history list falls
  back to the newest version of an object outside the queryset, and its version page
  loads the version without the queryset and saves its form for anyone who may view.
  Here both exist only for an object in ``get_queryset``; a version shows every field
  read-only; nothing is saved from it (any method but GET is 405). Old values are put
  back by editing the object itself, through its validation.
- ``masked_fields`` (field name -> masking function) are masked in the history's list of
  changes for everyone; change and version pages mask them per user (see cases.admin).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

READ_ONLY_FLAG = "portal_admin_read_only"


class ScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose out-of-scope (or missing) objects are a plain 404."""

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        raise Http404(f"{opts.verbose_name}不存在")


class MaskedDeltaHelper(HistoricalRecordContextHelper):
    """The history's list of changes with personal numbers masked on both sides."""

    def __init__(self, model: Any, record: Any, masks: dict[str, Callable[[str], str]]) -> None:
        super().__init__(model, record)
        self.masks = masks

    def prepare_delta_change_value(self, change: Any, value: Any) -> Any:
        mask = self.masks.get(change.field)
        if mask is not None:
            return mask(str(value or ""))
        return super().prepare_delta_change_value(change, value)


class HistoryAdmin(ScopedAdmin, SimpleHistoryAdmin):
    """SimpleHistoryAdmin that is scoped by ``get_queryset`` and never writes."""

    masked_fields: dict[str, Callable[[str], str]] = {}

    def _scoped_object(self, request: HttpRequest, object_id: str) -> Any:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"{self.opts.verbose_name}不存在")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self._scoped_object(request, object_id)
        return super().history_view(request, str(obj.pk), extra_context)

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        obj = self._scoped_object(request, object_id)
        history = getattr(self.model, self.opts.simple_history_manager_attribute)  # type: ignore[attr-defined]
        if not str(version_id).isdigit() or not (
            history.filter(**{self.opts.pk.attname: obj.pk, "history_id": int(version_id)}).exists()
        ):
            raise Http404("历史版本不存在")
        setattr(request, READ_ONLY_FLAG, True)
        response = super().history_form_view(
            request, str(obj.pk), str(int(version_id)), extra_context
        )
        self.version_shown(request, obj)
        return response

    def version_shown(self, request: HttpRequest, obj: Any) -> None:
        """Called after a version page was rendered (cases.admin audits unmasking here)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if getattr(request, READ_ONLY_FLAG, False):
            fields += [
                f.name
                for f in self.opts.get_fields()
                if not f.auto_created and getattr(f, "editable", False) and f.name not in fields
            ]
        return fields

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def get_historical_record_context_helper(
        self, request: HttpRequest, historical_record: Any
    ) -> HistoricalRecordContextHelper:
        return MaskedDeltaHelper(self.model, historical_record, self.masked_fields)
