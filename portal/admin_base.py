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
- A changelist's search form posts its term, which is kept in the session under a key;
  the list and its links carry the key (``sk``), never the term. Where the records hold
  personal numbers, an ID number or phone given as ``q`` in a URL is refused with a
  message, as in the portal's search.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    QueryDict,
)
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from cases import access
from cases.masking import NOT_IN_URLS, identifies_someone
from portal import replica, searches

READ_ONLY_FLAG = "portal_admin_read_only"
SEARCH_KEY = "sk"
SEARCHES = "admin_searches"  # the session bucket (portal.searches)
# What the search form posts besides the filters it carries along.
NOT_FILTERS = {SEARCH_VAR, SEARCH_KEY, "p", "_search", "csrfmiddlewaretoken"}


def with_params(query: QueryDict, changes: dict[str, str | None]) -> Any:
    """A copy of ``query`` with some parameters set (or removed, for None)."""
    changed = query.copy()
    for name, value in changes.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed


class KeyedSearchChangeList(ChangeList):
    """A changelist searched by a kept term (``request.admin_search_term``): the term
    is the search, but the request, its links and the filters preserved in them carry
    only the key."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        term = getattr(request, "admin_search_term", None)
        if term is None:
            super().__init__(request, *args, **kwargs)
            return
        keyed = request.GET
        request.GET = with_params(keyed, {SEARCH_VAR: term})
        try:
            super().__init__(request, *args, **kwargs)
        finally:
            request.GET = keyed
        self.params.pop(SEARCH_VAR, None)
        self.filter_params.pop(SEARCH_VAR, None)
        # Links made while the term was in the request.
        for name in ("remove_facet_link", "add_facet_link", "clear_all_filters_qs"):
            if value := getattr(self, name, None):
                link = QueryDict(value.lstrip("?"), mutable=True)
                link.pop(SEARCH_VAR, None)
                setattr(self, name, f"?{link.urlencode()}")

    def get_filters_params(self, params: Any = None) -> Any:
        lookup = super().get_filters_params(params)
        lookup.pop(SEARCH_KEY, None)
        return lookup


class ScopedAdmin(admin.ModelAdmin[Any]):
    """A ModelAdmin whose out-of-scope (or missing) objects are a plain 404, and whose
    search terms stay out of URLs."""

    keyed_search = True  # templates/admin/search_form.html posts for such admins
    # Set where the records hold personal numbers: such a term in a URL is refused.
    refuse_identifiers_in_urls = False

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        raise Http404(f"{opts.verbose_name}不存在")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return KeyedSearchChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:

        if request.method == "POST" and "_search" in request.POST:
            params = QueryDict(mutable=True)
            for name, values in request.POST.lists():
                if name not in NOT_FILTERS:
                    params.setlist(name, values)
            term = request.POST.get(SEARCH_VAR, "").strip()
            if term:
                params[SEARCH_KEY] = searches.remember(request, SEARCHES, term)
            return HttpResponseRedirect(f"{request.path}?{params.urlencode()}")
        if SEARCH_KEY in request.GET:
            term = searches.recall(request, SEARCHES, request.GET[SEARCH_KEY])
            if term is None:
                messages.info(request, "查询条件已过期，请重新查询。")
                request.GET = with_params(request.GET, {SEARCH_KEY: None})
            else:
                setattr(request, "admin_search_term", term)  # noqa: B010
        elif self.refuse_identifiers_in_urls and identifies_someone(
            request.GET.get(SEARCH_VAR, "")
        ):
            messages.error(request, NOT_IN_URLS)
            request.GET = with_params(request.GET, {SEARCH_VAR: None})
        if request.method != "GET":
            return super().changelist_view(request, extra_context)

        # A list read on the replica, rendered there too (the rows are read as it renders).
        def listed() -> HttpResponse:
            response = super(ScopedAdmin, self).changelist_view(request, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()
            return response

        return replica.on_replica(listed)


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
        # The record was found in this admin's scoped queryset above; django-simple-history
        # reads it again by id for the fields its history leaves out.
        with access.system("a version of a record found in the admin's scope"):
            response: HttpResponse = super().history_form_view(
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
