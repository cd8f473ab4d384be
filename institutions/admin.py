"""Admin for reference data: data administrators maintain it here, with import/export."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from import_export.admin import ImportExportMixin

from cases import facts, rules
from cases.imports.reader import check_size
from institutions import catalogue
from institutions.models import (
    Disease,
    DiseaseListing,
    DiseaseScheme,
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
from portal.imports import SafeImportMixin, SpreadsheetRefused, keep_upload, take_upload
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


class DiseaseListingInline(admin.TabularInline[DiseaseListing, Disease]):
    """The platform catalogue's versions of the disease, as its 1309 download loaded them."""

    model = DiseaseListing
    formset = LabelledInlineFormSet
    extra = 0
    can_delete = False
    fields = ("ver", "ver_name", "name", "valid", "efft_time", "last_day", "majcls_name")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="有效期至")
    def last_day(self, obj: DiseaseListing) -> date | str:
        return rules.last_day(obj.invd_time) or "长期"


class DiseaseSchemeInline(admin.TabularInline[DiseaseScheme, Disease]):
    """The platform's per-scheme table, as the 1309 import loaded it (read-only: the
    import is how it changes, NX-5)."""

    model = DiseaseScheme
    formset = LabelledInlineFormSet
    extra = 0
    can_delete = False
    fields = ("insutype", "last_day")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="有效期至")
    def last_day(self, obj: DiseaseScheme) -> date | str:
        return rules.last_day(obj.end) or "长期"


class CatalogueForm(forms.Form):
    catalogue = forms.FileField(
        label="病种目录（1309下载）",
        help_text="CSV 或 XLSX，列名为平台字段名：opsp_dise_code、opsp_dise_name、vali_flag、"
        "efft_time、invd_time、ver、ver_name 等。",
    )
    schemes = forms.FileField(
        label="病种适用险种表（可选）",
        required=False,
        help_text="列：opsp_dise_code、insutype、enddate（有效期最后一天，空为长期）。",
    )


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
    # A plain multiple select: the admin's filter and select2 widgets fail axe (tests/browser).
    filter_horizontal = ()
    inlines = [DiseaseListingInline, DiseaseSchemeInline]
    change_list_template = "admin/institutions/disease/catalogue_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "import-1309/",
                self.admin_site.admin_view(self.import_catalogue),
                name="institutions_disease_import_1309",
            )
        ]
        return own + super().get_urls()

    def import_catalogue(self, request: HttpRequest) -> HttpResponse:
        """导入1309病种目录: a dry run first; the files are kept (PendingImport, bound to the
        uploader) until the data administrator confirms."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "导入1309病种目录",
            "opts": self.model._meta,
        }
        form = CatalogueForm()
        if request.method == "POST" and "confirm" in request.POST:
            return self._confirm_catalogue(request)
        if request.method == "POST":
            form = CatalogueForm(request.POST, request.FILES)
            if form.is_valid():
                files = [form.cleaned_data["catalogue"], form.cleaned_data["schemes"]]
                try:
                    data = [_upload(f) for f in files]
                    result = catalogue.plan(data[0] or b"", data[1], facts.today())
                except SpreadsheetRefused as refusal:
                    form.add_error(None, str(refusal))
                else:
                    context["plan"] = result
                    if result.ok:
                        context["pending"] = [
                            keep_upload(request.user, d) if d is not None else "" for d in data
                        ]
        context["form"] = form
        return TemplateResponse(request, "admin/institutions/disease/import_1309.html", context)

    def _confirm_catalogue(self, request: HttpRequest) -> HttpResponse:
        names = [request.POST.get("catalogue_file", ""), request.POST.get("schemes_file", "")]
        kept = [take_upload(request.user, name) if name else None for name in names]
        if kept[0] is None:
            messages.error(request, "预览的文件已失效，请重新上传。")
            return redirect("admin:institutions_disease_import_1309")
        try:
            result = catalogue.plan(kept[0], kept[1], facts.today())
            catalogue.apply(result, request.user)  # type: ignore[arg-type]
        except (SpreadsheetRefused, catalogue.CatalogueError) as refusal:
            messages.error(request, str(refusal))
            return redirect("admin:institutions_disease_import_1309")
        messages.success(
            request,
            f"1309病种目录已导入：新增 {len(result.added)}，变更 {len(result.changed)}，"
            f"停用 {len(result.withdrawn)}，未变 {result.unchanged}。",
        )
        return redirect("admin:institutions_disease_changelist")


def _upload(upload: Any) -> bytes | None:
    if upload is None:
        return None
    check_size(upload.size)
    return bytes(upload.read())


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
