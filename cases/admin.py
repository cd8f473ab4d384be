"""Case records in the admin: read-only (writes go through the portal's services), scoped
to the administrator's bureau, with each record's history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from cases.access import patients_visible_to
from cases.models import Filing, Patient, Qualification, Reminder, Selection, TransferLetter


class ReadOnlyCaseAdmin(SimpleHistoryAdmin):
    show_full_result_count = False
    patient_path = "patient"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        visible = patients_visible_to(request.user)
        if self.patient_path == "":
            return qs.filter(pk__in=visible.values("pk"))
        return qs.filter(**{f"{self.patient_path}__in": visible.values("pk")})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    list_select_related = ["region", "bureau"]


@admin.register(Qualification)
class QualificationAdmin(ReadOnlyCaseAdmin):
    list_display = ["patient", "disease", "status", "applied_on", "valid_from", "valid_until"]
    list_filter = ["status"]
    search_fields = ["=patient__cert_number", "patient__name", "disease__code"]
    list_select_related = ["patient", "disease"]


@admin.register(Selection)
class SelectionAdmin(ReadOnlyCaseAdmin):
    list_display = ["patient", "slot", "institution", "scope", "start", "end"]
    list_filter = ["scope"]
    search_fields = ["=patient__cert_number", "patient__name", "institution__code"]
    list_select_related = ["patient", "institution"]


@admin.register(Filing)
class FilingAdmin(ReadOnlyCaseAdmin):
    list_display = ["patient", "type", "subtype", "destination", "start", "end", "status"]
    list_filter = ["type", "status", "retroactive"]
    search_fields = ["=patient__cert_number", "patient__name", "destination__code"]
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
        "end",
        "status",
    ]
    list_filter = ["status", "reason"]
    search_fields = ["=serial", "=patient__cert_number", "patient__name"]
    list_select_related = ["patient", "disease", "issuer", "receiver"]


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["patient", "stage", "due_on", "status", "sent_at"]
    list_filter = ["status", "stage"]
    list_select_related = ["patient"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reminder]:
        return (
            super()
            .get_queryset(request)
            .filter(patient__in=patients_visible_to(request.user).values("pk"))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
