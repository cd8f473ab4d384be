"""Admin for reference data: data administrators maintain it here, with import/export."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from import_export.admin import ImportExportMixin

from institutions.models import (
    Disease,
    Institution,
    NetworkedSettlement,
    PolicyParameter,
    Region,
)
from institutions.resources import (
    DiseaseResource,
    InstitutionResource,
    NetworkedSettlementResource,
)
from portal.admin_base import HistoryAdmin, ScopedAdmin
from portal.imports import SafeImportMixin
from portal.spreadsheets import FORMATS


class ReferenceImportExportMixin(SafeImportMixin, ImportExportMixin):
    """Import/export with the portal's formats and limits, a dry run first, and partial
    imports.

    The dry run lists every bad row with its reason. Where the only problems are bad rows,
    the data administrator may still confirm: the good rows are imported and the bad ones
    skipped (and listed again in the result), instead of having to split the file.
    """

    formats = FORMATS
    import_error_display = ("message", "row")

    def adjust_dry_run(self, request: HttpRequest, context: dict[str, Any]) -> None:
        result = context.get("result")
        if (
            result is not None
            and "confirm_form" not in context
            and not result.has_errors()
            and result.has_validation_errors()
            and len(result.valid_rows()) > 0
        ):
            context["confirm_form"] = self.create_confirm_form(request, import_form=context["form"])


@admin.register(Region)
class RegionAdmin(ScopedAdmin):
    list_display = ["code", "full_name", "level", "kind", "active", "abolished_year"]
    list_filter = ["level", "active"]
    search_fields = ["code", "name", "full_name"]
    autocomplete_fields = ["parent", "prefecture"]
    list_select_related = True
    show_full_result_count = False
    ordering = ["code"]


class LabelledInlineFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """A tabular inline's inputs named for screen readers: each column's heading is not
    a label of the input under it."""

    def add_fields(self, form: Any, index: int | None) -> None:
        super().add_fields(form, index)
        for name, field in form.fields.items():
            label = "删除" if name == "DELETE" else str(field.label or name)
            # The admin wraps a foreign key's select; the label goes on the select.
            widget = getattr(field.widget, "widget", field.widget)
            if not widget.is_hidden:
                widget.attrs.setdefault("aria-label", label)


class NetworkedSettlementInline(admin.TabularInline[NetworkedSettlement, Institution]):
    model = NetworkedSettlement
    formset = LabelledInlineFormSet
    extra = 1


@admin.register(Disease)
class DiseaseAdmin(ReferenceImportExportMixin, HistoryAdmin):
    resource_classes = [DiseaseResource]
    list_display = [
        "code",
        "name",
        "cross_province",
        "validity",
        "validity_months",
        "for_employee",
        "for_resident",
        "active",
    ]
    list_filter = ["cross_province", "validity", "active", "for_employee", "for_resident"]
    search_fields = ["code", "name"]
    filter_horizontal = ["exclusive_with"]


@admin.register(Institution)
class InstitutionAdmin(ReferenceImportExportMixin, HistoryAdmin):
    resource_classes = [InstitutionResource]
    list_display = [
        "code",
        "name",
        "location",
        "level",
        "grade",
        "designated",
        "designated_until",
        "transfer_issuer",
    ]
    list_filter = ["level", "grade", "designated", "transfer_issuer"]
    search_fields = ["code", "name", "location__full_name"]
    search_help_text = "机构编码（精确）、机构名称或所在地名称"
    autocomplete_fields = ["location"]
    list_select_related = ["location"]
    show_full_result_count = False
    inlines = [NetworkedSettlementInline]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Institution], search_term: str
    ) -> tuple[QuerySet[Institution], bool]:
        """A code finds its institution by the unique index; other words search the name
        and the location's name, the latter through the small region table rather than
        Django's OR over a join with every institution (30,000 at province scale)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isalnum() and any(c.isdigit() for c in term):
            return queryset.filter(code=term.upper()), False
        places = Region.objects.filter(full_name__contains=term).values("code")
        return queryset.filter(Q(name__contains=term) | Q(location_id__in=places)), False


@admin.register(NetworkedSettlement)
class NetworkedSettlementAdmin(ReferenceImportExportMixin, HistoryAdmin):
    resource_classes = [NetworkedSettlementResource]
    list_display = ["institution", "disease", "in_region", "cross_province"]
    list_filter = ["in_region", "cross_province", "disease"]
    search_fields = ["institution__code", "institution__name", "disease__code", "disease__name"]
    autocomplete_fields = ["institution", "disease"]
    list_select_related = ["institution", "disease"]
    show_full_result_count = False


@admin.register(PolicyParameter)
class PolicyParameterAdmin(HistoryAdmin):
    list_display = ["key", "value", "valid_from", "note"]
    list_filter = ["key"]
    search_fields = ["key", "note"]
    ordering = ["key", "-valid_from"]
