"""Case records in the admin: read-only (writes go through the portal's services), scoped
to the administrator's bureau, with each record's history (portal.admin_base), and
personal numbers masked unless the user may unmask them, which is audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from http import HTTPStatus
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.functional import cached_property

from cases import access, masking, rules, search
from cases.models import (
    CodeMapping,
    Filing,
    InsuredPeriod,
    MoveRequest,
    Patient,
    Qualification,
    Reminder,
    Selection,
    TransferLetter,
)
from portal.admin_base import HistoryAdmin, ScopedAdmin


class EstimatedCountPaginator(Paginator[Any]):
    """Counts a filtered or searched list exactly, but takes an unfiltered table's size
    from PostgreSQL's statistics: COUNT(*) over millions of rows would cost more than the
    page, and "about 3,000,000" is all the page needs to show."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [qs.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


class IndexedSearchMixin(admin.ModelAdmin[Any]):
    """Admin search in which each term goes to the one index that can answer it
    (cases.search): an ID number or code exactly, a name by trigram or prefix, pinyin by
    initials. Django's default ORs an icontains over every search field, which PostgreSQL
    can only answer by reading the whole table (seconds at province scale).

    ``search_routes`` maps a kind of term to the fields it is matched against; a term of
    a kind with no route falls back to Django's search.
    """

    search_routes: dict[str, list[str]] = {}
    search_help_text = (
        "证件号码、编码（精确）；姓名（3个字及以上任意位置，1–2个字从头匹配）；拼音首字母"
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        terms = search_term.split()
        if not terms:
            return queryset, False
        for term in terms:
            kind = search.kind(term)
            fields = self.search_routes.get(kind)
            if not fields:
                return super().get_search_results(request, queryset, search_term)
            matches = Q()
            for field in fields:
                if kind == "id":
                    matches |= Q(**{field: rules.normalize_cert_number(term)})
                elif kind in ("serial", "code"):
                    matches |= Q(**{field: term.strip().upper()})
                elif kind == "latin":
                    matches |= search.pinyin_q(field, term)
                else:
                    matches |= search.name_q(field, term)
            queryset = queryset.filter(matches)
        return queryset, False


def masked_display(field: Any, mask: Callable[[str], str]) -> Callable[[Any], str]:
    """A read-only admin field showing ``field`` masked (one object per admin, so that
    Django's admin recognises it as the same field in the fieldsets and read-only list)."""

    def show(obj: Any) -> str:
        return mask(getattr(obj, field.name) or "") or "-"

    show.short_description = field.verbose_name  # type: ignore[attr-defined]
    show.__name__ = f"{field.name}_masked"
    return show


END_FIELDS = ("end", "valid_until")


def valid_to(end_field: str) -> Any:
    """A 有效期至 column: the last day the record covers (its stored end is the day after)."""

    @admin.display(description="有效期至", ordering=end_field)
    def column(obj: Any) -> date | None:
        return rules.last_day(getattr(obj, end_field))

    return column


class ReadOnlyCaseAdmin(IndexedSearchMixin, HistoryAdmin):
    refuse_identifiers_in_urls = True
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    patient_path = "patient"

    def __init__(self, model: Any, admin_site: Any) -> None:
        super().__init__(model, admin_site)
        names = {f.name for f in model._meta.fields}
        self.masked_fields = {n: m for n, m in masking.SENSITIVE_FIELDS.items() if n in names}
        self.masked_displays = {
            n: masked_display(model._meta.get_field(n), m) for n, m in self.masked_fields.items()
        }
        # Ends are shown as clerks write them: 有效期至, the last day covered.
        self.end_displays = {n: valid_to(n) for n in END_FIELDS if n in names}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        path = f"{self.patient_path}__bureau_id" if self.patient_path else "bureau_id"
        return access.records(request.user, super().get_queryset(request), path)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Every field, read-only; personal numbers masked unless the user may unmask."""
        unmask = access.can_unmask(request.user)
        shown = {**self.end_displays, **({} if unmask else self.masked_displays)}
        return [
            shown.get(f.name, f.name) for f in self.opts.fields if f.editable and not f.auto_created
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == HTTPStatus.OK:
            self.audit_unmasking(request, object_id)
        return response

    def version_shown(self, request: HttpRequest, obj: Any) -> None:
        self.audit_unmasking(request, obj.pk, "历史版本")

    def audit_unmasking(self, request: HttpRequest, pk: Any, what: str = "") -> None:
        """A page that shows this record's numbers in full is an audited unmasking."""
        if self.masked_fields:
            access.unmasked(request, f"管理后台{self.opts.verbose_name}{what} #{pk}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


PATIENT_ROUTES = {
    "id": ["patient__cert_number"],
    "text": ["patient__name"],
    "latin": ["patient__"],
}


@admin.register(Patient)
class PatientAdmin(ReadOnlyCaseAdmin):
    patient_path = ""
    list_display = [
        "name",
        "masked_cert_number",
        "insurance_type",
        "region",
        "bureau",
        "created_at",
    ]
    list_filter = ["insurance_type", "cert_type"]
    search_fields = ["=cert_number", "name", "name_initials"]
    search_routes = {
        "id": ["cert_number"],
        "code": ["cert_number"],
        "text": ["name"],
        "latin": [""],
    }
    list_select_related = ["region", "bureau"]


@admin.register(Qualification)
class QualificationAdmin(ReadOnlyCaseAdmin):
    list_display = [
        "patient",
        "disease",
        "status",
        "applied_on",
        "valid_from",
        valid_to("valid_until"),
    ]
    list_filter = ["status"]
    search_fields = ["=patient__cert_number", "patient__name", "disease__code"]
    search_routes = {**PATIENT_ROUTES, "code": ["disease__code"]}
    list_select_related = ["patient", "disease"]


@admin.register(Selection)
class SelectionAdmin(ReadOnlyCaseAdmin):
    list_display = ["patient", "slot", "institution", "scope", "start", valid_to("end")]
    list_filter = ["scope"]
    search_fields = ["=patient__cert_number", "patient__name", "institution__code"]
    search_routes = {**PATIENT_ROUTES, "code": ["institution__code"]}
    list_select_related = ["patient", "institution"]


@admin.register(Filing)
class FilingAdmin(ReadOnlyCaseAdmin):
    list_display = [
        "patient",
        "type",
        "subtype",
        "destination",
        "start",
        valid_to("end"),
        "status",
    ]
    list_filter = ["type", "status", "retroactive"]
    search_fields = ["=patient__cert_number", "patient__name", "destination__code"]
    search_routes = {**PATIENT_ROUTES, "code": ["destination_id"]}
    list_select_related = ["patient", "destination"]


@admin.register(TransferLetter)
class TransferLetterAdmin(ReadOnlyCaseAdmin):
    list_display = [
        "serial",
        "patient",
        "disease",
        "issuer",
        "receiver",
        "issued_on",
        valid_to("end"),
        "status",
    ]
    list_filter = ["status", "reason"]
    search_fields = ["=serial", "=patient__cert_number", "patient__name"]
    search_routes = {**PATIENT_ROUTES, "serial": ["serial"]}
    list_select_related = ["patient", "disease", "issuer", "receiver"]


@admin.register(Reminder)
class ReminderAdmin(ScopedAdmin):
    refuse_identifiers_in_urls = True
    list_display = ["patient", "stage", "due_on", "status", "sent_at"]
    list_filter = ["status", "stage"]
    list_select_related = ["patient"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # The record's end as 有效期至 (a lock-lifted notice's day is its due day).
    exclude = ["record_end"]
    readonly_fields = ["record_valid_to"]

    @admin.display(description="记录有效期至")
    def record_valid_to(self, obj: Reminder) -> date | None:
        if obj.stage == rules.ReminderStage.LOCK_LIFTED:
            return None
        return rules.last_day(obj.record_end)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reminder]:
        return access.records(request.user, super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InsuredPeriod)
class InsuredPeriodAdmin(ReadOnlyCaseAdmin):
    """MV-6: a patient's insured counties over time, read-only."""

    list_display = ["patient", "region", "bureau", "start", "valid_to_end"]
    list_select_related = ["patient", "region", "bureau"]
    search_fields = ["=patient__cert_number", "patient__name"]
    search_routes = PATIENT_ROUTES

    @admin.display(description="有效期至", ordering="end")
    def valid_to_end(self, obj: InsuredPeriod) -> date | None:
        return rules.last_day(obj.end)


@admin.register(MoveRequest)
class MoveRequestAdmin(HistoryAdmin):
    """MV-1: transfer requests, read-only with their history: a bureau's own (made or to
    answer), every bureau's for data administrators."""

    refuse_identifiers_in_urls = True
    list_display = [
        "pk",
        "masked_patient",
        "from_bureau",
        "to_bureau",
        "region",
        "effective",
        "status",
        "requested_on",
        "answered_on",
    ]
    list_filter = ["status"]
    list_select_related = ["patient", "from_bureau", "to_bureau", "region"]
    exclude = ["patient"]
    readonly_fields = ["masked_patient"]

    @admin.display(description="参保人")
    def masked_patient(self, obj: MoveRequest) -> str:
        return f"{masking.mask_name(obj.patient.name)}（{obj.patient.masked_cert_number}）"

    def get_queryset(self, request: HttpRequest) -> QuerySet[MoveRequest]:
        return access.moves_in_admin(request.user, super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CodeMapping)
class CodeMappingAdmin(HistoryAdmin):
    """NX-4: the platform's code for each portal value, kept by data administrators; a
    value without a row is exported with the portal's default (docs/national-exchange.md)."""

    list_display = ["kind", "portal_value", "portal_label_display", "platform_code", "note"]
    list_filter = ["kind"]
    search_fields = ["portal_value", "platform_code"]

    @admin.display(description="取值含义")
    def portal_label_display(self, obj: CodeMapping) -> str:
        return obj.portal_label
